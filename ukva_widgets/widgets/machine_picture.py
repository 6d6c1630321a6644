"""The SMP machine drawn as one picture that keeps its shape while the reader steps: per CPU its
running task, its loaded MM (CR3) and its TLB, one fixed row per UKVA page; the physical pages, one
fixed row per slot with its versions side by side (v0 v1), never reordered; and the page tables,
each entry labelled with its slot and drawn in the row of the pages it maps, so that arrows are
straight.  Two layouts: CPUs left of the pages (wide), or above them (narrow, below 600 px), so
no text is ever drawn below 11 px.

Marked: a stale TLB entry (dashed, "stale"), the entry a bad read went through ("✗ read"), the page
it read ("got") and the page it should have read ("expected"), and everything the last step
changed (class "ukva-changed": outlined, pulsed once, with a chip saying what changed).

Only engine facts are drawn (read through machine_state): the TLBs and page tables, the versions,
Machine.stale_entries(), the violation, the last step's effects and the machine's labels.
CSS classes for tests: "ukva-cpu", "ukva-tlb-entry", "ukva-stale", "ukva-bad-read", "ukva-flushed",
"ukva-pte", "ukva-page", "ukva-got", "ukva-expected", "ukva-changed", "ukva-arrow", "ukva-stale-arrow".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..engine import Machine
from . import draw as d
from . import machine_state as ms
from .palette import BAD_COLOUR, CHANGE_FILL, CHANGE_OUTLINE, CPU_COLOUR, MM_COLOUR, OK_COLOUR

ROW, ENTRY_H = 26, 22          # a TLB row, and the entry drawn in it
SLOT_ROW = 44                  # a slot's row: its page-table entry (two lines) and its pages
PTE_H, PAGE_TOP = 36, 11       # the entry's box, and where a lone page's box starts in the row
VERSION_W, VERSION_H = 84, 19  # a slot object's versions, one above the other at the row's right end
HEAD = 40                      # a CPU's title lines
TABLE_HEAD = 54                # a page table's: its MM, its tlb_gen, its cpumask
CPU_W, PAGE_W, PTE_W = 176, 166, 156
NARROW_CPU_W = 172             # two side by side in the narrowest output area (356 px)
TITLE = 18                     # the columns' titles
STALE_FILL = "rgba(213,94,0,0.18)"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def toward(self, x: float, y: float) -> tuple[float, float]:
        """Where the line from this box's centre toward (x, y) leaves the box."""
        cx, cy = self.x + self.w / 2, self.y + self.h / 2
        dx, dy = x - cx, y - cy
        if dx == dy == 0:
            return cx, cy
        scale = min(self.w / 2 / abs(dx) if dx else math.inf, self.h / 2 / abs(dy) if dy else math.inf)
        return cx + dx * scale, cy + dy * scale


def link(a: Box, b: Box, **style) -> str:
    """A straight arrow from box `a` to box `b`, from border to border."""
    bx, by = b.x + b.w / 2, b.y + b.h / 2
    x1, y1 = a.toward(bx, by)
    x2, y2 = b.toward(*a.toward(bx, by))
    return d.arrow(x1, y1, x2, y2, **style)


