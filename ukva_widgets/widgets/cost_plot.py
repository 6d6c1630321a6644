"""CostPlot: what each UKVA design costs as the UKVA is updated more often — TLB misses, page flushes
and shootdown IPIs per design against the update rate (the updates drive the IPIs), from the
engine's trace-driven simulator (engine/costs.py simulate_costs).  Full TLB flushes are left out:
they come from switches between MMs, the same for every design.

Every slider change re-simulates and moves the existing lines (their y change in place; no figure
is rebuilt).  Each design has its colour, its marker and its dash pattern, named in the legend.
A design the model checker finds wrong on this many CPUs (per-task costed in its best form, with the
flush on a same-MM switch) is greyed, its line faint and dashed, with "✗ wrong on SMP" written at
its end: cheap is no use if wrong.  At 1 CPU every design is correct and drawn plain.  The plots wrap
to one column on a narrow output area.

Public state, as traitlets the view observes: `threads`, `cpus`, `refs`, `fill`, `pcid` (each linked
to its control).

CSS classes for browser tests: "ukva-cost-plot", "ukva-threads-slider", "ukva-cpus-slider",
"ukva-refs-slider", "ukva-fill", "ukva-pcid", "ukva-cost-figure" (each plot), "ukva-cost-legend"
(with "ukva-incorrect" on each design found wrong), "ukva-coincide" (the note naming designs whose
counts are identical), plus "ukva-error".
"""

from __future__ import annotations

import itertools
import math

import ipywidgets as W

from ..browser import need
from ..engine import Machine, explore, make_tasks
from ..engine.costs import simulate_costs
from ..engine.machine import DESIGNS, FILLS
from . import draw as d
from .base import USER_ERRORS, ErrorBox, UkvaWidget
from .palette import BAD_COLOUR, OK_COLOUR, OKABE_ITO

need("bqplot", "CostPlot")  # in the live book bqplot (and numpy, pandas) is loaded when first used
import traitlets  # noqa: E402
from bqplot import Axis, Figure, Label, LinearScale, Lines, LogScale  # noqa: E402

METRICS = {"tlb_misses": "TLB misses", "page_flushes": "page flushes", "ipis": "shootdown IPIs"}
# The x axis: UKVA updates per 1,000 references (the simulator's share of updates, times 1,000).
RATES = (1, 3, 10, 30, 100)
# Per design: colour, marker and dash pattern, so no distinction rests on colour alone. Per-MM, the
# design that works, is the solid thick line drawn last (on top).
DESIGN_STYLE = {"per-task": (OKABE_ITO["vermillion"], "circle", "dashed"),
                "per-cpu": (OKABE_ITO["purple"], "square", "dotted"),
                "per-mm": (OKABE_ITO["blue"], "triangle-up", "solid")}
DESIGN_SIZE = {"per-task": (2.0, 140), "per-cpu": (2.0, 90), "per-mm": (4.0, 60)}
SYMBOLS = {"circle": "●", "square": "■", "triangle-up": "▲"}
DASHES = {"solid": "", "dashed": "8,4", "dotted": "2,3"}
WRONG_OPACITY = 0.4


