"""Every clone()/unshare() validation rule fires with the kernel's errno, names itself, and leaves
the kernel exactly as it was."""

import errno

import pytest

from ukva_widgets.engine import CLONE_RULES, UNSHARE_RULES, CloneError, CloneFlags, Kernel, NotModelled, all_rules
from ukva_widgets.engine.flags import SIGCHLD

F = CloneFlags
THREAD_FLAGS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"

# (rule name, errno, flags, exit_signal) — a smallest request that trips each clone rule.
CLONE_CASES = [
    ("clone3_invalid_exit_signal", errno.EINVAL, "CLONE_CLEAR_SIGHAND", 65),
    ("clone3_csignal_in_flags", errno.EINVAL, F.CLONE_CLEAR_SIGHAND.value | SIGCHLD, None),
    ("clone3_detached", errno.EINVAL, "CLONE_DETACHED|CLONE_CLEAR_SIGHAND", None),
    ("clone3_sighand_and_clear_sighand", errno.EINVAL, "VM|SIGHAND|CLEAR_SIGHAND", None),
    ("clone3_thread_or_parent_with_exit_signal", errno.EINVAL, "PARENT|CLEAR_SIGHAND", SIGCHLD),
    ("pidfd_and_parent_settid_same_pointer", errno.EINVAL, "CLONE_PIDFD|CLONE_PARENT_SETTID", None),
    ("newns_with_fs", errno.EINVAL, "CLONE_NEWNS|CLONE_FS", None),
    ("newuser_with_fs", errno.EINVAL, "CLONE_NEWUSER|CLONE_FS", None),
    ("thread_without_sighand", errno.EINVAL, "CLONE_VM|CLONE_THREAD", None),
    ("sighand_without_vm", errno.EINVAL, "CLONE_SIGHAND", None),
    ("thread_with_new_pid_or_user_ns", errno.EINVAL, THREAD_FLAGS.replace("CLONE_FS|", "") + "|NEWPID",
     None),
    ("pidfd_with_detached", errno.EINVAL, "CLONE_PIDFD|CLONE_DETACHED", None),
    ("newipc_with_sysvsem", errno.EINVAL, "CLONE_NEWIPC|CLONE_SYSVSEM", None),
]


@pytest.mark.parametrize("name, code, flags, exit_signal", CLONE_CASES, ids=[c[0] for c in CLONE_CASES])
def test_each_clone_rule_refuses_with_its_errno_and_changes_nothing(k, sh, unchanged, name, code,
                                                                      flags, exit_signal):
    if name == "newipc_with_sysvsem":
        k.semop_undo(sh)   # with an undo list already, even this refusal changes nothing (see below)
    with unchanged(), pytest.raises(CloneError) as info:
        k.clone(sh, flags, exit_signal)
    assert info.value.errno == code
    assert info.value.rule.name == name
    assert name in str(info.value) and info.value.rule.reason in str(info.value)
    k.check()


def test_clone_parent_from_init_is_einval(k, unchanged):
    with unchanged(), pytest.raises(CloneError) as info:
        k.clone(k.init, "CLONE_PARENT")
    assert (info.value.errno, info.value.rule.name) == (errno.EINVAL, "parent_from_unkillable_init")


def test_clone_fs_during_an_exec_is_eagain(k, sh, unchanged):
    sh.fs.in_exec = True  # another thread sharing this fs_struct is inside execve
    with unchanged(), pytest.raises(CloneError) as info:
        k.clone(sh, "CLONE_FS")
    assert (info.value.errno, info.value.rule.name) == (errno.EAGAIN, "fs_in_exec")
    assert k.fork(sh).fs is not sh.fs  # without CLONE_FS the exec does not matter


def test_a_new_namespace_without_cap_sys_admin_is_eperm():
    k = Kernel(privileged=False)
    sh = k.fork(k.init)
    with pytest.raises(CloneError) as info:
        k.clone(sh, "CLONE_NEWUTS")
    assert (info.value.errno, info.value.rule.name) == (errno.EPERM, "new_namespace_needs_cap_sys_admin")


