"""SPIN as the explorer's second engine: the exported Promela model is the same transition
system as the Python one, so both engines give the same verdict and the same shortest depth,
and SPIN's trail replays on a fresh Machine (explore refuses one that does not).

These run the real spin and C compiler.  Without them they skip, naming what is missing,
except under UKVA_REQUIRE_SPIN=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_explore import build_recipe, small_configurations
from test_verdicts import two_processes, two_threads, unequal_processes, vm_not_files

from ukva_widgets.engine import Kernel, Machine, explore, spin
from ukva_widgets.engine.explore import _search
from ukva_widgets.engine.model import Model
from ukva_widgets.engine.parts import cut

MISSING = spin.available()


@pytest.fixture
def needs_spin() -> None:
    if MISSING is not None:
        if os.environ.get("UKVA_REQUIRE_SPIN") == "1":
            pytest.fail(f"UKVA_REQUIRE_SPIN=1 but {MISSING}")
        pytest.skip(MISSING)


VERDICTS = [  # tests/engine/test_verdicts.py's twelve cases: (number, tasks, options)
    (1, two_threads, dict(cpus=2, design="per-task")),
    (2, two_threads, dict(cpus=1, design="per-task")),
    (3, two_threads, dict(cpus=1, design="per-task", flush_on_same_mm_switch=True)),
    (4, two_threads, dict(cpus=2, design="per-task", fill="software")),
    (5, two_processes, dict(cpus=2, design="per-task")),
    (6, two_threads, dict(cpus=2, design="per-cpu")),
    (7, two_threads, dict(cpus=2, design="per-cpu", fill="software")),
    (8, vm_not_files, dict(cpus=2, design="per-mm", smp_safe=True, slots="dynamic")),
    (9, two_threads, dict(cpus=2, design="per-mm", smp_safe=False)),
    (10, vm_not_files, dict(cpus=2, design="per-mm", slots="fixed")),
    (11, unequal_processes, dict(cpus=2, design="per-mm", cache="virtual", shared_page=True)),
    (12, two_processes, dict(cpus=2, design="per-mm", cache="physical", shared_page=True)),
]


def plain_states(model: Model) -> int:
    """How many states a breadth-first search with no reductions reaches (no violation assumed)."""
    start = model.initial()
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for choice in model.enabled(state):
            nxt, bad = model.next(state, choice)
            assert bad is None
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return len(seen)


def big_check(updates: int = 1) -> Machine:
    """The big check (benchmarks/bench_machine.py): as one machine, far too big to finish
    here; part by part, small."""
    k = Kernel()
    p = k.fork(k.init)
    tasks = [p] + [k.clone(p, "CLONE_VM|CLONE_FS") for _ in range(3)]
    return Machine(k, tasks, cpus=3, design="per-mm", smp_safe=True, updates=updates)


@pytest.mark.usefixtures("needs_spin")
@pytest.mark.parametrize("number,make,options", VERDICTS, ids=[f"verdict{v[0]}" for v in VERDICTS])
def test_both_engines_give_each_of_the_twelve_verdicts_at_the_same_depth(number, make, options):
    """The whole machine at once (parts=False): SPIN's model is the export of `m.model`."""
    m = Machine(*make(), **options)
    python, by_spin = explore(m, parts=False), explore(m, engine="spin", parts=False)
    assert by_spin.engine == "spin"
    assert (by_spin.verdict, len(by_spin.trace)) == (python.verdict, len(python.trace)), by_spin.text()
    if python.violation is not None:
        assert by_spin.violation.kind == python.violation.kind
        replay = m.fresh()
        for choice in by_spin.trace:
            replay.step(choice.label)
        assert replay.violation == by_spin.violation
    else:
        # The export is the plain transition system state for state: SPIN stores every state a
        # search without reductions reaches, plus the empty one before the start is loaded.
        assert by_spin.complete and by_spin.states == plain_states(m.model) + 1


@pytest.mark.slow
@pytest.mark.usefixtures("needs_spin")
def test_both_engines_agree_on_random_small_machines():
    """Same verdict and same shortest depth on machines drawn from every option (the draw of
    test_explore's plain-BFS comparison); a proven one has exactly the plain BFS's states."""
    verdicts, compared, by_parts = set(), 0, 0
    for recipe, opts in small_configurations(14, seed=14):
        m = Machine(*build_recipe(recipe), **opts)
        python = explore(m, max_states=20_000, parts=False)
        if python.verdict == "not proven":
            continue
        by_spin = explore(m, engine="spin", parts=False)
        assert (by_spin.verdict, len(by_spin.trace)) == (python.verdict, len(python.trace)), (recipe, opts)
        if python.verdict == "proven":
            assert by_spin.states == plain_states(m.model) + 1, (recipe, opts)
        if by_parts < 3 and cut(m.model) is not None:  # and part by part, each engine on each part
            python, by_spin = explore(m), explore(m, engine="spin")
            assert (by_spin.verdict, len(by_spin.trace)) == (python.verdict, len(python.trace)), (recipe, opts)
            by_parts += 1
        verdicts.add(python.verdict)
        compared += 1
    assert compared >= 10 and by_parts == 3 and verdicts == {"violation", "proven"}


@pytest.mark.usefixtures("needs_spin")
def test_spin_part_by_part_gives_the_per_mm_verdicts_and_proves_the_big_check():
    """explore cuts a per-mm machine into parts (derived models) and hands each to SPIN."""
    for number, make, options in (VERDICTS[7], VERDICTS[8], VERDICTS[11]):
        m = Machine(*make(), **options)
        python, by_spin = explore(m), explore(m, engine="spin")
        assert (by_spin.verdict, len(by_spin.trace)) == (python.verdict, len(python.trace)), number
    r = explore(big_check(), engine="spin")
    assert r.verdict == "proven" and r.method.startswith("part by part"), r.text()


