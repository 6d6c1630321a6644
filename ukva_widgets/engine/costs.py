"""The price of each UKVA design: a trace-driven simulator, vectorised with numpy.

The machine (machine.py) decides whether a design is correct; this module counts what a
design costs on a long synthetic run, for the book's plots.  The workload, drawn from a seed:

1. `threads` threads of one MM and one single-threaded process (its own MM) share `cpus` CPUs.
2. Each reference happens on a random CPU and is a context switch to a random task (5%),
   an update of the UKVA data of the running task's MM (1%), or a read of the UKVA (94%).
   The trace is synthetic: a task may be picked on two CPUs at once.
3. Each design is costed as the machine runs it, in its best local form:
   - per-task and per-cpu under hardware fill flush the UKVA entry on every switch that does
     not flush the TLB anyway (the `flush_on_same_mm_switch` fix; still wrong on SMP);
     per-task under software fill drops the entry on every switch; per-cpu under software
     fill never does;
   - per-mm remaps a slot on an update: a local flush plus one shootdown IPI to every other
     CPU running a task of that MM (the MM's cpumask);
   - a switch to another MM writes CR3: without PCID that flushes the whole TLB; with PCID the
     MM's ASID survives and is flushed only when stale (updated while away) or new
     (switch_mm_irqs_off and flush_tlb_mm_range in arch/x86/mm/tlb.c, FACTS.md §6).
4. A read misses when its CPU has had the UKVA entry of that MM invalidated since its last
   read in that MM (or never read it there); a miss is a page walk (hardware) or a refill
   trap (software).  The TLB is large enough for the UKVA entries of both MMs.
"""

from __future__ import annotations

import numpy as np

from .options import COUNTERS, DESIGNS, FILLS, boolean, int_in, pick

P_SWITCH = 0.05
P_UPDATE = 0.01
MAX_REFS = 10_000_000
MAX_CELLS = 100_000_000  # cpus x refs: the who-runs-where table is that many bytes


