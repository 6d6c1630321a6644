"""The SMP machine of model.py written out as a Promela model for SPIN (spin.py runs it).

The model is the plain transition system of `Model.enabled` and `Model.next`, with none of the
explorer's reductions: one process whose `do` loop has one `d_step` per concrete choice
(kind, cpu, arg, sub), specialised, where a step depends on the running task, per task as
well.  Each alternative's guard is the choice's enabling condition and its body the handler's
effect; it prints the choice ("@step KIND CPU ARG SUB"), so a trail replays to the Python
choices, and it fails an `assert` exactly where the handler returns a violation.  One step of
the model is one choice, so SPIN's breadth-first depth is the explorer's (plus the one step
that loads the start state).  The TLB rules are tlb.py's written out again (tlb.MIRRORS lists
which method mirrors which rule); whether a switch flushes the UKVA entry is decided by
tlb.switch_flushes_ukva_entry itself, through `Model.switch_flush`.

Only the Model instance's own attributes and layout are read (the explorer may hand over a
part, whose layout's `read_pages`, `update_objects`, `task_writes` or whose `tlb_size` differ
from its options').

The state is laid out so that it determines Python's state and back (a bijection), plus two
derived fields, which therefore add no states; SPIN stores one state more than a plain BFS
over the model reaches, the empty one before the start is loaded (tests/engine/test_spin.py):
- per CPU: the running task + 1 (0 for idle), the loaded MM + 1, the ASID slot, the
  round-robin pointer, per ASID slot its MM + 1 and tlb_gen, and a TLB as an array over
  (ASID, UKVA page) holding page + 1 (0: no entry), with its count of entries (derived).
  (asid, vpage) is unique in a TLB (a fill follows a miss), so the lowest entry in
  (asid, vpage, page) order is the one at the lowest index: a fill into a full TLB drops that,
  as tlb.fill does;
- per CPU, the update in progress of the task it runs (object + 1, version copied, MMs
  mapped).  Python keeps it per task; only a running task can have one and its CPU does
  nothing but finish it, so keeping it on the CPU is the same information;
- the page tables' UKVA entries (page + 1), per MM its tlb_gen, per object its version;
- per page mapped in several MMs: last written, in memory, and per cache key (-1 for a
  physically indexed line, else a colour) the line's version + 1 (0: none) and dirty bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model
from .slots import COLOURS, PER_MM, PER_TASK
from .state import EVICT, FINISH, READ, SWITCH, UPDATE, WRITE

KEYS = COLOURS + 1  # cache keys -1 (physical) and 0..COLOURS-1 (virtual colours), stored at key + 1
STEP = "@step"      # what each step prints before its code
# The search stops, with pan's statistics, once it has stored BOUND states (a -D define).
BOUND_MARK = "@bound"
BOUND_CHECK = f'c_code {{ if (nstates >= BOUND) {{ printf("{BOUND_MARK}\\n"); wrapup(); }} }};'
SCRATCH = ("tpg", "tj", "tbase", "tfull", "tlost")  # a step's scratch variables


@dataclass(frozen=True)
class Promela:
    """A Promela model and what spin.py needs to run it: the state vector's size in bytes (an
    upper estimate, for pan's VECTORSZ and memory bound)."""

    text: str
    vector_bytes: int


class _Writer:
    """Lines of Promela with indentation."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, *lines: str) -> None:
        self.lines += ["  " * self.depth + line for line in lines]

    def text(self) -> str:
        # A separator may not end a sequence: drop the ";" before "::", "fi", "od" and "}".
        lines = list(self.lines)
        for i in range(len(lines) - 1):
            if lines[i].endswith(";") and lines[i + 1].lstrip().startswith(("::", "fi", "od", "}")):
                lines[i] = lines[i][:-1]
        return "\n".join(lines) + "\n"


def _int_type(name: str, high: int) -> str:
    if high <= 255:
        return "byte"
    if high <= 32767:
        return "short"
    raise ValueError(f"the machine is too large to export to Promela: {name} reaches {high}")


def export(model: Model) -> Promela:
    """The Promela model of `model`'s machine (see the module docstring)."""
    return _Exporter(model).promela()


