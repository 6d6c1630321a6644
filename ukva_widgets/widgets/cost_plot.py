"""CostPlot: what each UKVA design costs as threads grow — TLB misses, page and full flushes and
shootdown IPIs per design, from the engine's trace-driven simulator (engine/costs.py cost_curves).

Every slider change re-simulates and moves the existing lines (their x and y change in place; no
figure is rebuilt). Each design has its colour, its marker and its dash pattern, named in the legend;
the recommended per-MM design is the one solid, thick line, drawn on top, and a design the model
checker finds incorrect on SMP under the chosen fill says so in the legend: cheap is no use if wrong.
The four plots wrap to one column on a narrow output area.

CSS classes for browser tests: "ukva-cost-plot", "ukva-threads-slider", "ukva-cpus-slider",
"ukva-refs-slider", "ukva-fill", "ukva-pcid", "ukva-cost-figure" (each of the four plots),
"ukva-cost-legend" (with "ukva-incorrect" on each design found incorrect), "ukva-coincide" (the
note naming designs whose counts are identical), plus "ukva-error".
"""

from __future__ import annotations

import itertools

import ipywidgets as W

from ..browser import need
from ..engine import Machine, explore, make_tasks
from ..engine.costs import cost_curves
from ..engine.machine import DESIGNS, FILLS
from .base import BAD_COLOUR, OK_COLOUR, OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, esc

need("bqplot", "CostPlot")  # in the live book bqplot (and numpy, pandas) is loaded when first used
from bqplot import Axis, Figure, LinearScale, Lines, LogScale  # noqa: E402

METRICS = {"tlb_misses": "TLB misses", "page_flushes": "page flushes", "full_flushes": "full TLB flushes",
           "ipis": "shootdown IPIs"}
# Per design: colour, marker and dash pattern, so no distinction rests on colour alone. Per-MM, the
# design that works, is the solid thick line drawn last (on top); the others are thin and broken,
# with bigger markers so that one lying under another still peeks out (the note says so too).
DESIGN_STYLE = {"per-task": (OKABE_ITO["vermillion"], "circle", "dashed"),
                "per-cpu": (OKABE_ITO["purple"], "square", "dotted"),
                "per-mm": (OKABE_ITO["blue"], "triangle-up", "solid")}
DESIGN_SIZE = {"per-task": (2.0, 140), "per-cpu": (2.0, 90), "per-mm": (4.0, 60)}
SYMBOLS = {"circle": "●", "square": "■", "triangle-up": "▲"}
DASHES = {"solid": "", "dashed": "8,4", "dotted": "2,3"}


def thread_counts(max_threads: int) -> list[int]:
    """The x axis: 1, 2, 4, ... up to max_threads (and max_threads itself)."""
    counts, n = [], 1
    while n < max_threads:
        counts.append(n)
        n *= 2
    return counts + [max_threads]


def x_ticks(counts: list[int]) -> list[int]:
    """The thread counts to label on the log axis: the largest always, and each smaller one only where
    it is at least 1.4 times below the next label (16 beside 18 would print as "1618")."""
    kept = [counts[-1]]
    for count in reversed(counts[:-1]):
        if count * 1.4 <= kept[-1]:
            kept.append(count)
    return kept[::-1]


def y_ticks(top: float) -> list[float]:
    """Round ticks from 0 to at least `top`, at most five steps of 1, 2 or 5 times a power of ten."""
    step, factors = 1.0, itertools.cycle((2, 2.5, 2))  # 1, 2, 5, 10, 20, 50, ...
    while top / step > 5:
        step *= next(factors)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks if len(ticks) > 1 else [0.0, 1.0]


