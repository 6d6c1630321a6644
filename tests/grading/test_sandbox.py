"""The sandbox: every submission in a fresh kernel process, in its own namespaces, with its limits.
(The attacks a hostile class would try are in test_attacks.py.)"""

import os
import resource

from nbformat.v4 import new_code_cell, new_notebook

from ukva_widgets.grading.sandbox import Limits, run_submission

LIMITS = Limits(cell_seconds=10, total_seconds=30, memory_mib=1536, disk_mib=16)


def _outputs(nb) -> list[str]:
    return ["".join(o.get("text", "") for o in c.outputs).strip() for c in nb.cells]


def _run(*sources: str, limits: Limits = LIMITS) -> list[str]:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    run = run_submission(nb, {}, limits)
    assert run.problems == []
    return _outputs(nb)


def test_each_submission_runs_in_a_fresh_kernel_process():
    started = "open('/proc/self/stat').read().split()[21]"  # the process's start time, in ticks
    first = _run(f"import ukva_widgets.grading as g\ng.LEFT_BEHIND = True\nprint({started})")
    second = _run(f"import ukva_widgets.grading as g\nprint({started}, hasattr(g, 'LEFT_BEHIND'))")
    start, left = second[0].split()
    assert start != first[0] and left == "False"


def test_the_kernel_runs_under_its_limits_and_the_grader_does_not():
    out = _run("import resource as r\nprint(r.getrlimit(r.RLIMIT_AS)[0], r.getrlimit(r.RLIMIT_NPROC)[0], "
               "r.getrlimit(r.RLIMIT_CPU)[0])")
    assert out[0].split() == [str(1536 << 20), str(LIMITS.processes), str(LIMITS.cpu_seconds)]
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 1536 << 20


def test_two_kernels_do_not_share_a_random_sequence():
    a = _run("import random\nprint(random.random())")
    b = _run("import random\nprint(random.random())")
    assert a != b


