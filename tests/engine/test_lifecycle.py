"""A task's life in the engine: what clone shares and counts, then exit, wait, execve, unshare,
kernel threads and kcmp, each as kernel/fork.c, kernel/exit.c and fs/exec.c do it (notebooks/sources.ipynb §3, §4)."""

import re

import pytest

from ukva_widgets.engine import PRESETS, CloneFlags, Kernel, TaskStateError
from ukva_widgets.engine.flags import SIGCHLD

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"
ALL_KEYS = {"vm", "fs", "files", "sighand", "signal", "io", "sysvsem"}


# -- clone: what is shared, what is counted ------------------------------------------------------

def test_init_is_pid_1_and_unkillable(k):
    assert (k.init.pid, k.init.tgid, k.init.parent) == (1, 1, None)
    assert k.tasks == [k.init]
    k.check()


def test_fork_shares_nothing_and_copies_every_object(k, sh):
    assert sh.parent is k.init and sh.exit_signal == SIGCHLD and sh in k.init.children
    assert k.shares(k.init, sh) == dict.fromkeys(ALL_KEYS, False)
    for name in ("mm", "fs", "files", "sighand", "signal"):
        assert getattr(sh, name) is not getattr(k.init, name)
        assert getattr(sh, name).refcount == 1
    k.check()


@pytest.mark.parametrize("flags, field, counter", [
    ("CLONE_VM", "mm", "mm_users"), ("CLONE_FS", "fs", "users"), ("CLONE_FILES", "files", "count"),
    ("CLONE_VM|CLONE_SIGHAND", "sighand", "count")])
def test_each_sharing_flag_takes_one_more_reference(k, sh, flags, field, counter):
    child = k.clone(sh, flags)
    shared = getattr(sh, field)
    assert getattr(child, field) is shared and getattr(shared, counter) == 2
    k.exit(child)
    assert getattr(shared, counter) == 1 or field == "sighand"  # a zombie keeps its sighand
    k.wait(sh)
    assert getattr(shared, counter) == 1
    k.check()


def test_a_legacy_clone_word_carries_the_exit_signal_in_its_low_byte(k, sh):
    child = k.clone(sh, CloneFlags.CLONE_VM.value | 10)
    assert child.exit_signal == 10 and child.mm is sh.mm
    assert k.clone(sh, "CLONE_VM", exit_signal=0).exit_signal == 0


def test_a_child_with_exit_signal_0_is_still_reaped_by_wait(k, sh):
    child = k.clone(sh, 0, exit_signal=0)
    k.exit(child, 4)
    assert k.wait(sh) == (child.pid, 4)  # the engine waits like __WALL


@pytest.mark.parametrize("call", [lambda k, sh: k.clone(sh, 1.5), lambda k, sh: k.clone("sh", 0),
                                  lambda k, sh: k.unshare(sh, None), lambda k, sh: k.kcmp(sh, 2, "KCMP_VM")])
def test_a_wrong_type_is_a_type_error_and_changes_nothing(k, sh, unchanged, call):
    with unchanged(), pytest.raises(TypeError):
        call(k, sh)


def test_all_users_of_an_mm_hold_one_mm_count_reference(k, sh):
    k.clone(sh, "CLONE_VM")
    k.clone(sh, "CLONE_VM")
    assert (sh.mm.mm_users, sh.mm.mm_count) == (3, 1)


def test_a_thread_joins_the_callers_group_and_parent(k, sh):
    t = k.clone(sh, THREAD)
    assert (t.tgid, t.group_leader, t.parent, t.exit_signal) == (sh.pid, sh, k.init, -1)
    assert t not in k.init.children  # only group leaders are on a children list
    assert (sh.signal.nr_threads, sh.signal.live, sh.signal.sigcnt) == (2, 2, 2)
    assert k.shares(sh, t) == {"vm": True, "fs": True, "files": True, "sighand": True, "signal": True,
                               "io": False, "sysvsem": False}
    k.check()


