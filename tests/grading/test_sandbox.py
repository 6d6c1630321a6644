"""The sandbox: every submission in a fresh kernel process, with its memory limit."""

import resource

from nbformat.v4 import new_code_cell, new_notebook

from ukva_widgets.grading.forkserver import FILE_LIMIT_MIB
from ukva_widgets.grading.sandbox import Limits, run_submission

LIMITS = Limits(cell_seconds=10, total_seconds=30, memory_mib=1536)


def _run(*sources: str) -> list[str]:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    run = run_submission(nb, {}, LIMITS)
    assert run.problems == []
    return ["".join(o.get("text", "") for o in c.outputs).strip() for c in nb.cells]


def test_each_submission_runs_in_a_fresh_kernel_process():
    started = "open('/proc/self/stat').read().split()[21]"  # the process's start time, in ticks
    first = _run(f"import ukva_widgets.grading as g\ng.LEFT_BEHIND = True\nprint({started})")
    second = _run(f"import ukva_widgets.grading as g\nprint({started}, hasattr(g, 'LEFT_BEHIND'))")
    start, left = second[0].split()
    assert start != first[0] and left == "False"


def test_the_kernel_runs_under_the_memory_limit():
    out = _run("import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])")
    assert int(out[0]) == 1536 << 20
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 1536 << 20  # the grader itself is not limited


def test_two_kernels_do_not_share_a_random_sequence():
    a = _run("import random\nprint(random.random())")
    b = _run("import random\nprint(random.random())")
    assert a != b


def test_a_submission_cannot_write_a_file_beyond_the_limit():
    nb = new_notebook(cells=[new_code_cell(
        f"with open('big', 'wb') as f:\n    f.write(b'x' * ({FILE_LIMIT_MIB} << 20))\n    f.write(b'x')\n")])
    run = run_submission(nb, {}, LIMITS)
    assert any("File too large" in p for p in run.problems)


def test_a_kernel_cannot_signal_the_processes_outside_its_own_namespace():
    from ukva_widgets.grading.forkserver import server_for

    server = server_for(LIMITS.memory_mib)
    before = server.process.pid
    out = _run("import os\nprint(os.getpid(), os.getppid())")
    assert out[0] == "1 0"  # process 1 of its own pid namespace; its parent is outside
    # Its parent pid reads 0, so kill(getppid()) signals its own group, where it is init and
    # SIGKILL from inside does not reach it; kill(-1) reaches only its namespace. (Guarded, so
    # that a machine without pid namespaces never runs kill(-1) outside one.) Alone in its
    # namespace, kill(-1) finds no process at all.
    nb = new_notebook(cells=[new_code_cell("import os, signal\nif os.getpid() == 1:\n"
                                           "    os.kill(os.getppid(), signal.SIGKILL)\n"
                                           "    os.kill(-1, signal.SIGKILL)"),
                             new_code_cell("print('still graded')")])
    run = run_submission(nb, {}, LIMITS)
    assert server.process.poll() is None and server.process.pid == before
    assert run.problems == ["cell 0 raised ProcessLookupError: [Errno 3] No such process"]  # none to kill
    assert "still graded" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