class CostPlot(UkvaWidget):
    """Sliders for threads, CPUs and trace length; four plots of the designs' counters."""

    def __init__(self, threads: int = 16, cpus: int = 4, refs: int = 10_000, fill: str = "hardware",
                 pcid: bool = False, seed: int = 0) -> None:
        self.seed = seed
        wide = {"description_width": "90px"}
        self.threads = W.IntSlider(value=threads, min=1, max=64, description="max threads", style=wide)
        self.cpus = W.IntSlider(value=cpus, min=1, max=16, description="CPUs", style=wide)
        self.refs = W.IntSlider(value=refs, min=2_000, max=50_000, step=2_000, description="trace length",
                                tooltip="references simulated per design and thread count", style=wide)
        self.fill = W.ToggleButtons(options=FILLS, value=fill, description="TLB fill",
                                    style={"button_width": "90px"})
        self.pcid = W.Checkbox(value=pcid, description="PCID", indent=False)
        for control, cls in ((self.threads, "ukva-threads-slider"), (self.cpus, "ukva-cpus-slider"),
                             (self.refs, "ukva-refs-slider"), (self.fill, "ukva-fill"), (self.pcid, "ukva-pcid")):
            control.add_class(cls)
            control.observe(lambda _: self.redraw(), "value")
        self.error = ErrorBox()
        self.x_scale = LogScale()
        self.lines: dict[str, dict[str, Lines]] = {}
        figures = []
        self.x_axes = []
        self.y_axes: dict[str, Axis] = {}
        for metric, title in METRICS.items():
            y_scale = LinearScale(min=0)
            marks = {}
            for design in DESIGNS:
                colour, marker, style = DESIGN_STYLE[design]
                width, size = DESIGN_SIZE[design]
                marks[design] = Lines(x=[1], y=[0], scales={"x": self.x_scale, "y": y_scale}, colors=[colour],
                                      marker=marker, marker_size=size, line_style=style, stroke_width=width,
                                      labels=[design])
            self.lines[metric] = marks
            x_axis = Axis(scale=self.x_scale, label="threads", tick_format="d")
            self.x_axes.append(x_axis)
            self.y_axes[metric] = Axis(scale=y_scale, side="left", tick_format="~s", label_offset="45px")
            figure = Figure(marks=list(marks.values()), title=title, animation_duration=0,
                            axes=[x_axis,
                                  self.y_axes[metric]],
                            fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 20},
                            layout=W.Layout(width="100%", min_width="0", height="240px"))
            figure.add_class("ukva-cost-figure")
            figures.append(figure)
        controls = W.HBox([W.VBox([self.threads, self.cpus, self.refs]), W.VBox([self.fill, self.pcid])],
                          layout=W.Layout(flex_flow="row wrap"))
        self.legend = W.HTML()
        self.legend.add_class("ukva-cost-legend")
        self.coincide = W.HTML()
        self.coincide.add_class("ukva-coincide")
        self._verdicts: dict[tuple, dict[str, str]] = {}
        # Two columns where they fit, one on a narrow output area: never fewer than four plots.
        grid = W.GridBox(figures, layout=W.Layout(grid_template_columns="repeat(auto-fill, minmax(300px, 1fr))"))
        super().__init__([controls, self.error, self.legend, self.coincide, grid])
        self.add_class("ukva-cost-plot")
        self.redraw()

    def redraw(self) -> None:
        """Re-simulate with the sliders' values and move the lines in place."""
        counts = thread_counts(self.threads.value)
        try:
            self.curves = cost_curves(counts, cpus=self.cpus.value, refs=self.refs.value, fill=self.fill.value,
                                      pcid=self.pcid.value, seed=self.seed)
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self.error.clear()
        self.counts = counts
        # Pad the log axis a quarter either side so the first and last points and labels clear the frame.
        with self.x_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = counts[0] / 1.25, counts[-1] * 1.25
        for axis in self.x_axes:
            axis.tick_values = x_ticks(counts)
        for metric, marks in self.lines.items():
            self.y_axes[metric].label = f"events per {self.refs.value:,} refs"
            ticks = y_ticks(max(max(self.curves[design][metric]) for design in DESIGNS))
            with self.y_axes[metric].scale.hold_sync():
                self.y_axes[metric].scale.min, self.y_axes[metric].scale.max = 0, ticks[-1]
            self.y_axes[metric].tick_values = ticks
            for design, line in marks.items():
                with line.hold_sync():
                    line.x = counts
                    line.y = self.curves[design][metric]
        self.coincide.value = self._coincide_html()
        self.legend.value = self._legend_html()

    def verdicts(self) -> dict[str, str]:
        """Per design, the model checker's verdict on a 2-thread, 2-CPU machine with this fill and PCID
        ("violation" or "proven"); cached, as a slider move does not change it."""
        key = (self.fill.value, self.pcid.value)
        if key not in self._verdicts:
            self._verdicts[key] = {}
            for design in DESIGNS:
                kernel, tasks = make_tasks(threads=2)
                machine = Machine(kernel, tasks, cpus=2, design=design, fill=self.fill.value, pcid=self.pcid.value)
                self._verdicts[key][design] = explore(machine).verdict
        return self._verdicts[key]

    def _legend_html(self) -> str:
        items = []
        for design in reversed(DESIGNS):  # per-mm, the one that works, first
            colour, marker, style = DESIGN_STYLE[design]
            width = DESIGN_SIZE[design][0]
            wrong = self.verdicts()[design] == "violation"
            sample = (f'<svg width="40" height="14" style="vertical-align:middle"><line x1="2" y1="7" x2="38" y2="7" '
                      f'style="stroke:{colour};stroke-width:{width};stroke-dasharray:{DASHES[style]}"/></svg>')
            verdict = (f'<span style="color:{BAD_COLOUR};font-weight:600">✗ incorrect on SMP</span>' if wrong else
                       f'<span style="color:{OK_COLOUR}">✓ correct</span>')
            items.append(f'<span class="{"ukva-incorrect" if wrong else "ukva-correct"}" style="white-space:nowrap">'
                         f'{sample}<span style="color:{colour};font-size:15px">{SYMBOLS[marker]}</span> '
                         f"<b>{design}</b> {verdict}</span>")
        return ('<div style="color:var(--jp-ui-font-color1);display:flex;flex-wrap:wrap;gap:4px 16px">'
                + "".join(items) + f'<span style="color:var(--jp-ui-font-color2);font-size:11px">(✓/✗: the model '
                f"checker on 2 threads, 2 CPUs, {esc(self.fill.value)} fill; counts are events per "
                f"{self.refs.value:,} references)</span></div>")

    def _coincide_html(self) -> str:
        """Which designs' curves lie exactly on each other, per plot (they would hide one another)."""
        notes = []
        for metric, title in METRICS.items():
            same: dict[tuple, list[str]] = {}
            for design in DESIGNS:
                same.setdefault(tuple(self.curves[design][metric]), []).append(design)
            notes += [f"<b>{esc(title)}</b>: {esc(' = '.join(group))}" for group in same.values() if len(group) > 1]
        if not notes:
            return ""
        return ('<div style="color:var(--jp-ui-font-color1)">identical counts, drawn on top of each other '
                "(per-mm on top; the bigger markers of the others peek out): " + "; ".join(notes) + "</div>")

    def text(self) -> str:
        lines = [f"CostPlot: {self.cpus.value} CPUs, {self.refs.value} references per run, {self.fill.value} fill, "
                 f"{'PCID' if self.pcid.value else 'no PCID'}, seed {self.seed}",
                 "  " + "; ".join(f"{d}: {'incorrect on SMP' if v == 'violation' else 'correct'}"
                                  for d, v in self.verdicts().items()),
                 f"  {'threads':<28}" + "".join(f"{n:>7}" for n in self.counts)]
        for metric, title in METRICS.items():
            for design in DESIGNS:
                lines.append(f"  {title + ', ' + design:<28}" + "".join(f"{v:>7}" for v in self.curves[design][metric]))
        return "\n".join(lines)