def test_clone_parent_makes_a_sibling_that_signals_like_the_leader(k, sh):
    sib = k.clone(sh, "CLONE_PARENT")
    assert sib.parent is k.init and sib in k.init.children and sib.tgid == sib.pid
    assert sib.exit_signal == sh.exit_signal


def test_io_context_is_lazy_shared_with_clone_io_and_copied_only_with_a_valid_ioprio(k, sh):
    assert k.clone(sh, "CLONE_IO").io_context is None
    k.ioprio_set(sh, 0)
    assert k.clone(sh, "CLONE_IO").io_context is sh.io_context and sh.io_context.nr_tasks == 2
    assert k.fork(sh).io_context is None  # ioprio 0 is IOPRIO_CLASS_NONE: no copy
    k.ioprio_set(sh, (2 << 13) | 4)       # best-effort class, level 4
    copy = k.fork(sh).io_context
    assert copy is not None and copy is not sh.io_context and copy.ioprio == sh.io_context.ioprio
    k.check()


def test_clone_sysvsem_gives_the_caller_an_undo_list_to_share(k, sh):
    assert sh.sysvsem is None
    child = k.clone(sh, "CLONE_SYSVSEM")
    assert child.sysvsem is sh.sysvsem is not None and sh.sysvsem.refcnt == 2
    assert k.fork(sh).sysvsem is None
    k.check()


def test_kcmp_says_equal_for_two_tasks_without_io_context_but_shares_says_no(k, sh):
    child = k.fork(sh)
    assert k.kcmp(sh, child, "KCMP_IO") == 0 and k.kcmp(sh, child, "KCMP_SYSVSEM") == 0
    assert not k.shares(sh, child)["io"]


def test_kcmp_orders_different_objects_both_ways(k, sh):
    child = k.fork(sh)
    assert {k.kcmp(sh, child, "KCMP_VM"), k.kcmp(child, sh, "KCMP_VM")} == {1, 2}
    assert k.kcmp(sh, child, 1) == k.kcmp(sh, child, "KCMP_VM")  # KCMP_VM is 1 in kcmp.h
    assert k.kcmp(sh, k.clone(sh, "CLONE_FILES"), "KCMP_FILES") == 0


def test_kcmp_of_an_unknown_type_or_a_reaped_task_is_a_clear_error(k, sh):
    with pytest.raises(ValueError, match="KCMP_VM"):
        k.kcmp(sh, k.init, "KCMP_FILE")
    child = k.fork(sh)
    k.exit(child)
    k.wait(sh)
    with pytest.raises(ProcessLookupError, match="reaped"):
        k.kcmp(sh, child, "KCMP_VM")
    with pytest.raises(ProcessLookupError, match="reaped"):
        k.shares(sh, child)


def test_clear_sighand_resets_caught_handlers_and_keeps_ignored_ones(k, sh):
    k.sigaction(sh, 10, "on_usr1")
    k.sigaction(sh, 13, "SIG_IGN")
    child = k.clone(sh, "CLONE_CLEAR_SIGHAND")
    assert child.sighand.action == {13: "SIG_IGN"}
    assert k.fork(sh).sighand.action == {10: "on_usr1", 13: "SIG_IGN"}


def test_what_one_sharer_changes_the_others_see(k, sh):
    vm = k.clone(sh, "CLONE_FS|CLONE_FILES|CLONE_VM|CLONE_SIGHAND")
    other = k.fork(sh)
    k.chdir(vm, "/tmp")
    fd = k.open(vm, "/etc/passwd")
    k.sigaction(vm, 2, "on_int")
    assert (sh.fs.cwd, sh.files.fds[fd], sh.sighand.action[2]) == ("/tmp", "/etc/passwd", "on_int")
    assert other.fs.cwd == "/" and fd not in other.files.fds and 2 not in other.sighand.action


def test_clone_pidfd_puts_a_close_on_exec_fd_in_the_callers_table_only(k, sh):
    child = k.clone(sh, "CLONE_PIDFD")
    assert f"pidfd:{child.pid}" in sh.files.fds.values()
    assert not child.files.fds