def end_labels(ends: dict[str, float], wrong: set[str], top: float) -> list[tuple[float, str]]:
    """Where to write "✗ ... wrong on SMP" at the lines' right ends: (y, words), designs whose ends
    lie within 8% of the axis of each other sharing one label, so no two labels overlap."""
    out: list[tuple[float, list[str]]] = []
    for design in sorted(wrong, key=lambda x: ends[x]):
        if out and ends[design] - out[-1][0] < 0.08 * top:
            out[-1][1].append(design)
        else:
            out.append((ends[design], [design]))
    return [(y, f"✗ {', '.join(sorted(names, key=DESIGNS.index))} wrong on SMP") for y, names in out]


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
    """Sliders for threads, CPUs and trace length; a plot per counter, the designs' lines against the
    update rate."""

    threads = traitlets.Int(16)
    cpus = traitlets.Int(4)
    refs = traitlets.Int(10_000)
    fill = traitlets.Unicode("hardware")
    pcid = traitlets.Bool(False)

    def __init__(self, threads: int = 16, cpus: int = 4, refs: int = 10_000, fill: str = "hardware",
                 pcid: bool = False, seed: int = 0) -> None:
        self.seed = seed
        wide = {"description_width": "90px"}
        self.controls = {
            "threads": W.IntSlider(min=1, max=64, description="threads", style=wide,
                                   tooltip="threads of one MM, beside one single-threaded process"),
            "cpus": W.IntSlider(min=1, max=16, description="CPUs", style=wide),
            "refs": W.IntSlider(min=2_000, max=50_000, step=2_000, description="trace length",
                                tooltip="references simulated per design and update rate", style=wide),
            "fill": W.ToggleButtons(options=FILLS, description="TLB fill", style={"button_width": "90px"}),
            "pcid": W.Checkbox(description="PCID", indent=False),
        }
        self._ready = False
        for name, value in (("threads", threads), ("cpus", cpus), ("refs", refs), ("fill", fill), ("pcid", pcid)):
            setattr(self, name, value)
            control = self.controls[name]
            control.value = value
            control.add_class("ukva-pcid" if name == "pcid" else "ukva-fill" if name == "fill" else
                              f"ukva-{name}-slider")
            traitlets.link((self, name), (control, "value"))
        self.error = ErrorBox()
        self.x_scale = LogScale(min=RATES[0] / 1.4, max=RATES[-1] * 1.4)
        self.lines: dict[str, dict[str, Lines]] = {}
        self.ends: dict[str, Label] = {}
        figures = []
        self.y_axes: dict[str, Axis] = {}
        for metric, title in METRICS.items():
            y_scale = LinearScale(min=0)
            marks = {}
            for design in DESIGNS:
                colour, marker, style = DESIGN_STYLE[design]
                width, size = DESIGN_SIZE[design]
                marks[design] = Lines(x=list(RATES), y=[0] * len(RATES), scales={"x": self.x_scale, "y": y_scale},
                                      colors=[colour], marker=marker, marker_size=size, line_style=style,
                                      stroke_width=width, labels=[design])
            self.lines[metric] = marks
            self.ends[metric] = Label(x=[], y=[], text=[], scales={"x": self.x_scale, "y": y_scale},
                                      colors=[BAD_COLOUR], default_size=11, font_weight="bold", align="end",
                                      x_offset=-4, y_offset=-10)
            x_axis = Axis(scale=self.x_scale, label="UKVA updates per 1,000 references", tick_format="d",
                          tick_values=list(RATES))
            self.y_axes[metric] = Axis(scale=y_scale, side="left", tick_format="~s", label_offset="45px")
            figure = Figure(marks=[*marks.values(), self.ends[metric]], title=title, animation_duration=0,
                            axes=[x_axis, self.y_axes[metric]],
                            fig_margin={"top": 40, "bottom": 44, "left": 60, "right": 20},
                            layout=W.Layout(width="100%", min_width="0", height="240px"))
            figure.add_class("ukva-cost-figure")
            figures.append(figure)
        c = self.controls
        controls = W.HBox([W.VBox([c["threads"], c["cpus"], c["refs"]]), W.VBox([c["fill"], c["pcid"]])],
                          layout=W.Layout(flex_flow="row wrap"))
        self.legend = W.HTML()
        self.legend.add_class("ukva-cost-legend")
        self.coincide = W.HTML()
        self.coincide.add_class("ukva-coincide")
        self._verdicts: dict[tuple, dict[str, str]] = {}
        # Two columns where they fit, one on a narrow output area.
        grid = W.GridBox(figures, layout=W.Layout(grid_template_columns="repeat(auto-fill, minmax(300px, 1fr))"))
        super().__init__([controls, self.error, self.legend, self.coincide, grid])
        self.add_class("ukva-cost-plot")
        self._ready = True
        self.redraw()

    @traitlets.validate("threads", "cpus", "refs", "fill")
    def _valid(self, proposal: dict) -> object:
        name, value = proposal["trait"].name, proposal["value"]
        if name == "fill":
            if value not in FILLS:
                raise traitlets.TraitError(f"fill must be one of {', '.join(FILLS)}, not {value!r}")
            return value
        control = self.controls[name]
        if not control.min <= value <= control.max:
            raise traitlets.TraitError(f"{name}={value} is out of range: use {control.min} to {control.max}")
        return value

    @traitlets.observe("threads", "cpus", "refs", "fill", "pcid")
    def _on_setting(self, change: dict) -> None:
        if self._ready:
            self.redraw()

    def simulate(self) -> dict[str, dict[str, list[int]]]:
        """Per design, per counter, the values at each update rate (engine/costs.py simulate_costs)."""
        runs = {design: [simulate_costs(self.threads, self.cpus, self.refs, design, self.fill, self.pcid,
                                        self.seed, p_update=rate / 1000) for rate in RATES] for design in DESIGNS}
        return {design: {key: [r[key] for r in rows] for key in rows[0]} for design, rows in runs.items()}

    def redraw(self) -> None:
        """Re-simulate with the sliders' values and move the lines in place."""
        try:
            self.curves = self.simulate()
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self.error.clear()
        wrong = {design for design, v in self.verdicts().items() if v == "violation"}
        for metric, marks in self.lines.items():
            self.y_axes[metric].label = f"events per {self.refs:,} refs"
            ticks = y_ticks(max(max(self.curves[design][metric]) for design in DESIGNS))
            with self.y_axes[metric].scale.hold_sync():
                self.y_axes[metric].scale.min, self.y_axes[metric].scale.max = 0, ticks[-1]
            self.y_axes[metric].tick_values = ticks
            for design, line in marks.items():
                with line.hold_sync():
                    line.y = self.curves[design][metric]
                    line.opacities = [WRONG_OPACITY if design in wrong else 1.0]
                    line.line_style = "dashed" if design in wrong else DESIGN_STYLE[design][2]
            labels = end_labels({design: self.curves[design][metric][-1] for design in DESIGNS}, wrong, ticks[-1])
            with self.ends[metric].hold_sync():
                self.ends[metric].x = [RATES[-1]] * len(labels)
                self.ends[metric].y = [y for y, _words in labels]
                self.ends[metric].text = [words for _y, words in labels]
        self.coincide.value = self._coincide_html()
        self.legend.value = self._legend_html()

    def checked_cpus(self) -> int:
        """The CPUs the verdicts are checked on: 1 at 1 CPU; else 2 (a design wrong on 2 is wrong on more)."""
        return min(self.cpus, 2)

    def verdicts(self) -> dict[str, str]:
        """Per design, the model checker's verdict ("violation" or "proven") on 2 threads with this
        fill and PCID, on `checked_cpus()` CPUs; per-task in the form the simulator costs (flushing on
        a switch between tasks of one MM).  Cached: a slider move rarely changes it."""
        key = (self.fill, self.pcid, self.checked_cpus())
        if key not in self._verdicts:
            self._verdicts[key] = {}
            for design in DESIGNS:
                kernel, tasks = make_tasks(threads=2)
                machine = Machine(kernel, tasks, cpus=self.checked_cpus(), design=design, fill=self.fill,
                                  pcid=self.pcid, flush_on_same_mm_switch=design == "per-task")
                self._verdicts[key][design] = explore(machine).verdict
        return self._verdicts[key]

    def _legend_html(self) -> str:
        items = []
        verdicts = self.verdicts()
        for design in reversed(DESIGNS):  # per-mm, the one that works, first
            colour, marker, style = DESIGN_STYLE[design]
            width = DESIGN_SIZE[design][0]
            wrong = verdicts[design] == "violation"
            dash = DASHES["dashed" if wrong else style] or None
            sample = d.tag("svg", d.line(2, 7, 38, 7, colour=colour, width=width, dash=dash), width=40, height=14,
                           style=d.style(vertical_align="middle", opacity=WRONG_OPACITY if wrong else None))
            verdict = (d.tag("span", "✗ wrong on SMP", style=d.style(color=BAD_COLOUR, font_weight=600)) if wrong else
                       d.tag("span", "✓ correct", style=d.style(color=OK_COLOUR)))
            symbol = d.tag("span", SYMBOLS[marker], style=d.style(color=colour, font_size="15px"))
            items.append(d.tag("span", sample, symbol,
                               " ", d.tag("b", design), " ", verdict,
                               cls="ukva-incorrect" if wrong else "ukva-correct", style="white-space:nowrap"))
        n = self.checked_cpus()
        note = d.tag("span", d.esc(f"(✓/✗: the model checker on 2 threads, {n} CPU{'s' * (n > 1)}, {self.fill} fill; "
                                   f"{self.threads} threads and a process on {self.cpus} CPUs simulated; counts are "
                                   f"events per {self.refs:,} references)"),
                     style=d.style(color=d.MUTED, font_size="11px"))
        return d.tag("div", *items, note, style=d.style(color=d.FG, display="flex", flex_wrap="wrap", gap="4px 16px"))

    def _coincide_html(self) -> str:
        """Which designs' curves lie exactly on each other, per plot (they would hide one another)."""
        notes = []
        for metric, title in METRICS.items():
            same: dict[tuple, list[str]] = {}
            for design in DESIGNS:
                same.setdefault(tuple(self.curves[design][metric]), []).append(design)
            notes += [d.tag("b", d.esc(title)) + ": " + d.esc(" = ".join(group))
                      for group in same.values() if len(group) > 1]
        if not notes:
            return ""
        return d.tag("div", "identical counts, drawn on top of each other (per-mm on top; the bigger markers of the "
                     "others peek out): ", "; ".join(notes), style=d.style(color=d.FG))

    def snapshot(self) -> str:
        wrong = {design for design, v in self.verdicts().items() if v == "violation"}
        charts = "".join(d.tag("div", chart_svg(title, {dn: self.curves[dn][metric] for dn in DESIGNS}, wrong),
                               style="flex:1 1 300px;min-width:0;max-width:400px")
                         for metric, title in METRICS.items())
        plots = d.tag("div", charts, style="display:flex;flex-wrap:wrap;gap:8px")
        return self.legend.value + self.coincide.value + plots

    def text(self) -> str:
        lines = [f"CostPlot: {self.threads} threads and a process on {self.cpus} CPUs, {self.refs} references per run, "
                 f"{self.fill} fill, {'PCID' if self.pcid else 'no PCID'}, seed {self.seed}",
                 f"  checked on {self.checked_cpus()} CPU{'s' * (self.checked_cpus() > 1)}: "
                 + "; ".join(f"{d_}: {'wrong on SMP' if v == 'violation' else 'correct'}"
                             for d_, v in self.verdicts().items()),
                 f"  {'updates per 1,000 refs':<28}" + "".join(f"{n:>7}" for n in RATES)]
        for metric, title in METRICS.items():
            for design in DESIGNS:
                lines.append(f"  {title + ', ' + design:<28}" + "".join(f"{v:>7}" for v in self.curves[design][metric]))
        return "\n".join(lines)


