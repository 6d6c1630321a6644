"""What a page without a kernel shows of a widget: the picture in its mime bundle, stored with the
notebook and drawn by the static site with its text view under it; deterministic, so nbval can
compare it."""

from __future__ import annotations

import nbformat

from ukva_widgets.engine import Kernel, Machine, explore
from ukva_widgets.notebook_store import normalise
from ukva_widgets.site import WIDGET_MIME, _plain_text, _text_views
from ukva_widgets.widgets import CacheAliasing, CloneExplorer, CostPlot, DesignLab, SMPStepper, TaskTree
from ukva_widgets.widgets.address_space_map import AddressSpaceMap


def stepper() -> SMPStepper:
    k = Kernel()
    p = k.fork(k.init)
    k.execve(p, "/bin/sh")
    t = k.clone(p, "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD")
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=False)
    return SMPStepper(m, trace=explore(m.fresh()).trace)


def test_every_widget_carries_a_static_picture_that_is_the_same_each_time():
    for make in (stepper, DesignLab, CacheAliasing, AddressSpaceMap, lambda: CostPlot(refs=2_000)):
        first, again = make()._repr_mimebundle_(), make()._repr_mimebundle_()
        html = first["text/html"]
        assert html == again["text/html"], type(make()).__name__
        assert html.startswith('<div class="ukva-snapshot"') and "<button" not in html and "<input" not in html


def test_the_picture_shows_the_state_the_chapter_set_up():
    w = TaskTree("sh = fork init\nexit sh 0\nwait init")
    w.position = 3
    assert "reaped pid 2" in w._repr_mimebundle_()["text/html"]
    s = stepper()
    assert "ukva-got" in s._repr_mimebundle_()["text/html"]  # played to its violation


def widget_notebook(widget) -> nbformat.NotebookNode:
    bundle = widget._repr_mimebundle_()
    bundle[WIDGET_MIME] = {"model_id": "0123", "version_major": 2, "version_minor": 0}
    output = nbformat.v4.new_output("display_data", data=bundle)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=[output])])


def test_notebook_store_keeps_the_picture_and_the_site_shows_it_with_the_text_view_under_it():
    widget = stepper()
    nb = widget_notebook(widget)
    normalise(nb)
    [output] = nb.cells[0].outputs
    assert output.data["text/html"] == widget._repr_mimebundle_()["text/html"]
    assert _text_views(nb) == 1
    page = output.data["text/html"]
    assert page.startswith('<figure class="ukva-widget-snapshot"') and "ukva-machine-svg" in page
    assert "interactive in JupyterLab or in the live book" in page
    assert '<details class="ukva-widget-text"><summary>the same as text</summary><pre>SMPStepper: step 6' in page


def test_a_stored_widget_without_a_picture_shows_its_text_view():
    nb = widget_notebook(CloneExplorer())
    del nb.cells[0].outputs[0].data["text/html"]
    _text_views(nb)
    page = nb.cells[0].outputs[0].data["text/html"]
    assert page.startswith('<div class="ukva-widget-text"') and "<pre>CloneExplorer: clone(0)" in page


def test_search_text_reads_as_prose_without_markdown_marks():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "## Tasks\n\nA **task** shares `CLONE_VM` and mm_users; see [chapter 2](02-tasks.ipynb#s2).\n\n"
        "| flag | shares |\n|---|---|\n| CLONE_FS | fs |")])
    text = _plain_text(nb)
    assert text.strip() == "Tasks A task shares CLONE_VM and mm_users; see chapter 2. flag shares CLONE_FS fs"
