"""`reference_search`, the model checker at its plainest, and the fast `explore` checked against it:
the same verdict and the same shortest-trace length on many small machines, drawn from every
design, option and sharing pattern (threads, processes, kernel threads, files shared across MMs),
so that every reduction of symmetry.py and parts.py is exercised."""

from __future__ import annotations

import inspect
import random

import pytest

from ukva_widgets.engine import Kernel, Machine, explore, reference_search
from ukva_widgets.engine.explore import _violates_at_end
from ukva_widgets.engine.parts import cut
from ukva_widgets.engine.symmetry import Reduction

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"
RECIPES = {
    "thread": lambda k, p: [p, k.clone(p, THREAD)],
    "thread3": lambda k, p: [p, k.clone(p, THREAD), k.clone(p, THREAD)],
    "vm": lambda k, p: [p, k.clone(p, "CLONE_VM")],
    "vm+vm": lambda k, p: [p, k.clone(p, "CLONE_VM"), k.clone(p, "CLONE_VM")],
    "vm+files": lambda k, p: [p, k.clone(p, "CLONE_VM"), k.clone(p, "CLONE_VM|CLONE_FILES")],
    "fork": lambda k, p: [p, k.fork(p)],
    "fork3": lambda k, p: [p, k.fork(p), k.fork(p)],
    "files": lambda k, p: [p, k.clone(p, "CLONE_FILES")],
    "thread+fork": lambda k, p: [p, k.clone(p, THREAD), k.fork(p)],
    "thread+kthread": lambda k, p: [p, k.clone(p, THREAD), k.kthread("kworker")],
    "fork+kthread": lambda k, p: [p, k.fork(p), k.kthread("kworker")],
    "alone": lambda k, p: [p],
}


def build(recipe: str) -> tuple[Kernel, list]:
    k = Kernel()
    return k, RECIPES[recipe](k, k.fork(k.init))


def draw(n: int, seed: int) -> list[tuple[str, dict]]:
    """`n` small machines drawn from every option: (recipe, options)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        recipe, design = rng.choice(list(RECIPES)), rng.choice(["per-task", "per-cpu", "per-mm"])
        opts = dict(cpus=rng.choice([1, 2, 2, 3]), design=design, fill=rng.choice(["hardware", "software"]),
                    pcid=rng.random() < 0.4, flush_on_same_mm_switch=rng.random() < 0.3,
                    page_tables=rng.choice(["shared", "shared", "per-cpu"]), tlb_size=rng.choice([1, 2, 4, 8, 8]))
        if design == "per-mm":
            opts.update(smp_safe=rng.random() < 0.5, slots=rng.choice(["dynamic", "fixed"]),
                        cache=rng.choice(["physical", "virtual"]),
                        shared_placement=rng.choice(["per-mm allocator", "same colour"]))
            if "fork" in recipe or recipe == "files":
                opts["shared_page"] = rng.random() < 0.5
        out.append((recipe, opts))
    return out


def agree(machines: list[tuple[str, dict]], bound: int) -> dict:
    """Compare explore with reference_search on every machine small enough for the latter;
    returns what was covered."""
    seen = {"compared": 0, "verdicts": set(), "cut": 0, "merged": 0, "twins": 0, "cpu order": 0, "cache only": 0,
            "renamings": 0}
    for recipe, opts in machines:
        m = Machine(*build(recipe), **opts)
        ref = reference_search(m, max_states=bound)
        if ref.verdict == "not proven":
            continue
        r = explore(m)
        assert (r.verdict, len(r.trace)) == (ref.verdict, len(ref.trace)), (recipe, opts, r.method, ref.text())
        seen["compared"] += 1
        seen["verdicts"].add(r.verdict)
        parts = cut(m.model)
        if parts is not None:
            seen["cut"] += 1
            reductions = [Reduction(part.model, renamings=False) for part in parts]
            seen["merged"] += any(r.outside for r in reductions)
            seen["cache only"] += any(r.cache_only for r in reductions)
            if Reduction(m.model).perms:  # a per-MM machine searched whole, up to its renamings
                whole = explore(m, parts=False)
                assert (whole.verdict, len(whole.trace)) == (ref.verdict, len(ref.trace)), (recipe, opts)
                seen["renamings"] += 1
        else:
            reductions = [Reduction(m.model)]
            seen["renamings"] += bool(reductions[0].perms)
        seen["twins"] += any(r.rename for r in reductions)
        seen["cpu order"] += any(r.cpu_pages or r.cpu_rows for r in reductions)
    return seen


def test_the_reference_search_is_short_enough_to_read():
    body = inspect.getsource(reference_search).split('"""')[2]
    assert len([line for line in body.splitlines() if line.strip()]) <= 25


def test_the_reference_search_returns_a_shortest_violation_and_proves_what_holds():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD)
    broken = reference_search(Machine(k, [p, t], cpus=2, design="per-task"))
    assert broken.verdict == "violation" and len(broken.trace) == 3 and broken.violation.kind == "wrong-task"
    assert _violates_at_end(Machine(k, [p, t], cpus=2, design="per-task").model, [s.choice for s in broken.trace])
    fine = reference_search(Machine(k, [p, t], cpus=2, design="per-mm"))
    assert fine.verdict == "proven" and fine.complete and fine.states > 10
    assert "assumes:" in fine.text()
    bounded = reference_search(Machine(k, [p, t], cpus=2, design="per-mm"), max_states=10)
    assert bounded.verdict == "not proven" and bounded.states == 10


def test_explore_agrees_with_the_reference_search_on_small_machines_of_every_kind():
    seen = agree(draw(60, seed=21), bound=4_000)
    assert seen["compared"] >= 40 and seen["verdicts"] == {"violation", "proven"}, seen
    assert min(seen[k] for k in ("cut", "merged", "twins", "cpu order")) >= 1, seen


@pytest.mark.slow
def test_explore_agrees_with_the_reference_search_on_hundreds_of_machines():
    seen = agree(draw(400, seed=2002), bound=20_000)
    assert seen["compared"] >= 340 and seen["verdicts"] == {"violation", "proven"}, seen
    assert min(seen[k] for k in ("cut", "merged", "twins", "cpu order", "cache only", "renamings")) >= 3, seen
