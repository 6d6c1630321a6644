"""The price of each UKVA design: a trace-driven simulator, vectorised with numpy where it can be.

The machine (machine.py) decides whether a design is correct; this module counts what a
design costs on a long synthetic run, for the book's plots.  The workload, drawn from a seed:

1. `threads` threads of one MM and one single-threaded process (its own MM) share `cpus` CPUs.
   CPU c starts running task c (CPUs beyond the tasks start idle); a task runs on one CPU at
   a time.
2. Each reference happens on a random CPU and is a context switch (5%) to a random task not
   running on another CPU or to idle (picking what runs already changes nothing; idle keeps
   the MM loaded, lazy TLB), an update of the UKVA data of the running task (1%), or a read of
   the UKVA (94%); an idle CPU neither reads nor updates.  The trace is the same for every
   design.
3. Each design is costed in its best local form, with one rule for every design:
   - a switch to another MM writes CR3: without PCID that flushes the whole TLB; with PCID the
     MM keeps its ASID, which is flushed only when new or stale (switch_mm_irqs_off,
     notebooks/sources.ipynb §6);
   - the UKVA entry a CPU holds under an MM's ASID translates to a page: per-task, the last
     task this CPU ran in that MM; per-cpu, this CPU's; per-mm, the MM's.  A switch drops it
     (a page flush) only when it translates to another page than the incoming task needs, i.e.
     per-task switching between two tasks of one MM (the flush_on_same_mm_switch fix);
   - an update remaps the page it changes (the running task's, this CPU's or the MM's): the
     local entry is flushed, every other CPU running a task that maps the page gets a
     shootdown IPI (only per-mm has such CPUs: a task runs on one CPU, a CPU's page is its
     own), and a CPU that holds an entry for the page but is running something else catches
     up when it switches back: that ASID is stale and flushed (flush_tlb_mm_range's tlb_gen).
4. A read misses when its CPU has had the UKVA entry of that MM invalidated since its last
   read in that MM (or never read it there); a miss is a page walk (hardware) or a refill
   trap (software).  The TLB is large enough for the UKVA entries of both MMs.

With one thread per MM, per-task and per-mm are the same design and cost the same.
"""

from __future__ import annotations

import bisect

from ..browser import need
from .options import COUNTERS, DESIGNS, FILLS, boolean, int_in, pick

need("numpy", "the cost simulator")  # in the live book numpy comes from Pyodide's distribution, when first used
import numpy as np  # noqa: E402

P_SWITCH = 0.05
P_UPDATE = 0.01
MAX_REFS = 10_000_000
MAX_CELLS = 100_000_000  # cpus x refs: each CPU makes a pass over the trace


