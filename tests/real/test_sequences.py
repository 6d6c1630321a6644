"""Scripted sequences on the running kernel (ukva_widgets/real/sequences.py): what the kernel
shows after the lifecycle cases, that the runs are reproducible and leave no task behind,
and how `ukva probe --sequences` reports. The agreement with the engine is judged in
test_conformance.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from real_helpers import can_drop_privileges, run_as_nobody, run_python

from ukva_widgets.cli import main
from ukva_widgets.real import agent
from ukva_widgets.real.engine_replay import random_sequences, replay
from ukva_widgets.real.sequences import LISTED, play

needs_kernel = pytest.mark.usefixtures("probeable_kernel")


def kernel_run(report, name: str) -> dict:
    return next(v for v in report.listed if v.name == name).kernel


def last(run: dict) -> dict:
    return run["snapshots"][-1]


# -- what the kernel itself shows (the engine must show the same: test_conformance.py) ------------

def test_exec_resets_a_custom_exit_signal_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "exec after a custom exit signal")
    assert run["snapshots"][1]["tasks"]["p1"]["exit_signal"] == 10      # /proc/PID/stat field 38
    assert run["snapshots"][2]["tasks"]["p1"]["exit_signal"] == 17
    assert run["snapshots"][2]["tasks"]["p1"]["comm"] == agent.AGENT_NAME[:15]


def test_an_orphan_goes_to_the_subreaper_with_exit_signal_sigchld_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "reparenting to a child subreaper")
    orphan = run["snapshots"][4]["tasks"]["p2"]
    assert (orphan["ppid"], orphan["exit_signal"]) == ("p0", 17)
    assert {"errno": "", "reaped": "p2", "status": 0x400} in run["results"]


def test_the_status_is_the_last_threads_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "leader exits 3, then the last thread 7")
    assert run["snapshots"][3]["tasks"]["p1"]["exit_code"] == 0x300      # stat field 52: its own
    assert run["results"][3] == {"errno": "", "reaped": None}            # the leader waits for t
    assert run["snapshots"][5]["tasks"]["p1"]["exit_code"] == 0x700      # now the group's
    assert run["results"][5] == {"errno": "", "reaped": "p1", "status": 0x700}


@pytest.mark.parametrize("name", ["SIGCHLD ignored", "SA_NOCLDWAIT",
                                  "SIGCHLD ignored, the last thread releases a zombie leader"])
def test_a_parent_ignoring_sigchld_gets_echild_on_the_kernel(sequence_report, name):
    run = kernel_run(sequence_report, name)
    assert run["results"][-1] == {"errno": "ECHILD"}
    assert list(last(run)["tasks"]) == ["p0"]


def test_a_parent_that_execd_is_sent_sigchld_whatever_the_exit_signal_on_the_kernel(sequence_report):
    plain = kernel_run(sequence_report, "SIGCHLD ignored, a child with another exit signal")
    assert plain["results"][-1] == {"errno": "", "reaped": "p1", "status": 0x500}   # a zombie
    execd = kernel_run(sequence_report, "SIGCHLD ignored by a parent that exec'd: any exit signal reaps")
    assert execd["results"][-1] == {"errno": "ECHILD"}                                # none left


def test_legacy_clone_keeps_exit_signals_that_are_no_signal_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "legacy exit signals 0, 65, 0x80 and 255")
    tasks = run["snapshots"][4]["tasks"]
    assert [tasks[f"p{i}"]["exit_signal"] for i in (1, 2, 3, 4)] == [65, 128, 255, 0]
    assert [r.get("status") for r in run["results"][8:12]] == [0x100, 0x200, 0x300, 0x400]
    clone3 = kernel_run(sequence_report, "clone3 refuses exit signals that are no signal")
    assert clone3["results"] == [{"errno": "EINVAL", "created": False}] * 2


def test_a_refused_newipc_sysvsem_clone_leaves_an_undo_list_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "refused NEWIPC|SYSVSEM leaves the caller an undo list")
    assert run["results"][1]["errno"] in ("EINVAL", "EPERM")
    assert "sysvsem" in run["snapshots"][1]["kcmp"]["p0,p1"]              # neither had a list
    assert "sysvsem" not in run["snapshots"][2]["kcmp"]["p0,p1"]          # now the caller has one
    assert "sysvsem" in last(run)["kcmp"]["p1,p3"]


def test_exec_from_a_thread_takes_the_leaders_place_on_the_kernel(sequence_report):
    run = kernel_run(sequence_report, "exec from a non-leader thread")
    tasks = last(run)["tasks"]
    assert set(tasks) == {"p0", "p2", "p4"}                              # p1 and p3 are gone
    assert (tasks["p2"]["tgid"], tasks["p2"]["ppid"], tasks["p4"]["ppid"]) == ("p2", "p0", "p2")


def test_the_checks_are_reproducible_and_seeded():
    assert random_sequences(30, seed=5) == random_sequences(30, seed=5)
    assert random_sequences(30, seed=5) != random_sequences(30, seed=6)
    lengths = [len(s) for s in random_sequences(200, seed=1)]
    assert max(lengths) == 8 and min(lengths) >= 1      # fewer than 3 only when every task died


def test_the_engine_plays_every_listed_case_without_a_kernel():
    for steps in LISTED.values():
        run = replay(steps)
        assert len(run["results"]) == len(steps) and len(run["snapshots"]) == len(steps) + 1
        assert not any(r.get("errno", "").startswith("engine refused") for r in run["results"])


# -- clean-up, time limits, unavailability -------------------------------------------------------

REAPER = """
    import ctypes, json, os
    from ukva_widgets.real.engine_replay import random_sequences
    from ukva_widgets.real.sequences import LISTED, play
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)   # a subreaper: whatever the run leaves comes to us
    run = play(list(LISTED.values()) + random_sequences({count}, seed=2), timeout={timeout})
    try:
        left = os.waitpid(-1, os.WNOHANG | 0x40000000)
    except ChildProcessError:
        left = None
    print(json.dumps({{"left": left, "why": run.why, "runs": len(run.runs)}}))
