"""MeasureChart: this machine's TLB shootdowns and CR3 writes beside the engine's prediction, with a
reference machine's result beside them (real/measure_lab.py).

A bqplot chart, one group per figure (shootdowns per update for threads, processes and lazy CPUs;
CR3 writes per thread and per process switch): bars for what was measured (this machine, and the
reference machine), a diamond for the engine's prediction. Colour is never the only cue: the
series differ by mark (bar or diamond) and place in the group, and the key above the chart (HTML, so
it wraps in a narrow notebook instead of covering the axis) and the table below name them. Where this
machine could not be asked (not Linux, Pyodide, one CPU, no permission) the chart shows the reference
machine and says, in words, what could not be measured and why. "Measure this machine" runs the lab
again (a few seconds), showing its progress.

CSS classes for browser tests: "ukva-measure-chart", "ukva-measure-figure", "ukva-measure-note", "ukva-measure-key",
"ukva-measure-table", "ukva-measure-differences", "ukva-measure-button", "ukva-measure-progress".
"""

from __future__ import annotations

import math
import sys

import ipywidgets as W

from ..browser import need
from ..real.measure_lab import Lab, headline, reference
from . import draw as d
from .base import UkvaWidget
from .draw import esc
from .draw import table as themed_table
from .palette import OKABE_ITO

need("bqplot", "MeasureChart")  # in the live book bqplot (and numpy) is loaded when first used
from bqplot import Axis, Bars, Figure, LinearScale, OrdinalScale, Scatter  # noqa: E402

# Short names for the chart's groups, by (experiment, headline row).
GROUPS = {("threads-update", 0): "threads", ("processes-update", 0): "processes",
          ("lazy-update", 0): "lazy: asleep", ("lazy-update", 1): "lazy: other MM",
          ("switch-thread-vs-process", 0): "CR3 / thread switch",
          ("switch-thread-vs-process", 1): "CR3 / process switch"}
THIS, REFERENCE, ENGINE = OKABE_ITO["blue"], OKABE_ITO["grey"], OKABE_ITO["vermillion"]


def rows(lab: Lab) -> list[tuple[str, str, float | None, float]]:
    """(group, "experiment: figure in words", measured or None, predicted) for every figure of the lab."""
    return [(GROUPS[e.name, i], f"{e.name}: {what}", got, want) for e in lab.experiments
            for i, (what, got, want) in enumerate(headline(e))]


