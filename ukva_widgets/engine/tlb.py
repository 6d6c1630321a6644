"""A CPU's TLB and its ASID slots as immutable tuples: lookup, fill, flush and switch_mm.

The SMP machine (machine.py) keeps each CPU as the tuple
``(current, loaded_mm, asid, next_asid, asids, tlb)``:

- ``current``: index of the running task, or -1 for the idle task;
- ``loaded_mm``: index of the MM whose page table the CPU has loaded (CR3), -1 for none;
  a kernel thread keeps the previous one loaded (lazy TLB), so ``loaded_mm`` is the
  kernel's ``cpu_tlbstate.loaded_mm``, not ``current->mm``;
- ``asid``: the ASID slot in use; ``next_asid``: the round-robin pointer for a new one;
- ``asids``: per ASID slot ``(mm index or -1, tlb_gen seen)``, the kernel's
  ``cpu_tlbstate.ctxs[]`` (6 slots with PCID, TLB_NR_DYN_ASIDS; one slot without);
- ``tlb``: entries ``(asid, vpage, page)``, kept sorted so that two TLBs holding the same
  entries are one state; a fill into a full TLB drops the lowest other entry (a fixed
  victim, not LRU: the model stays deterministic and the explorer's state space small).

Every function returns new tuples and never mutates: the explorer hashes these states.
Being pure functions of small immutable inputs, `fill`, `flush_page`, `forget_stale`,
`switch_mm` and `shoot_down` (per CPU) are memoised: the explorer asks the same questions of
the same TLBs again and again.  Each memo is a dict emptied when it reaches MEMO_SIZE entries,
so it never grows without bound.
Sources: notebooks/sources.ipynb §6 (arch/x86/mm/tlb.c switch_mm_irqs_off, choose_new_asid).
"""

from __future__ import annotations

from bisect import bisect_left

Entry = tuple[int, int, int]
CPU = tuple[int, int, int, int, tuple[tuple[int, int], ...], tuple[Entry, ...]]

MEMO_SIZE = 1 << 15  # entries per memo before it is emptied
_fills: dict[tuple, tuple[Entry, ...]] = {}
_page_flushes: dict[tuple, tuple[Entry, ...]] = {}
_switches: dict[tuple, tuple[CPU, int, int]] = {}
_forgotten: dict[tuple, CPU] = {}
_flushed: dict[tuple, CPU] = {}


def lookup(tlb: tuple[Entry, ...], asid: int, vpage: int) -> int:
    """The page the TLB maps (asid, vpage) to, or -1 on a miss."""
    for a, v, page in tlb:
        if a == asid and v == vpage:
            return page
    return -1


def fill(tlb: tuple[Entry, ...], asid: int, vpage: int, page: int, size: int) -> tuple[Entry, ...]:
    """The TLB after loading (asid, vpage) -> page, dropping the lowest other entry when full."""
    key = (tlb, asid, vpage, page, size)
    out = _fills.get(key)
    if out is None:
        if len(_fills) >= MEMO_SIZE:
            _fills.clear()
        out = _fills[key] = _fill(tlb, (asid, vpage, page), size)
    return out


def _fill(tlb: tuple[Entry, ...], entry: Entry, size: int) -> tuple[Entry, ...]:
    at = bisect_left(tlb, entry)  # `tlb` is sorted: inserting here keeps it so
    tlb = tlb[:at] + (entry,) + tlb[at:]
    if len(tlb) > size:
        victim = tlb[0] if tlb[0] != entry else tlb[1]
        tlb = tuple([e for e in tlb if e != victim])
    return tlb


def flush_page(tlb: tuple[Entry, ...], asid: int, vpage: int) -> tuple[Entry, ...]:
    """The TLB after invalidating one page of one address space (x86 INVLPG / INVPCID)."""
    key = (tlb, asid, vpage)
    out = _page_flushes.get(key)
    if out is None:
        if len(_page_flushes) >= MEMO_SIZE:
            _page_flushes.clear()
        out = _page_flushes[key] = tuple([e for e in tlb if e[0] != asid or e[1] != vpage])
    return out


