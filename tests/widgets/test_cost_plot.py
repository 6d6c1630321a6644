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
    assert all(list(ln.x) == [1, 2, 4, 8, 12] for marks in w.lines.values() for ln in marks.values())


def test_the_same_settings_give_the_same_text():
    assert CostPlot(refs=2_000).text() == CostPlot(refs=2_000).text()


def test_each_design_differs_by_more_than_colour():
    w = CostPlot(refs=2_000)
    styles = {(ln.marker, ln.line_style) for ln in w.lines["tlb_misses"].values()}
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


def test_per_mm_is_the_one_solid_thickest_line_drawn_on_top():
    w = CostPlot(threads=2, refs=2_000)
    lines = w.lines["tlb_misses"]
    mm = lines["per-mm"]
    assert mm.line_style == "solid" and all(ln.line_style != "solid" for d, ln in lines.items() if d != "per-mm")
    assert all(mm.stroke_width > ln.stroke_width for d, ln in lines.items() if d != "per-mm")
    figure = next(f for f in w.children[-1].children)
    assert figure.marks[-1] is mm
    # a line lying under per-mm still shows: its marker is bigger
    assert all(mm.marker_size < ln.marker_size for d, ln in lines.items() if d != "per-mm")


def test_designs_incorrect_on_smp_say_so_in_the_legend_by_the_model_checkers_verdict(browser):
    w = CostPlot(threads=2, refs=2_000)
    incorrect = [part.split("<b>")[1].split("</b>")[0] for part in w.legend.value.split('class="ukva-incorrect"')[1:]]
    assert sorted(incorrect) == ["per-cpu", "per-task"] and "✗ incorrect on SMP" in w.legend.value
    assert "per-task: incorrect on SMP" in w.text()
    browser.set(w.fill, index=list(w.fill.options).index("software"))
    assert "ukva-incorrect" not in w.legend.value  # software refill makes both correct


def test_the_y_axis_says_events_per_how_many_references(browser):
    w = CostPlot(threads=2, refs=4_000)
    assert all(axis.label == "events per 4,000 refs" for axis in w.y_axes.values())
    browser.set(w.refs, value=6_000)
    assert w.y_axes["ipis"].label == "events per 6,000 refs"


def test_the_four_plots_wrap_to_one_column_rather_than_overflow():
    w = CostPlot(refs=2_000)
    grid = w.children[-1]
    assert len(grid.children) == 4 and "auto-fill" in grid.layout.grid_template_columns
    assert all(f.layout.width == "100%" for f in grid.children)


def test_the_first_and_last_thread_counts_sit_inside_the_frame():
    w = CostPlot(threads=16, refs=2_000)
    assert w.x_scale.min < 1 and w.x_scale.max > 16


def test_y_ticks_are_a_few_round_steps_from_zero_past_the_top():
    for top in (0, 3, 42, 477, 566, 12_345):
        ticks = y_ticks(top)
        steps = {b - a for a, b in zip(ticks, ticks[1:])}
        assert ticks[0] == 0 and ticks[-1] >= top and len(steps) == 1 and len(ticks) <= 7
        assert f"{steps.pop():g}".lstrip("0.")[0] in "125"


def test_x_labels_never_crowd_on_the_log_axis():
    from ukva_widgets.widgets.cost_plot import x_ticks

    assert x_ticks([1, 2, 4, 8, 16, 18]) == [1, 2, 4, 8, 18]
    assert x_ticks([1, 2, 4, 8, 16]) == [1, 2, 4, 8, 16]
    assert x_ticks([1]) == [1]
