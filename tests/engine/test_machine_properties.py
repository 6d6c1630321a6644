"""Properties of the SMP machine over generated workloads (Hypothesis): the per-MM design that
is SMP-safe with dynamic slots and a physical cache never breaks, whatever the tasks share
within an MM (nothing across MMs but the shared page: the seed's rule) and however they
interleave; the counters only grow; undo always returns to the same state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ukva_widgets.engine import Kernel, Machine, random_run

HOW = {
    "thread": "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD",
    "vm": "CLONE_VM",
    "vm+sighand": "CLONE_VM|CLONE_SIGHAND",
    "vm+files": "CLONE_VM|CLONE_FILES",
    "files": "CLONE_FILES",
}


def build(recipe: list[tuple[str, int]], kthread: bool) -> tuple[Kernel, list]:
    """Tasks made from `recipe`: each (how, parent index) forks, clones or starts a kernel thread."""
    k = Kernel()
    tasks = [k.fork(k.init)]
    for how, parent in recipe:
        src = tasks[parent % len(tasks)]
        tasks.append(k.fork(src) if how == "fork" else k.clone(src, HOW[how]))
    if kthread:
        tasks.append(k.kthread("kworker"))
    return k, tasks


recipes = st.lists(st.tuples(st.sampled_from(["fork", *HOW]), st.integers(0, 5)), min_size=1, max_size=3)
# CLONE_FILES without CLONE_VM shares a files table across MMs, which per-MM cannot hold.
within_mm = st.lists(st.tuples(st.sampled_from(["fork", *(h for h in HOW if h != "files")]), st.integers(0, 5)),
                     min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(recipe=within_mm, kthread=st.booleans(), cpus=st.integers(1, 3), pcid=st.booleans(),
       fill=st.sampled_from(["hardware", "software"]), tlb_size=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_smp_safe_per_mm_with_dynamic_slots_never_breaks(recipe, kthread, cpus, pcid, fill, tlb_size, seed):
    k, tasks = build(recipe, kthread)
    multi_mm = len({id(t.mm) for t in tasks if t.mm is not None}) > 1
    m = Machine(k, tasks, cpus=cpus, design="per-mm", fill=fill, pcid=pcid, updates=2, shared_page=multi_mm,
                tlb_size=tlb_size)
    before = dict(m.counters)
    random_run(m, 300, seed=seed)
    assert m.violation is None, m.text()
    assert all(m.counters[name] >= before[name] for name in before)


@settings(max_examples=30, deadline=None)
@given(recipe=recipes, kthread=st.booleans(), design=st.sampled_from(["per-task", "per-cpu", "per-mm"]),
       seed=st.integers(0, 10_000), back=st.integers(1, 20), smp_safe=st.booleans(),
       page_tables=st.sampled_from(["shared", "per-cpu"]), cache=st.sampled_from(["physical", "virtual"]))
def test_undo_returns_exactly_to_an_earlier_state(recipe, kthread, design, seed, back, smp_safe, page_tables, cache):
    k, tasks = build(recipe, kthread)
    m = Machine(k, tasks, cpus=2, design=design, smp_safe=smp_safe, page_tables=page_tables, cache=cache)
    random_run(m, 40, seed=seed)
    back = min(back, len(m.history))
    replay = m.fresh()
    for choice in m.history[:len(m.history) - back]:
        replay.step(choice.label)
    for _ in range(back):
        m.undo()
    assert (m.state, m.counters, m.violation) == (replay.state, replay.counters, replay.violation)
    assert (m.lazy, m.stale_entries(), len(m.effects)) == (replay.lazy, replay.stale_entries(), len(replay.effects))
