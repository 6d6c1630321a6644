"""The sandbox: every submission in a fresh kernel process, in its own namespaces, with its limits.
(The attacks a hostile class would try are in test_attacks.py.)"""

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