def test_vfork_parent_sleeps_until_the_child_execs(k, sh, unchanged):
    child = k.clone(sh, PRESETS["vfork"])
    with unchanged(), pytest.raises(TaskStateError, match="sleeps in vfork"):
        k.fork(sh)
    k.execve(child, "/bin/true")
    assert sh.vfork_child is None
    k.fork(sh)
    k.check()


def test_vfork_parent_wakes_when_the_child_exits_and_can_be_killed_meanwhile(k, sh):
    child = k.clone(sh, PRESETS["posix_spawn"])
    k.exit(child, 127)
    assert k.wait(sh) == (child.pid, 127)
    child = k.clone(sh, PRESETS["vfork"])
    k.exit(sh, 9)
    assert child.vfork_parent is None and child.parent is k.init
    k.check()


# -- exit and wait --------------------------------------------------------------------------------

def test_exit_leaves_a_zombie_holding_only_sighand_and_signal_until_waited(k, sh):
    child = k.fork(sh)
    mm = child.mm
    k.exit(child, 3)
    assert child.state == "zombie" and mm.freed and child.mm is None and child.files is None
    assert child.sighand is not None and child in k.tasks
    k.check()
    assert k.wait(sh) == (child.pid, 3)
    assert child.state == "dead" and child not in k.tasks and k.wait(sh) is None
    k.check()


def test_wait_with_no_exited_child_returns_none_and_changes_nothing(k, sh, unchanged):
    k.fork(sh)
    with unchanged():
        assert k.wait(sh) is None


def test_children_of_an_exiting_task_go_to_init(k, sh):
    kid = k.fork(sh)
    grandkid_thread = k.clone(kid, THREAD)
    k.exit(sh)
    assert kid.parent is k.init and grandkid_thread.parent is k.init and kid in k.init.children
    k.check()


def test_children_go_first_to_another_live_thread_of_the_group(k, sh):
    t = k.clone(sh, THREAD)
    kid = k.fork(t)
    k.exit(t)
    assert kid.parent is sh and kid in sh.children
    k.check()


def test_a_thread_is_reaped_at_once_and_a_leader_waits_for_its_threads(k, sh):
    t = k.clone(sh, THREAD)
    k.exit(sh, 5)
    assert sh.state == "zombie" and k.wait(k.init) is None  # delay_group_leader
    k.exit(t, 7)
    assert t.state == "dead" and t not in k.tasks
    reaped = k.wait(k.init)
    assert reaped == (sh.pid, 7)           # the group's last thread sets the status, not the leader
    assert reaped.status == 0x700 and reaped.exit_code == 7
    k.check()


def test_exit_group_ends_every_thread_with_the_group_code(k, sh):
    threads = [k.clone(sh, THREAD) for _ in range(3)]
    k.exit(threads[1], 7, group=True)
    assert all(t.state == "dead" for t in threads) and sh.state == "zombie"
    assert k.wait(k.init) == (sh.pid, 7)
    k.check()


def test_a_thread_waits_for_children_of_any_thread_in_its_group(k, sh):
    t = k.clone(sh, THREAD)
    kid = k.fork(sh)
    k.exit(kid, 1)
    assert k.wait(t) == (kid.pid, 1)


def test_init_cannot_exit_and_nothing_changes(k, unchanged):
    with unchanged(), pytest.raises(TaskStateError, match="panic"):
        k.exit(k.init)


def test_calls_on_a_zombie_or_reaped_task_are_clear_errors(k, sh, unchanged):
    child = k.fork(sh)
    k.exit(child)
    for call in (lambda: k.fork(child), lambda: k.execve(child, "/bin/sh"), lambda: k.exit(child),
                 lambda: k.unshare(child, "CLONE_FILES")):
        with unchanged(), pytest.raises(TaskStateError, match="exited"):
            call()
    k.wait(sh)
    with pytest.raises(TaskStateError, match="reaped"):
        k.fork(child)
    with pytest.raises(ProcessLookupError):
        k.task(child.pid)


