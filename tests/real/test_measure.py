"""`ukva measure` on the running kernel (ukva_widgets/real/measure.py, measure_lab.py): threads of one
MM get a shootdown per update on the other CPU, processes and lazy CPUs (nearly) none, switches
between processes write CR3 and between threads do not; the engine predicts the same pattern for
the same schedules; one CPU, no perf permission, Pyodide and bad input each give a clear message.
Counts and ratios only: nothing here asserts a time."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
from real_helpers import ROOT, can_drop_privileges, run_as_nobody, skip_or_fail

from ukva_widgets.real import measure as kernel_side
from ukva_widgets.real.measure_lab import close, explain, measure, predict, reference

# Enough repeats for "most", small enough to keep the file quick.
REPEATS, UPDATES, ROUND_TRIPS = 5, 500, 1000


def majority(samples: list[float], test) -> bool:
    return sum(1 for s in samples if test(s)) > len(samples) / 2


@pytest.fixture(scope="module")
def lab():
    """The lab once for the module, on (up to) two CPUs of this machine."""
    why = kernel_side.unavailable_reason()
    if why:
        skip_or_fail(f"the running kernel cannot be measured: {why}")
    if len(os.sched_getaffinity(0)) < 2:
        skip_or_fail("the shootdown experiments need two CPUs")
    result = measure(cpus=2, repeats=REPEATS, updates=UPDATES, round_trips=ROUND_TRIPS)
    missing = [e for e in result.experiments if e.why]
    if missing:
        skip_or_fail(f"{missing[0].name} could not be measured: {missing[0].why}")
    return {e.name: e for e in result.experiments}


def test_threads_of_one_mm_get_a_shootdown_per_update_on_the_other_cpu(lab):
    e = lab["threads-update"]
    assert e.cpus == sorted(os.sched_getaffinity(0))[:2] and e.repeats == REPEATS
    other = f"cpu{e.cpus[1]}"
    # One IPI per update lands on the other CPU, on most repeats (a busy machine may take a few).
    assert majority(e.measured["samples"], lambda s: s >= 0.9), e.measured
    assert e.measured["per_cpu"][other] >= 0.9
    assert e.measured["per_cpu"][f"cpu{e.cpus[0]}"] < 0.1, "the updating CPU flushes itself, by no IPI"


def test_processes_of_their_own_mms_get_nearly_no_shootdowns(lab):
    e = lab["processes-update"]
    assert e.measured["shootdowns_per_update"] < 0.05, e.measured
    assert majority(e.measured["samples"], lambda s: s < 0.1)
    assert e.measured["shootdowns_per_update"] * 10 < lab["threads-update"].measured["shootdowns_per_update"]


def test_lazy_cpus_are_skipped_whether_asleep_or_running_another_mm(lab):
    e = lab["lazy-update"]
    assert e.measured["shootdowns_per_update"] < 0.05, e.measured
    assert e.measured["other_mm"]["shootdowns_per_update"] < 0.25, e.measured["other_mm"]
    assert e.predicted["deferred_flushes_per_cpu"] == 1, "the engine flushes a skipped CPU once, on its return"


def test_the_engine_predicts_the_same_pattern_for_the_same_schedules(lab):
    predicted = {name: e.predicted for name, e in lab.items()}
    assert predicted["threads-update"]["shootdowns_per_update"] == 1
    assert predicted["processes-update"]["shootdowns_per_update"] == 0
    assert predicted["lazy-update"]["shootdowns_per_update"] == 0
    assert predicted["lazy-update"]["other_mm"]["shootdowns_per_update"] == 0
    for name in ("threads-update", "processes-update", "lazy-update"):
        e = lab[name]
        assert close(e.measured["shootdowns_per_update"], e.predicted["shootdowns_per_update"]), (name, e.measured)


def test_the_tracepoint_and_proc_interrupts_count_the_same_ipis_where_perf_is_permitted(lab):
    e = lab["threads-update"]
    if e.source != "tlb:tlb_flush":
        pytest.skip(f"tlb:tlb_flush not counted here: {e.measured.get('counts_by_reason_unavailable')}")
    assert abs(e.measured["interrupts_per_update"] - e.measured["shootdowns_per_update"]) <= 0.05
    reasons = e.measured["reasons_per_update"]
    first, other = (f"cpu{c}" for c in e.cpus)
    assert reasons["remote shootdown"][other] >= 0.9             # received where the thread runs
    assert list(reasons.values())[4][first] >= 0.9        # 'remote IPI send': the sender traces each flush once


def test_a_process_switch_writes_cr3_and_a_thread_switch_does_not(lab):
    e = lab["switch-thread-vs-process"]
    m, p = e.measured, e.predicted
    assert len(e.cpus) == 1 and m["switches"] == 2 * ROUND_TRIPS
    assert m["time_ratio"] > 0 and len(m["samples"]) == REPEATS     # reported, never judged
    assert (p["cr3_writes_per_thread_switch"], p["cr3_writes_per_process_switch"]) == (0, 1)
    if e.source != "tlb:tlb_flush":
        pytest.skip(f"CR3 writes not counted here: {m.get('counts_unavailable')}")
    assert m["cr3_writes_per_thread_switch"] < 0.1 and m["cr3_writes_per_process_switch"] >= 0.9
    if not m["pcid"]:   # without PCID every CR3 write flushes, as the engine says
        assert m["flushes_per_process_switch"] >= 0.9 and p["flushes_per_process_switch"] == 1


def test_every_experiment_says_where_and_why_measured_and_predicted_differ(lab):
    for e in lab.values():
        assert e.differences and e.source and not e.why
    assert "IPI per CPU, not per page" in lab["threads-update"].differences[0]
    assert "should_flush_tlb()" in lab["lazy-update"].differences[0]


def test_json_has_the_four_experiments_with_their_fields():
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "measure", "--json", "--repeats", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    if kernel_side.unavailable_reason() or len(os.sched_getaffinity(0)) < 2:
        skip_or_fail("the running kernel cannot be measured on two CPUs here")
    assert done.returncode == 0, done.stderr
    experiments = json.loads(done.stdout)
    assert [e["name"] for e in experiments] == list(kernel_side.EXPERIMENTS)
    for e in experiments:
        assert {"name", "cpus", "repeats", "measured", "predicted", "source"} <= set(e)
        assert e["repeats"] == 2
    for e in experiments[:3]:
        assert "shootdowns_per_update" in e["measured"] and "shootdowns_per_update" in e["predicted"]
        assert e["source"] in ("/proc/interrupts", "tlb:tlb_flush")
    assert "threads-update: repeat 2/2" in done.stderr, "progress is shown on stderr"


def test_one_cpu_measures_the_switches_and_says_why_not_the_shootdowns():
    if kernel_side.unavailable_reason():
        skip_or_fail(kernel_side.unavailable_reason())
    cpu = str(min(os.sched_getaffinity(0)))
    done = subprocess.run(["taskset", "-c", cpu, sys.executable, "-m", "ukva_widgets.cli", "measure", "--repeats", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout.count("not measured: only one CPU") == 3
    assert "a shootdown needs a second CPU" in " ".join(done.stdout.split())    # wrapped at 100 columns
    assert "CR3 writes per process switch" in done.stdout and "time, process / thread switch" in done.stdout


def test_every_task_runs_at_real_time_priority_where_permitted(lab):
    asked = subprocess.run([sys.executable, "-c", "import os; os.sched_setscheduler(0, os.SCHED_FIFO, "
                            "os.sched_param(1))"], capture_output=True, text=True, timeout=60)
    if asked.returncode != 0:
        pytest.skip(f"this process may not use SCHED_FIFO: {asked.stderr.strip().splitlines()[-1]}")
    for e in lab.values():
        assert e.measured["real_time"] is True, (e.name, e.measured.get("real_time_unavailable"))
        assert not any("normal priority" in d for d in e.differences)


NOBODY_LAB = """
    import json
    from ukva_widgets.real.measure_lab import measure
    lab = measure(cpus=2, {})
    print(json.dumps(lab.as_json()))