def test_the_kernel_is_an_unprivileged_uid_in_its_own_namespaces():
    out = _run("import os, socket\n"
               "print(os.getuid(), os.getgid(), os.getgroups(), socket.gethostname())\n"
               "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
               "print(sorted(os.environ))\n"
               "print(os.getcwd(), sorted(os.listdir('.')))\n"
               "print(' '.join(open('/proc/self/uid_map').read().split()))")
    ids, procs, env, cwd, uid_map = out[0].splitlines()
    assert ids == "65534 65534 [] sandbox"
    assert len(eval(procs)) <= 3  # bwrap's init, the kernel (and its threads are not listed)
    assert set(eval(env)) <= {"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "PYTHONHASHSEED",
                              "MPLBACKEND", "MPLCONFIGDIR", "PYDEVD_DISABLE_FILE_VALIDATION", "PATH",
                              "PWD", "TERM", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER"}
    assert cwd.startswith("/home/student ") and "submission.ipynb" in cwd
    # One uid exists in its user namespace: its own (what it is outside, root or not, is in
    # test_attacks.py: never root).
    assert uid_map.split()[0] == "65534" and uid_map.split()[2] == "1"


def test_a_submission_cannot_write_more_than_its_disk():
    nb = new_notebook(cells=[new_code_cell(
        "with open('big', 'wb') as f:\n    for _ in range(20):\n        f.write(b'x' * (1 << 20))\n")])
    run = run_submission(nb, {}, LIMITS)
    assert any("No space left" in p or "File too large" in p for p in run.problems), run.problems


def test_a_kernel_cannot_signal_the_processes_outside_its_own_namespace():
    # Its parent is the sandbox's init, which ignores signals from inside; kill(-1) reaches only
    # its own namespace, where there is no other process to kill.
    nb = new_notebook(cells=[new_code_cell("import os, signal\nprint(os.getpid(), os.getppid())\n"
                                           "os.kill(os.getppid(), signal.SIGKILL)\n"
                                           "os.kill(-1, signal.SIGKILL)"),
                             new_code_cell("print('still graded')")])
    run = run_submission(nb, {}, LIMITS)
    assert _outputs(nb)[0] == "2 1"
    assert run.problems == ["cell 0 raised ProcessLookupError: [Errno 3] No such process"]
    assert _outputs(nb)[1] == "still graded"


def test_the_isolation_that_applied_is_recorded():
    nb = new_notebook(cells=[new_code_cell("print(1)")])
    run = run_submission(nb, {}, LIMITS)
    assert run.isolation.startswith("bwrap: user,mount,pid,net,ipc,uts ns; uid 65534")
    assert "tmpfs 16 MiB" in run.isolation and "1536 MiB" in run.isolation
    plain = run_submission(nb, {}, Limits(sandbox=False))
    assert plain.isolation == "none (--no-sandbox)" and plain.problems == []


def _our_processes() -> list[str]:
    """Live processes running this checkout's kernel entry or sandbox launcher."""
    from pathlib import Path

    import ukva_widgets.grading as g

    markers = [str(Path(g.__file__).with_name(n)) for n in ("kernel_stub.py", "isolation_exec.py")]
    found = []
    for p in Path("/proc").iterdir():
        try:
            cmd = (p / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if p.name.isdigit() and any(m in cmd for m in markers):
            found.append(cmd)
    return found


LEAVES_PROCESSES = ("import os, time\n"
                    "for _ in range(3):\n"
                    "    if os.fork() == 0:\n"
                    "        os.setsid()\n"
                    "        if os.fork() == 0:\n"
                    "            time.sleep(600)\n"
                    "        os._exit(0)\n")


def test_every_process_of_a_batch_is_dead_when_grade_all_returns(tmp_path):
    # Daemons (double fork, own session) that would outlive their kernel without the sandbox.
    import nbformat

    from ukva_widgets.grading import isolation
    from ukva_widgets.grading.batch import grade_all

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"s{i}.ipynb")
        nbformat.write(new_notebook(cells=[new_code_cell(LEAVES_PROCESSES)]), paths[-1])
    grade_all(paths, seed=1, limits=LIMITS, jobs=2, item_ids=["1.1"], progress=False)
    assert _our_processes() == [] and isolation._live == {}


def test_shutdown_all_kills_a_running_kernel_and_its_grading_ends():
    import threading
    import time

    from ukva_widgets.grading.sandbox import shutdown_all

    nb = new_notebook(cells=[new_code_cell(LEAVES_PROCESSES), new_code_cell("import time\ntime.sleep(600)")])
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault("run", _safe_run(nb)))
    thread.start()
    deadline = time.monotonic() + 60
    while len(_our_processes()) < 5 and time.monotonic() < deadline:  # the kernel and its three daemons
        time.sleep(0.1)
    # Seen from outside, the kernel and all it started run as uid 65534 (or, for a non-root
    # grader, as the grader's own uid): never as root.
    uids = _kernel_uids()
    assert uids == {65534 if os.geteuid() == 0 else os.geteuid()}, uids
    shutdown_all()
    shutdown_all()  # idempotent
    thread.join(30)
    assert not thread.is_alive() and _our_processes() == []


def _kernel_uids() -> set[int]:
    from pathlib import Path

    import ukva_widgets.grading as g

    entry = str(Path(g.__file__).with_name("kernel_stub.py")).encode()
    uids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and entry in (p / "cmdline").read_bytes():
                status = (p / "status").read_text()
                uids.append(int(status.split("\nUid:")[1].split()[0]))
        except (OSError, IndexError):
            continue
    assert len(uids) >= 4, uids  # the kernel and the three daemons it left running
    return set(uids)


def _safe_run(nb):
    try:
        return run_submission(nb, {}, Limits(cell_seconds=300, total_seconds=600))
    except Exception as exc:  # a stopped grading may end either way; it must end
        return exc