@pytest.mark.parametrize("code", [-1, 256, "0", 1.0])
def test_a_bad_exit_code_is_refused_and_changes_nothing(k, sh, unchanged, code):
    with unchanged(), pytest.raises(ValueError, match="0..255"):
        k.exit(sh, code)


# -- execve ---------------------------------------------------------------------------------------

def test_execve_from_a_thread_takes_the_leaders_pid_and_ends_the_others(k, sh):
    t1, t2 = k.clone(sh, THREAD), k.clone(sh, THREAD)
    leader_pid, old_fs = sh.pid, sh.fs
    k.execve(t2, "/usr/bin/python3")
    assert (t2.pid, t2.tgid, t2.group_leader, t2.parent) == (leader_pid, leader_pid, t2, k.init)
    assert t2.exit_signal == SIGCHLD and t2 in k.init.children
    assert sh.state == t1.state == "dead" and k.tasks == [k.init, t2]
    assert t2.signal.nr_threads == 1 and t2.fs is old_fs and t2.comm == "python3"
    k.check()


def test_execve_gives_a_new_mm_and_unshares_files_but_keeps_a_shared_fs(k, sh):
    buddy = k.clone(sh, "CLONE_VM|CLONE_FS|CLONE_FILES")
    old_mm, old_files = sh.mm, sh.files
    k.execve(sh, "/bin/ls")
    assert sh.mm is not old_mm and old_mm.mm_users == 1 and buddy.mm is old_mm
    assert sh.files is not old_files and buddy.files is old_files and old_files.count == 1
    assert sh.fs is buddy.fs and sh.fs.users == 2
    k.check()


def test_execve_makes_a_sighand_shared_with_another_process_private_and_resets_handlers(k, sh):
    k.sigaction(sh, 10, "on_usr1")
    k.sigaction(sh, 13, "SIG_IGN")
    buddy = k.clone(sh, "CLONE_VM|CLONE_SIGHAND")
    k.execve(sh, "/bin/sh")
    assert sh.sighand is not buddy.sighand and buddy.sighand.count == 1
    assert sh.sighand.action == {13: "SIG_IGN"} and buddy.sighand.action[10] == "on_usr1"


def test_execve_closes_close_on_exec_fds(k, sh):
    keep, drop = k.open(sh, "/etc/hosts"), k.open(sh, "/etc/passwd", cloexec=True)
    k.execve(sh, "/bin/cat")
    assert keep in sh.files.fds and drop not in sh.files.fds


@pytest.mark.parametrize("path, error", [("", ValueError), (None, TypeError), (b"/bin/sh", TypeError)])
def test_execve_with_a_bad_path_is_refused_and_changes_nothing(k, sh, unchanged, path, error):
    with unchanged(), pytest.raises(error):
        k.execve(sh, path)


# -- unshare --------------------------------------------------------------------------------------

def test_unshare_files_copies_a_shared_table_and_keeps_a_private_one(k, sh):
    buddy = k.clone(sh, "CLONE_FILES")
    k.open(sh, "/etc/hosts")
    shared = sh.files
    k.unshare(sh, "CLONE_FILES")
    assert sh.files is not shared and sh.files.fds == shared.fds and buddy.files is shared
    private = sh.files
    k.unshare(sh, "CLONE_FILES")
    assert sh.files is private
    k.check()


def test_unshare_fs_and_sysvsem(k, sh):
    k.clone(sh, "CLONE_FS|CLONE_SYSVSEM")
    k.unshare(sh, "CLONE_FS|CLONE_SYSVSEM")
    assert sh.fs.users == 1 and sh.sysvsem is None
    k.check()


def test_unshare_vm_of_a_single_threaded_process_does_nothing(k, sh):
    mm, sighand = sh.mm, sh.sighand
    k.unshare(sh, "CLONE_VM")
    assert sh.mm is mm and sh.sighand is sighand


# -- kernel threads -------------------------------------------------------------------------------

