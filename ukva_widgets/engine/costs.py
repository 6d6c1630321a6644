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
3. Each design is costed in its best local form (per-task with the switch flush that makes it
   right on one CPU), by the TLB rules of tlb.py, which the Python model uses too:
   - switch_mm: a switch to another MM writes CR3: without PCID that flushes the whole TLB;
     with PCID the MM keeps its ASID, which is flushed only when new or stale; a switch back to
     the loaded MM writes no CR3, but flushes the ASID if its tlb_gen is stale (a shootdown
     skipped this CPU while it was lazy) (switch_mm_irqs_off, notebooks/sources.ipynb §6);
   - the UKVA entry a CPU holds under an MM's ASID translates to a page: per-task, the last
     task this CPU ran in that MM; per-cpu, this CPU's; per-mm, the MM's.  Per-task drops it
     on every switch to a user task that did not flush the whole ASID anyway: a page flush,
     which its design needs (tlb.switch_flushes_ukva_entry; under software refill a TLB hit
     never reaches the refill handler);
   - shootdown: an update remaps the page it changes (the running task's, this CPU's or the
     MM's): the local entry is flushed, every other CPU running a task that maps the page gets
     a shootdown IPI (only per-mm has such CPUs: a task runs on one CPU, a CPU's page is its
     own), and a CPU that holds an entry for the page but is running something else catches
     up when it switches back: that ASID is stale and flushed (flush_tlb_mm_range's tlb_gen).
4. fill: a read misses when its CPU has had the UKVA entry of that MM invalidated since its
   last read in that MM (or never read it there); a miss is a page walk (hardware) or a refill
   trap (software).  The TLB is large enough for the UKVA entries of both MMs.

tests/engine/test_mirrors.py replays such traces on the Python model and checks that both
count the same.
"""

from __future__ import annotations

import bisect

from ..browser import need
from .options import COUNTERS, DESIGNS, FILLS, boolean, int_in, pick
from .tlb import switch_flushes_ukva_entry

need("numpy", "the cost simulator")  # in the live book numpy comes from Pyodide's distribution, when first used
import numpy as np  # noqa: E402

P_SWITCH = 0.05
P_UPDATE = 0.01
MAX_REFS = 10_000_000
MAX_CELLS = 100_000_000  # cpus x refs: each CPU makes a pass over the trace


class _Schedule:
    """The switches and updates, one at a time (they are ~6% of the references): who runs
    where after each, and every invalidation of a (cpu, MM) UKVA entry they cause."""

    def __init__(self, threads: int, cpus: int, design: str, fill: str, pcid: bool) -> None:
        ntasks = threads + 1
        self.mm_of = [0] * threads + [1]
        self.pcid = pcid
        self.running = [c if c < ntasks else -1 for c in range(cpus)]
        self.free = [n for n in range(ntasks) if n not in self.running]
        self.loaded = [self.mm_of[n] if n >= 0 else -1 for n in self.running]
        # Pages as ints: per-task the task, per-cpu the CPU, per-mm the MM.
        d = DESIGNS.index(design)
        self.page_of = ([list(range(ntasks))] * cpus if d == 0 else [[c] * ntasks for c in range(cpus)]
                        if d == 1 else [self.mm_of] * cpus)   # page_of[cpu][task]
        self.gen = [0] * (max(ntasks, cpus, 2) + 1)           # page -> generation (bumped by each remap)
        # Per (cpu, MM): the page its entry translates to, the generation of it seen, an ASID given.
        self.holds = [[-1, -1] for _ in range(cpus)]
        self.seen = [[0, 0] for _ in range(cpus)]
        self.asid = [[False, False] for _ in range(cpus)]
        for c, n in enumerate(self.running):
            if n >= 0:
                self.holds[c][self.mm_of[n]] = self.page_of[c][n]
                self.asid[c][self.mm_of[n]] = True
        # Best local form: per-task flushes its entry on a switch (tlb.switch_flushes_ukva_entry).
        self.switch_flush = switch_flushes_ukva_entry(design, fill, design == "per-task")
        self.inv_t: list[int] = []
        self.inv_g: list[int] = []
        self.sw_t: list[int] = []
        self.sw_task: list[int] = []
        self.up_t: list[int] = []
        self.n = dict(page_flushes=0, full_flushes=0, cr3_writes=0, ipis=0, switches=0, updates=0)

    def _invalidate(self, t: int, c: int, m: int) -> None:
        self.inv_t.append(t)
        self.inv_g.append(c * 2 + m)

    def switch(self, t: int, c: int, x: float) -> None:
        """CPU c picks what runs next (switch_mm, then the design's switch flush)."""
        cur = self.running[c]
        options = self.free + [-1] + ([cur] if cur >= 0 else [])
        nxt = options[int(x * len(options))]
        if nxt == cur:
            return
        self.n["switches"] += 1
        if nxt >= 0:
            self.free.remove(nxt)
        if cur >= 0:
            bisect.insort(self.free, cur)      # kept sorted: the pick depends only on the trace
        self.running[c] = nxt
        self.sw_t.append(t)
        self.sw_task.append(nxt)
        if nxt < 0:
            return                             # idle: lazy TLB, the MM stays loaded
        m, want = self.mm_of[nxt], self.page_of[c][nxt]
        stale = self.seen[c][m] < self.gen[self.holds[c][m]]
        full = False
        if self.loaded[c] != m:
            self.n["cr3_writes"] += 1
            self.loaded[c] = m
            full = not self.pcid or not self.asid[c][m] or stale  # the CR3 write flushes; or a new or stale ASID
            self.asid[c][m] = True
        elif stale:
            full = True                        # the same MM, but a shootdown skipped this lazy CPU
        if full:
            self.n["full_flushes"] += 1
        elif self.switch_flush:
            self.n["page_flushes"] += 1
        if full or self.switch_flush:
            self._invalidate(t, c, m)
        self.holds[c][m] = want
        self.seen[c][m] = self.gen[want]

    def update(self, t: int, c: int) -> None:
        """The task running on CPU c remaps its UKVA page: local flush, shootdown to the CPUs
        that run a task mapping it."""
        cur = self.running[c]
        if cur < 0:
            return
        self.n["updates"] += 1
        self.up_t.append(t)
        m, target = self.mm_of[cur], self.page_of[c][cur]
        self.gen[target] += 1
        for y, other in enumerate(self.running):
            if other < 0 or self.mm_of[other] != m or self.holds[y][m] != target:
                continue
            self.n["ipis"] += y != c
            self.n["page_flushes"] += 1
            self._invalidate(t, y, m)
            self.seen[y][m] = self.gen[target]


def schedule(threads: int, cpus: int, cpu: np.ndarray, u: np.ndarray, choice: np.ndarray, design: str,
             fill: str, pcid: bool, p_update: float = P_UPDATE) -> _Schedule:
    """The switches and updates of a trace, applied in order."""
    run = _Schedule(threads, cpus, design, fill, pcid)
    events = np.flatnonzero(u < P_SWITCH + p_update)
    for t, c, r, x in zip(events.tolist(), cpu[events].tolist(), u[events].tolist(), choice[events].tolist()):
        if r < P_SWITCH:
            run.switch(t, c, x)
        else:
            run.update(t, c)
    return run


def _misses(run: _Schedule, threads: int, cpus: int, cpu: np.ndarray, u: np.ndarray,
            p_update: float) -> tuple[int, int]:
    """(reads, misses): who runs where at each read, and whether an invalidation of its
    (cpu, MM) came since that pair's previous read, vectorised."""
    refs = cpu.size
    # Who runs where: per CPU, the task after each of its references (forward-filled
    # switches over that CPU's references only); -1 idle.
    mm_of = np.array([0] * threads + [1, -1], dtype=np.int64)   # index -1: idle, no MM
    task_at = np.empty(refs, dtype=np.int64)
    sw_task = np.full(refs, -2, dtype=np.int64)
    sw_task[np.array(run.sw_t, dtype=np.int64)] = np.array(run.sw_task, dtype=np.int64)
    for c in range(cpus):
        mine = np.flatnonzero(cpu == c)
        if mine.size == 0:
            continue
        here = sw_task[mine]
        last = np.maximum.accumulate(np.where(here != -2, np.arange(mine.size), -1))
        start = c if c < threads + 1 else -1
        task_at[mine] = np.where(last >= 0, here[np.maximum(last, 0)], start)
    reads = np.flatnonzero(u >= P_SWITCH + p_update)
    read_task = task_at[reads]
    busy = read_task >= 0
    reads, read_cpu, read_ctx = reads[busy], cpu[reads][busy], mm_of[read_task[busy]]
    # Invalidations of (cpu, MM) and reads of (cpu, MM), merged in time order per (cpu, MM):
    # a read misses if an invalidation of its (cpu, MM) came since that group's previous read.
    inv_t = np.array(run.inv_t, dtype=np.int64)
    ev_time = np.concatenate([inv_t, reads])
    ev_group = np.concatenate([np.array(run.inv_g, dtype=np.int64), read_cpu * 2 + read_ctx])
    ev_inval = np.concatenate([np.ones(inv_t.size, dtype=np.int64), np.zeros(reads.size, dtype=np.int64)])
    order = np.lexsort((ev_time, ev_group))
    inv_cum = np.cumsum(ev_inval[order])
    is_r = ev_inval[order] == 0
    g = ev_group[order][is_r]
    c_at = inv_cum[is_r]
    missed = np.ones(g.size, dtype=bool)
    missed[1:] = (g[1:] != g[:-1]) | (c_at[1:] != c_at[:-1])
    return int(reads.size), int(missed.sum())


def trace_costs(threads: int, cpus: int, cpu: np.ndarray, u: np.ndarray, choice: np.ndarray, design: str,
                fill: str = "hardware", pcid: bool = False, p_update: float = P_UPDATE) -> dict[str, int]:
    """The counters of one trace: per reference its CPU (`cpu`), what it is (`u`: a switch
    below P_SWITCH, an update below P_SWITCH + p_update, else a read) and, for a switch, which
    task it picks (`choice` in [0, 1)).  `simulate_costs` draws such a trace from a seed."""
    run = schedule(threads, cpus, cpu, u, choice, design, fill, pcid, p_update)
    reads, misses = _misses(run, threads, cpus, cpu, u, p_update)
    counts = dict.fromkeys(COUNTERS, 0)
    hardware = fill == "hardware"
    counts.update(tlb_misses=misses, page_walks=misses if hardware else 0, refill_traps=0 if hardware else misses,
                  **{k: run.n[k] for k in ("page_flushes", "full_flushes", "cr3_writes", "ipis")})
    counts.update(references=int(cpu.size), reads=reads, switches=run.n["switches"], updates=run.n["updates"])
    return counts


def draw(cpus: int, refs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic trace of `refs` references on `cpus` CPUs drawn from `seed`: (cpu, u, choice)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, cpus, refs), rng.random(refs), rng.random(refs)


def simulate_costs(threads: int, cpus: int, refs: int, design: str, fill: str = "hardware",
                   pcid: bool = False, seed: int = 0, p_update: float = P_UPDATE) -> dict[str, int]:
    """Run the synthetic trace; returns the machine's counters (tlb_misses, page_walks,
    refill_traps, page_flushes, full_flushes, cr3_writes, ipis) and the workload's size
    (references, reads, switches, updates).  `p_update` is the share of references that update
    the UKVA (the rest after the switches are reads).  The same arguments always give the same numbers."""
    int_in("threads", threads, 1, 4096)
    int_in("cpus", cpus, 1, 64)
    int_in("refs", refs, 1, MAX_REFS)
    if cpus * refs > MAX_CELLS:
        raise ValueError(f"cpus x refs = {cpus * refs:,} is more than this simulator keeps in memory "
                         f"({MAX_CELLS:,}): use fewer references or fewer CPUs")
    int_in("seed", seed, 0, 2**63 - 1)
    pick("design", design, DESIGNS)
    pick("fill", fill, FILLS)
    boolean("pcid", pcid)
    if isinstance(p_update, bool) or not isinstance(p_update, (int, float)) or not 0 <= p_update <= 1 - P_SWITCH:
        raise ValueError(f"p_update={p_update!r} is not a share of references: use 0 to {1 - P_SWITCH}")
    return trace_costs(threads, cpus, *draw(cpus, refs, seed), design, fill, pcid, p_update)


def cost_curves(thread_counts: list[int], cpus: int = 4, refs: int = 100_000, fill: str = "hardware",
                pcid: bool = False, seed: int = 0) -> dict[str, dict[str, list[int]]]:
    """For the plot: per design, per counter, the values as the number of threads grows."""
    counts = list(thread_counts)
    if not counts:
        raise ValueError("thread_counts is empty: give the thread counts to plot, e.g. [1, 2, 4, 8]")
    runs = {design: [simulate_costs(n, cpus, refs, design, fill, pcid, seed) for n in counts]
            for design in DESIGNS}
    return {design: {key: [r[key] for r in rows] for key in rows[0]} for design, rows in runs.items()}
