"""The book's static pictures (chapters 00 and 04), drawn as SVG so a chapter shows a figure
with one call and none of the drawing code.

A `Figure` displays itself (IPython's `_ipython_display_`) as three copies of one picture: the SVG,
a markdown image of it (JupyterLab renders markdown in a notebook that is not trusted, SVG output
only in a trusted one) and a plain-text caption for static viewers and screen readers. Each
picture is a function named for what it shows; the small drawing helpers below are shared.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

ARROW_HEAD = ('<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
              'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/>'
              '</marker></defs>')
RED = "#a50f15"          # what costs something: a CR3 write, a flush
BLUE, ORANGE, GREEN, GREY = "#c6dbef", "#fdd0a2", "#e5f5e0", "#eeeeee"


@dataclass(frozen=True)
class Figure:
    """One picture: its SVG body (drawn on a white card of `width` x `height`) and its caption."""

    body: str
    width: int
    height: int
    caption: str

    def svg(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
                f'width="{self.width}" height="{self.height}" style="max-width:100%;height:auto">'
                f'{ARROW_HEAD}<rect width="100%" height="100%" fill="white"/>{self.body}</svg>')

    def bundle(self) -> dict[str, str]:
        """The output a notebook stores: SVG, a markdown image copy and a 'Figure: ' caption."""
        svg = self.svg()
        image = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        return {"image/svg+xml": svg, "text/markdown": f"![{self.caption}]({image})",
                "text/plain": f"Figure: {self.caption}"}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.bundle(), raw=True)


def box(x: float, y: float, w: float, h: float, text: str, colour: str = "#deebf7") -> str:
    """A rounded box with centred text; "\\n" in `text` starts a new line."""
    lines = text.split("\n")
    rect = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{colour}" stroke="#444"/>'
    return rect + "".join(
        f'<text x="{x + w / 2}" y="{y + h / 2 + 15 * (i - (len(lines) - 1) / 2) + 4}" '
        f'font-size="13" text-anchor="middle">{line}</text>' for i, line in enumerate(lines))


def arrow(x1: float, y1: float, x2: float, y2: float, label: str = "", dash: bool = False) -> str:
    """A straight arrow from (x1, y1) to (x2, y2), with an optional red label at its middle."""
    style = ' stroke-dasharray="5,4"' if dash else ""
    text = (f'<text x="{(x1 + x2) / 2 + 6}" y="{(y1 + y2) / 2 - 4}" font-size="12" '
            f'fill="{RED}">{label}</text>') if label else ""
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444" stroke-width="1.5"'
            f'{style} marker-end="url(#head)"/>' + text)


def note(x: float, y: float, text: str, colour: str = "#000", bold: bool = False,
         anchor: str = "middle") -> str:
    """A line of small text at (x, y)."""
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x}" y="{y}" font-size="12" text-anchor="{anchor}" fill="{colour}"{weight}>'
            f'{text}</text>')


def _band(y: float, h: float, fill: str, text: str, detail: str) -> str:
    return (f'<rect x="170" y="{y}" width="140" height="{h}" fill="{fill}" stroke="#444"/>'
            f'<text x="322" y="{y + h / 2 + 4}" font-size="13"><tspan font-weight="bold">'
            f'{text}</tspan> {detail}</text>')


def _address(y: float, address: str) -> str:
    return f'<text x="162" y="{y + 4}" font-size="11" text-anchor="end">{address}</text>'


def address_space_32bit() -> Figure:
    """Chapter 00: the 4 GiB of 32-bit x86 Linux, and where the proposed UKVA would go."""
    return Figure("".join([
        _band(10, 40, ORANGE, "fixmap, kmap, vmalloc:", "128 MiB for all temporary mappings"),
        _band(50, 150, "#fd8d3c", "low memory:", "the first 896 MiB of RAM, always mapped"),
        _band(200, 16, "#6baed6", "UKVA?", "a few pages below PAGE_OFFSET, one set per MM"),
        _band(216, 250, BLUE, "user space:", "3 GiB, mapped differently in every MM"),
        _address(10, "0xffffffff"), _address(50, "0xf8000000"),
        _address(208, "PAGE_OFFSET 0xc0000000"), _address(462, "0x00000000")]), 760, 476,
        "the 4 GiB address space of 32-bit x86 Linux, top down, the kernel's part drawn larger than "
        "scale: 128 MiB of temporary mappings, 896 MiB of low memory, the proposed UKVA just below "
        "PAGE_OFFSET, 3 GiB of user space.")


def one_page_table_per_mm() -> Figure:
    """Chapter 04, step 1: tasks of one MM share its page table; CR3 points at the loaded one."""
    return Figure("".join([
        box(20, 10, 120, 40, "task p (sh)"), box(160, 10, 120, 40, "thread t"),
        box(420, 10, 120, 40, "forked q"),
        box(90, 100, 120, 40, "mm A", BLUE), box(420, 100, 120, 40, "mm B", BLUE),
        box(90, 190, 120, 40, "page table A", ORANGE), box(420, 190, 120, 40, "page table B", ORANGE),
        box(250, 190, 110, 40, "CPU 0's CR3", GREEN),
        arrow(80, 50, 140, 100), arrow(220, 50, 160, 100), arrow(480, 50, 480, 100),
        arrow(150, 140, 150, 190), arrow(480, 140, 480, 190), arrow(250, 210, 212, 210)]), 720, 245,
        "tasks p and t share mm A and so one page table; the forked q has mm B with its own; "
        "CPU 0's CR3 points at the page table of the MM it runs.")


def who_fills_the_tlb() -> Figure:
    """Chapter 04, step 2: hardware walk (x86) against a software refill handler (MIPS)."""
    return Figure("".join([
        box(10, 10, 150, 40, "TLB miss at 0xbfc00000"),
        box(10, 100, 150, 40, "x86: the CPU's\nwalker", GREEN),
        box(10, 190, 150, 40, "page table in CR3", ORANGE),
        box(380, 10, 150, 40, "TLB miss at 0xbfc00000"),
        box(380, 100, 150, 40, "MIPS: trap to the\nkernel's handler", GREEN),
        box(260, 190, 120, 40, "current task?", ORANGE), box(395, 190, 120, 40, "this CPU?", ORANGE),
        box(530, 190, 120, 40, "page table?", ORANGE),
        arrow(85, 50, 85, 100), arrow(85, 140, 85, 190, "reads only this"),
        arrow(455, 50, 455, 100), arrow(430, 140, 320, 190), arrow(455, 140, 455, 190),
        arrow(480, 140, 590, 190, "may consult any")]), 720, 240,
        "on x86 a TLB miss is served by the hardware walker from the loaded page table and nothing "
        "else; on MIPS it traps to a kernel handler that may consult the current task, the CPU or "
        "the page table.")


def switch_keeps_cr3() -> Figure:
    """Chapter 04, step 3: a switch within one MM writes no CR3; a switch to another MM does."""
    return Figure("".join([
        box(10, 40, 130, 50, "run p\n(mm A)"), box(200, 40, 130, 50, "run t\n(mm A)"),
        box(390, 40, 130, 50, "run q\n(mm B)"), box(580, 40, 130, 50, "run p\n(mm A)"),
        arrow(140, 65, 200, 65), arrow(330, 65, 390, 65), arrow(520, 65, 580, 65),
        note(170, 120, "same MM:"), note(170, 135, "no CR3 write,"), note(170, 150, "TLB kept"),
        note(360, 120, "CR3 write;", RED), note(360, 135, "non-global entries", RED),
        note(360, 150, "flushed (without PCID)", RED), note(550, 120, "CR3 write again", RED)]),
        720, 165,
        "one CPU runs p, then its thread t (same MM: no CR3 write, the TLB is kept), then the "
        "forked q (another MM: a CR3 write, and without PCID every non-global TLB entry is "
        "flushed), then p again.")


def pcid_tags() -> Figure:
    """Chapter 04, step 4: with PCID each TLB entry carries its MM's ASID."""
    return Figure("".join([
        box(10, 10, 300, 150, "", "#f7fbff"), note(20, 30, "CPU 0's TLB with PCID", bold=True, anchor="start"),
        box(25, 45, 270, 30, "ASID 1 | 0xbfc00000 -> mm A's page", BLUE),
        box(25, 85, 270, 30, "ASID 2 | 0xbfc00000 -> mm B's page", ORANGE),
        box(25, 125, 270, 25, "4 more ASIDs for other MMs", GREY),
        box(420, 30, 200, 40, "running mm B:\ncurrent ASID 2", GREEN),
        box(420, 100, 200, 40, "switch to mm A:\ncurrent ASID 1", GREEN),
        arrow(420, 50, 297, 100), arrow(420, 120, 297, 60), arrow(520, 70, 520, 100)]), 720, 175,
        "with PCID each TLB entry carries the address-space id (ASID) of its MM; switching from "
        "mm B to mm A changes the current ASID and keeps both MMs' entries.")