def test_a_kernel_thread_has_no_mm_and_is_a_child_of_kthreadd(k):
    kt = k.kthread("kworker/0:1")
    assert kt.mm is None and kt.active_mm is None and kt.is_kthread
    assert kt.parent.comm == "kthreadd" and kt.fs is kt.parent.fs and kt.files is kt.parent.files
    assert k.kcmp(kt, k.kthread("ksoftirqd/0"), "KCMP_VM") == 0  # both NULL
    k.check()


def test_a_kernel_thread_cannot_clone_or_exec_and_is_reaped_when_it_exits(k, unchanged):
    kt = k.kthread("kswapd0")
    with unchanged(), pytest.raises(TaskStateError, match="kernel thread"):
        k.fork(kt)
    with unchanged(), pytest.raises(TaskStateError, match="kernel thread"):
        k.execve(kt, "/bin/sh")
    k.exit(kt)
    assert kt not in k.tasks
    k.check()


def test_a_kernel_thread_borrowing_an_mm_keeps_it_alive(k, sh):
    kt = k.kthread("kworker/1:0")
    sh.mm.mmgrab()
    kt.active_mm = sh.mm
    mm = sh.mm
    k.exit(sh)
    assert mm.mm_users == 0 and mm.mm_count == 1 and not mm.freed
    k.check()
    k.exit(kt)
    assert mm.freed and mm not in k.objects()


# -- what the book shows --------------------------------------------------------------------------

def test_reprs_are_short_and_hold_no_memory_address(k, sh):
    t = k.clone(sh, THREAD)
    assert repr(t) == "Task(pid=3, tgid=2, comm='init', mm=mm#2)"
    texts = [repr(x) for x in [k, *k.tasks, *k.objects(), CloneFlags.CLONE_VM]]
    assert not any(re.search(r"0x[0-9a-f]{6,}", s) for s in texts)


def test_freed_objects_leave_the_object_list(k, sh):
    before = {o.label for o in k.objects()}
    child = k.fork(sh)
    k.exit(child)
    k.wait(sh)
    assert {o.label for o in k.objects()} == before


def test_same_calls_give_the_same_pids_and_ids():
    def run() -> list[str]:
        k = Kernel()
        sh = k.fork(k.init)
        k.clone(sh, THREAD)
        k.execve(k.fork(sh), "/bin/true")
        return [repr(t) for t in k.tasks] + [o.label for o in k.objects()]
    assert run() == run()


def test_a_thread_of_init_that_execs_becomes_pid_1(k):
    t = k.clone(k.init, THREAD)
    child = k.fork(k.init)
    k.execve(t, "/sbin/init")
    assert k.init is t and t.pid == 1 and t.parent is None and child.parent is t
    k.check()


def test_close_of_an_fd_that_is_not_open_is_ebadf_and_changes_nothing(k, sh, unchanged):
    fd = k.open(sh, "/etc/hosts")
    k.close(sh, fd)
    with unchanged(), pytest.raises(OSError) as info:
        k.close(sh, fd)
    assert info.value.errno == 9  # EBADF


@pytest.mark.parametrize("call, error", [
    (lambda k, sh: k.chdir(sh, "tmp"), ValueError),
    (lambda k, sh: k.sigaction(sh, 9, "handler"), OSError),      # SIGKILL cannot be caught
    (lambda k, sh: k.sigaction(sh, 65, "handler"), ValueError),
    (lambda k, sh: k.ioprio_set(sh, 4 << 13), ValueError),
    (lambda k, sh: k.kthread(""), TypeError),
])
def test_bad_arguments_to_the_small_calls_are_refused_and_change_nothing(k, sh, unchanged, call, error):
    with unchanged(), pytest.raises(error):
        call(k, sh)


# -- lifecycles the kernel was checked on (see also tests/real/test_sequences.py) -------

def test_init_sends_sigchld_like_the_real_init_after_its_execve(k):
    assert k.init.exit_signal == SIGCHLD and k.init.comm == "init"


