"""Small helpers shared by the benchmark modules: timing and result rows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Result:
    name: str        # what was measured
    value: float     # the figure
    unit: str        # "ms", "ops/s", ...
    goal: float      # the target it must meet
    higher_is_better: bool = False
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def samples_ms(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    """Wall-clock times of `n` calls of `fn`, in milliseconds, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]