class _Exporter:
    def __init__(self, s: Model) -> None:
        self.s = s
        self.nc, self.nt, self.nm = s.ncpu, len(s.layout.tasks), len(s.layout.mms)
        self.na = s.n_asids
        self.nv = max([len(row) for row in s.layout.mm_slots] + [1])
        self.no = len(s.layout.objects)
        self.np = len(s.layout.cached)
        self.ntab = self.nm * s.layout.copies
        self.limit = s.layout.stride - 1
        self.tlb_slots = self.na * self.nv
        self.kthreads = [i for i in range(self.nt) if not s.layout.user[i]]
        self.w = _Writer()

    # -- the state ------------------------------------------------------------------------
    def declarations(self) -> None:
        s, w = self.s, self.w
        pages = self.no * s.layout.stride + 1 if s.layout.design == PER_MM else max(self.nt, self.nc) + 1
        gens = sum(self.limit * len(maps) for maps in s.layout.obj_maps) + 1
        page_t, gen_t = _int_type("a page number", pages), _int_type("a tlb_gen", gens)
        self.sizes = []

        def array(typ: str, name: str, n: int, why: str) -> None:
            w(f"{typ} {name}[{max(n, 1)}];{' ' * max(1, 24 - len(typ + name + str(n)))}/* {why} */")
            self.sizes.append((2 if typ == "short" else 1) * max(n, 1))

        array("byte", "cur", self.nc, "per CPU: the running task + 1, 0 for idle")
        array("byte", "ld", self.nc, "per CPU: the loaded MM + 1 (CR3), 0 for none")
        array("byte", "as", self.nc, "per CPU: the ASID slot in use")
        array("byte", "rr", self.nc, "per CPU: the round-robin pointer for a new ASID")
        array("byte", "cx", self.nc * self.na, "per CPU and ASID slot: its MM + 1")
        array(gen_t, "cg", self.nc * self.na, "per CPU and ASID slot: the tlb_gen seen")
        array(page_t, "tl", self.nc * self.tlb_slots, "per CPU, ASID slot, UKVA page: page + 1, 0 = no entry")
        array("byte", "tn", self.nc, "per CPU: entries in its TLB (derived)")
        array("byte", "po", self.nc, "per CPU: its task's update in progress: object + 1, 0 = none")
        array("byte", "pb", self.nc, "  ... the version it copied")
        array("byte", "pk", self.nc, "  ... how many of the object's MMs it has mapped")
        array(page_t, "pt", self.ntab * self.nv, "per page table and UKVA page: page + 1")
        array(gen_t, "mg", self.nm, "per MM: its tlb_gen")
        array("byte", "ver", self.no, "per slot object: its version")
        array("byte", "ct", self.np, "per cached page: the data last written")
        array("byte", "cm", self.np, "per cached page: the data in memory")
        array("byte", "lv", self.np * KEYS, "per cached page and key + 1: the line's version + 1, 0 = none")
        array("bit", "dt", self.np * KEYS, "  ... dirty")
        self.page_t = page_t

    def initial(self) -> None:
        """Assignments that load `Model.initial()`, one d_step."""
        s, w = self.s, self.w
        cpus, ptes, mm_gen, (versions, pending), caches = s.initial()
        out = []
        for c, (cur, loaded, asid, rr, asids, tlb) in enumerate(cpus):
            out += [f"cur[{c}] = {cur + 1}", f"ld[{c}] = {loaded + 1}", f"as[{c}] = {asid}", f"rr[{c}] = {rr}",
                    f"tn[{c}] = {len(tlb)}"]
            for a, (ctx, gen) in enumerate(asids):
                out += [f"cx[{c * self.na + a}] = {ctx + 1}", f"cg[{c * self.na + a}] = {gen}"]
            for a, v, page in tlb:
                out.append(f"tl[{self.tlb_index(c, a, v)}] = {page + 1}")
            if cur >= 0 and pending[cur] is not None:
                o, b, k = pending[cur]
                out += [f"po[{c}] = {o + 1}", f"pb[{c}] = {b}", f"pk[{c}] = {k}"]
        for t, row in enumerate(ptes):
            out += [f"pt[{t * self.nv + v}] = {x + 1}" for v, x in enumerate(row)]
        out += [f"mg[{m}] = {g}" for m, g in enumerate(mm_gen)]
        out += [f"ver[{o}] = {x}" for o, x in enumerate(versions)]
        for p, (truth, memory, lines) in enumerate(caches):
            out += [f"ct[{p}] = {truth}", f"cm[{p}] = {memory}"]
            for key, gen, dirty in lines:
                out += [f"lv[{p * KEYS + key + 1}] = {gen + 1}", f"dt[{p * KEYS + key + 1}] = {dirty}"]
        out = [x for x in out if not x.endswith(" = 0")]  # Promela's globals start at 0
        w("d_step {")
        w("  " + (";\n    ".join(out) if out else "skip"))
        w("};")

    # -- pieces of steps ------------------------------------------------------------------
    def tlb_index(self, c: int, asid: int | str, v: int | str) -> str:
        """The index in `tl` of (CPU c, ASID slot, UKVA page): an int, or an expression."""
        if isinstance(asid, int) and isinstance(v, int):
            return str(c * self.tlb_slots + asid * self.nv + v)
        return f"{c * self.tlb_slots} + ({asid}) * {self.nv} + {v}"

    def flush_page(self, c: int, asid: str, v: int) -> None:
        i = self.tlb_index(c, asid, v)
        self.w(f"if :: tl[{i}] != 0 -> tl[{i}] = 0; tn[{c}]-- :: else -> skip fi;")

    def flush_asid(self, c: int, asid: str) -> None:
        for v in range(self.nv):
            self.flush_page(c, asid, v)

    def fill(self, c: int, v: int) -> None:
        """Load (as[c], v) -> tpg into CPU c's TLB (a miss: no entry there), dropping the lowest
        other entry when that overfills it."""
        w = self.w
        w(f"tl[{self.tlb_index(c, f'as[{c}]', v)}] = tpg;", f"tn[{c}]++;")
        if self.s.tlb_size >= self.tlb_slots:
            return  # it cannot overfill
        base, new = c * self.tlb_slots, f"as[{c}] * {self.nv} + {v}"
        w("if", f":: tn[{c}] > {self.s.tlb_size} ->")
        w("   tj = 0;",
          "   do",
          f"   :: tj < {self.tlb_slots} && (tl[{base} + tj] == 0 || tj == {new}) -> tj++",
          "   :: else -> break",
          "   od;",
          f"   tl[{base} + tj] = 0; tn[{c}]--")
        w(":: else -> skip", "fi;")

    def step(self, kind: int, c: int, arg: int, guard: str, sub: int = 0) -> None:
        self.w(f":: d_step {{ {guard} ->")
        self.w.depth += 2
        self.w(BOUND_CHECK, f'printf("{STEP} {kind} {c} {arg} {sub}\\n");')

    def end_step(self) -> None:
        # The scratch values are locals (pan's breadth-first search refuses hidden globals):
        # zero at every step's end, they are the same in every state and split none.
        self.w("; ".join(f"{x} = 0" for x in SCRATCH))
        self.w.depth -= 2
        self.w("   }")

    def free(self, c: int) -> str:
        """CPU c has no update to finish (it does nothing else until it has)."""
        return f"po[{c}] == 0"

    def user(self, expr: str) -> str:
        """`expr` (a task + 1) is a user task."""
        return " && ".join([f"{expr} != 0"] + [f"{expr} != {k + 1}" for k in self.kthreads])

    # -- the steps ------------------------------------------------------------------------
    def switch(self, c: int, n: int) -> None:
        s, w = self.s, self.w
        if n < 0:
            self.step(SWITCH, c, n, f"{self.free(c)} && cur[{c}] != 0")
        else:
            waiting = " && ".join(f"cur[{x}] != {n + 1}" for x in range(self.nc))
            self.step(SWITCH, c, n, f"{self.free(c)} && {waiting}")
        w(f"cur[{c}] = {n + 1};")
        if n >= 0 and s.layout.user[n]:
            m = s.layout.task_mm[n]
            self.switch_mm(c, m)
            if s.layout.design != PER_MM and s.layout.mm_slots[m]:
                if s.hardware:
                    # The switch points the UKVA entry at the new task's (or CPU's) page.
                    page = n if s.layout.design == PER_TASK else c
                    w(f"pt[{s.layout.table(m, c) * self.nv}] = {page + 1};")
                if s.switch_flush:  # tlb.switch_flushes_ukva_entry
                    w("if :: !tfull ->")
                    w.depth += 1
                    self.flush_page(c, f"as[{c}]", 0)
                    w.depth -= 1
                    w(":: else -> skip", "fi;")
        self.end_step()

    def switch_mm(self, c: int, m: int) -> None:
        """tlb.switch_mm: sets `full` when it flushed a whole ASID."""
        s, w, na = self.s, self.w, self.na
        mm = m + 1
        here = f"{c * na} + as[{c}]"
        w("tfull = 0;", "if", f":: ld[{c}] == {mm} ->")
        w.depth += 1
        w(f"if :: cg[{here}] < mg[{m}] ->")
        w.depth += 1
        w(f"cx[{here}] = {mm}; cg[{here}] = mg[{m}]; tfull = 1;")
        self.flush_asid(c, f"as[{c}]")
        w.depth -= 1
        w(":: else -> skip", "fi")
        w.depth -= 1
        w(":: else ->")
        w.depth += 1
        w(f"ld[{c}] = {mm};")
        if na == 1:
            w(f"as[{c}] = 0; rr[{c}] = 0; cx[{c * na}] = {mm}; cg[{c * na}] = mg[{m}]; tfull = 1;")
            self.flush_asid(c, "0")
        else:
            # The first ASID slot that holds the MM; else a new one (round-robin, or MM m's own).
            for i in range(na):
                w("if", f":: cx[{c * na + i}] == {mm} ->")
                w.depth += 1
                w(f"as[{c}] = {i};",
                  f"if :: cg[{c * na + i}] < mg[{m}] -> cg[{c * na + i}] = mg[{m}]; tfull = 1 :: else -> skip fi;")
                w("if :: tfull ->")
                self.flush_asid(c, str(i))
                w(":: else -> skip fi")
                w.depth -= 1
                w(":: else ->")
                w.depth += 1
            slot = str(m) if s.static_asids else f"rr[{c}]"
            w(f"as[{c}] = {slot}; cx[{c * na} + as[{c}]] = {mm}; cg[{c * na} + as[{c}]] = mg[{m}]; tfull = 1;")
            self.flush_asid(c, f"as[{c}]")
            if not s.static_asids:
                w(f"rr[{c}] = (rr[{c}] + 1) % {na};")
            w("skip")
            for _ in range(na):
                w.depth -= 1
                w("fi")
        w("skip")
        w.depth -= 1
        w("fi;")

    def read(self, c: int, t: int, v: int) -> None:
        s, w = self.s, self.w
        o, p, key = s.layout.read_info[t][v]
        self.step(READ, c, v, f"{self.free(c)} && cur[{c}] == {t + 1}")
        if o is not None:
            if s.layout.design == PER_MM:
                want = f"{o * s.layout.stride + 1} + ver[{o}]"
            else:
                want = str((t if s.layout.design == PER_TASK else c) + 1)
            w(f"tpg = tl[{self.tlb_index(c, f'as[{c}]', v)}];")
            w("if", ":: tpg == 0 ->")
            w.depth += 1
            if s.hardware or s.layout.design == PER_MM:
                w(f"tpg = pt[{s.layout.table(s.layout.task_mm[t], c) * self.nv + v}];")
            else:
                w(f"tpg = {want};")
            self.fill(c, v)
            w.depth -= 1
            w(":: else -> skip", "fi;")
            w(f"assert(tpg == {want});")
        if p >= 0:
            line = f"{p * KEYS + key + 1}"
            w(f"if :: lv[{line}] == 0 -> lv[{line}] = cm[{p}] + 1; dt[{line}] = 0 :: else -> skip fi;")
            w(f"assert(lv[{line}] == ct[{p}] + 1);")
        self.end_step()

    def update(self, c: int, t: int, o: int) -> None:
        s, w = self.s, self.w
        guard = [self.free(c), f"cur[{c}] == {t + 1}", f"ver[{o}] < {self.limit}"]
        if s.safe:  # under the lock, an object being updated cannot be updated again until done
            guard += [f"po[{x}] != {o + 1}" for x in range(self.nc) if x != c]
        self.step(UPDATE, c, o, " && ".join(guard))
        m = s.layout.task_mm[t]
        if not s.layout.obj_maps[o]:
            w(f"ver[{o}]++;")  # no slot maps it: only the data changes
        else:
            vpage = next((v for mm, v in s.layout.obj_maps[o] if mm == m), -1)
            if vpage >= 0:
                w(f"tbase = pt[{s.layout.table(m, c) * self.nv + vpage}] - {o * s.layout.stride + 1};")
            else:
                w(f"tbase = ver[{o}];")
            if s.safe:
                self.install(c, o, 0)
            else:
                w(f"po[{c}] = {o + 1}; pb[{c}] = tbase; pk[{c}] = 0;")
        self.end_step()

    def finish(self, c: int, o: int, k: int) -> None:
        self.step(FINISH, c, o, f"po[{c}] == {o + 1} && pk[{c}] == {k}", k)
        self.w(f"tbase = pb[{c}];")
        self.install(c, o, k)
        self.end_step()

    def install(self, c: int, o: int, k: int) -> None:
        """Model._install of version base + 1 of `o` into its k-th MM."""
        s, w = self.s, self.w
        m, vpage = s.layout.obj_maps[o][k]
        first = o * s.layout.stride + 1  # page + 1 of version 0
        w(f"tlost = (pt[{s.layout.table(m, c) * self.nv + vpage}] != {first} + tbase);")
        w(f"if :: ver[{o}] < tbase + 1 -> ver[{o}] = tbase + 1 :: else -> skip fi;")
        if k + 1 < len(s.layout.obj_maps[o]):
            w(f"po[{c}] = {o + 1}; pb[{c}] = tbase; pk[{c}] = {k + 1};")
        else:
            w(f"po[{c}] = 0; pb[{c}] = 0; pk[{c}] = 0;")
        for t in range(s.layout.table(m, 0), s.layout.table(m, 0) + s.layout.copies):
            w(f"pt[{t * self.nv + vpage}] = {first + 1} + tbase;")
        if s.safe:
            w(f"mg[{m}]++;")
        for x in range(self.nc):
            if x != c and not s.safe:
                continue  # no shootdown
            cond = [f"ld[{x}] == {m + 1}"]
            if x != c:
                cond.append(self.user(f"cur[{x}]"))  # lazy CPUs are skipped: they catch up at switch_mm
            w(f"if :: {' && '.join(cond)} ->")
            w.depth += 1
            if s.safe:
                w(f"cx[{x * self.na} + as[{x}]] = {m + 1}; cg[{x * self.na} + as[{x}]] = mg[{m}];")
            self.flush_page(x, f"as[{x}]", vpage)
            w("skip")
            w.depth -= 1
            w(":: else -> skip", "fi;")
        w("assert(!tlost);")

    def write(self, c: int, t: int, p: int) -> None:
        s, w = self.s, self.w
        self.step(WRITE, c, p, f"{self.free(c)} && cur[{c}] == {t + 1} && ct[{p}] < {self.limit}")
        line = p * KEYS + s.layout.cache_key(p, s.layout.task_mm[t]) + 1
        w(f"ct[{p}]++; lv[{line}] = ct[{p}] + 1; dt[{line}] = 1;")
        self.end_step()

    def evict(self, p: int, key: int) -> None:
        line = p * KEYS + key + 1
        self.step(EVICT, -1, p, f"lv[{line}] != 0", key)
        self.w(f"if :: dt[{line}] -> cm[{p}] = lv[{line}] - 1 :: else -> skip fi;",
               f"lv[{line}] = 0; dt[{line}] = 0;")
        self.end_step()

    # -- the whole model ------------------------------------------------------------------
    def promela(self) -> Promela:
        s, w = self.s, self.w
        w(f"/* Exported by ukva_widgets.engine.promela from {s.opts.text()}: the plain transition",
          "   system of model.Model, one d_step per choice; see that module's docstring. */")
        self.declarations()
        w("", "active proctype machine() {")
        w.depth += 1
        w(f"{self.page_t} tpg;", f"byte {', '.join(SCRATCH[1:])};")
        self.initial()
        w("end:", "do")
        for c in range(self.nc):
            for n in list(range(self.nt)) + [-1]:
                self.switch(c, n)
            for t in range(self.nt):
                if not s.layout.user[t]:
                    continue
                for v in s.layout.read_pages[t]:
                    self.read(c, t, v)
                if s.layout.design == PER_MM:
                    for o in s.layout.update_objects[t]:
                        self.update(c, t, o)
                for p in s.layout.task_writes[t]:
                    self.write(c, t, p)
            for o in range(self.no):
                # SMP-safe updates map the first MM in the UPDATE step itself.
                for k in range(1 if s.safe else 0, len(s.layout.obj_maps[o])):
                    self.finish(c, o, k)
        for p in range(self.np):
            for key in range(-1, COLOURS):
                self.evict(p, key)
        w("od")
        w.depth -= 1
        w("}")
        return Promela(w.text(), sum(self.sizes) + 16)
