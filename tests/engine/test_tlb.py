"""tlb.py's memoised functions against plain definitions of what they compute, and their memos'
bound.  The memos must be invisible: a repeated call returns what a fresh computation would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ukva_widgets.engine import tlb as T
from ukva_widgets.engine.state import AsidSlot, Cpu, Entry

entries = st.builds(Entry, st.integers(0, 2), st.integers(0, 3), st.integers(0, 9))
tlbs = st.lists(entries, max_size=6, unique_by=lambda e: e[:2]).map(lambda es: tuple(sorted(es)))
asid_slots = st.lists(st.builds(AsidSlot, st.integers(-1, 1), st.integers(0, 3)), min_size=2, max_size=2).map(tuple)
cpus = st.builds(Cpu, st.integers(-1, 2), st.integers(-1, 1), st.integers(0, 1), st.integers(0, 1), asid_slots, tlbs)


def plain_fill(tlb, asid, vpage, page, size):
    entry = (asid, vpage, page)
    out = sorted(tlb + (entry,))
    if len(out) > size:
        victim = out[0] if out[0] != entry else out[1]
        out = [e for e in out if e != victim]
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(tlbs, st.integers(0, 2), st.integers(0, 3), st.integers(0, 9), st.integers(1, 6))
def test_fill_keeps_the_tlb_sorted_and_evicts_the_lowest_other_entry(tlb, asid, vpage, page, size):
    tlb = tuple(e for e in tlb if e[:2] != (asid, vpage))  # a fill follows a miss
    for _ in range(2):  # the second call is answered by the memo
        assert T.fill(tlb, asid, vpage, page, size) == plain_fill(tlb, asid, vpage, page, size)


@settings(max_examples=300, deadline=None)
@given(tlbs, st.integers(0, 2), st.integers(0, 3))
def test_flush_page_drops_exactly_that_page_of_that_asid(tlb, asid, vpage):
    for _ in range(2):
        assert T.flush_page(tlb, asid, vpage) == tuple(e for e in tlb if (e[0], e[1]) != (asid, vpage))


@settings(max_examples=300, deadline=None)
@given(st.lists(cpus, min_size=1, max_size=3).map(tuple), st.integers(0, 2), st.integers(0, 1), st.integers(0, 3),
       st.sampled_from([None, AsidSlot(0, 4), AsidSlot(1, 2)]), st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_shoot_down_flushes_the_updater_and_the_non_lazy_cpus_of_the_cpumask(cpus, c, mm, vpage, context, user):
    c %= len(cpus)
    for _ in range(2):
        new, ipis, flushes = T.shoot_down(cpus, c, mm, vpage, context, user)
        hit = [x for x, (cur, loaded, *_) in enumerate(cpus)
               if loaded == mm and (x == c or (context is not None and cur >= 0 and user[cur]))]
        assert (ipis, flushes) == (len([x for x in hit if x != c]), len(hit))
        for x, (old, cpu) in enumerate(zip(cpus, new)):
            if x not in hit:
                assert cpu is old
                continue
            asid = old[2]
            assert cpu[:4] == old[:4]
            assert cpu[5] == tuple(e for e in old[5] if (e[0], e[1]) != (asid, vpage))
            want = list(old[4])
            if context is not None:
                want[asid] = context
            assert cpu[4] == tuple(want)


@settings(max_examples=300, deadline=None)
@given(cpus, st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_forget_stale_marks_stale_asid_slots_and_drops_their_entries(cpu, mm_gen):
    stale = {i for i, (ctx, gen) in enumerate(cpu[4]) if ctx >= 0 and gen < mm_gen[ctx]}
    for _ in range(2):
        out = T.forget_stale(cpu, mm_gen)
        if not stale:
            assert out is cpu
            continue
        assert out[:4] == cpu[:4]
        assert out[4] == tuple((ctx, -1) if i in stale else (ctx, gen) for i, (ctx, gen) in enumerate(cpu[4]))
        assert out[5] == tuple(e for e in cpu[5] if e[0] not in stale)


def test_the_memos_stay_bounded(monkeypatch):
    monkeypatch.setattr(T, "MEMO_SIZE", 8)
    for page in range(50):
        T.fill((), 0, 0, page, 4)
        T.flush_page((Entry(0, 0, page),), 0, 0)
        T.forget_stale(Cpu(-1, 0, 0, 0, (AsidSlot(0, page),), ()), (page + 1,))
    assert 0 < len(T._fills) <= 8 and 0 < len(T._page_flushes) <= 8 and 0 < len(T._forgotten) <= 8
    assert T.fill((), 0, 0, 3, 4) == ((0, 0, 3),)  # emptied and refilled, still right
