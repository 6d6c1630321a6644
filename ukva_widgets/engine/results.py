"""What a search reports: its progress while it runs, and its result (ExploreResult)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .machine import Step
from .properties import Violation
from .state import Choice

PROGRESS_EVERY = 0.25  # seconds between two progress reports


@dataclass(frozen=True)
class Progress:
    """What a running search reports to its `progress` callback: the states stored so far
    (over every part searched), the wall-clock seconds since it began, their rate, and
    which part of the search it is in (e.g. "slot files#2 (1 of 2)")."""

    states: int
    seconds: float
    part: str = ""

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        where = f" — {self.part}" if self.part else ""
        return f"{self.states:,} states in {self.seconds:.1f} s ({self.rate:,.0f} states/s){where}"


@dataclass
class Outcome:
    """What one search engine found on one model: the choices of a shortest path to a
    violation (or None), the states it stored, whether it exhausted the space, and whether
    its `progress` callback stopped it."""

    choices: list[Choice] | None
    states: int
    complete: bool
    cancelled: bool = False


@dataclass
class ExploreResult:
    """What the explorer found: a violation with a shortest `trace` from the start, or none;
    `complete` says whether every reachable state was visited (a proof) or the search
    stopped first (the bound, or a cancel: `cancelled`); after a violation it is False, the
    search stops at the first one.  `engine` is "python" or "spin"; `method` says how the
    state space was cut (see `explore`); `assumptions` are the modelling assumptions the
    verdict rests on (Machine.assumptions, and the search's own)."""

    violation: Violation | None
    trace: list[Step]
    states: int
    complete: bool
    seconds: float = field(default=0.0, compare=False)
    cancelled: bool = False
    engine: str = "python"
    method: str = field(default="", compare=False)
    assumptions: tuple[str, ...] = field(default=(), compare=False)

    @property
    def verdict(self) -> str:
        """"violation", "proven" (no violation in the whole state space) or "not proven"."""
        if self.violation is not None:
            return "violation"
        return "proven" if self.complete else "not proven"

    def text(self) -> str:
        assumes = "\nassumes: " + "; ".join(self.assumptions) if self.assumptions else ""
        if self.violation is not None:
            steps = "\n".join(f"  {i + 1}. {c}" for i, c in enumerate(self.trace))
            return (f"violation after {len(self.trace)} steps (a shortest trace; "
                    f"{self.states} states explored):\n{steps}\n{self.violation}{assumes}")
        if self.complete:
            if self.method.startswith("part by part"):
                return (f"no violation: proven over every reachable state, searched {self.method}: "
                        f"{self.states} states in all{assumes}")
            return f"no violation: proven over all {self.states} reachable states{assumes}"
        if self.cancelled:
            return f"cancelled after {self.states} states: not proven{assumes}"
        return (f"no violation found in {self.states} states, but the bound was reached before the "
                f"state space was exhausted: not proven (raise max_states){assumes}")

    __str__ = text

    def __repr__(self) -> str:
        return f"<ExploreResult {self.verdict}: {self.states} states, trace of {len(self.trace)} steps>"
