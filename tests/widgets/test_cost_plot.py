"""CostPlot: sliders re-run the engine's cost simulator and move the existing lines."""

from __future__ import annotations

from ukva_widgets.engine.costs import cost_curves
from ukva_widgets.widgets import CostPlot
from ukva_widgets.widgets.cost_plot import METRICS, thread_counts, y_ticks


def test_the_lines_show_the_simulators_curves():
    w = CostPlot(threads=8, cpus=4, refs=4_000)
    expected = cost_curves([1, 2, 4, 8], cpus=4, refs=4_000)
    for design in ("per-task", "per-cpu", "per-mm"):
        line = w.lines["ipis"][design]
        assert list(line.x) == [1, 2, 4, 8]
        assert list(line.y) == expected[design]["ipis"]
    assert f"{expected['per-mm']['tlb_misses'][-1]:>7}" in w.text()


def test_moving_the_cpu_slider_in_the_browser_resimulates_in_place(browser):
    w = CostPlot(threads=4, refs=4_000)
    line = w.lines["ipis"]["per-mm"]
    assert max(line.y) > 0  # several CPUs: per-mm updates shoot down the others
    browser.set(w.cpus, value=1)
    assert w.lines["ipis"]["per-mm"] is line
    assert list(line.y) == [0, 0, 0]  # one CPU has nobody to interrupt
    assert "1 CPUs" in w.text()


def test_more_threads_add_points_to_every_line(browser):
    w = CostPlot(threads=4, refs=2_000)
    browser.set(w.threads, value=12)
    assert all(list(l.x) == [1, 2, 4, 8, 12] for marks in w.lines.values() for l in marks.values())


def test_the_same_settings_give_the_same_text():
    assert CostPlot(refs=2_000).text() == CostPlot(refs=2_000).text()


def test_each_design_differs_by_more_than_colour():
    w = CostPlot(refs=2_000)
    styles = {(l.marker, l.line_style) for l in w.lines["tlb_misses"].values()}
    assert len(styles) == 3


def test_thread_counts_double_up_to_the_maximum():
    assert thread_counts(1) == [1]
    assert thread_counts(16) == [1, 2, 4, 8, 16]
    assert thread_counts(6) == [1, 2, 4, 6]


def test_text_is_the_plain_text_repr():
    w = CostPlot(refs=2_000)
    assert repr(w) == w.text() and w._repr_mimebundle_()["text/plain"] == w.text()


def test_the_legend_names_designs_whose_counts_coincide():
    w = CostPlot(threads=4, cpus=2, refs=2_000)
    for metric, title in METRICS.items():
        same = w.curves["per-task"][metric] == w.curves["per-cpu"][metric]
        assert (f"<b>{title}</b>: per-task = per-cpu" in w.coincide.value) == same


def test_a_line_lying_on_another_is_thinner_with_a_smaller_marker():
    w = CostPlot(threads=2, refs=2_000)
    lines = [w.lines["tlb_misses"][d] for d in ("per-task", "per-cpu", "per-mm")]
    assert all(a.stroke_width > b.stroke_width and a.marker_size > b.marker_size for a, b in zip(lines, lines[1:]))


def test_the_first_and_last_thread_counts_sit_inside_the_frame():
    w = CostPlot(threads=16, refs=2_000)
    assert w.x_scale.min < 1 and w.x_scale.max > 16


def test_y_ticks_are_a_few_round_steps_from_zero_past_the_top():
    for top in (0, 3, 42, 477, 566, 12_345):
        ticks = y_ticks(top)
        steps = {b - a for a, b in zip(ticks, ticks[1:])}
        assert ticks[0] == 0 and ticks[-1] >= top and len(steps) == 1 and len(ticks) <= 7
        assert f"{steps.pop():g}".lstrip("0.")[0] in "125"