def chart_svg(title: str, series: dict[str, list[int]], wrong: set[str]) -> str:
    """A static line chart of `series` (per design) against RATES on a log axis, for the snapshot."""
    w, h, left, right, top, bottom = 320, 210, 50, 12, 26, 40
    top_value = y_ticks(max(max(v) for v in series.values()))[-1]

    def x_of(rate: float) -> float:
        span = math.log(RATES[-1] * 1.4) - math.log(RATES[0] / 1.4)
        return left + (w - left - right) * (math.log(rate) - math.log(RATES[0] / 1.4)) / span

    def y_of(v: float) -> float:
        return h - bottom - (h - top - bottom) * v / top_value

    parts = [d.label(w / 2, 16, title, anchor="middle", weight=600),
             d.line(left, h - bottom, w - right, h - bottom, colour=d.MUTED, width=1),
             d.line(left, top, left, h - bottom, colour=d.MUTED, width=1),
             d.label((left + w - right) / 2, h - 6, "UKVA updates per 1,000 refs", anchor="middle", size=d.MIN_FONT,
                     colour=d.MUTED)]
    for rate in RATES:
        parts.append(d.label(x_of(rate), h - bottom + 14, str(rate), anchor="middle", size=d.MIN_FONT, colour=d.MUTED))
    for tick in y_ticks(top_value):
        parts.append(d.label(left - 4, y_of(tick) + 4, f"{tick:g}", anchor="end", size=d.MIN_FONT, colour=d.MUTED))
    for design in DESIGNS:
        colour, _marker, style = DESIGN_STYLE[design]
        bad = design in wrong
        points = " ".join(f"{d.num(x_of(r))},{d.num(y_of(v))}" for r, v in zip(RATES, series[design]))
        parts.append(d.tag("polyline", points=points, style=d.style(
            fill="none", stroke=colour, stroke_width=DESIGN_SIZE[design][0], opacity=WRONG_OPACITY if bad else None,
            stroke_dasharray=DASHES["dashed" if bad else style] or None)))
    for y, words in end_labels({design: v[-1] for design, v in series.items()}, wrong, top_value):
        parts.append(d.label(w - right, y_of(y) - 6, words, anchor="end", size=d.MIN_FONT, colour=BAD_COLOUR,
                             weight=600))
    return d.svg(w, h, *parts, label=f"{title} per design against the update rate")
