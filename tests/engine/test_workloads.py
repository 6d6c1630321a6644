"""make_tasks: the one builder of thread and process groups for the SMP machine."""

import pytest

from ukva_widgets.engine import make_tasks


def test_threads_share_the_leaders_mm_and_processes_have_their_own():
    k, tasks = make_tasks(threads=3, processes=2)
    leader, t1, t2, p1, p2 = tasks
    assert t1.mm is leader.mm and t2.mm is leader.mm and t1.tgid == leader.pid
    assert len({leader.mm, p1.mm, p2.mm}) == 3
    k.check()


def test_siblings_cloned_with_clone_vm_only_share_the_mm_but_not_the_files():
    _, (leader, sibling) = make_tasks(threads=2, sibling="CLONE_VM")
    assert sibling.mm is leader.mm and sibling.files is not leader.files


def test_a_group_without_tasks_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="threads >= 1"):
        make_tasks(threads=0)
