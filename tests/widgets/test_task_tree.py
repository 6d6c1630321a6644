"""TaskTree: a script of task calls stepped forward and back; the view always shows the engine's state."""

from __future__ import annotations

import pytest
import traitlets

from ukva_widgets.widgets import TaskTree
from ukva_widgets.widgets.task_script import parse_script

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
    freed = w.matrix.value.split('class="ukva-freed')[1:]
    assert any(f"<s>#{mm.id}</s> freed" in part for part in freed)


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
    assert "reaped pid 2 (exit code 7, wait status 0x0700)" in w.text()


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


def wide(w: TaskTree) -> str:
    """The matrix as drawn where the output is wide: tasks as rows."""
    return w.matrix.value.split('class="ukva-narrow"')[0]


def narrow(w: TaskTree) -> str:
    """The matrix as drawn where the output is narrow: transposed, tasks as columns."""
    return w.matrix.value.split('class="ukva-narrow"')[1]


def test_a_thread_group_is_one_bracket_spanning_its_members_rows():
    w = TaskTree(THREADS)
    w.position = 2
    groups = wide(w).split('class="ukva-thread-group"')[1:]
    spans = sorted(int(g.split('rowspan="')[1].split('"')[0]) if 'rowspan="' in g.split(">")[0] else 1
                   for g in groups)
    assert spans == [1, 2]  # init alone; sh and its thread t together
    assert "tg 2" in w.matrix.value and "thread of sh" in w.matrix.value


def test_a_shared_object_is_one_cell_spanning_the_rows_of_its_holders_with_its_refcount():
    w = TaskTree(THREADS)
    w.position = 2
    mm = w.kernel.task(2).mm
    cells = [c.split("</td>")[0] for c in wide(w).split('<td class="ukva-object')[1:] if f'title="{mm.label}, ' in c]
    assert len(cells) == 1 and 'rowspan="2"' in cells[0] and f"<b>#{mm.id}</b> ×2" in cells[0]
    cells = [c.split("</td>")[0] for c in narrow(w).split('<td class="ukva-object')[1:] if f'title="{mm.label}, ' in c]
    assert len(cells) == 1 and 'colspan="2"' in cells[0]  # transposed: one cell across their columns


def test_tasks_are_named_as_the_script_names_them():
    w = TaskTree(THREADS)
    w.position = 2
    assert "<b>sh</b>" in w.matrix.value and "<b>t</b>" in w.matrix.value
    assert "task (init)" not in w.matrix.value


def test_the_last_step_is_highlighted_what_it_created_freed_and_re_pointed():
    w = TaskTree("sh = fork init\nexecve sh /bin/sh\nexit sh 0\nwait init")
    w.position = 1
    assert "ukva-new-task" in w.matrix.value and "ukva-created" in w.matrix.value
    w.position = 2  # execve: a fresh mm, the old one freed, sh re-pointed
    change = w.changes()
    assert [k for k, _ in change["created"]] == ["mm"] and [k for k, _ in change["freed"]] == ["mm"]
    assert change["repointed"] == [(2, "mm")]
    assert "ukva-freed-now" in w.matrix.value and "ukva-repointed" in w.matrix.value
    assert "last step: created mm#" in w.text() and "re-pointed pid 2 mm" in w.text()


def test_text_is_the_plain_text_repr():
    w = TaskTree(THREADS)
    assert repr(w) == w.text() and w._repr_mimebundle_()["text/plain"] == w.text()


def test_a_call_on_a_reaped_task_is_shown_as_the_engines_error():
    w = TaskTree("sh = fork init\nexit sh 0\nwait init\nexit sh 0")
    w.position = 4
    assert "reaped" in w.error.message
    assert w.text().splitlines()[0].endswith("-> fails: " + w.error.message.split(": ", 1)[1])


FAMILY = "sh = fork init\nexecve sh /bin/sh\nfork sh\nfork sh\nt = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def test_a_child_is_indented_under_its_parent_in_tree_order():
    w = TaskTree(FAMILY)
    w.position = len(w.calls)
    rows = wide(w).split('class="ukva-task-row')[1:]
    assert [r.split("<b>")[1].split("</b>")[0] for r in rows][:3] == ["init", "sh", "t"]
    assert "└ <b>sh</b>" in rows[1] and "└" not in rows[2].split("<b>")[0]  # t is sh's thread, not its child


def test_the_matrix_keeps_one_size_while_stepping(browser):
    w = TaskTree(FAMILY)
    shape = None
    for _ in w.calls:
        browser.click(w.step_button)
        now = (wide(w).count("<tr"), narrow(w).count("<tr"), narrow(w).split("</tr>")[0].count("<th"))
        assert shape in (None, now)  # as many rows (wide) and columns (narrow) at every step
        shape = now


LIFE = ["sh = fork init", "execve sh /bin/sh", "t = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD",
        "c = clone sh CLONE_FILES", "exit c 3", "wait sh", "execve t /bin/ls"]


def test_a_task_that_ended_leaves_a_ghost_row_saying_why():
    w = TaskTree(LIFE)
    w.position = 7  # t's execve: de_thread ends sh, t takes its pid
    assert w.changes()["ended"] == [("sh", 2, "ended by de_thread (t's execve)")]
    ghost = wide(w).split('class="ukva-ended ukva-changed"')[1].split("</tr>")[0]
    assert "<s>sh</s> — ended by de_thread (t&#x27;s execve)" in ghost and "was pid 2" in ghost
    assert "ukva-ended" in narrow(w)
    assert "ended sh (pid 2): ended by de_thread (t's execve)" in w.text()
    w.position = 6  # wait reaps the zombie c
    assert w.changes()["ended"] == [("c", 4, "reaped by sh's wait")]
    w.position = 5
    assert w.changes()["ended"] == [] and "ukva-ended" not in w.matrix.value


def test_a_refcount_that_moved_carries_its_change():
    w = TaskTree(LIFE)
    w.position = 4  # c = clone sh CLONE_FILES: sh's files table gains a holder
    files = w.kernel.task(2).files
    assert ("files", files.id, 2, 3) in w.changes()["recounted"]
    cell = [c for c in wide(w).split('<td class="ukva-object')[1:] if f'title="{files.label}, ' in c][0]
    assert "ukva-recounted" in cell.split(">")[0] and ">+1<" in cell.split("</td>")[0]
    w.position = 5  # c exits: its files reference goes
    cell = [c for c in wide(w).split('<td class="ukva-object')[1:] if f'title="{files.label}, ' in c][0]
    assert ">−1<" in cell.split("</td>")[0]


def test_the_narrow_matrix_is_transposed_with_a_row_per_kind_and_a_column_per_task():
    w = TaskTree(LIFE)
    w.position = 4
    table = narrow(w).split("</table>")[0]
    heads = [r.split("</th>")[0].split(">")[-1] for r in table.split('<th scope="row"')[1:]]
    assert heads == w.kinds and table.count('<th scope="col"') == 4  # init, sh, t, c


def test_the_snapshot_draws_the_matrix():
    w = TaskTree(LIFE)
    w.position = 3
    html = w._repr_mimebundle_()["text/html"]
    assert "ukva-matrix-table" in html and "ukva-matrix-transposed" in html and "<button" not in html


def test_comm_renames_a_task_as_prctl_does_and_the_matrix_shows_it():
    w = TaskTree("sh = fork init\nt = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD\ncomm t worker")
    w.position = 3
    assert w.kernel.task(3).comm == "worker" and w.kernel.task(2).comm == "init"
    assert "comm worker" in w.matrix.value and "pid 3 is now called worker" in w.text()
