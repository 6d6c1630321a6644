"""The TLB rules: fill, flush, switch_mm, shootdown, and the switch's UKVA flush.

A CPU and its TLB are immutable tuples laid out as state.Cpu and state.Entry say (plain tuples
in the search: see state.py); every function here returns new ones and never mutates, since
the explorer hashes these states.  The TLB is kept sorted so that two
TLBs holding the same entries are one state; a fill into a full TLB drops the lowest other
entry (a fixed victim, not LRU: the model stays deterministic and its state space small).

Each rule is stated here once and the Python model (model.py) calls it.  Two other places
must say the same: the Promela export (promela.py), which writes each rule out in Promela for
SPIN, and the cost simulator (costs.py), which applies them to a long trace with numpy.  They
cannot call these functions, so `MIRRORS` lists, per rule, every place that restates it, and
tests/engine/test_mirrors.py runs the same schedules through all three and names the mirrors of
a rule when they disagree.  Change a rule: change every mirror it lists.

`fill`, `flush_page`, `forget_stale`, `switch_mm` and `shoot_down` (per CPU) are pure
functions of small immutable inputs and are memoised: the explorer asks the same questions of
the same TLBs again and again.  Each memo is a dict emptied when it reaches MEMO_SIZE entries.
Sources: notebooks/sources.ipynb §6 (arch/x86/mm/tlb.c switch_mm_irqs_off, choose_new_asid,
flush_tlb_mm_range; arch/mips/mm/tlbex.c for software refill).
"""

from __future__ import annotations

from bisect import bisect_left

from .state import AsidSlot, Cpu, Entry

N_PCID_ASIDS = 6  # TLB_NR_DYN_ASIDS on x86 (notebooks/sources.ipynb §6)

# Per rule, where it is stated: first the definition the Python model calls, then its mirrors.
MIRRORS: dict[str, tuple[str, ...]] = {
    "fill": ("tlb.fill", "promela._Exporter.fill", "costs._misses"),
    "flush_page": ("tlb.flush_page", "promela._Exporter.flush_page", "costs._Schedule._invalidate"),
    "switch_mm": ("tlb.switch_mm", "promela._Exporter.switch_mm", "costs._Schedule.switch"),
    "shootdown": ("tlb.shoot_down", "promela._Exporter.install", "costs._Schedule.update"),
    # Stated once, as a function that the model, the Promela export (when it writes a switch)
    # and the cost simulator all call.
    "switch flushes the UKVA entry": ("tlb.switch_flushes_ukva_entry",),
}

MEMO_SIZE = 1 << 15  # entries per memo before it is emptied
_fills: dict[tuple, tuple[Entry, ...]] = {}
_page_flushes: dict[tuple, tuple[Entry, ...]] = {}
_switches: dict[tuple, tuple[Cpu, int, int]] = {}
_forgotten: dict[tuple, Cpu] = {}
_flushed: dict[tuple, Cpu] = {}


def switch_flushes_ukva_entry(design: str, fill: str, flush_on_same_mm_switch: bool) -> bool:
    """Whether a switch to a user task drops this CPU's TLB entry for the UKVA page (under the
    ASID it now uses), unless the switch flushed that whole ASID anyway.

    - per-task with software refill: always.  The entry holds the previous task's page; the
      refill handler can load the right one only if the next read misses, so the switch must
      drop it (as a kernel would: the handler is never reached on a TLB hit).
    - per-task or per-cpu with hardware fill: only with `flush_on_same_mm_switch`, the fix that
      makes per-task right on one CPU (the switch rewrote the page table's entry; the TLB
      would keep the old one).
    - per-cpu with software refill: never.  This CPU's page does not change with the task.
    - per-mm: never.  A switch rewrites nothing."""
    if design == "per-mm":
        return False
    if fill == "software":
        return design == "per-task"
    return flush_on_same_mm_switch


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


def flush_asid(tlb: tuple[Entry, ...], asid: int) -> tuple[Entry, ...]:
    """The TLB after dropping every entry tagged with one ASID."""
    return tuple([e for e in tlb if e[0] != asid])


def shoot_down(cpus: tuple[Cpu, ...], c: int, mm: int, vpage: int, context: AsidSlot | None,
               user: tuple[bool, ...]) -> tuple[tuple[Cpu, ...], int, int]:
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


def forget_stale(cpu: Cpu, mm_gen: tuple[int, ...]) -> Cpu:
    """`cpu` with every ASID slot whose tlb_gen is behind its MM's (`mm_gen`) marked -1 and its
    entries dropped: switch_mm flushes such a slot before anyone can read it, so what it holds
    does not matter.  The same `cpu` when no slot is stale."""
    key = (cpu, mm_gen)
    out = _forgotten.get(key)
    if out is None:
        if len(_forgotten) >= MEMO_SIZE:
            _forgotten.clear()
        cur, loaded, asid, rr, asids, tlb = cpu
        stale = [i for i, (ctx, gen) in enumerate(asids) if ctx >= 0 and gen < mm_gen[ctx]]
        if stale:
            asids = tuple([(ctx, -1) if i in stale else (ctx, gen) for i, (ctx, gen) in enumerate(asids)])
            out = (cur, loaded, asid, rr, asids, tuple([e for e in tlb if e[0] not in stale]))
        else:
            out = cpu
        _forgotten[key] = out
    return out


def switch_mm(cpu: Cpu, mm: int, mm_gen: int, n_asids: int, static: bool = False) -> tuple[Cpu, int, int]:
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


def _switch_mm(cpu: Cpu, mm: int, mm_gen: int, n_asids: int, static: bool) -> tuple[Cpu, int, int]:
    cur, loaded, asid, rr, asids, tlb = cpu
    current = (mm, mm_gen)
    if loaded == mm:
        if asids[asid][1] >= mm_gen:
            return cpu, 0, 0
        asids = asids[:asid] + (current,) + asids[asid + 1:]
        return (cur, loaded, asid, rr, asids, flush_asid(tlb, asid)), 0, 1
    if n_asids == 1:
        return (cur, mm, 0, 0, (current,), ()), 1, 1
    for i, (ctx, gen) in enumerate(asids):
        if ctx == mm:
            if gen >= mm_gen:
                return (cur, mm, i, rr, asids, tlb), 1, 0
            asids = asids[:i] + (current,) + asids[i + 1:]
            return (cur, mm, i, rr, asids, flush_asid(tlb, i)), 1, 1
    i = mm if static else rr
    asids = asids[:i] + (current,) + asids[i + 1:]
    return (cur, mm, i, rr if static else (rr + 1) % n_asids, asids, flush_asid(tlb, i)), 1, 1
