"""Ready-made groups of tasks for the SMP machine: threads of one process, processes, or both.
One place builds them for the book, the widgets, the exercises, the tests and the benchmarks."""

from __future__ import annotations

from .kernel import Kernel
from .task import Task

# The sharing part of what glibc's pthread_create passes (notebooks/sources.ipynb §5).
THREAD_FLAGS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def make_tasks(threads: int = 2, processes: int = 0, sibling: str = THREAD_FLAGS) -> tuple[Kernel, list[Task]]:
    """A fresh kernel and its tasks: a shell (forked from init, then running /bin/sh, so that it
    is named "sh" as in the chapters), `threads - 1` more tasks cloned from it with the `sibling`
    flags (they share its MM when the flags hold CLONE_VM), then `processes` more shells forked
    from init, each with an MM of its own."""
    if threads < 1 or processes < 0:
        raise ValueError(f"need threads >= 1 and processes >= 0, not threads={threads}, processes={processes}")
    k = Kernel()
    leader = _shell(k)
    tasks = [leader] + [k.clone(leader, sibling) for _ in range(threads - 1)]
    tasks += [_shell(k) for _ in range(processes)]
    return k, tasks


def _shell(k: Kernel) -> Task:
    task = k.fork(k.init)
    k.execve(task, "/bin/sh")
    return task
