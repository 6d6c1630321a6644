"""TaskTree: a script of task calls stepped forward and back; the view always shows the engine's state."""

from __future__ import annotations

import pytest
import traitlets

from ukva_widgets.widgets import TaskTree
from ukva_widgets.widgets.task_tree import parse_script

THREADS = """
sh = fork init
t = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD
exit t 0
"""


def test_steps_forward_show_the_new_task_and_its_shared_mm(browser):
    w = TaskTree(THREADS)
    assert w.position == 0 and [t.pid for t in w.kernel.tasks] == [1]
    browser.click(w.step_button)
    browser.click(w.step_button)
    sh, t = w.kernel.task(2), w.kernel.task(3)
    assert t.mm is sh.mm and sh.mm.refcount == 2
    assert f"{sh.mm.label:<10} refcount 2 held by 2, 3" in w.text()
    assert "task pid 3" in w.text() and "tgid 2" in w.text()


def test_back_replays_to_the_previous_state(browser):
    w = TaskTree(THREADS)
    for _ in range(3):
        browser.click(w.step_button)
    after_exit = w.text()
    browser.click(w.back_button)
    assert w.position == 2
    assert w.kernel.task(2).mm.refcount == 2
    browser.click(w.step_button)
    assert w.text() == after_exit


def test_an_exited_thread_drops_its_mm_reference():
    w = TaskTree(THREADS)
    w.position = 3
    sh = w.kernel.task(2)
    assert sh.mm.refcount == 1


def test_freed_objects_stay_on_the_picture_marked_freed():
    w = TaskTree("sh = fork init\nexit sh 0\nwait init")
    w.position = 1
    mm = w.kernel.task(2).mm
    w.position = 3
    assert 2 not in [t.pid for t in w.kernel.tasks]
    assert f"{mm.label:<10} freed" in w.text()
    node = next(n for n in w.picture.graph.node_data if n["label"].startswith(mm.label + " "))
    assert node["label"] == f"{mm.label} freed" and "stroke-dasharray" in node["shape_attrs"]


def test_a_refused_call_shows_the_error_and_changes_nothing():
    w = TaskTree("sh = fork init\nclone sh CLONE_SIGHAND")
    w.position = 1
    before = [(t.pid, t.state) for t in w.kernel.tasks]
    w.position = 2
    assert [(t.pid, t.state) for t in w.kernel.tasks] == before
    assert "EINVAL" in w.error.message
    assert "fails:" in w.text()


def test_wait_reports_the_reaped_child():
    w = TaskTree("sh = fork init\nexit sh 7\nwait init")
    w.position = 3
    assert "reaped pid 2 (status 7)" in w.text()


def test_buttons_are_disabled_at_the_ends(browser):
    w = TaskTree("sh = fork init")
    assert w.back_button.disabled and not w.step_button.disabled
    browser.click(w.step_button)
    assert w.step_button.disabled and not w.back_button.disabled
    browser.click(w.reset_button)
    assert w.position == 0


def test_a_position_past_the_end_is_refused():
    w = TaskTree("sh = fork init")
    with pytest.raises(traitlets.TraitError, match="between 0 and 1"):
        w.position = 5


@pytest.mark.parametrize("line, message", [
    ("spawn init", "unknown call 'spawn'"),
    ("exit", "exit takes"),
    ("x = exit init 0", "only fork, clone and kthread"),
])
def test_a_bad_script_line_is_named_in_a_clear_error(line, message):
    with pytest.raises(ValueError, match=message):
        parse_script(line)


def test_an_unknown_task_name_is_a_clear_error_in_the_widget():
    w = TaskTree("exit nobody 0")
    w.position = 1
    assert "no task called 'nobody'" in w.error.message


def test_thread_group_members_share_a_colour_and_say_their_group():
    w = TaskTree(THREADS)
    w.position = 2
    nodes = w.picture.graph.node_data
    colours = w.picture.graph.colors
    i_sh = next(i for i, n in enumerate(nodes) if n["label"] == "2")
    i_t = next(i for i, n in enumerate(nodes) if n["label"].startswith("3"))
    assert nodes[i_t]["label"] == "3·tg2"
    assert colours[i_sh] == colours[i_t]


def test_text_is_the_plain_text_repr():
    w = TaskTree(THREADS)
    assert repr(w) == w.text() and w._repr_mimebundle_()["text/plain"] == w.text()


def test_a_call_on_a_reaped_task_is_shown_as_the_engines_error():
    w = TaskTree("sh = fork init\nexit sh 0\nwait init\nexit sh 0")
    w.position = 4
    assert "reaped" in w.error.message
    assert w.text().splitlines()[0].endswith("-> fails: " + w.error.message.split(": ", 1)[1])


FAMILY = "sh = fork init\nexecve sh /bin/sh\nfork sh\nfork sh\nt = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def test_objects_stand_in_one_column_grouped_by_kind_right_of_every_task():
    w = TaskTree(FAMILY)
    w.position = len(w.calls)
    nodes = w.picture.graph.node_data
    xs, ys = w.picture.graph.x, w.picture.graph.y
    tasks = [i for i, n in enumerate(nodes) if n["shape"] == "circle"]
    objects = [i for i, n in enumerate(nodes) if n["shape"] == "rect"]
    assert len({xs[i] for i in objects}) == 1 and max(xs[i] for i in tasks) < xs[objects[0]] / 2
    kinds = [nodes[i]["label"].split("#")[0] for i in sorted(objects, key=lambda i: -ys[i])]
    assert kinds == sorted(kinds, key=["mm", "fs", "files", "sighand", "signal", "io", "sysvsem"].index)


def test_a_child_task_is_indented_under_its_parent_and_below_it():
    w = TaskTree(FAMILY)
    w.position = len(w.calls)
    graph = w.picture.graph
    for source, target in ((link["source"], link["target"]) for link in graph.link_data):
        if graph.node_data[target]["shape"] == "circle":
            assert graph.x[target] > graph.x[source] and graph.y[target] < graph.y[source]


def test_the_picture_keeps_one_height_while_stepping(browser):
    w = TaskTree(FAMILY)
    height = w.picture.figure.layout.height
    for _ in w.calls:
        browser.click(w.step_button)
        assert w.picture.figure.layout.height == height
        assert all(0 < y < 1 for y in w.picture.graph.y)