"""


@can_drop_privileges
def test_without_perf_permission_it_counts_from_proc_interrupts_and_says_why():
    if len(os.sched_getaffinity(0)) < 2:
        skip_or_fail("the shootdown experiments need two CPUs")
    # An unprivileged user who may raise priorities (CAP_SYS_NICE) but not trace: counts from /proc.
    out = json.loads(run_as_nobody(NOBODY_LAB.format("repeats=3, updates=300, round_trips=300"), keep="sys_nice"))
    threads, processes, _, switch = out
    assert all(e["measured"]["real_time"] for e in out), [e["measured"] for e in out]
    assert threads["source"] == processes["source"] == "/proc/interrupts"
    assert "root" in threads["measured"]["counts_by_reason_unavailable"]
    assert threads["measured"]["shootdowns_per_update"] >= 0.8 > 0.1 > processes["measured"]["shootdowns_per_update"]
    assert switch["source"] == "clock_gettime only" and "cr3_writes_per_process_switch" not in switch["measured"]
    assert "tlb:tlb_flush" in switch["differences"][0]


@can_drop_privileges
def test_without_a_real_time_limit_it_runs_at_normal_priority_and_says_so():
    if len(os.sched_getaffinity(0)) < 2:
        skip_or_fail("the shootdown experiments need two CPUs")
    out = json.loads(run_as_nobody(NOBODY_LAB.format(
        "repeats=1, updates=50, experiments=['threads-update', 'switch-thread-vs-process'], round_trips=50")))
    assert [e["name"] for e in out] == ["threads-update", "switch-thread-vs-process"]
    for e in out:
        assert e["measured"]["real_time"] is False
        assert "sched_setscheduler(SCHED_FIFO)" in e["measured"]["real_time_unavailable"]
        assert "ulimit -r" in e["differences"][-1] and "normal priority" in e["differences"][-1]


def test_pyodide_gets_a_sentence_and_the_reference_not_an_error(monkeypatch):
    monkeypatch.setattr(sys, "platform", "emscripten")
    lab = measure()
    assert not lab.measured_any
    assert all("Pyodide" in e.why for e in lab.experiments)
    assert [e.predicted["shootdowns_per_update"] for e in lab.experiments[:3]] == [1, 0, 0]


def test_the_reference_machine_showed_the_pattern():
    ref = reference()
    by_name = {e.name: e for e in ref.experiments}
    assert ref.machine.startswith("Linux") and not any(e.why for e in ref.experiments)
    assert by_name["threads-update"].measured["shootdowns_per_update"] >= 0.9
    assert by_name["processes-update"].measured["shootdowns_per_update"] < 0.05
    assert by_name["lazy-update"].measured["shootdowns_per_update"] < 0.05
    assert by_name["switch-thread-vs-process"].measured["cr3_writes_per_process_switch"] >= 0.9


@pytest.mark.parametrize("args, message", [
    (["--cpus", "0"], "cpus must be a whole number from 1 to 4"),
    (["--repeats", "0"], "repeats must be a whole number >= 1"),
])
def test_bad_input_is_one_line_saying_what_to_do(args, message):
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "measure", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == f"ukva measure: {message}, not 0"


def test_more_cpus_than_usable_is_refused_with_the_usable_count():
    if platform.system() != "Linux":
        skip_or_fail("sched_getaffinity is Linux's")
    usable = len(os.sched_getaffinity(0))
    if usable >= 4:
        pytest.skip("every CPU count the lab takes is usable here")
    with pytest.raises(ValueError, match=f"only {usable} CPU"):
        measure(cpus=usable + 1)


@pytest.mark.parametrize("ncpus", [2, 3, 4])
def test_the_engine_predicts_one_ipi_per_other_cpu_and_none_to_processes_or_lazy_cpus(ncpus):
    threads = predict("threads-update", ncpus, pcid=False)
    assert threads["shootdowns_per_update"] == ncpus - 1
    assert threads["per_cpu"] == {f"cpu{c}": (0.0 if c == 0 else 1.0) for c in range(ncpus)}
    assert predict("processes-update", ncpus, pcid=False)["shootdowns_per_update"] == 0
    lazy = predict("lazy-update", ncpus, pcid=True)
    assert lazy["shootdowns_per_update"] == lazy["other_mm"]["shootdowns_per_update"] == 0


def test_the_engine_predicts_pcid_keeps_the_tlb_across_process_switches():
    with_pcid, without = predict("switch-thread-vs-process", 1, pcid=True), predict("switch-thread-vs-process", 1, False)
    assert with_pcid["cr3_writes_per_process_switch"] == without["cr3_writes_per_process_switch"] == 1
    assert (with_pcid["flushes_per_process_switch"], without["flushes_per_process_switch"]) == (0, 1)
    assert with_pcid["cr3_writes_per_thread_switch"] == 0


def test_differences_name_the_kernel_mechanism_behind_a_gap():
    from ukva_widgets.real.measure import Machine
    vm = Machine("Linux", [0, 1], pcid=False, virtual=True, tracepoint=None)
    predicted = predict("threads-update", 2, pcid=False)
    fewer = explain("threads-update", {"shootdowns_per_update": 0.5, "counts_by_reason_unavailable": "x"},
                    predicted, vm)
    assert any("should_flush_tlb()" in d for d in fewer) and any("kvm_flush_tlb_multi()" in d for d in fewer)
    reasons = {name: {"cpu0": 0.0, "cpu1": 0.4 if name == "remote wrong CPU" else 0.0}
               for name in kernel_side.REASONS}
    more = explain("processes-update", {"shootdowns_per_update": 0.4, "reasons_per_update": reasons},
                   predict("processes-update", 2, False), vm)
    assert any("Some are 'remote wrong CPU'" in d and "209954cbc7d0" in d for d in more)
    assert any("other programs" in d for d in more)


def test_the_reference_stores_measurements_and_recomputes_the_engines_side(lab, tmp_path):
    from ukva_widgets.real.measure_lab import Lab, save_reference

    measured = Lab("Linux test machine", list(lab.values()),
                   kernel_side.Machine("Linux test machine", [0, 1], pcid=True, virtual=False, tracepoint=None))
    save_reference(measured, "a test", tmp_path / "ref.json")
    stored = json.loads((tmp_path / "ref.json").read_text())
    assert all(set(e) == {"name", "cpus", "repeats", "measured", "source"} for e in stored["experiments"])
    again = reference(tmp_path / "ref.json")
    assert [e.measured for e in again.experiments] == [e.measured for e in lab.values()]
    switch = again.experiments[-1]
    assert switch.predicted["flushes_per_process_switch"] == 0, "predicted afresh, for a CPU with PCID"
    assert any("This CPU has PCIDs" in d for d in switch.differences)


def test_exercise_6_5_asks_for_the_engines_count_of_each_schedule():
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    threads2, processes2, threads3 = QUESTIONS["6.5"]
    assert threads2.outcome == f"{predict('threads-update', 2, False)['shootdowns_per_update']:g}"
    assert processes2.outcome == f"{predict('processes-update', 2, False)['shootdowns_per_update']:g}"
    assert threads3.outcome == f"{predict('threads-update', 3, False)['shootdowns_per_update']:g}"
