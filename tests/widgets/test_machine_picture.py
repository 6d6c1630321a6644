"""The machine picture and what it reads: both layouts fit their widths with text at its size, the
pages and the buttons are laid out once for the machine's life, and the state is read by name."""

from __future__ import annotations

import re

import pytest

from ukva_widgets.engine import Kernel, Machine
from ukva_widgets.engine.explore import random_run
from ukva_widgets.widgets import machine_state as ms
from ukva_widgets.widgets.cache_aliasing import aliasing_machine
from ukva_widgets.widgets.choice_grid import ChoiceGrid
from ukva_widgets.widgets.design_lab import tasks_for
from ukva_widgets.widgets.draw import MIN_FONT, NARROW_BELOW
from ukva_widgets.widgets.machine_picture import machine_svg

NARROWEST = 356  # JupyterLab at 800 px with the file panel open leaves about 365 px of output


def machines() -> list[tuple[str, Machine]]:
    out = []
    for design in ("per-task", "per-cpu", "per-mm"):
        for workload, tasks, cpus in (("threads", 2, 2), ("processes", 4, 4), ("tasks sharing only the VM", 3, 3)):
            out.append((f"{design} {workload} {cpus} CPUs", Machine(*tasks_for(workload, tasks), cpus=cpus,
                                                                     design=design)))
    out.append(("PCID, 3 MMs", Machine(*tasks_for("processes", 3), cpus=2, design="per-mm", pcid=True)))
    out.append(("per-CPU page tables", Machine(*tasks_for("threads", 2), cpus=2, design="per-mm",
                                               page_tables="per-cpu")))
    out.append(("the shared page", aliasing_machine(cpus=2)))
    return out


@pytest.mark.parametrize("name, m", machines(), ids=[n for n, _ in machines()])
def test_both_layouts_fit_their_widths_with_no_text_below_11px(name, m):
    random_run(m, 12, seed=1)
    wide, narrow = machine_svg(m).split('<div class="ukva-narrow">')
    (ww, _), (nw, _) = [map(float, re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', part).groups())
                        for part in (wide, narrow)]
    assert ww <= NARROW_BELOW and nw <= NARROWEST, f"{name}: wide {ww}, narrow {nw}"
    sizes = {float(s) for s in re.findall(r"font-size:([\d.]+)px", wide + narrow)}
    assert min(sizes) >= MIN_FONT


@pytest.mark.parametrize("name, m", machines(), ids=[n for n, _ in machines()])
def test_pages_keep_their_places_and_the_picture_its_size_along_a_run(name, m):
    def layout() -> tuple:
        svg = machine_svg(m)
        places = re.findall(r'<g class="ukva-page[^"]*"><title>([^<]*)</title><rect x="([^"]+)" y="([^"]+)"', svg)
        return tuple(re.findall(r'viewBox="([^"]+)"', svg)), tuple((t.split(" (not")[0], x, y) for t, x, y in places)
    first = layout()
    for seed in range(3):
        m.reset()
        for step in range(10):  # one random step at a time, the picture checked after each
            random_run(m, 1, seed=100 * seed + step)
            assert layout() == first


@pytest.mark.parametrize("name, m", machines(), ids=[n for n, _ in machines()])
def test_every_step_a_run_meets_already_has_its_button(name, m):
    grid = ChoiceGrid(lambda label: None)
    grid.reset(m)
    laid_out = set(grid.slots)
    for seed in range(4):
        m.reset()
        for step in range(12):
            random_run(m, 1, seed=100 * seed + step)
            grid.draw(m)
            enabled = [b.tooltip for b in grid.slots.values() if not b.disabled]
            assert sorted(enabled) == sorted(c.label for c in m.choices())  # a button each, none twice
            for cpu in range(m.options.cpus):
                words = [b.description for (c, _k), b in grid.slots.items() if c == cpu]
                assert len(words) == len(set(words)), f"cpu{cpu} shows two buttons alike: {words}"
    assert set(grid.slots) == laid_out  # nothing was added at the end: no button moved


def test_the_state_is_read_by_name():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD")
    m = Machine(k, [p, t], cpus=2, design="per-mm")
    m.step("cpu1: switch to task 3 (init)")
    m.step("cpu1: read slot files#2")
    cpu = ms.cpus(m)[1]
    assert (cpu.running, cpu.loaded, cpu.lazy) == (1, 0, False) and m.cpu(1).current == 1
    assert [(e.vpage, m.page_label(e.page)) for e in cpu.tlb] == [(0, "files#2 v0")]
    [table] = ms.tables(m)
    assert [m.page_label(p) for p in table.pages] == ["files#2 v0", "sighand#2 v0"]
    assert [m.object_label(o) for o in table.slots] == ["files#2", "sighand#2"]
    assert m.cpumask(0) == [1] and m.tlb_gen(0) == 0
    assert [g.name for g in ms.page_groups(m)] == ["files#2", "sighand#2"]
    assert ms.page_of(m, "sighand#2 v1") == ms.page_groups(m)[1].pages[1]
    assert ms.written(m, ms.page_groups(m)[0].pages[0]) and not ms.written(m, ms.page_groups(m)[0].pages[1])


def test_button_words_are_short_and_the_tooltip_keeps_the_whole_step():
    from ukva_widgets.widgets.choice_grid import button_words

    assert button_words("switch to task 2 (process A)", "switch") == "run process A (2)"
    assert button_words("switch to idle (lazy TLB)", "switch") == "idle (lazy TLB)"
    assert button_words("begin updating slot files#2 (copy it to a new page)", "update") == "begin update files#2"
    assert button_words("read slot sighand#3", "read") == "read sighand#3"
    grid = ChoiceGrid(lambda label: None)
    m = Machine(*tasks_for("processes", 2), cpus=2, design="per-mm")
    grid.reset(m)
    grid.draw(m)
    button = grid.slots[(1, ("switch", "switch to task 3 (process B)"))]
    assert button.description == "run process B (3)" and button.tooltip == "cpu1: switch to task 3 (process B)"