"""


@needs_kernel
def test_sequences_leave_no_task_alive_or_zombie():
    report = json.loads(run_python(REAPER.format(count=40, timeout=120)).stdout)
    assert report == {"left": None, "why": "", "runs": len(LISTED) + 40}


@needs_kernel
def test_sequences_out_of_time_are_stopped_reaped_and_say_so():
    report = json.loads(run_python(REAPER.format(count=3000, timeout=1)).stdout)
    assert report["left"] is None and report["runs"] == 0
    assert "did not finish within 1 s" in report["why"]


@needs_kernel
@can_drop_privileges
def test_an_unprivileged_user_gets_the_same_agreement():
    script = """
        import json
        from ukva_widgets.real.engine_replay import check_sequences
        report = check_sequences(100, seed=4)
        print(json.dumps({"why": report.why, "privileged": report.privileged,
                          "wrong": [v.difference for v in report.verdicts if not v.agree]}))
    """
    as_nobody = run_as_nobody(script)
    assert json.loads(as_nobody) == {"why": "", "privileged": False, "wrong": []}


def test_without_a_c_compiler_the_sequences_are_unavailable_and_say_why(monkeypatch):
    monkeypatch.setattr(agent, "compiler", lambda: None)
    monkeypatch.setattr(subprocess, "Popen", None)        # nothing may be started
    run = play([LISTED["SIGCHLD ignored"]], timeout=5)
    assert not run.available and "C compiler" in run.why and "gcc" in run.why


# Where kcmp(2) is refused the sequences skip, and fail under UKVA_REQUIRE_KERNEL=1: shown by
# test_conformance.py::test_where_kcmp_is_refused_conformance_skips_but_fails_when_the_kernel_is_required.


# -- ukva probe --sequences -----------------------------------------------------------------------

@needs_kernel
def test_ukva_probe_sequences_lists_the_cases_and_ends_with_the_agreement():
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "probe", "--sequences", "20",
                           "--seed", "9"], capture_output=True, text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    assert all(f"  yes  {name}" in lines for name in LISTED), done.stdout
    assert "random: 20/20 sequences of up to 8 steps agree (seed 9)" in lines
    assert lines[-1] == f"agree: {len(LISTED) + 20}/{len(LISTED) + 20}"
    assert done.returncode == 0


@needs_kernel
def test_ukva_probe_sequences_json_counts_and_lists_disagreements(capsys):
    code = main(["probe", "--sequences", "5", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["seed"], data["available"]) == (len(LISTED) + 5, 0, True)
    assert data["agree"] == data["total"] and data["disagreements"] == [] and code == 0


@pytest.mark.parametrize("argv", [["probe", "--sequences", "5", "VM"], ["probe", "--sequences", "5", "--all"],
                                  ["probe", "--sequences", "-1"]])
def test_ukva_probe_sequences_refuses_bad_input(capsys, argv):
    assert main(argv) == 2
    assert "--sequences" in capsys.readouterr().err


def test_an_agent_that_cannot_run_makes_the_sequences_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(agent, "SOURCE", "int main(void) { return 0; }")   # builds, but is no agent
    binary, why = agent.build(tmp_path)
    assert binary is None and "does not run" in why and "TMPDIR" in why