@pytest.mark.usefixtures("needs_spin")
def test_spin_searches_a_derived_model_by_its_own_attributes_not_its_options():
    model = Machine(*two_threads(), cpus=2, design="per-mm", smp_safe=False).model
    L = model.layout
    # No updates left to make: the stale read of verdict 9 cannot happen.
    frozen = model.derived(L.replace(update_objects=tuple(() for _ in L.update_objects)))
    # One TLB entry and only the files slot read and updated: still the stale read, same depth.
    files = model.derived(L.replace(read_pages=tuple(pages[:1] for pages in L.read_pages),
                                    update_objects=tuple(objs[:1] for objs in L.update_objects)), tlb_size=1)
    found = []
    for s in (model, frozen, files):
        python, by_spin = _search(s, 100_000), spin.search(s, 100_000)
        assert (by_spin.choices is None, by_spin.complete) == (python.choices is None, python.complete)
        assert len(by_spin.choices or ()) == len(python.choices or ())
        if python.choices is None:
            assert by_spin.states == plain_states(s) + 1
        found.append(by_spin.choices is not None)
    assert found == [True, False, True]


@pytest.mark.usefixtures("needs_spin")
def test_spin_recycles_pcid_asids_round_robin_as_the_python_model_does():
    """More MMs than ASID slots: switch_mm takes the next slot round-robin and flushes it (with
    no more MMs than slots the model pins one slot per MM, so this needs a derived model)."""
    k = Kernel()
    p = k.fork(k.init)
    for design in ("per-task", "per-mm"):
        setup = Machine(k, [p, k.fork(p), k.fork(p)], cpus=1, design=design, pcid=True).model
        recycled = setup.derived(n_asids=2, static_asids=False)
        out = spin.search(recycled, 100_000)
        assert out.complete and out.states == plain_states(recycled) + 1 > plain_states(setup) + 1


@pytest.mark.usefixtures("needs_spin")
def test_bitstate_hashing_finds_a_violation_but_never_proves():
    proven = explore(Machine(*two_threads(), cpus=2, design="per-cpu", fill="software"), engine="spin",
                     bitstate=True)
    assert (proven.verdict, proven.complete, proven.violation) == ("not proven", False, None)
    assert proven.states > 1
    broken = Machine(*two_threads(), cpus=2, design="per-mm", smp_safe=False)
    found = explore(broken, engine="spin", bitstate=True)
    assert found.verdict == "violation" and len(found.trace) == len(explore(broken).trace)


@pytest.mark.usefixtures("needs_spin")
def test_the_same_machine_searched_again_reuses_its_verifier_and_the_oldest_is_dropped(monkeypatch):
    broken = Machine(*two_threads(), cpus=2, design="per-mm", smp_safe=False)
    before = set(spin._verifiers)
    first = explore(broken, engine="spin", parts=False)
    kept = dict(spin._verifiers)
    assert len(set(kept) - before) == 1, "the first search compiles a verifier and keeps it"
    again = explore(broken, engine="spin", parts=False)        # no new verifier: the same one ran
    assert spin._verifiers == kept and all(path.is_file() for path in kept.values())
    assert (again.verdict, again.trace, again.states) == (first.verdict, first.trace, first.states)
    assert again.verdict == "violation", "the kept verifier replays its trail too"
    monkeypatch.setattr(spin, "VERIFIERS_KEPT", 1)
    other = explore(broken, engine="spin", parts=False, max_states=9_999)   # another bound: another verifier
    (digest, path), = spin._verifiers.items()
    assert digest not in kept and path.is_file() and not any(p.exists() for p in kept.values())
    assert (other.verdict, len(other.trace)) == (first.verdict, len(first.trace))


@pytest.mark.usefixtures("needs_spin")
def test_the_bound_stops_spin_at_exactly_max_states_and_says_not_proven():
    r = explore(big_check(), engine="spin", max_states=5_000, parts=False)
    assert (r.verdict, r.complete, r.cancelled, r.states) == ("not proven", False, False, 5_000)


@pytest.mark.usefixtures("needs_spin")
def test_a_progress_callback_sees_spin_counting_and_can_cancel_it():
    reports = []

    def progress(p):
        reports.append(p)
        return p.states == 0  # let it compile, stop at pan's first count

    r = explore(big_check(3), engine="spin", max_states=50_000_000, progress=progress, parts=False)
    assert r.cancelled and r.verdict == "not proven" and not r.complete
    assert reports[-1].part == "spin" and reports[-1].states > 0 and r.states == reports[-1].states
    assert "cancelled" in r.text()


def test_a_missing_spin_is_named_with_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PATH with a C compiler and no spin (the real lookup, no mock)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is not None:
        (tmp_path / "gcc").symlink_to(compiler)
    monkeypatch.setenv("PATH", str(tmp_path))
    message = spin.available()
    assert message is not None and "spin" in message and "apt-get install spin gcc" in message
    if compiler is not None:
        assert "compiler" not in message
    with pytest.raises(spin.SpinUnavailable, match="apt-get install spin gcc"):
        explore(Machine(*two_threads(), cpus=1), engine="spin")
    monkeypatch.setenv("PATH", "")
    assert "spin and a C compiler" in spin.available()
