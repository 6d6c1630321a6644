"""The SMP machine drawn as one SVG picture: per CPU its running task, its loaded MM (CR3) and its TLB
entries; per MM its page table's UKVA entries; in the middle the physical pages, with an arrow from
every translation to the page it points at. Stale TLB entries and the entry a bad read went through
are marked by colour and by words (class "ukva-stale", "ukva-bad-read").

Only engine facts are drawn: the state's TLBs and page tables, `Machine.stale_entries()`, the
machine's violation and its labels (task_label, mm_label, page_label).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import Machine, slot_address
from .base import BAD_COLOUR, KIND_COLOUR, esc

# Geometry, in SVG user units (the picture scales with its box; see WIDTH).
WIDTH = 540
CPU_X, CPU_W = 0, 180
PAGE_X, PAGE_W = 215, 140
MM_X, MM_W = 390, 150
ENTRY_H, ENTRY_GAP, HEAD_H, BLOCK_GAP, STALE_NOTE_H = 22, 4, 40, 14, 16
FONT = "font-family:var(--jp-ui-font-family);font-size:12px"
TEXT = f"fill:var(--jp-ui-font-color1);{FONT}"
MUTED = f"fill:var(--jp-ui-font-color2);{FONT}"
STALE_FILL = "rgba(213,94,0,0.18)"
CPU_COLOUR = KIND_COLOUR["task"]
MM_COLOUR = KIND_COLOUR["mm"]


@dataclass
class _Entry:
    x: float
    y: float
    w: float
    page: int
    key: tuple          # (cpu, asid, vpage) for a TLB entry, (mm, vpage) for a page-table entry


def stale_map(machine: Machine) -> dict[tuple[int, int, int], object]:
    """(cpu, asid, vpage) -> the engine's StaleEntry for every stale TLB entry (Machine.stale_entries())."""
    return {(e.cpu, e.asid, e.vpage): e for e in machine.stale_entries()}


def stale_words(entry) -> str:
    """"stale: page table says v1": the engine's words, the object left out when the page is its newer version."""
    old, new = entry.cached_label, entry.current_label
    if " v" in new and old.rsplit(" v", 1)[0] == new.rsplit(" v", 1)[0]:
        return f"stale: page table says {new.rsplit(' ', 1)[1]}"
    return entry.text


