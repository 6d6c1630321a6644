"""What the SMP machine must never do, stated apart from its steps (model.py calls these).

The model checker looks for the first step that breaks one of three properties (section 9 of
model.py's docstring); the break is a `Violation` whose `kind` names how it broke:

1. A read of a UKVA slot returns the page the design promises (`expected_page`): per-task the
   running task's page, per-cpu this CPU's page, per-mm the current version of the object the
   task reads there.  Broken, it is "wrong-task" or "wrong-cpu" (per-task, per-cpu), or under
   per-mm "wrong-slot" (another object: a fixed slot shows another task's table),
   "stale-tlb" (an old version of the right object, from a TLB entry no flush reached), or
   "half-updated" (an old version that the page table itself still maps: an object mapped in
   several MMs whose update has not reached this MM yet).
2. A read of a page mapped in several MMs returns the data written last ("stale-alias").
3. An update never maps its copy over a version it did not copy ("lost-update").

`RULES` gives each kind the sentence a learner reads beside it (words.py adds what happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .slots import PER_CPU, PER_MM, PER_TASK, Layout
from .state import Bad

RULES = {
    "wrong-task": "a per-task UKVA must show the running task's own data",
    "wrong-cpu": "a per-CPU UKVA must show this CPU's own data",
    "wrong-slot": "one fixed address cannot show two {kind} tables of one MM (slots='fixed')",
    "stale-tlb": "a remapped slot must never be read through its old translation",
    "half-updated": "a per-MM area must hold nothing shared across MMs",
    "stale-alias": "a read of a page mapped in several MMs must return the data written last",
    "lost-update": "an update must never throw away a version it did not copy",
}


def expected_page(design: int, stride: int, versions: tuple[int, ...], cpu: int, task: int, obj: int) -> int:
    """The page a read by `task` on `cpu` of the slot of object `obj` must return."""
    if design == PER_MM:
        return obj * stride + versions[obj]
    return task if design == PER_TASK else cpu


def lost_update(mapped: int, copied: int) -> bool:
    """Whether mapping a copy of page `copied` over the slot's page `mapped` loses an update
    (another CPU mapped a newer version since the copy was taken)."""
    return mapped != copied


def classify(layout: Layout, bad: Bad, table_now: int) -> str:
    """The kind of a violation; `table_now` is what the reader's page table maps at the page read."""
    if bad.source == "lost":
        return "lost-update"
    if bad.source in ("cache", "memory"):
        return "stale-alias"
    if layout.design == PER_TASK:
        return "wrong-task"
    if layout.design == PER_CPU:
        return "wrong-cpu"
    if bad.got // layout.stride != bad.want // layout.stride:
        return "wrong-slot"
    return "half-updated" if bad.got == table_now else "stale-tlb"


@dataclass(frozen=True)
class Violation:
    """A read that returned the wrong data, or an update that lost another: `kind` is one of
    RULES' keys; `explanation` says what was read (or mapped), what should have been, and why."""

    kind: str
    cpu: int
    pid: int
    address: int
    got: str
    expected: str
    explanation: str
    # Where the wrong data came from ("tlb", "walk", "refill", "cache", "memory"; "lost" for a
    # lost update) and the UKVA page: a view marks the TLB entry or cache line that served it.
    source: str = field(default="", compare=False)
    vpage: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        return f"violation ({self.kind}): {self.explanation}"

    __repr__ = __str__
