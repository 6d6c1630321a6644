"""CostPlot: sliders re-run the engine's cost simulator and move the existing lines; the x axis is the
UKVA update rate; designs the model checker finds wrong on this many CPUs are greyed and say so."""

from __future__ import annotations

from ukva_widgets.engine.costs import simulate_costs
from ukva_widgets.widgets import CostPlot
from ukva_widgets.widgets.cost_plot import METRICS, RATES, WRONG_OPACITY, end_labels, y_ticks


def test_the_lines_show_the_simulators_counts_at_each_update_rate():
    w = CostPlot(threads=8, cpus=4, refs=4_000)
    for design in ("per-task", "per-cpu", "per-mm"):
        line = w.lines["ipis"][design]
        assert list(line.x) == list(RATES)
        assert list(line.y) == [simulate_costs(8, 4, 4_000, design, p_update=r / 1000)["ipis"] for r in RATES]
    assert f"{w.curves['per-mm']['tlb_misses'][-1]:>7}" in w.text()


def test_updates_drive_the_shootdowns_of_per_mm_and_of_no_other_design():
    w = CostPlot(threads=4, cpus=4, refs=4_000)
    ipis = w.curves["per-mm"]["ipis"]
    assert ipis == sorted(ipis) and ipis[-1] > 10 * max(ipis[0], 1)
    assert w.curves["per-task"]["ipis"] == w.curves["per-cpu"]["ipis"] == [0] * len(RATES)


def test_moving_the_cpu_slider_in_the_browser_resimulates_in_place(browser):
    w = CostPlot(threads=4, refs=4_000)
    line = w.lines["ipis"]["per-mm"]
    assert max(line.y) > 0  # several CPUs: per-mm updates shoot down the others
    browser.set(w.controls["cpus"], value=1)
    assert w.cpus == 1 and w.lines["ipis"]["per-mm"] is line
    assert list(line.y) == [0] * len(RATES)  # one CPU has nobody to interrupt
    assert "on 1 CPUs" in w.text()


def test_the_settings_are_traitlets_linked_to_their_controls():
    w = CostPlot(threads=4, refs=2_000)
    w.threads = 9
    assert w.controls["threads"].value == 9 and "9 threads" in w.text()


def test_the_same_settings_give_the_same_text():
    assert CostPlot(refs=2_000).text() == CostPlot(refs=2_000).text()


def test_each_design_differs_by_more_than_colour():
    w = CostPlot(refs=2_000, cpus=1)
    styles = {(ln.marker, ln.line_style) for ln in w.lines["tlb_misses"].values()}
    assert len(styles) == 3


def test_text_is_the_plain_text_repr_and_the_snapshot_draws_every_plot():
    w = CostPlot(refs=2_000)
    bundle = w._repr_mimebundle_()
    assert repr(w) == w.text() and bundle["text/plain"] == w.text()
    assert bundle["text/html"].count("<svg") - w.legend.value.count("<svg") == len(METRICS)


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
    assert figure.marks[len(lines) - 1] is mm


def test_designs_wrong_on_smp_are_greyed_and_labelled_at_the_line_end(browser):
    w = CostPlot(threads=2, cpus=4, refs=2_000)
    incorrect = [part.split("<b>")[1].split("</b>")[0] for part in w.legend.value.split('class="ukva-incorrect"')[1:]]
    assert sorted(incorrect) == ["per-cpu", "per-task"] and "✗ wrong on SMP" in w.legend.value
    assert "per-task: wrong on SMP" in w.text()
    for metric in METRICS:
        assert list(w.lines[metric]["per-task"].opacities) == [WRONG_OPACITY]
        assert list(w.lines[metric]["per-mm"].opacities) == [1.0]
        words = " ".join(w.ends[metric].text)
        assert "per-task" in words and "per-cpu" in words and "per-mm" not in words
        assert all(x == RATES[-1] for x in w.ends[metric].x)
    browser.set(w.controls["fill"], index=list(w.controls["fill"].options).index("software"))
    assert "ukva-incorrect" not in w.legend.value  # software refill makes both correct
    assert all(not list(label.text) for label in w.ends.values())


def test_at_one_cpu_every_design_is_correct():
    w = CostPlot(threads=4, cpus=1, refs=2_000)
    assert set(w.verdicts().values()) == {"proven"} and w.checked_cpus() == 1
    assert "ukva-incorrect" not in w.legend.value and "1 CPU," in w.legend.value


def test_labels_of_lines_ending_together_are_one_label():
    assert end_labels({"per-task": 0, "per-cpu": 0, "per-mm": 50}, {"per-task", "per-cpu"}, 100) == [
        (0, "✗ per-task, per-cpu wrong on SMP")]
    assert len(end_labels({"per-task": 90, "per-cpu": 10, "per-mm": 50}, {"per-task", "per-cpu"}, 100)) == 2


def test_the_y_axis_says_events_per_how_many_references(browser):
    w = CostPlot(threads=2, refs=4_000)
    assert all(axis.label == "events per 4,000 refs" for axis in w.y_axes.values())
    browser.set(w.controls["refs"], value=6_000)
    assert w.y_axes["ipis"].label == "events per 6,000 refs"


def test_the_plots_wrap_to_one_column_rather_than_overflow_and_full_flushes_are_not_repeated():
    w = CostPlot(refs=2_000)
    grid = w.children[-1]
    assert len(grid.children) == len(METRICS) == 3 and "full_flushes" not in METRICS
    assert "auto-fill" in grid.layout.grid_template_columns and all(f.layout.width == "100%" for f in grid.children)


def test_the_first_and_last_rates_sit_inside_the_frame():
    w = CostPlot(refs=2_000)
    assert w.x_scale.min < RATES[0] and w.x_scale.max > RATES[-1]


def test_y_ticks_are_a_few_round_steps_from_zero_past_the_top():
    for top in (0, 3, 42, 477, 566, 12_345):
        ticks = y_ticks(top)
        steps = {b - a for a, b in zip(ticks, ticks[1:])}
        assert ticks[0] == 0 and ticks[-1] >= top and len(steps) == 1 and len(ticks) <= 7
        assert f"{steps.pop():g}".lstrip("0.")[0] in "125"


def test_a_setting_out_of_range_from_code_is_refused_clearly():
    import pytest
    import traitlets

    w = CostPlot(refs=2_000)
    with pytest.raises(traitlets.TraitError, match="cpus=99 is out of range"):
        w.cpus = 99