def test_execve_resets_a_custom_exit_signal_to_sigchld(k, sh):
    child = k.clone(sh, 0, exit_signal=10)                 # SIGUSR1
    assert child.exit_signal == 10
    k.execve(child, "/bin/true")
    assert child.exit_signal == SIGCHLD                    # fs/exec.c de_thread, on every exec
    k.check()


def test_reparenting_outside_the_group_resets_the_exit_signal(k, sh):
    child = k.fork(sh)
    grandchild = k.clone(child, 0, exit_signal=10)
    k.exit(child)
    assert grandchild.parent is k.init and grandchild.exit_signal == SIGCHLD  # reparent_leader
    k.check()


def test_reparenting_to_a_thread_of_the_same_group_keeps_the_exit_signal(k, sh):
    t = k.clone(sh, THREAD)
    kid = k.clone(t, 0, exit_signal=10)
    k.exit(t)
    assert kid.parent is sh and kid.exit_signal == 10      # "a threaded reparent": no notify


def test_the_group_status_is_the_last_threads_exit_code_encoded(k, sh):
    t = k.clone(sh, THREAD)
    k.exit(sh, 3)
    assert sh.exit_code == 0x300           # the zombie leader's own code, /proc/PID/stat field 52
    k.exit(t, 7)
    assert sh.exit_code == 0x700           # release_task gave it the group's
    reaped = k.wait(k.init)
    assert (reaped.pid, reaped.status, reaped.exit_code) == (sh.pid, 0x700, 7)
    assert repr(reaped) == f"WaitResult(pid={sh.pid}, status=0x0700, exit_code=7)"


def test_exit_group_status_wins_over_the_exiting_threads_own_code(k, sh):
    t = k.clone(sh, THREAD)
    k.exit(t, 9, group=True)
    assert k.wait(k.init).status == 0x900


@pytest.mark.parametrize("how", [dict(action="SIG_IGN"), dict(action="SIG_DFL", flags="SA_NOCLDWAIT")])
def test_a_parent_ignoring_sigchld_gets_no_zombie(k, sh, how):
    k.sigaction(sh, "SIGCHLD", **how)
    child = k.fork(sh)
    k.exit(child, 5)
    assert child.state == "dead" and child not in k.tasks  # reaped at once by do_notify_parent
    assert k.wait(sh) is None and k.children_of(sh) == []  # waitpid: ECHILD
    k.check()


def test_sigchld_ignored_reaps_only_children_that_send_sigchld(k, sh):
    k.sigaction(sh, 17, "SIG_IGN")
    child = k.clone(sh, 0, exit_signal=10)
    k.exit(child, 5)
    assert child.state == "zombie" and k.wait(sh) == (child.pid, 5)


@pytest.mark.parametrize("exit_signal", [10, 0x80, 0])
def test_a_parent_that_execd_since_is_sent_sigchld_whatever_the_exit_signal(k, sh, exit_signal):
    k.sigaction(sh, "SIGCHLD", "SIG_IGN")
    child = k.clone(sh, 0, exit_signal=exit_signal)
    k.execve(sh, "/bin/sh")                # SIG_IGN survives execve; self_exec_id moves on
    k.exit(child, 5)
    assert child.state == "dead" and k.wait(sh) is None  # do_notify_parent turned it to SIGCHLD
    k.check()


def test_a_zombie_leader_is_reaped_when_its_last_thread_exits_and_the_parent_ignores_sigchld(k, sh):
    k.sigaction(sh, "SIGCHLD", "SIG_IGN")
    child = k.fork(sh)
    t = k.clone(child, THREAD)
    k.exit(child, 1)
    assert child.state == "zombie"                         # delayed: a thread still runs
    k.exit(t, 2)
    assert child.state == "dead" and k.tasks == [k.init, sh]
    k.check()


def test_a_zombie_reparented_to_a_parent_ignoring_sigchld_is_reaped(k, sh):
    mid = k.fork(sh)
    kid = k.fork(mid)
    k.exit(kid)
    k.set_child_subreaper(sh)
    k.sigaction(sh, "SIGCHLD", "SIG_IGN")
    k.exit(mid)
    assert kid.state == "dead" and mid.state == "dead"
    k.check()


