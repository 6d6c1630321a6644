"""The real-kernel probe itself: what clone() does here, clean-up, bad input, unavailability."""

from __future__ import annotations

import json
import platform
import subprocess

import pytest
from real_helpers import can_drop_privileges, deny_kcmp, run_as_nobody, run_python

from ukva_widgets.real import PROBED_FLAGS, ProbeResult, probe, probe_all, probe_many, subsets
from ukva_widgets.real.probe import unavailable_reason

F = PROBED_FLAGS
THREAD_FLAGS = (F["CLONE_VM"] | F["CLONE_FS"] | F["CLONE_FILES"] | F["CLONE_SIGHAND"]
                | F["CLONE_THREAD"] | F["CLONE_SYSVSEM"])
CLONE_PIDFD, CLONE_PARENT_SETTID = 0x1000, 0x100000

needs_kernel = pytest.mark.usefixtures("probeable_kernel")


@needs_kernel
def test_plain_fork_shares_nothing_the_caller_owns():
    r = probe(0)
    assert r.ok, r.text()
    assert [r.shares[k] for k in ("vm", "fs", "files", "sighand")] == [False] * 4
    assert r.same_thread_group is False
    assert r.parent_is == "caller"


@needs_kernel
def test_plain_fork_compares_equal_on_the_lazily_allocated_sysv_undo_list():
    # Neither caller nor child has a SysV undo list: kcmp compares NULL with NULL.
    assert probe(0).shares["sysvsem"] is True


@needs_kernel
def test_clone_vm_shares_the_address_space_and_nothing_else():
    r = probe(F["CLONE_VM"])
    assert r.shares["vm"] is True
    assert [r.shares[k] for k in ("fs", "files", "sighand")] == [False] * 3
    assert r.same_thread_group is False


@needs_kernel
def test_clone_sighand_without_vm_is_einval():
    r = probe(F["CLONE_SIGHAND"])
    assert (r.available, r.errno, r.error) == (True, 22, "EINVAL")
    assert r.text() == "EINVAL"


@needs_kernel
def test_clone_thread_without_sighand_is_einval():
    assert probe(F["CLONE_VM"] | F["CLONE_THREAD"]).error == "EINVAL"


@needs_kernel
def test_pthread_flags_share_everything_and_join_the_callers_thread_group():
    r = probe(THREAD_FLAGS)
    assert r.ok
    assert all(r.shares[k] for k in ("vm", "fs", "files", "sighand", "sysvsem"))
    assert r.same_thread_group is True
    assert r.parent_is == "caller's parent"       # a thread's parent is its leader's parent


@needs_kernel
def test_clone_parent_makes_the_child_its_callers_sibling():
    r = probe(F["CLONE_PARENT"])
    assert (r.same_thread_group, r.parent_is) == (False, "caller's parent")


@needs_kernel
def test_legacy_clone_pidfd_writes_through_the_parent_tid_pointer_so_both_is_einval():
    assert probe(CLONE_PIDFD).ok
    assert probe(CLONE_PIDFD | CLONE_PARENT_SETTID).error == "EINVAL"


def test_probe_all_asks_about_every_subset_once_in_order(kernel_answers):
    assert list(kernel_answers) == subsets()
    assert len(set(subsets())) == 256


def test_probe_all_gives_the_same_answers_twice(kernel_answers):
    assert probe_all() == list(kernel_answers.values())


REAPER = """
    import ctypes, json, os
    from ukva_widgets.real import probe_many, subsets
    # Become a subreaper: any task the probe leaves behind is re-parented to us.
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
    results = probe_many(subsets(), timeout={timeout})
    try:
        left = os.waitpid(-1, os.WNOHANG | 0x40000000)   # __WALL: any child at all
    except ChildProcessError:
        left = None
    print(json.dumps({{"left": left, "why": results[0].why}}))
"""


@needs_kernel
def test_probe_all_leaves_no_task_alive_or_zombie():
    report = json.loads(run_python(REAPER.format(timeout=60)).stdout)
    assert report == {"left": None, "why": ""}


@needs_kernel
def test_a_probe_out_of_time_is_stopped_reaped_and_says_so():
    report = json.loads(run_python(REAPER.format(timeout=0.001)).stdout)
    assert report["left"] is None
    assert "did not finish within 0.001 s" in report["why"]


PROBE_ZERO = """
    import json
    from ukva_widgets.real import probe
    r = probe(0)
    print(json.dumps({"available": r.available, "why": r.why, "text": r.text()}))
"""


@needs_kernel
@pytest.mark.parametrize("errno, words", [(38, "ENOSYS"), (1, "EPERM")])
def test_a_kernel_that_will_not_kcmp_gives_an_unavailable_result_not_an_error(errno, words):
    r = json.loads(run_python(PROBE_ZERO, prelude=deny_kcmp(errno)).stdout)
    assert r["available"] is False
    assert words in r["why"] and "kcmp" in r["why"]
    assert r["text"] == f"unavailable: {r['why']}"


def test_off_linux_or_on_an_unknown_architecture_the_probe_says_why():
    assert "not Linux" in unavailable_reason("Darwin", "arm64")
    assert "riscv64" in unavailable_reason("Linux", "riscv64")
    assert unavailable_reason("Linux", "x86_64") == ""


def test_an_unavailable_probe_returns_one_result_per_flag_word_and_starts_nothing(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(subprocess, "Popen", None)        # any attempt to start a worker fails
    results = probe_many([0, F["CLONE_VM"]], timeout=5)
    assert [(r.flags, r.available, r.ok) for r in results] == [(0, False, False),
                                                               (F["CLONE_VM"], False, False)]
    assert results[0].text() == "unavailable: " + unavailable_reason("Darwin", "")
    assert results[0] == ProbeResult(0, available=False, why=results[0].why)


@pytest.mark.parametrize("bad, error, words", [
    ("CLONE_VM", TypeError, "parse_flags"),
    (True, TypeError, "int"),
    (0x100 | 17, ValueError, "exit signal"),
    (1 << 32, ValueError, "clone3-only"),
    (-1, ValueError, "32 bits"),
    (0x4000, ValueError, "CLONE_VFORK"),
    (0x80000, ValueError, "CLONE_SETTLS"),
])
def test_bad_flag_words_are_refused_with_what_to_do(bad, error, words):
    with pytest.raises(error, match=words):
        probe(bad)


def test_a_timeout_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="positive"):
        probe(0, timeout=0)


@needs_kernel
@can_drop_privileges
def test_an_unprivileged_user_gets_the_same_answers():
    script = """
        import json
        from ukva_widgets.real import probe_all
        print(json.dumps([r.text() for r in probe_all()]))
    """
    as_nobody = run_as_nobody(script)
    assert json.loads(as_nobody) == [r.text() for r in probe_all()]