def shoot_down(cpus: tuple[CPU, ...], c: int, mm: int, vpage: int, context: tuple[int, int] | None,
               user: tuple[bool, ...]) -> tuple[tuple[CPU, ...], int, int]:
    """The CPUs after CPU `c` remapped `vpage` of MM `mm`: returns (cpus, IPIs, page flushes).

    Every CPU with `mm` loaded flushes that page of its current ASID: `c` itself always; the
    others only with `context` (mm, its new tlb_gen), i.e. an SMP-safe update, and only when
    they run a user task (`user[task]`): a lazy CPU is skipped and catches up on tlb_gen at its
    next switch_mm.  With `context` each CPU flushed also records that it is current with that
    tlb_gen (flush_tlb_func).  Memoised per CPU: the CPUs together repeat far less often."""
    new = list(cpus)
    ipis = flushes = 0
    memo = _flushed
    for x, cpu in enumerate(cpus):
        if cpu[1] != mm:
            continue  # not in the cpumask
        if x != c:
            cur = cpu[0]
            if context is None or cur < 0 or not user[cur]:
                continue  # no shootdown; or lazy
            ipis += 1
        flushes += 1
        key = (cpu, vpage, context)
        out = memo.get(key)
        if out is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            cur, loaded, asid, rr, asids, tlb = cpu
            if context is not None:
                asids = asids[:asid] + (context,) + asids[asid + 1:]
            out = memo[key] = (cur, loaded, asid, rr, asids, flush_page(tlb, asid, vpage))
        new[x] = out
    return tuple(new), ipis, flushes


def forget_stale(cpu: CPU, mm_gen: tuple[int, ...]) -> CPU:
    """`cpu` with every ASID slot whose tlb_gen is behind its MM's (`mm_gen`) marked -1 and its
    entries dropped: switch_mm flushes such a slot before anyone can read it, so what it holds
    does not matter.  The same `cpu` when no slot is stale."""
    key = (cpu, mm_gen)
    out = _forgotten.get(key)
    if out is None:
        if len(_forgotten) >= MEMO_SIZE:
            _forgotten.clear()
        asids = cpu[4]
        stale = [i for i, (ctx, gen) in enumerate(asids) if ctx >= 0 and gen < mm_gen[ctx]]
        if stale:
            asids = tuple([(ctx, -1) if i in stale else (ctx, gen) for i, (ctx, gen) in enumerate(asids)])
            out = cpu[:4] + (asids, tuple([e for e in cpu[5] if e[0] not in stale]))
        else:
            out = cpu
        _forgotten[key] = out
    return out


def flush_asid(tlb: tuple[Entry, ...], asid: int) -> tuple[Entry, ...]:
    """The TLB after dropping every entry tagged with one ASID."""
    return tuple([e for e in tlb if e[0] != asid])


def switch_mm(cpu: CPU, mm: int, mm_gen: int, n_asids: int, static: bool = False) -> tuple[CPU, int, int]:
    """Load `mm` on `cpu` as x86 switch_mm_irqs_off does; returns (cpu, cr3_writes, full_flushes).

    Same MM already loaded: no CR3 write; if the CPU's tlb_gen for it is stale (a shootdown
    skipped it while it was lazy), flush that ASID and catch up.  Another MM without PCID:
    the CR3 write drops every entry.  With PCID: reuse the ASID slot whose context is `mm`
    (flushing it only when its tlb_gen is stale), else take the next slot round-robin and
    flush it.  With `static`, MM number i always takes slot i: when there are no more MMs than
    slots, round-robin never recycles one, so which slot an MM got carries no information and
    fixing it keeps equivalent states equal.
    """
    key = (cpu, mm, mm_gen, n_asids, static)
    out = _switches.get(key)
    if out is None:
        if len(_switches) >= MEMO_SIZE:
            _switches.clear()
        out = _switches[key] = _switch_mm(cpu, mm, mm_gen, n_asids, static)
    return out


def _switch_mm(cpu: CPU, mm: int, mm_gen: int, n_asids: int, static: bool) -> tuple[CPU, int, int]:
    cur, loaded, asid, rr, asids, tlb = cpu
    if loaded == mm:
        if asids[asid][1] >= mm_gen:
            return cpu, 0, 0
        asids = asids[:asid] + ((mm, mm_gen),) + asids[asid + 1:]
        return (cur, mm, asid, rr, asids, flush_asid(tlb, asid)), 0, 1
    if n_asids == 1:
        return (cur, mm, 0, 0, ((mm, mm_gen),), ()), 1, 1
    for i, (ctx, gen) in enumerate(asids):
        if ctx == mm:
            if gen >= mm_gen:
                return (cur, mm, i, rr, asids, tlb), 1, 0
            asids = asids[:i] + ((mm, mm_gen),) + asids[i + 1:]
            return (cur, mm, i, rr, asids, flush_asid(tlb, i)), 1, 1
    i = mm if static else rr
    asids = asids[:i] + ((mm, mm_gen),) + asids[i + 1:]
    return (cur, mm, i, rr if static else (rr + 1) % n_asids, asids, flush_asid(tlb, i)), 1, 1
