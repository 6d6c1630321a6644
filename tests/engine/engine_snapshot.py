"""A snapshot of a Kernel's whole state as plain data, so a test can prove a refused call
changed nothing (used by conftest.py and the stateful test)."""

from __future__ import annotations

from ukva_widgets.engine import Kernel, Task

TASK_FIELDS = ("pid", "tgid", "comm", "state", "exit_signal", "exit_code", "is_kthread", "self_exec_id",
               "parent_exec_id")
POINTERS = ("mm", "active_mm", "fs", "files", "sighand", "signal", "io_context", "sysvsem")


def _label(obj: object) -> object:
    return None if obj is None else getattr(obj, "label", getattr(obj, "pid", obj))


def snapshot(k: Kernel, forget_undo_list_of: Task | None = None) -> dict:
    """Everything observable about `k`: tasks, their links and every live object's fields.
    forget_undo_list_of: leave out that task's SysV undo list (and its id), to check that a
    refused clone left nothing else behind (rules.py: after_semundo)."""
    skip = forget_undo_list_of.sysvsem if forget_undo_list_of is not None else None
    next_id = dict(k._next_id)
    if skip is not None:
        next_id["sysvsem"] -= 1
        if not next_id["sysvsem"]:
            del next_id["sysvsem"]
    tasks = [(tuple(getattr(t, f) for f in TASK_FIELDS),
              tuple(None if getattr(t, p) is skip is not None else _label(getattr(t, p)) for p in POINTERS),
              _label(t.parent), _label(t.group_leader), tuple(c.pid for c in t.children),
              _label(t.vfork_child), _label(t.vfork_parent)) for t in k.tasks]
    objects = [(o.label, tuple(sorted((name, repr(value)) for name, value in vars(o).items())))
               for o in k.objects() if o is not skip]
    # The next pid and object ids: a refused call must not use one up either.
    return {"tasks": tasks, "objects": objects, "next_pid": k._next_pid, "next_id": next_id}