def test_eperm_comes_before_the_newipc_sysvsem_check_as_in_copy_namespaces():
    k = Kernel(privileged=False)
    with pytest.raises(CloneError) as info:
        k.clone(k.fork(k.init), "CLONE_NEWIPC|CLONE_SYSVSEM")
    assert info.value.errno == errno.EPERM


def test_the_first_rule_in_kernel_order_wins(k, sh):
    with pytest.raises(CloneError) as info:
        k.clone(sh, "CLONE_THREAD")  # breaks thread_without_sighand; sighand_without_vm comes later
    assert info.value.rule.name == "thread_without_sighand"
    with pytest.raises(CloneError) as info:
        k.clone(sh, "CLONE_NEWNS|CLONE_FS|CLONE_SIGHAND")
    assert info.value.rule.name == "newns_with_fs"


def test_clone3_checks_do_not_apply_to_legacy_clone(k, sh):
    child = k.clone(sh, "CLONE_DETACHED")  # clone(2) ignores CLONE_DETACHED
    assert child.parent is sh
    thread = k.clone(sh, THREAD_FLAGS, exit_signal=SIGCHLD)  # clone(2) ignores it for a thread
    assert thread.exit_signal == -1
    k.clone(sh, "PARENT|CLEAR_SIGHAND", exit_signal=0)  # clone3 is fine with exit_signal 0