class Facts:
    """What one drawing of the machine needs, read once for both layouts."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.cpus = ms.cpus(m)
        self.tables = ms.tables(m)
        self.groups = ms.page_groups(m)
        self.stale = {(e.cpu, e.asid, e.vpage): e for e in m.stale_entries()}
        self.copying = {page: c for c, page in ms.copying(m).items()}
        self.rows = ms.tlb_rows(m)
        self.n_asids = m.n_asids
        v = m.violation
        self.violation = v
        self.got = self.expected = None
        if v is not None and v.kind not in ("stale-alias",):
            self.got, self.expected = ms.page_of(m, v.got), ms.page_of(m, v.expected)
        e = m.last_effects()
        self.filled = {(c, a, vp) for c, a, vp, _p in e.filled} if e else set()
        self.flushed = [(c, a, vp, p) for c, a, vp, p in e.flushed] if e else []
        self.rewritten = {(mm, vp): (old, new) for mm, vp, old, new in e.ptes} if e else {}
        self.cr3 = set(e.cr3) if e else set()
        self.ipi_to = {dst for _src, dst in e.ipis} if e else set()
        self.vpages = max((len(t.pages) for t in self.tables), default=1)
        # A slot's row holds its entry and its object's versions stacked: one height for the machine's life.
        versions = max(len(g.pages) for g in self.groups)
        self.slot_row = max(SLOT_ROW, versions * (VERSION_H + 2) + 4)

    def rows_of(self, pages: dict[int, Box]) -> set[float]:
        """The tops of the slot rows that hold the placed pages."""
        out = set()
        for group in self.groups:
            if group.pages[0] in pages:
                box = pages[group.pages[0]]
                out.add(box.y - PAGE_TOP if len(group.pages) == 1 else
                        box.y - (self.slot_row - len(group.pages) * (VERSION_H + 2) + 2) / 2)
        return out

    def tlb_layout(self, c: int) -> list[tuple[int, ms.TlbEntry | None, tuple | None]]:
        """The rows of cpu `c`'s TLB: (row, entry or None, flushed ghost or None).  Without PCID an
        entry sits in the row of its UKVA page, so it never moves; with PCID in (page, ASID) order."""
        entries = sorted(self.cpus[c].tlb, key=lambda e: (e.vpage, e.asid))
        ghosts = [(a, vp, p) for cc, a, vp, p in self.flushed if cc == c]
        if self.n_asids == 1 and self.vpages <= self.rows:
            held = {e.vpage: e for e in entries}
            gone = {vp: (a, vp, p) for a, vp, p in ghosts if vp not in held}
            return [(r, held.get(r), gone.get(r)) for r in range(self.rows)]
        rows = [(r, e, None) for r, e in enumerate(entries)]
        rows += [(len(rows) + i, None, g) for i, g in enumerate(ghosts[: max(self.rows - len(rows), 0)])]
        return rows + [(r, None, None) for r in range(len(rows), self.rows)]


def machine_svg(m: Machine) -> str:
    """The picture in both layouts (the stylesheet shows the one that fits its box)."""
    facts = Facts(m)
    return d.two_layouts(_draw(facts, narrow=False), _draw(facts, narrow=True))


def _draw(f: Facts, narrow: bool) -> str:
    cpu_h = HEAD + f.rows * ROW + 6
    if narrow:
        per_row, w = (2, NARROW_CPU_W) if len(f.cpus) > 1 else (1, CPU_W)
        cpu_boxes = [Box((c % per_row) * (w + 8), (c // per_row) * (cpu_h + 8), w, cpu_h) for c in range(len(f.cpus))]
        top = math.ceil(len(f.cpus) / per_row) * (cpu_h + 8) + 8
        page_x, pte_x = 0, PAGE_W + 24
        width = max(per_row * (w + 8) - 8, pte_x + PTE_W)
    else:
        cpu_boxes = [Box(0, TITLE + c * (cpu_h + 10), CPU_W, cpu_h) for c in range(len(f.cpus))]
        top = 0
        page_x, pte_x = CPU_W + 44, CPU_W + 44 + PAGE_W + 34
        width = pte_x + PTE_W
    pages, ptes, table_boxes, bottom = _slot_rows(f, page_x, pte_x, top + TITLE)
    height = max(bottom, cpu_boxes[-1].y + cpu_boxes[-1].h) + 4
    arrows: list[str] = []
    boxes: list[str] = [d.label(page_x, top + 13, "physical pages", colour=d.MUTED),
                        d.label(pte_x, top + 13, "page tables", colour=d.MUTED)]
    if not narrow:
        boxes.append(d.label(0, 13, "CPUs", colour=d.MUTED))
    boxes += table_boxes
    for (row, vpage), (box, page) in ptes.items():
        if page in pages:
            arrows.append(link(box, pages[page], colour=d.MUTED, cls="ukva-arrow"))
        boxes.append(_pte(f, f.tables[row], vpage, box, page))
    for c, box in enumerate(cpu_boxes):
        boxes.append(_cpu(f, c, box, pages, arrows))
    arrows += _read_arrows(f, cpu_boxes, pages)
    for group in f.groups:
        for page in group.pages:
            if page in pages:
                boxes.append(_page(f, group, page, pages[page]))
    what = ("CPUs with their TLB entries, the physical pages and the page tables; arrows show what "
            "each TLB entry and page-table entry maps")
    return d.svg(width, height, *arrows, *boxes, label=what, cls="ukva-machine-svg")


def _slot_rows(f: Facts, page_x: float, pte_x: float, top: float) -> tuple[dict, dict, list[str], float]:
    """Place the page tables (a title, then a row per slot) and the pages (a row per slot object,
    in the row of the first entry that holds its slot; pages no slot holds follow)."""
    m = f.m
    pages: dict[int, Box] = {}
    ptes: dict[tuple[int, int], tuple[Box, int]] = {}
    tables: list[str] = []
    group_of = {page: g for g in f.groups for page in g.pages}
    placed: set[str] = set()
    y = top
    first_row = None
    for t in f.tables:
        entries = t.used
        height = TABLE_HEAD + len(entries) * f.slot_row + 2
        whose = f" (cpu{t.copy_of}'s copy)" if t.copy_of >= 0 else ""
        mask = ",".join(f"cpu{c}" for c in m.cpumask(t.mm)) or "none"
        tables.append(d.group(
            d.rect(pte_x, y, PTE_W, height, fill=d.BG2, stroke=MM_COLOUR, width=2, rx=6),
            d.label(pte_x + 8, y + 16, d.fit(f"{m.mm_label(t.mm)} page table{whose}", PTE_W - 16), weight=600),
            d.label(pte_x + 8, y + 32, f"tlb_gen {m.tlb_gen(t.mm)}", size=d.MIN_FONT, colour=d.MUTED),
            d.label(pte_x + 8, y + 46, d.fit(f"cpumask {mask}", PTE_W - 16, d.MIN_FONT), size=d.MIN_FONT,
                    colour=d.MUTED),
            cls="ukva-mm"))
        for i, v in enumerate(entries):
            row_y = y + TABLE_HEAD + i * f.slot_row
            first_row = row_y if first_row is None else first_row
            ptes[(t.row, v)] = (Box(pte_x + 8, row_y + (f.slot_row - PTE_H) / 2, PTE_W - 16, PTE_H), t.pages[v])
            group = group_of.get(t.pages[v])
            if group is not None and group.name not in placed and m.options.design == "per-mm":
                placed.add(group.name)
                _place(group, page_x, row_y, f.slot_row, pages)
        y += height + 10
    row_y = first_row if first_row is not None else top
    taken = {round(row) for row in f.rows_of(pages)}
    for group in f.groups:
        if group.name in placed:
            continue
        while round(row_y) in taken:
            row_y += f.slot_row
        _place(group, page_x, row_y, f.slot_row, pages)
        taken.add(round(row_y))
        row_y += f.slot_row
    bottom = max([y] + [row + f.slot_row + 8 for row in f.rows_of(pages)])
    return pages, ptes, tables, bottom


def _place(group: ms.PageGroup, x: float, y: float, row: float, pages: dict[int, Box]) -> None:
    """A lone page: one box across the column; an object's versions: one above the other after its
    name (so an arrow reaches any of them without crossing another)."""
    if len(group.pages) == 1:
        pages[group.pages[0]] = Box(x, y + PAGE_TOP, PAGE_W, ENTRY_H)
        return
    top = y + (row - len(group.pages) * (VERSION_H + 2) + 2) / 2
    for i, page in enumerate(group.pages):
        pages[page] = Box(x + PAGE_W - VERSION_W, top + i * (VERSION_H + 2), VERSION_W, VERSION_H)


def _cpu(f: Facts, c: int, box: Box, pages: dict[int, Box], arrows: list[str]) -> str:
    m, cpu = f.m, f.cpus[c]
    v = f.violation
    bad_cpu = v is not None and v.cpu == c
    who = "idle" if cpu.running < 0 else _task_name(m, cpu.running)
    loaded = f"CR3 {m.mm_label(cpu.loaded)}" if cpu.loaded >= 0 else "no MM loaded"
    changed = c in f.cr3 or c in f.ipi_to
    parts = [d.rect(box.x, box.y, box.w, box.h, fill=d.BG2, stroke=BAD_COLOUR if bad_cpu else CPU_COLOUR,
                    width=3 if bad_cpu else 2, rx=6),
             d.label(box.x + 8, box.y + 16, d.fit(f"cpu{c}: {who}", box.w - 16), weight=600),
             d.label(box.x + 8, box.y + 32, d.fit(f"{loaded}{' (lazy)' if cpu.lazy else ''} · TLB", box.w - 16),
                     size=d.MIN_FONT, colour=d.MUTED)]
    if c in f.ipi_to:
        parts.append(d.chip_svg(box.x + box.w - 6, box.y + 4, "IPI", fill=CHANGE_FILL, anchor="end"))
    elif c in f.cr3:
        parts.append(d.chip_svg(box.x + box.w - 6, box.y + 4, "CR3", fill=CHANGE_FILL, anchor="end"))
    for row, entry, ghost in f.tlb_layout(c):
        slot = Box(box.x + 8, box.y + HEAD + row * ROW, box.w - 16, ENTRY_H)
        if entry is not None:
            parts.append(_tlb_entry(f, c, entry, slot, pages, arrows))
        elif ghost is not None:
            a, vp, _p = ghost
            words = (f"asid{a} " if f.n_asids > 1 else "") + f"{ms.address(vp):#010x}"
            parts.append(d.group(d.rect(slot.x, slot.y, slot.w, slot.h, fill="none", stroke=d.FAINT, dash="4,3"),
                                 d.label(slot.x + 6, slot.y + 15, words, mono=True, colour=d.MUTED, strike=True),
                                 d.chip_svg(slot.x + slot.w - 3, slot.y + 3, "flushed", fill=CHANGE_FILL, anchor="end"),
                                 cls="ukva-flushed ukva-changed", title=f"flushed from cpu{c}'s TLB by the last step"))
        elif row == 0 and not cpu.tlb:
            parts.append(d.label(slot.x + 6, slot.y + 15, "TLB empty", colour=d.MUTED))
    classes = f"ukva-cpu ukva-cpu{c}" + (" ukva-changed" if changed else "")
    return d.group(*parts, cls=classes)


def _read_arrows(f: Facts, cpu_boxes: list[Box], pages: dict[int, Box]) -> list[str]:
    """At a violation, from the CPU: a dashed green arrow to the page it should have read (or, for a
    lost update, the version its copy came from), and a red one to the page it got where no TLB
    entry of its already points there."""
    v = f.violation
    if v is None or v.cpu < 0:
        return []
    box, out = cpu_boxes[v.cpu], []
    title = Box(box.x, box.y, box.w, 22)  # from the CPU's name, clear of its TLB entries' arrows
    if f.expected in pages:
        out.append(link(title, pages[f.expected], colour=OK_COLOUR, width=2, dash="6,4",
                        cls="ukva-arrow ukva-expected-arrow"))
    through_entry = any(e.vpage == v.vpage for e in f.cpus[v.cpu].tlb) and v.source in ("tlb", "walk", "refill")
    if f.got in pages and not through_entry:
        out.append(link(box, pages[f.got], colour=BAD_COLOUR, width=2.5, cls="ukva-arrow ukva-got-arrow"))
    return out


def _tlb_entry(f: Facts, c: int, e: ms.TlbEntry, slot: Box, pages: dict[int, Box], arrows: list[str]) -> str:
    v = f.violation
    stale = f.stale.get((c, e.asid, e.vpage))
    bad = v is not None and v.cpu == c and e.vpage == v.vpage and v.source in ("tlb", "walk", "refill")
    new = (c, e.asid, e.vpage) in f.filled
    words = (f"asid{e.asid} " if f.n_asids > 1 else "") + f"{ms.address(e.vpage):#010x}"
    classes = ("ukva-tlb-entry" + (" ukva-stale" if stale else "") + (" ukva-bad-read" if bad else "")
               + (" ukva-changed" if new else ""))
    wrong = stale is not None or bad
    if e.page in pages:
        arrows.append(link(slot, pages[e.page], colour=BAD_COLOUR if wrong else d.MUTED, width=2.5 if wrong else 1.5,
                           dash="6,3" if stale is not None and not bad else None,
                           cls="ukva-arrow" + (" ukva-stale-arrow" if wrong else "")))
    parts = [d.rect(slot.x, slot.y, slot.w, slot.h, fill=STALE_FILL if stale else d.BG1,
                    stroke=BAD_COLOUR if wrong else CHANGE_OUTLINE if new else MM_COLOUR,
                    width=3 if bad or new else 1.5,
                    dash="5,3" if stale is not None and not bad else None),
             d.label(slot.x + 6, slot.y + 15, ("✗ " if bad else "") + words, mono=True)]
    mark = "read" if bad else "stale" if stale else "new" if new else None
    if mark:
        fill = CHANGE_FILL if mark == "new" else BAD_COLOUR
        parts.append(d.chip_svg(slot.x + slot.w - 3, slot.y + 3, mark, fill=fill, anchor="end",
                                colour="#000" if mark == "new" else "#fff"))
    title = (f"cpu{c}'s TLB: {words} -> {f.m.page_label(e.page)}"
             + (f"; {stale.text}" if stale else "") + ("; the bad read went through it" if bad else ""))
    return d.group(*parts, cls=classes, title=title)


def _pte(f: Facts, t: ms.Table, vpage: int, box: Box, page: int) -> str:
    m = f.m
    obj = t.slots[vpage]
    slot = f"slot {m.object_label(obj)}" if obj is not None else "UKVA page"
    change = f.rewritten.get((t.mm, vpage))
    words = f"{ms.address(vpage):#010x}"
    parts = [d.rect(box.x, box.y, box.w, box.h, stroke=CHANGE_OUTLINE if change else MM_COLOUR,
                    width=3 if change else 1.5),
             d.label(box.x + 6, box.y + 15, d.fit(slot, box.w - 12), weight=600),
             d.label(box.x + 6, box.y + 30, words, mono=True, size=d.MIN_FONT)]
    if change is not None:  # right of the address: the version it maps now, or just "new"
        label = m.page_label(change[1])
        words = f"now {label.rsplit(' ', 1)[1]}" if m.options.design == "per-mm" else "new"
        parts.append(d.chip_svg(box.x + box.w - 3, box.y + 20, words, fill=CHANGE_FILL, anchor="end"))
    title = f"{m.mm_label(t.mm)}'s entry for {words} ({slot}) maps {m.page_label(page)}"
    return d.group(*parts, cls="ukva-pte" + (" ukva-changed" if change else ""), title=title)


def _page(f: Facts, group: ms.PageGroup, page: int, box: Box) -> str:
    m = f.m
    exists = ms.written(m, page)
    got, expected = page == f.got, page == f.expected
    copy = f.copying.get(page)
    new = any(new_page == page for _old, new_page in f.rewritten.values())
    stroke = (BAD_COLOUR if got else OK_COLOUR if expected else CHANGE_OUTLINE if new else d.MUTED if exists
              else d.FAINT)
    parts = [d.rect(box.x, box.y, box.w, box.h, fill=d.BG1, stroke=stroke, width=3 if got or expected or new else 1.5,
                    dash=None if exists and not expected else "4,3")]
    v = f.violation
    mark = None
    if got:
        mark = ("lost" if v.kind == "lost-update" else "got", BAD_COLOUR, "#fff")
    elif expected:
        mark = ("copied" if v.kind == "lost-update" else "expected", OK_COLOUR, "#fff")
    elif copy is not None:
        mark = (f"cpu{copy} copy", CHANGE_FILL, "#000")
    if len(group.pages) == 1:
        parts.append(d.label(box.x + box.w / 2, box.y + 15, d.fit(_page_name(m, page), box.w - 8), anchor="middle"))
        if mark:  # under the page, in the row's room below it
            parts.append(d.chip_svg(box.x + box.w, box.y + ENTRY_H + 1, mark[0], fill=mark[1], colour=mark[2],
                                    anchor="end"))
    else:
        version = m.page_label(page).rsplit(" ", 1)[-1]
        parts.append(d.label(box.x + 5, box.y + 14, version, size=d.MIN_FONT, colour=d.FG if exists else d.MUTED))
        if mark:  # inside the version's box, right of its number
            parts.append(d.chip_svg(box.x + box.w - 2, box.y + 2, mark[0], fill=mark[1], colour=mark[2], anchor="end"))
        if page == group.pages[0]:  # the object's name, left of its versions, half way down the row
            middle = box.y + (len(group.pages) * (VERSION_H + 2) - 2) / 2
            parts.append(d.label(box.x - 6, middle + 4, d.fit(group.name, PAGE_W - VERSION_W - 8), anchor="end",
                                 weight=600))
    classes = ("ukva-page" + (" ukva-got" if got else "") + (" ukva-expected" if expected else "")
               + (" ukva-changed" if new else ""))
    title = m.page_label(page) + ("" if exists else " (not written yet)")
    return d.group(*parts, cls=classes, title=title)


def _task_name(m: Machine, i: int) -> str:
    """'sh (pid 2)': the task's name as the chapter gave it, its pid beside it."""
    t = m.tasks[i]
    return f"{t.comm} (pid {t.pid})"


def _page_name(m: Machine, page: int) -> str:
    """A per-task or per-CPU page by its owner: "sh (2)'s page", "cpu1's page"."""
    if m.options.design == "per-task":
        t = m.tasks[page]
        return f"{t.comm} ({t.pid})'s page"
    return m.page_label(page)


def stale_words(entry) -> str:
    """"stale: page table says v1": the engine's words, the object left out when the page is its newer version."""
    old, new = entry.cached_label, entry.current_label
    if " v" in new and old.rsplit(" v", 1)[0] == new.rsplit(" v", 1)[0]:
        return f"stale: page table says {new.rsplit(' ', 1)[1]}"
    return entry.text