def simulate_costs(threads: int, cpus: int, refs: int, design: str, fill: str = "hardware",
                   pcid: bool = False, seed: int = 0) -> dict[str, int]:
    """Run the synthetic trace; returns the machine's counters (tlb_misses, page_walks,
    refill_traps, page_flushes, full_flushes, cr3_writes, ipis) and the workload's size
    (references, switches, updates).  The same arguments always give the same numbers."""
    int_in("threads", threads, 1, 4096)
    int_in("cpus", cpus, 1, 64)
    int_in("refs", refs, 1, MAX_REFS)
    if cpus * refs > MAX_CELLS:
        raise ValueError(f"cpus x refs = {cpus * refs:,} is more than this simulator keeps in memory "
                         f"({MAX_CELLS:,}): use fewer references or fewer CPUs")
    int_in("seed", seed, 0, 2**63 - 1)
    d = DESIGNS.index(pick("design", design, DESIGNS))
    hardware = pick("fill", fill, FILLS) == "hardware"
    boolean("pcid", pcid)

    rng = np.random.default_rng(seed)
    cpu = rng.integers(0, cpus, refs)
    u = rng.random(refs)
    target = rng.integers(0, threads + 1, refs)  # task `threads` is the other process

    def ctx_of(task: np.ndarray) -> np.ndarray:
        return (task == threads).astype(np.int8)  # MM 0: the threads' MM; MM 1: the other process's

    initial = np.arange(cpus) % (threads + 1)

    # Who runs where: per CPU, the task after each of its events (forward-filled switches).
    is_switch = u < P_SWITCH
    t = np.arange(refs)
    cur_ctx = np.empty((cpus, refs), dtype=np.int8)
    prev_task = np.empty(refs, dtype=np.int64)
    for c in range(cpus):
        mine = cpu == c
        sw = is_switch & mine
        last = np.maximum.accumulate(np.where(sw, t, -1))
        after = np.where(last >= 0, target[np.maximum(last, 0)], initial[c])
        cur_ctx[c] = ctx_of(after)
        before = np.concatenate(([initial[c]], after[:-1]))
        prev_task[mine] = before[mine]
    is_switch &= target != prev_task           # switching to the running task does nothing
    is_update = (u >= P_SWITCH) & (u < P_SWITCH + P_UPDATE)
    is_read = ~(u < P_SWITCH + P_UPDATE)
    ctx = cur_ctx[cpu, t]                       # the acting CPU's MM after the event
    mm_change = is_switch & (ctx_of(prev_task) != ctx)

    # Full flushes at switches: every MM change without PCID; with PCID a new ASID (the first
    # entry into an MM on that CPU) or a stale one (its MM was updated while the CPU was away).
    full = mm_change.copy()
    if pcid:
        full[:] = False
        per_mm_updates = d == 2
        upd_cum = np.stack([np.cumsum(is_update & (ctx == x)) for x in (0, 1)]) if per_mm_updates else None
        for c in range(cpus):
            idx = np.flatnonzero(mm_change & (cpu == c))
            if idx.size == 0:
                continue
            full[idx[0]] = True                 # the first switch into the other MM: new ASID
            if per_mm_updates and idx.size > 1:
                into = ctx[idx[1:]]
                stale = upd_cum[into, idx[1:]] > upd_cum[into, idx[:-1]]
                full[idx[1:][stale]] = True

    # Page flushes the design does at switches.
    if d == 0 or (d == 1 and hardware):
        design_flush = is_switch & ~full
    else:
        design_flush = np.zeros(refs, dtype=bool)

    # Updates: per-mm remaps and shoots down; the other designs change data in place.
    upd = np.flatnonzero(is_update) if d == 2 else np.empty(0, dtype=np.int64)
    others = (cur_ctx[:, upd] == ctx[upd]) & (np.arange(cpus)[:, None] != cpu[upd])
    ipi_cpu, ipi_col = np.nonzero(others)
    ipis = int(ipi_cpu.size)

    # Invalidations of (cpu, MM) and reads of (cpu, MM), merged in time order per (cpu, MM).
    inv_rows = np.concatenate([np.flatnonzero(full | design_flush), upd, upd[ipi_col]])
    inv_cpu = np.concatenate([cpu[np.flatnonzero(full | design_flush)], cpu[upd], ipi_cpu])
    inv_ctx = ctx[inv_rows]
    reads = np.flatnonzero(is_read)
    ev_time = np.concatenate([inv_rows, reads])
    ev_group = np.concatenate([inv_cpu * 2 + inv_ctx, cpu[reads] * 2 + ctx[reads]])
    ev_inval = np.concatenate([np.ones(inv_rows.size, dtype=np.int64), np.zeros(reads.size, dtype=np.int64)])
    # A read misses if an invalidation of its (cpu, MM) came since that group's previous read.
    order = np.lexsort((ev_time, ev_group))
    inv_cum = np.cumsum(ev_inval[order])
    is_r = ev_inval[order] == 0
    g = ev_group[order][is_r]
    c_at = inv_cum[is_r]
    first = np.ones(g.size, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    missed = first.copy()
    missed[1:] |= c_at[1:] != c_at[:-1]
    misses = int(missed.sum())

    counts = dict.fromkeys(COUNTERS, 0)
    counts.update(
        tlb_misses=misses,
        page_walks=misses if hardware else 0,
        refill_traps=0 if hardware else misses,
        page_flushes=int(design_flush.sum()) + int(upd.size) + ipis,
        full_flushes=int(full.sum()),
        cr3_writes=int(mm_change.sum()),
        ipis=ipis,
    )
    counts.update(references=refs, switches=int(is_switch.sum()), updates=int(is_update.sum()))
    return counts


def cost_curves(thread_counts: list[int], cpus: int = 4, refs: int = 100_000, fill: str = "hardware",
                pcid: bool = False, seed: int = 0) -> dict[str, dict[str, list[int]]]:
    """For the plot: per design, per counter, the values as the number of threads grows."""
    counts = list(thread_counts)
    if not counts:
        raise ValueError("thread_counts is empty: give the thread counts to plot, e.g. [1, 2, 4, 8]")
    runs = {design: [simulate_costs(n, cpus, refs, design, fill, pcid, seed) for n in counts]
            for design in DESIGNS}
    return {design: {key: [r[key] for r in rows] for key in rows[0]} for design, rows in runs.items()}