def machine_svg(machine: Machine) -> str:
    """The picture as an inline SVG string, themed with JupyterLab's CSS variables."""
    m, s = machine, machine.layout
    cpus, ptes, mm_gen, _, _ = m.state
    stale = stale_map(m)
    v = m.violation
    parts: list[str] = []
    tlb_entries: list[_Entry] = []
    pte_entries: list[_Entry] = []

    # Room in each CPU for as many entries as its TLB can ever hold here, so stepping does not resize it.
    most = min(m.tlb_size, max(len(row) for row in ptes) * m.n_asids)
    y = 0.0
    for c, (cur, loaded, _asid, _rr, _asids, tlb) in enumerate(cpus):
        lazy = loaded >= 0 and (cur < 0 or not s.user[cur])
        bad_cpu = v is not None and v.cpu == c
        rows = max(len(tlb), most, 1)
        notes = sum((c, a, vp) in stale for a, vp, _p in tlb)
        height = HEAD_H + rows * (ENTRY_H + ENTRY_GAP) + notes * STALE_NOTE_H + 6
        parts.append(f'<g class="ukva-cpu ukva-cpu{c}"><rect x="{CPU_X}" y="{y}" width="{CPU_W}" height="{height}" '
                     f'rx="6" style="fill:var(--jp-layout-color2);stroke:{BAD_COLOUR if bad_cpu else CPU_COLOUR};'
                     f'stroke-width:{3 if bad_cpu else 2}"/>'
                     f'<text x="{CPU_X + 8}" y="{y + 16}" style="{TEXT};font-weight:600">cpu{c}: '
                     f"{esc(_short_task(m, cur))}</text>"
                     f'<text x="{CPU_X + 8}" y="{y + 32}" style="{MUTED}">'
                     f"{'CR3: ' + esc(m.mm_label(loaded)) if loaded >= 0 else 'no MM loaded'}"
                     f"{' (lazy TLB)' if lazy else ''} · TLB</text></g>")
        ey = y + HEAD_H
        if not tlb:
            parts.append(f'<text x="{CPU_X + 14}" y="{ey + 15}" style="{MUTED}">TLB empty</text>')
        for a, vpage, page in tlb:
            label = (f"asid{a} " if m.n_asids > 1 else "") + f"{slot_address(vpage):#010x}"
            current = stale.get((c, a, vpage))
            bad = bad_cpu and slot_address(vpage) == v.address
            entry = _Entry(CPU_X + 8, ey, CPU_W - 16, page, (c, a, vpage))
            tlb_entries.append(entry)
            classes = "ukva-tlb-entry" + (" ukva-stale" if current is not None else "") + (" ukva-bad-read" if bad else "")
            stroke = BAD_COLOUR if (current is not None or bad) else MM_COLOUR
            fill = STALE_FILL if current is not None else "var(--jp-layout-color1)"
            dash = ";stroke-dasharray:5,3" if current is not None and not bad else ""
            mark = "✗ " if bad else ""
            parts.append(f'<g class="{classes}"><rect x="{entry.x}" y="{ey}" width="{entry.w}" height="{ENTRY_H}" rx="3" '
                         f'style="fill:{fill};stroke:{stroke};stroke-width:{3 if bad else 1.5}{dash}"/>'
                         f'<text x="{entry.x + 6}" y="{ey + 15}" style="{TEXT};font-family:var(--jp-code-font-family)">'
                         f"{mark}{esc(label)}</text>")
            if bad:
                parts.append(f'<text x="{entry.x + entry.w - 4}" y="{ey + 15}" text-anchor="end" '
                             f'style="{TEXT};fill:{BAD_COLOUR};font-weight:600">bad read</text>')
            ey += ENTRY_H + ENTRY_GAP
            if current is not None:
                parts.append(f'<text x="{entry.x + 4}" y="{ey + 8}" style="{TEXT};fill:{BAD_COLOUR};font-size:11px">'
                             f"{esc(stale_words(current))}</text>")
                ey += STALE_NOTE_H
            parts.append("</g>")
        y += height + BLOCK_GAP
    left_height = y

    y = 0.0
    # A table per MM (per MM and CPU under per-CPU page tables: Setup.table says which row is whose).
    copies = len(ptes) // max(len(s.mms), 1)
    for i, row in enumerate(ptes):
        mm = i // copies
        whose = f" (cpu{i % copies}'s)" if copies > 1 else ""
        mask = ",".join(f"cpu{c}" for c, cpu in enumerate(cpus) if cpu[1] == mm) or "none"
        height = HEAD_H + 16 + len(row) * (ENTRY_H + ENTRY_GAP) + 6
        parts.append(f'<g class="ukva-mm"><rect x="{MM_X}" y="{y}" width="{MM_W}" height="{height}" rx="6" '
                     f'style="fill:var(--jp-layout-color2);stroke:{MM_COLOUR};stroke-width:2"/>'
                     f'<text x="{MM_X + 8}" y="{y + 16}" style="{TEXT};font-weight:600">{esc(m.mm_label(mm))} page table'
                     f"{esc(whose)}</text>"
                     f'<text x="{MM_X + 8}" y="{y + 32}" style="{MUTED}">tlb_gen {mm_gen[mm]}</text>'
                     f'<text x="{MM_X + 8}" y="{y + 48}" style="{MUTED}">cpumask {esc(mask)}</text></g>')
        ey = y + HEAD_H + 16
        for vpage, page in enumerate(row):
            entry = _Entry(MM_X + 8, ey, MM_W - 16, page, (i, vpage))
            pte_entries.append(entry)
            parts.append(f'<g class="ukva-pte"><rect x="{entry.x}" y="{ey}" width="{entry.w}" height="{ENTRY_H}" rx="3" '
                         f'style="fill:var(--jp-layout-color1);stroke:{MM_COLOUR};stroke-width:1.5"/>'
                         f'<text x="{entry.x + 6}" y="{ey + 15}" style="{TEXT};font-family:var(--jp-code-font-family)">'
                         f"{slot_address(vpage):#010x}</text></g>")
            ey += ENTRY_H + ENTRY_GAP
        y += height + BLOCK_GAP
    right_height = y

    # Physical pages, each near the mean height of the translations to it (fewer crossing arrows).
    refs: dict[int, list[float]] = {}
    for e in tlb_entries + pte_entries:
        if e.page >= 0:
            refs.setdefault(e.page, []).append(e.y)
    page_y: dict[int, float] = {}
    last = 20 - ENTRY_H - 10  # below the column's title
    for page in sorted(refs, key=lambda p: (sum(refs[p]) / len(refs[p]), p)):
        page_y[page] = max(sum(refs[page]) / len(refs[page]), last + ENTRY_H + 10)
        last = page_y[page]
    height = max(left_height, right_height, last + ENTRY_H + 4, 60)
    parts.append(f'<text x="{PAGE_X + PAGE_W / 2}" y="12" text-anchor="middle" style="{MUTED}">'
                 f"physical pages</text>")
    for page, py in page_y.items():
        parts.append(f'<g class="ukva-page"><rect x="{PAGE_X}" y="{py}" width="{PAGE_W}" height="{ENTRY_H}" rx="3" '
                     f'style="fill:var(--jp-layout-color1);stroke:var(--jp-ui-font-color2);stroke-width:1.5"/>'
                     f'<text x="{PAGE_X + PAGE_W / 2}" y="{py + 15}" text-anchor="middle" style="{TEXT}">'
                     f"{esc(m.page_label(page))}</text></g>")
    arrows = []
    for e in tlb_entries:
        if e.page in page_y:
            bad = e.key in stale
            arrows.append(_arrow(e.x + e.w, e.y + ENTRY_H / 2, PAGE_X, page_y[e.page] + ENTRY_H / 2, bad))
    for e in pte_entries:
        if e.page in page_y:
            arrows.append(_arrow(e.x, e.y + ENTRY_H / 2, PAGE_X + PAGE_W, page_y[e.page] + ENTRY_H / 2, False))
    defs = ('<defs><marker id="ukva-arrowhead" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" '
            'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'style="fill:var(--jp-ui-font-color2)"/></marker>'
            f'<marker id="ukva-arrowhead-bad" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" '
            f'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" style="fill:{BAD_COLOUR}"/>'
            "</marker></defs>")
    return (f'<svg class="ukva-machine-svg" viewBox="-2 -2 {WIDTH + 4} {height + 4}" width="100%" '
            f'style="max-width:{WIDTH + 4}px;min-width:420px;display:block" role="img" '
            f'aria-label="CPUs with their TLB entries, the MMs\' page tables and the physical pages they map">'
            f"{defs}{''.join(arrows)}{''.join(parts)}</svg>")


def _arrow(x1: float, y1: float, x2: float, y2: float, bad: bool) -> str:
    mid = (x1 + x2) / 2
    colour = BAD_COLOUR if bad else "var(--jp-ui-font-color2)"
    style = f"fill:none;stroke:{colour};stroke-width:{2 if bad else 1.2}" + (";stroke-dasharray:5,3" if bad else "")
    marker = "ukva-arrowhead-bad" if bad else "ukva-arrowhead"
    cls = "ukva-arrow" + (" ukva-stale-arrow" if bad else "")
    return (f'<path class="{cls}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" style="{style}" '
            f'marker-end="url(#{marker})"/>')


def _short_task(m: Machine, i: int) -> str:
    """'sh (pid 2)': the name the chapter uses first, the pid beside it."""
    if i < 0:
        return "idle"
    t = m.tasks[i]
    return f"{t.comm} (pid {t.pid})"
