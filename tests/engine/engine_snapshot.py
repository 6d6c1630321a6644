"""A snapshot of a Kernel's whole state as plain data, so a test can prove a refused call
changed nothing (used by conftest.py and the stateful test)."""

from __future__ import annotations

from ukva_widgets.engine import Kernel

TASK_FIELDS = ("pid", "tgid", "comm", "state", "exit_signal", "exit_code", "is_kthread")
POINTERS = ("mm", "active_mm", "fs", "files", "sighand", "signal", "io_context", "sysvsem")


def _label(obj: object) -> object:
    return None if obj is None else getattr(obj, "label", getattr(obj, "pid", obj))


def snapshot(k: Kernel) -> dict:
    """Everything observable about `k`: tasks, their links and every live object's fields."""
    tasks = [(tuple(getattr(t, f) for f in TASK_FIELDS),
              tuple(_label(getattr(t, p)) for p in POINTERS),
              _label(t.parent), _label(t.group_leader), tuple(c.pid for c in t.children),
              _label(t.vfork_child), _label(t.vfork_parent)) for t in k.tasks]
    objects = [(o.label, tuple(sorted((name, repr(value)) for name, value in vars(o).items())))
               for o in k.objects()]
    # The next pid and object ids: a refused call must not use one up either.
    return {"tasks": tasks, "objects": objects, "next_pid": k._next_pid, "next_id": dict(k._next_id)}