def test_orphans_go_to_the_nearest_live_child_subreaper(k, sh):
    k.set_child_subreaper(sh)
    mid = k.fork(sh)
    low = k.fork(mid)
    orphan = k.clone(low, 0, exit_signal=10)
    k.exit(low)
    assert orphan.parent is sh and orphan in sh.children   # mid is no subreaper, sh is
    k.set_child_subreaper(mid)
    orphan2 = k.fork(k.fork(mid))
    k.exit(orphan2.parent)
    assert orphan2.parent is mid                           # the nearest subreaper wins
    assert orphan.exit_signal == SIGCHLD
    k.exit(orphan, 4)
    assert k.wait(sh) == (orphan.pid, 4)
    k.check()


def test_a_subreaper_with_no_live_thread_is_passed_over(k, sh):
    k.set_child_subreaper(sh)
    mid = k.fork(sh)
    k.set_child_subreaper(mid)
    low = k.fork(mid)
    orphan = k.fork(low)
    k.exit(mid)
    k.exit(low)
    assert orphan.parent is sh
    k.set_child_subreaper(sh, False)
    k.exit(orphan)
    k.check()


def test_the_subreaper_mark_survives_execve_and_is_not_inherited(k, sh):
    k.set_child_subreaper(sh)
    k.execve(sh, "/bin/sh")
    child = k.fork(sh)
    assert sh.signal.is_child_subreaper and not child.signal.is_child_subreaper


@pytest.mark.parametrize("ioprio", [1, 7, 4 << 13, 7 << 13])
def test_ioprio_set_refuses_what_the_kernel_refuses_with_einval(k, sh, unchanged, ioprio):
    with unchanged(), pytest.raises(OSError) as info:
        k.ioprio_set(sh, ioprio)
    assert info.value.errno == 22 and isinstance(info.value, ValueError)


def test_ioprio_set_takes_hint_bits_in_class_none_and_rt_needs_privilege(k, sh):
    k.ioprio_set(sh, 8)                     # class NONE, level 0, a hint bit: the kernel takes it
    assert sh.io_context.ioprio == 8
    user = Kernel(privileged=False)
    with pytest.raises(OSError) as info:
        user.ioprio_set(user.fork(user.init), 1 << 13)
    assert info.value.errno == 1


def test_init_leader_may_exit_while_another_init_thread_lives(k):
    t = k.clone(k.init, THREAD)
    kid = k.fork(k.init)
    leader = k.init
    k.exit(leader, 0)
    assert leader.state == "zombie" and t.state == "running"
    assert kid.parent is t and k.child_reaper is t
    orphan = k.fork(kid)
    k.exit(kid)
    assert orphan.parent is t                              # the new child reaper adopts
    k.check()


def test_the_last_live_thread_of_init_cannot_exit(k, unchanged):
    t = k.clone(k.init, THREAD)
    k.exit(k.init)
    with unchanged(), pytest.raises(TaskStateError, match="panic"):
        k.exit(t)
    with unchanged(), pytest.raises(TaskStateError, match="panic"):
        k.exit(t, group=True)


def test_comm_is_inherited_set_by_execve_and_by_set_comm_cut_to_15_bytes(k, sh):
    k.execve(sh, "/usr/bin/a-very-long-program-name")
    assert sh.comm == "a-very-long-pro"
    child = k.fork(sh)
    assert child.comm == sh.comm
    k.set_comm(child, "worker")
    assert (child.comm, sh.comm) == ("worker", "a-very-long-pro")
    t = k.clone(child, THREAD)
    k.set_comm(t, "io-thread-with-long-name")
    assert (t.comm, child.comm) == ("io-thread-with-", "worker")   # per thread, not per group
    k.execve(t, "./sh")
    assert t.comm == "sh"
    with pytest.raises(TypeError):
        k.set_comm(t, b"sh")
