"""CostPlot: what each UKVA design costs as threads grow — TLB misses, page and full flushes and
shootdown IPIs per design, from the engine's trace-driven simulator (engine/costs.py cost_curves).

Every slider change re-simulates and moves the existing lines (their x and y change in place; no
figure is rebuilt). Each design has its colour, its marker and its dash pattern, named in the legend.

CSS classes for browser tests: "ukva-cost-plot", "ukva-threads-slider", "ukva-cpus-slider",
"ukva-refs-slider", "ukva-fill", "ukva-pcid", "ukva-cost-figure" (each of the four plots),
"ukva-coincide" (the note naming designs whose counts are identical),
plus "ukva-error".
"""

from __future__ import annotations

import itertools

import ipywidgets as W
from bqplot import Axis, Figure, Lines, LinearScale, LogScale

from ..engine.costs import cost_curves
from ..engine.machine import DESIGNS, FILLS
from .base import OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, esc

METRICS = {"tlb_misses": "TLB misses", "page_flushes": "page flushes", "full_flushes": "full TLB flushes",
           "ipis": "shootdown IPIs"}
# Per design: colour, marker and dash pattern, so no distinction rests on colour alone.
DESIGN_STYLE = {"per-task": (OKABE_ITO["vermillion"], "circle", "solid"),
                "per-cpu": (OKABE_ITO["blue"], "square", "dashed"),
                "per-mm": (OKABE_ITO["green"], "triangle-up", "dotted")}
# Designs often count exactly the same; drawn in DESIGNS order, each line and marker is thinner and
# smaller than the one beneath, so a curve lying on another still shows both (and the legend says so).
DESIGN_SIZE = {"per-task": (6.0, 150), "per-cpu": (3.0, 64), "per-mm": (2.0, 32)}


def thread_counts(max_threads: int) -> list[int]:
    """The x axis: 1, 2, 4, ... up to max_threads (and max_threads itself)."""
    counts, n = [], 1
    while n < max_threads:
        counts.append(n)
        n *= 2
    return counts + [max_threads]


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
            self.y_axes[metric] = Axis(scale=y_scale, side="left", tick_format="~s")
            figure = Figure(marks=list(marks.values()), title=title, animation_duration=0,
                            axes=[x_axis,
                                  self.y_axes[metric]],
                            fig_margin={"top": 40, "bottom": 40, "left": 55, "right": 30},
                            layout=W.Layout(width="395px", height="240px"))
            figure.add_class("ukva-cost-figure")
            figures.append(figure)
        controls = W.HBox([W.VBox([self.threads, self.cpus, self.refs]), W.VBox([self.fill, self.pcid])])
        symbols = {"circle": "●", "square": "■", "triangle-up": "▲"}
        legend = W.HTML('<div style="color:var(--jp-ui-font-color1)">' + " &nbsp; ".join(
            f'<span style="color:{colour};font-size:16px">{symbols[marker]}</span> <b>{design}</b> ({style} line)'
            for design, (colour, marker, style) in DESIGN_STYLE.items()) + "</div>")
        self.coincide = W.HTML()
        self.coincide.add_class("ukva-coincide")
        super().__init__([controls, self.error, legend, self.coincide,
                          W.GridBox(figures, layout=W.Layout(grid_template_columns="repeat(2, 395px)"))])
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
            axis.tick_values = counts
        for metric, marks in self.lines.items():
            ticks = y_ticks(max(max(self.curves[design][metric]) for design in DESIGNS))
            with self.y_axes[metric].scale.hold_sync():
                self.y_axes[metric].scale.min, self.y_axes[metric].scale.max = 0, ticks[-1]
            self.y_axes[metric].tick_values = ticks
            for design, line in marks.items():
                with line.hold_sync():
                    line.x = counts
                    line.y = self.curves[design][metric]
        self.coincide.value = self._coincide_html()

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
                "(thickest underneath): " + "; ".join(notes) + "</div>")

    def text(self) -> str:
        lines = [f"CostPlot: {self.cpus.value} CPUs, {self.refs.value} references per run, {self.fill.value} fill, "
                 f"{'PCID' if self.pcid.value else 'no PCID'}, seed {self.seed}",
                 f"  {'threads':<28}" + "".join(f"{n:>7}" for n in self.counts)]
        for metric, title in METRICS.items():
            for design in DESIGNS:
                lines.append(f"  {title + ', ' + design:<28}" + "".join(f"{v:>7}" for v in self.curves[design][metric]))
        return "\n".join(lines)