class MeasureChart(UkvaWidget):
    """Measured (this machine, the reference machine) and predicted (the engine), per figure."""

    def __init__(self, lab: Lab | None = None, ref: Lab | None = None, repeats: int | None = None) -> None:
        self.ref = ref if ref is not None else reference()
        self.lab = lab
        self.repeats = repeats     # for "Measure this machine" (None: the lab's default)
        self.runs = int(lab is not None)   # labs shown so far: the note numbers each new measurement
        groups = [group for group, *_ in rows(self.ref)]
        self.x_scale, self.y_scale = OrdinalScale(domain=groups), LinearScale(min=0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.bars = Bars(x=groups, y=[[0.0] * len(groups)], scales=scales, type="grouped", padding=0.25)
        self.predicted = Scatter(x=groups, y=[0.0] * len(groups), scales=scales, marker="diamond", default_size=140,
                                 colors=[ENGINE], stroke="black")
        self.y_axis = Axis(scale=self.y_scale, side="left", label="per update (CR3: per switch)",
                           label_offset="40px", tick_format=".2~f")
        # Short enough, and the x labels slanted, to read in a narrow notebook (800 px, side panel open).
        self.figure = Figure(marks=[self.bars, self.predicted], animation_duration=0,
                             axes=[Axis(scale=self.x_scale, tick_rotate=-20, tick_style={"text-anchor": "end"}),
                                   self.y_axis],
                             title="Measured and predicted",
                             fig_margin={"top": 50, "bottom": 70, "left": 60, "right": 20},
                             layout=W.Layout(width="100%", min_width="0", height="340px"))
        self.figure.add_class("ukva-measure-figure")
        self.note, self.key, self.table, self.differences = W.HTML(), W.HTML(), W.HTML(), W.HTML()
        self.note.add_class("ukva-measure-note")
        self.key.add_class("ukva-measure-key")
        self.table.add_class("ukva-measure-table")
        self.differences.add_class("ukva-measure-differences")
        self.button = W.Button(description="Measure this machine", icon="play", layout=W.Layout(width="auto"),
                               tooltip="run the experiments on this machine's kernel (a few seconds)")
        self.button.add_class("ukva-measure-button")
        self.progress = W.HTML()
        self.progress.add_class("ukva-measure-progress")
        if sys.platform == "emscripten":
            self.button.disabled = True
            self.button.tooltip = "in the browser (Pyodide) there is no kernel to measure"
        self.button.on_click(lambda _b: self.measure())
        super().__init__([self.note, self.key, self.figure, W.HBox([self.button, self.progress]), self.table,
                          self.differences])
        self.add_class("ukva-measure-chart")
        self.redraw()

    def measure(self) -> None:
        """Run the lab on this machine (blocking, a few seconds) and redraw with its result."""
        from ..real.measure_lab import measure

        self.button.disabled = True
        try:
            self.lab = measure(repeats=self.repeats, progress=lambda text: setattr(self.progress, "value", esc(text)))
            self.runs += 1
        finally:
            self.button.disabled = sys.platform == "emscripten"
            self.progress.value = ""
        self.redraw()

    def own(self) -> Lab | None:
        """This machine's lab when it measured anything, else None (the chart shows the reference)."""
        return self.lab if self.lab is not None and self.lab.measured_any else None

    def redraw(self) -> None:
        ref, own = rows(self.ref), self.own()
        series, colours, labels = [], [], []
        if own is not None:
            mine = {group: got for group, _, got, _ in rows(own)}
            series.append([_nan(mine.get(group)) for group, *_ in ref])
            colours.append(THIS)
            labels.append("this machine")
        series.append([_nan(got) for _, _, got, _ in ref])
        colours.append(REFERENCE)
        labels.append("reference machine")
        predicted = [want for *_, want in (rows(own) if own is not None else ref)]
        top = max([v for s in series for v in s if not math.isnan(v)] + predicted + [1.0])
        with self.bars.hold_sync():
            self.bars.y, self.bars.colors, self.bars.labels = series, colours, labels
        self.predicted.y = predicted
        with self.y_scale.hold_sync():
            self.y_scale.min, self.y_scale.max = 0.0, math.ceil(top * 1.2 * 2) / 2
        self.note.value = self._note_html()
        self.key.value = self._key_html(labels, colours)
        self.table.value = self._table_html()
        self.differences.value = self._differences_html()

    def _missing(self) -> list[str]:
        """What this machine could not measure: "experiment, experiment: why", one line per reason."""
        if self.lab is None:
            return []
        reasons: dict[str, list[str]] = {}
        for e in self.lab.experiments:
            if e.why:
                reasons.setdefault(e.why, []).append(e.name)
        return [f"{', '.join(names)}: {why}" for why, names in reasons.items()]

    def _note_html(self) -> str:
        ref = f"the reference machine ({esc(self.ref.machine)})"
        lab = self.own() or self.ref
        cpus = max([2] + [len(e.cpus) for e in lab.experiments])
        engine = (f"the diamonds are the engine's prediction for the same schedules (updates on {cpus} CPUs, "
                  "switches on one)")
        if self.own() is None:
            head = ("Not measured on this machine" if self.lab is not None else "Not measured yet") + \
                   f": the bars show {ref}; {engine}."
        else:
            head = (f"Measured on this machine ({esc(self.lab.machine)}; measurement {self.runs}), beside {ref}; "
                    f"{engine}.")
        missing = "".join(f"<li>{esc(m)}</li>" for m in self._missing())
        return (f'<div style="color:var(--jp-ui-font-color1)">{head}'
                + (f"<br>What could not be measured here, and why:<ul>{missing}</ul>" if missing else "") + "</div>")

    @staticmethod
    def _key_html(labels: list[str], colours: list[str]) -> str:
        """Which mark is which: the bars of each group from left to right, then the engine's diamond."""
        def entry(mark: str, colour: str, words: str) -> str:
            glyph = d.tag("span", mark, aria_hidden="true", style=d.style(color=colour, font_size="16px"))
            return d.tag("span", glyph, " ", esc(words),
                         style=d.style(white_space="nowrap", margin_right="1.2em"))
        bars = [entry("■", colour, f"{label} ({place})") for label, colour, place in
                zip(labels, colours, ["left bar", "right bar"] if len(labels) == 2 else ["bar"])]
        return d.tag("div", *bars, entry("◆", ENGINE, "engine (predicted)"),
                     style=d.style(color=d.FG, display="flex", flex_wrap="wrap", justify_content="center"))

    def _mine(self) -> dict[str, str]:
        """Per group, this machine's figure in words: a number, "not counted" or "not measured"."""
        own = self.own()
        if own is None:
            return {}
        skipped = {e.name for e in own.experiments if e.why}
        return {group: "not measured" if what.split(":")[0] in skipped else _cell(got)
                for group, what, got, _ in rows(own)}

    def _table_html(self) -> str:
        mine = self._mine()
        predicted = {group: want for group, *_, want in rows(self.own() or self.ref)}
        body = [(esc(what), mine.get(group, "not measured"), _cell(ref), f"{predicted[group]:.3g}")
                for group, what, ref, _ in rows(self.ref)]
        return themed_table(["experiment: figure", "this machine", "reference machine", "engine"], body)

    def _differences_html(self) -> str:
        lab = self.own() or self.ref
        items = "".join(f"<li><b>{esc(e.name)}</b>: {esc(d)}</li>" for e in lab.experiments for d in e.differences)
        whose = "this machine" if lab is not self.ref else "the reference machine"
        return (f'<details style="color:var(--jp-ui-font-color1)"><summary>Where measured and predicted differ on '
                f"{whose}, and why</summary><ul>{items}</ul></details>")

    def text(self) -> str:
        own = self.own()
        mine = self._mine()
        lines = ["MeasureChart: TLB shootdowns per update and CR3 writes per switch, measured and predicted",
                 f"  this machine: {self.lab.machine if own is not None else 'not measured'}",
                 f"  reference machine: {self.ref.machine}",
                 f"  {'experiment: figure':<58}{'this machine':>13}{'reference':>11}{'engine':>8}"]
        predicted = {group: want for group, *_, want in rows(own or self.ref)}
        for group, what, ref, _ in rows(self.ref):
            lines.append(f"  {what:<58}{mine.get(group, '-'):>13}"
                         f"{_cell(ref):>11}{predicted[group]:>8.3g}")
        lines += [f"  not measured: {m}" for m in self._missing()]
        return "\n".join(lines)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _cell(value: float | None) -> str:
    return "not counted" if value is None else f"{value:.3g}"