def _schedule(threads: int, cpus: int, cpu: np.ndarray, u: np.ndarray, choice: np.ndarray,
              design: int, pcid: bool) -> dict:
    """The switches and updates, one at a time (they are ~6% of the references): who runs
    where after each, and every invalidation of a (cpu, MM) UKVA entry they cause."""
    ntasks = threads + 1
    mm_of = [0] * threads + [1]
    running = [c if c < ntasks else -1 for c in range(cpus)]
    free = [n for n in range(ntasks) if n not in running]
    loaded = [mm_of[n] if n >= 0 else -1 for n in running]
    # What the entry under (cpu, MM) translates to, and the generation of that page it saw.
    holds = [[-1, -1] for _ in range(cpus)]
    seen = [[0, 0] for _ in range(cpus)]
    asid = [[False, False] for _ in range(cpus)]
    for c, n in enumerate(running):
        if n >= 0:
            asid[c][mm_of[n]] = True
    # Pages as ints: per-task the task, per-cpu the CPU, per-mm the MM; `none` for no entry.
    none = max(ntasks, cpus, 2)
    gen = [0] * (none + 1)            # page -> generation (bumped by each update's remap)
    for c in range(cpus):
        holds[c] = [none, none]
    page_of = ([list(range(ntasks))] * cpus if design == 0 else [[c] * ntasks for c in range(cpus)]
               if design == 1 else [mm_of] * cpus)   # page_of[cpu][task]
    for c, n in enumerate(running):
        if n >= 0:
            holds[c][mm_of[n]] = page_of[c][n]
    inv_t: list[int] = []
    inv_g: list[int] = []
    sw_t: list[int] = []
    sw_task: list[int] = []
    n_page = n_full = n_cr3 = n_ipi = n_switch = n_update = 0
    events = np.flatnonzero(u < P_SWITCH + P_UPDATE)
    for t, c, r, x in zip(events.tolist(), cpu[events].tolist(), u[events].tolist(), choice[events].tolist()):
        cur = running[c]
        if r < P_SWITCH:
            options = free + [-1] + ([cur] if cur >= 0 else [])
            nxt = options[int(x * len(options))]
            if nxt == cur:
                continue
            n_switch += 1
            if nxt >= 0:
                free.remove(nxt)
            if cur >= 0:
                bisect.insort(free, cur)      # kept sorted: the pick depends only on the trace
            running[c] = nxt
            sw_t.append(t)
            sw_task.append(nxt)
            if nxt < 0:
                continue                      # idle: lazy TLB, the MM stays loaded
            m = mm_of[nxt]
            want = page_of[c][nxt]
            flush = False
            if loaded[c] != m:
                n_cr3 += 1
                loaded[c] = m
                if not pcid or not asid[c][m] or seen[c][m] < gen[holds[c][m]]:
                    flush = True          # the CR3 write flushes; or a new or stale ASID
                    asid[c][m] = True
                    n_full += 1
            if not flush and holds[c][m] != want:
                flush = True              # per-task: another task of the MM ran here last
                n_page += 1
            if flush:
                inv_t.append(t)
                inv_g.append(c * 2 + m)
            holds[c][m] = want
            seen[c][m] = gen[want]
        elif cur >= 0:
            n_update += 1
            m = mm_of[cur]
            target = page_of[c][cur]
            gen[target] += 1
            now = gen[target]
            for y in range(cpus):
                other = running[y]
                if other < 0 or mm_of[other] != m or holds[y][m] != target:
                    continue
                if y != c:
                    n_ipi += 1
                n_page += 1
                inv_t.append(t)
                inv_g.append(y * 2 + m)
                seen[y][m] = now
    return dict(inv_t=np.array(inv_t, dtype=np.int64), inv_g=np.array(inv_g, dtype=np.int64),
                sw_t=np.array(sw_t, dtype=np.int64), sw_task=np.array(sw_task, dtype=np.int64),
                page_flushes=n_page, full_flushes=n_full, cr3_writes=n_cr3, ipis=n_ipi,
                switches=n_switch, updates=n_update)


def simulate_costs(threads: int, cpus: int, refs: int, design: str, fill: str = "hardware",
                   pcid: bool = False, seed: int = 0) -> dict[str, int]:
    """Run the synthetic trace; returns the machine's counters (tlb_misses, page_walks,
    refill_traps, page_flushes, full_flushes, cr3_writes, ipis) and the workload's size
    (references, reads, switches, updates).  The same arguments always give the same numbers."""
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
    choice = rng.random(refs)
    run = _schedule(threads, cpus, cpu, u, choice, d, pcid)

    # Who runs where: per CPU, the task after each of its references (forward-filled
    # switches over that CPU's references only); -1 idle.
    mm_of = np.array([0] * threads + [1, -1], dtype=np.int64)   # index -1: idle, no MM
    task_at = np.empty(refs, dtype=np.int64)
    sw_task = np.full(refs, -2, dtype=np.int64)
    sw_task[run["sw_t"]] = run["sw_task"]
    for c in range(cpus):
        mine = np.flatnonzero(cpu == c)
        if mine.size == 0:
            continue
        here = sw_task[mine]
        last = np.maximum.accumulate(np.where(here != -2, np.arange(mine.size), -1))
        start = c if c < threads + 1 else -1
        task_at[mine] = np.where(last >= 0, here[np.maximum(last, 0)], start)
    reads = np.flatnonzero(u >= P_SWITCH + P_UPDATE)
    read_cpu = cpu[reads]
    read_task = task_at[reads]
    busy = read_task >= 0
    reads, read_cpu, read_ctx = reads[busy], read_cpu[busy], mm_of[read_task[busy]]

    # Invalidations of (cpu, MM) and reads of (cpu, MM), merged in time order per (cpu, MM):
    # a read misses if an invalidation of its (cpu, MM) came since that group's previous read.
    ev_time = np.concatenate([run["inv_t"], reads])
    ev_group = np.concatenate([run["inv_g"], read_cpu * 2 + read_ctx])
    ev_inval = np.concatenate([np.ones(run["inv_t"].size, dtype=np.int64), np.zeros(reads.size, dtype=np.int64)])
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
        page_flushes=run["page_flushes"],
        full_flushes=run["full_flushes"],
        cr3_writes=run["cr3_writes"],
        ipis=run["ipis"],
    )
    counts.update(references=refs, reads=int(reads.size), switches=run["switches"], updates=run["updates"])
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