def lazy_tlb() -> Figure:
    """Chapter 04, step 5: a kernel thread borrows the MM that was loaded before it."""
    return Figure("".join([
        box(10, 30, 150, 50, "run p\nloads mm A"),
        box(260, 30, 170, 50, "run kworker\n(no mm of its own)", ORANGE),
        box(530, 30, 170, 50, "run p again"),
        arrow(160, 55, 260, 55), arrow(430, 55, 530, 55),
        box(260, 120, 170, 45, "borrows mm A:\nactive_mm, mm_count+1", BLUE),
        arrow(345, 80, 345, 120),
        note(615, 100, "mm A still loaded:"), note(615, 115, "no CR3 write, TLB kept")]), 720, 175,
        "lazy TLB: a kernel thread that runs after p keeps p's mm A loaded as its active_mm "
        "(pinned with an mm_count reference), so switching back to p costs no CR3 write.")


def shootdown() -> Figure:
    """Chapter 04, step 6: an update's IPIs go to the CPUs in the MM's mm_cpumask only."""
    return Figure("".join([
        box(10, 20, 170, 50, "CPU 0 remaps\na slot of mm A", ORANGE),
        box(270, 20, 170, 50, "mm A: tlb_gen + 1\nmm_cpumask {0, 1}", BLUE),
        box(560, 10, 150, 40, "CPU 1 (runs mm A)", GREEN),
        box(560, 80, 150, 40, "CPU 2 (runs mm B)", GREY),
        arrow(180, 45, 270, 45), arrow(440, 40, 560, 30, "IPI: flush"),
        arrow(440, 60, 560, 100, "not in the mask", dash=True),
        note(95, 100, "flushes its own"), note(95, 115, "TLB entry")]), 720, 135,
        "a shootdown: CPU 0 changes a page-table entry of mm A, bumps its tlb_gen, flushes its "
        "own TLB and sends an IPI to the other CPUs in mm A's mm_cpumask (CPU 1); CPU 2, which "
        "runs another MM, is left alone.")
