"""MeasureChart: bars of what was measured (this machine, the reference machine) and diamonds of the
engine's prediction, per figure; what could not be measured is said in words, never a blank chart."""

from __future__ import annotations

import copy
import math
import os
import re
import sys

import pytest

from ukva_widgets.real.measure import unavailable_reason
from ukva_widgets.real.measure_lab import Lab, reference
from ukva_widgets.widgets.measure_chart import ENGINE, REFERENCE, THIS, MeasureChart, rows


def a_lab(**changes) -> Lab:
    """The reference lab as if measured on another machine, with `changes` to its experiments."""
    lab = copy.deepcopy(reference())
    lab.machine = "Linux test (x86_64), 4 CPUs usable"
    for e in lab.experiments:
        for key, value in changes.get(e.name, {}).items():
            setattr(e, key, value)
    return lab


def test_without_a_measurement_the_bars_are_the_reference_machines_and_the_note_says_so():
    w = MeasureChart()
    ref = reference()
    assert [list(series) for series in w.bars.y] == [[got for _, _, got, _ in rows(ref)]]
    assert list(w.bars.colors) == [REFERENCE] and list(w.bars.labels) == ["reference machine"]
    assert list(w.predicted.y) == [want for *_, want in rows(ref)]
    assert "Not measured yet" in w.note.value and ref.machine in w.note.value
    assert "this machine: not measured" in w.text()


def test_a_measured_lab_adds_its_own_bars_beside_the_reference():
    lab = a_lab(**{"threads-update": {"measured": {"shootdowns_per_update": 2.9, "spread": [2.8, 3.0]},
                                      "predicted": {"shootdowns_per_update": 3.0, "per_cpu": {}}}})
    w = MeasureChart(lab)
    assert list(w.bars.colors) == [THIS, REFERENCE]
    assert w.bars.y[0][0] == 2.9 and w.bars.y[1][0] == reference().experiments[0].measured["shootdowns_per_update"]
    assert w.predicted.y[0] == 3.0, "the diamonds are the engine's prediction for this machine's CPUs"
    assert w.y_scale.max >= 3.0
    assert "threads-update: shootdowns per update" in w.text() and "2.9" in w.text()


def test_what_this_machine_could_not_measure_is_said_and_left_out_of_the_bars():
    why = "only one CPU (0) is usable by this process"
    lab = a_lab(**{name: {"measured": {}, "why": why}
                   for name in ("threads-update", "processes-update", "lazy-update")})
    w = MeasureChart(lab)
    assert math.isnan(w.bars.y[0][0]) and not math.isnan(w.bars.y[0][-1])   # the switches were measured
    assert f"threads-update, processes-update, lazy-update: {why}" in w.note.value, "one line per reason"
    assert f"not measured: threads-update, processes-update, lazy-update: {why}" in w.text()
    assert w.table.value.count("not measured") == 4 and "not counted" not in w.table.value


def test_a_figure_measured_without_its_counter_is_not_counted_not_zero():
    switch = reference().experiments[-1].measured
    uncounted = {k: v for k, v in switch.items() if not k.startswith(("cr3_", "flushes_"))}
    w = MeasureChart(a_lab(**{"switch-thread-vs-process": {"measured": uncounted}}))
    assert math.isnan(w.bars.y[0][-1]) and w.table.value.count("not counted") == 2


def test_a_machine_that_measured_nothing_shows_only_the_reference():
    lab = a_lab(**{e.name: {"measured": {}, "why": "this is Darwin, not Linux"} for e in reference().experiments})
    w = MeasureChart(lab)
    assert list(w.bars.colors) == [REFERENCE]
    assert "Not measured on this machine" in w.note.value and "Darwin" in w.note.value


def test_measured_and_predicted_differ_by_mark_not_only_colour():
    w = MeasureChart()
    assert type(w.bars).__name__ == "Bars" and w.predicted.marker == "diamond"
    assert list(w.predicted.colors) == [ENGINE]
    # The key above the chart names each mark by its shape and place, not by colour alone.
    assert re.findall(r"(■|◆)</span> ([^<]+)", w.key.value) == [("■", "reference machine (bar)"),
                                                               ("◆", "engine (predicted)")]
    w = MeasureChart(a_lab())
    assert re.findall(r"(■|◆)</span> ([^<]+)", w.key.value) == [
        ("■", "this machine (left bar)"), ("■", "reference machine (right bar)"), ("◆", "engine (predicted)")]


def test_the_differences_are_listed_with_their_experiment():
    w = MeasureChart()
    assert "<b>threads-update</b>" in w.differences.value and "IPI per CPU, not per page" in w.differences.value


def test_in_pyodide_the_button_is_off_and_says_why(monkeypatch):
    monkeypatch.setattr(sys, "platform", "emscripten")
    w = MeasureChart()
    assert w.button.disabled and "Pyodide" in w.button.tooltip


def test_measure_this_machine_runs_the_lab_on_this_kernel(browser):
    if unavailable_reason() or len(os.sched_getaffinity(0)) < 2:
        pytest.skip(f"this machine cannot be measured on two CPUs: {unavailable_reason() or 'one CPU'}")
    w = MeasureChart(repeats=1)
    browser.click(w.button)
    assert w.own() is not None and list(w.bars.colors) == [THIS, REFERENCE]
    assert w.bars.y[0][0] > 0.5 > w.bars.y[0][1], "threads get shootdowns, processes none"
    assert not w.button.disabled and w.progress.value == ""
    # Measured again, the same counts may come out (real-time priority makes them exact): the note
    # still shows the reader that the kernel was asked again.
    assert "measurement 1)" in w.note.value
    browser.click(w.button)
    assert "measurement 2)" in w.note.value and "measurement 1)" not in w.note.value


def test_text_is_the_plain_text_repr():
    w = MeasureChart()
    assert repr(w) == w.text() and w._repr_mimebundle_()["text/plain"] == w.text()