@pytest.mark.parametrize("flags", ["CLONE_NEWUTS", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_INTO_CGROUP"])
def test_a_valid_request_for_what_is_not_modelled_says_so_and_changes_nothing(k, sh, unchanged, flags):
    with unchanged(), pytest.raises(NotModelled, match="does not model"):
        k.clone(sh, flags)


def test_a_user_namespace_needs_no_privilege_but_is_not_modelled():
    k = Kernel(privileged=False)
    with pytest.raises(NotModelled, match="CLONE_NEWUSER"):
        k.clone(k.fork(k.init), "CLONE_NEWUSER")


def test_clone_error_is_an_oserror_with_errno_and_rule(k, sh):
    with pytest.raises(OSError) as info:
        k.clone(sh, "CLONE_SIGHAND")
    err = info.value
    assert isinstance(err, CloneError)
    assert err.errno == errno.EINVAL and "EINVAL" in str(err) and "CLONE_SIGHAND needs CLONE_VM" in str(err)
    assert err.flags == F.CLONE_SIGHAND


def test_two_different_exit_signals_are_a_value_error(k, sh, unchanged):
    with unchanged(), pytest.raises(ValueError, match="two exit signals"):
        k.clone(sh, 0x100 | SIGCHLD, exit_signal=10)


# Legacy clone(2) takes any CSIGNAL byte; clone3 refuses a non-signal with EINVAL.
@pytest.mark.parametrize("word_signal", [65, 0x80, 100, 255])
def test_legacy_clone_accepts_any_exit_signal_byte(k, sh, word_signal):
    child = k.clone(sh, 0x100 | word_signal)
    assert child.exit_signal == word_signal and child.mm is sh.mm
    assert k.clone(sh, 0, exit_signal=word_signal).exit_signal == word_signal
    k.check()


@pytest.mark.parametrize("exit_signal", [65, 99, 255, 1 << 40])
def test_clone3_with_an_invalid_exit_signal_is_einval_not_a_value_error(k, sh, unchanged, exit_signal):
    with unchanged(), pytest.raises(CloneError) as info:
        k.clone(sh, 0, exit_signal=exit_signal, clone3=True)
    assert (info.value.errno, info.value.rule.name) == (errno.EINVAL, "clone3_invalid_exit_signal")
    assert k.clone(sh, 0, exit_signal=64, clone3=True).exit_signal == 64


@pytest.mark.parametrize("call", [lambda k, sh: k.clone(sh, 0, exit_signal=256),
                                  lambda k, sh: k.clone(sh, 0, exit_signal=-1, clone3=True),
                                  lambda k, sh: k.clone(sh, "CLEAR_SIGHAND", clone3=False)])
def test_what_no_clone_call_can_express_is_a_value_error(k, sh, unchanged, call):
    with unchanged(), pytest.raises(ValueError):
        call(k, sh)


# copy_semundo() runs before copy_namespaces() refuses NEWIPC|SYSVSEM.
@pytest.mark.parametrize("privileged, code", [(True, errno.EINVAL), (False, errno.EPERM)])
def test_a_refused_newipc_sysvsem_clone_leaves_the_caller_an_undo_list(privileged, code):
    k = Kernel(privileged=privileged)
    sh = k.fork(k.init)
    assert k.kcmp(sh, k.fork(sh), "KCMP_SYSVSEM") == 0       # neither has an undo list
    with pytest.raises(CloneError) as info:
        k.clone(sh, "CLONE_NEWIPC|CLONE_SYSVSEM")
    assert info.value.errno == code and info.value.rule.after_semundo
    assert sh.sysvsem is not None and sh.sysvsem.refcnt == 1
    assert k.kcmp(sh, k.fork(sh), "KCMP_SYSVSEM") != 0       # the trace a fresh fork shows
    k.check()


def test_only_the_rules_checked_after_copy_semundo_can_leave_a_trace():
    assert {r.name for r in all_rules() if r.after_semundo} == {
        "fs_in_exec", "new_namespace_needs_cap_sys_admin", "newipc_with_sysvsem"}


def test_a_refusal_before_copy_semundo_leaves_no_undo_list(k, sh, unchanged):
    with unchanged(), pytest.raises(CloneError):
        k.clone(sh, "CLONE_SIGHAND|CLONE_SYSVSEM")             # a guard clause: nothing ran yet


# -- unshare --------------------------------------------------------------------------------------

def test_unshare_of_a_flag_it_does_not_take_is_einval(k, sh, unchanged):
    with unchanged(), pytest.raises(CloneError) as info:
        k.unshare(sh, "CLONE_PARENT")
    assert (info.value.errno, info.value.rule.name) == (errno.EINVAL, "unshare_unsupported_flag")


@pytest.mark.parametrize("flags", ["CLONE_THREAD", "CLONE_SIGHAND", "CLONE_VM"])
def test_unshare_thread_sighand_or_vm_in_a_multithreaded_group_is_einval(k, sh, unchanged, flags):
    k.clone(sh, THREAD_FLAGS)
    with unchanged(), pytest.raises(CloneError) as info:
        k.unshare(sh, flags)
    assert info.value.rule.name == "unshare_thread_in_multithreaded_group"


def test_unshare_sighand_shared_with_another_process_is_einval(k, sh, unchanged):
    k.clone(sh, "CLONE_VM|CLONE_SIGHAND")
    with unchanged(), pytest.raises(CloneError) as info:
        k.unshare(sh, "CLONE_SIGHAND")
    assert info.value.rule.name == "unshare_sighand_shared"


def test_unshare_vm_shared_with_another_process_is_einval(k, sh, unchanged):
    k.clone(sh, "CLONE_VM")
    with unchanged(), pytest.raises(CloneError) as info:
        k.unshare(sh, "CLONE_VM")
    assert (info.value.errno, info.value.rule.name) == (errno.EINVAL, "unshare_vm_shared")


def test_unshare_of_a_namespace_without_cap_sys_admin_is_eperm():
    k = Kernel(privileged=False)
    sh = k.fork(k.init)
    with pytest.raises(CloneError) as info:
        k.unshare(sh, "CLONE_NEWNET")
    assert info.value.errno == errno.EPERM


def test_unshare_newuser_implies_fs_and_thread_so_a_thread_cannot(k, sh):
    k.clone(sh, THREAD_FLAGS)
    with pytest.raises(CloneError) as info:
        k.unshare(sh, "CLONE_NEWUSER")
    assert info.value.rule.name == "unshare_thread_in_multithreaded_group"


def test_every_rule_has_a_test_here():
    names = {c[0] for c in CLONE_CASES} | {"parent_from_unkillable_init", "fs_in_exec",
                                           "new_namespace_needs_cap_sys_admin", "unshare_unsupported_flag",
                                           "unshare_thread_in_multithreaded_group", "unshare_sighand_shared",
                                           "unshare_vm_shared"}
    assert {r.name for r in all_rules()} == names
    assert len(all_rules()) == len(CLONE_RULES) + len(UNSHARE_RULES) - 1  # the EPERM rule is shared
