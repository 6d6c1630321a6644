"""The explorer: shortest counterexamples, the bound that says "not proven", symmetry."""

from __future__ import annotations

import itertools

import pytest

from ukva_widgets.engine import Choice, Kernel, Machine, explore, reference_search
from ukva_widgets.engine.explore import _violates_at_end
from ukva_widgets.engine.parts import cut
from ukva_widgets.engine.state import SWITCH, UPDATE
from ukva_widgets.engine.symmetry import Reduction

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def threads(n: int = 2) -> tuple[Kernel, list]:
    k = Kernel()
    p = k.fork(k.init)
    return k, [p] + [k.clone(p, THREAD) for _ in range(n - 1)]


def violates_within(m: Machine, depth: int) -> bool:
    """Brute force, no dedup, no symmetry: does any sequence of `depth` steps or fewer violate?"""
    if m.violation is not None:
        return True
    if depth == 0:
        return False
    for choice in m.choices():
        m.step(choice)
        found = violates_within(m, depth - 1)
        m.undo()
        if found:
            return True
    return False


@pytest.mark.parametrize("options", [dict(cpus=2, design="per-task"), dict(cpus=1, design="per-task"),
                                     dict(cpus=2, design="per-cpu"), dict(cpus=2, design="per-mm", smp_safe=False)])
def test_the_trace_is_a_shortest_counterexample(options):
    m = Machine(*threads(), **options)
    r = explore(m)
    assert r.violation is not None
    assert violates_within(m.fresh(), len(r.trace))
    assert not violates_within(m.fresh(), len(r.trace) - 1)


@pytest.mark.parametrize("parts", [True, False])
def test_reaching_the_bound_says_not_proven_instead_of_running_out(parts):
    m = Machine(*vm_tasks(4), cpus=3, design="per-mm", updates=2)
    r = explore(m, max_states=100, parts=parts)
    assert (r.verdict, r.complete, r.states, r.violation) == ("not proven", False, 100, None)
    assert "not proven" in r.text()


def test_a_complete_search_is_a_proof_and_says_so():
    r = explore(Machine(*threads(4), cpus=3, design="per-mm"), parts=False)
    assert r.verdict == "proven" and r.complete and r.method == "the whole machine"
    assert r.text() == (f"no violation: proven over all {r.states} reachable states\n"
                        f"assumes: {'; '.join(r.assumptions)}")
    r = explore(Machine(*threads(4), cpus=3, design="per-mm"))
    assert r.verdict == "proven" and r.complete and r.method.startswith("part by part: 2 parts")
    assert r.text().splitlines()[0] == (f"no violation: proven over every reachable state, searched {r.method}: "
                                        f"{r.states} states in all")


@pytest.mark.parametrize("updates", [1, 2, 3])
def test_the_big_check_is_proven_part_by_part(updates):
    """The big check: 3 CPUs, four tasks made with CLONE_VM|CLONE_FS (8 private tables), per-mm,
    SMP-safe, dynamic slots, hardware fill, a TLB of 4 entries.  The whole machine is out of reach
    (millions of states for one update); slot by slot it is a few hundred."""
    m = Machine(*vm_tasks(4), cpus=3, design="per-mm", updates=updates)
    parts = cut(m.model)
    assert [part.count for part in parts] == [8]  # every table's slot is the same part up to a renaming
    r = explore(m)
    assert r.verdict == "proven" and r.complete and r.states < 5_000
    assert "8 parts" in r.method and "1 searched" in r.method


@pytest.mark.parametrize("tlb_size", [2, 4])
def test_a_violation_found_in_a_part_is_taken_on_the_machine_itself_where_a_tlb_can_evict(tlb_size):
    """A part's TLBs never evict; this machine's may (4 slots, a TLB of 2), which could prevent
    the part's violation: its trace is taken on the machine itself, where it breaks at the same
    step, so it is the machine's shortest (no violation of the machine is shorter than the
    parts' shortest); with room for every slot (a TLB of 4) that holds without taking it."""
    plain = Machine(*vm_tasks(2), cpus=2, design="per-mm", smp_safe=False, tlb_size=tlb_size)
    r, whole = explore(plain), explore(plain, parts=False)
    assert r.verdict == "violation" and (r.verdict, len(r.trace)) == (whole.verdict, len(whole.trace))
    assert r.method.startswith("part by part") and plain.model.can_evict() == (tlb_size == 2)
    assert _violates_at_end(plain.model, [step.choice for step in r.trace])
    assert not _violates_at_end(plain.model, [step.choice for step in r.trace[:-1]])


def test_each_part_takes_only_its_own_steps():
    k, tasks = vm_tasks(3)
    m = Machine(k, tasks, cpus=2, design="per-mm", tlb_size=8)
    (label, part, count), = [p for p in cut(m.model) if "files" in p.label]
    assert count == 6 and label == f"slot {tasks[0].files.label}"  # every files and sighand table's slot
    state = m.model.initial()
    state, _ = part.next(state, Choice(SWITCH, 0, 0))   # cpu0 runs the first task
    kinds = {(choice.kind, choice.arg) for choice in part.enabled(state)}
    files_page = m.layout.task_reads[0][0][0]
    assert (1, files_page) in kinds and all(k != 1 or arg == files_page for k, arg in kinds)
    assert {arg for k, arg in kinds if k == 2} == {m.layout.task_reads[0][0][1]}  # updates: its files table only
    # The part steps with its own tables (handlers bound to it) and TLBs that never evict.
    assert all(h.__self__ is part for h in part.handlers) and not part.can_evict()
    # Under the other designs there is one page to read: nothing to cut.
    assert cut(Machine(k, tasks, cpus=2, design="per-task").model) is None


@pytest.mark.slow
def test_parts_agree_with_the_whole_machine_where_the_whole_machine_is_searchable():
    """Same verdict, same shortest depth, part by part and all at once, on per-mm machines
    with several tables each: every option, TLBs that can evict and TLBs that cannot."""
    import random

    rng = random.Random(14)
    compared, by_parts, verdicts = 0, 0, set()
    for _ in range(36):
        recipe = rng.choice(["vm2", "vm3", "vm+fork", "files", "fork"])
        k = Kernel()
        p = k.fork(k.init)
        tasks = {"vm2": lambda k, p: [p, k.clone(p, "CLONE_VM|CLONE_FS")],
                 "vm3": lambda k, p: [p, k.clone(p, "CLONE_VM"), k.clone(p, "CLONE_VM|CLONE_FILES")],
                 "vm+fork": lambda k, p: [p, k.clone(p, "CLONE_VM"), k.fork(p)],
                 "files": lambda k, p: [p, k.clone(p, "CLONE_FILES")],
                 "fork": lambda k, p: [p, k.fork(p)]}[recipe](k, p)
        opts = dict(cpus=rng.choice([1, 2, 2, 3]) if len(tasks) == 2 else rng.choice([1, 2]),
                    design="per-mm", fill=rng.choice(["hardware", "software"]), pcid=rng.random() < 0.3,
                    smp_safe=rng.random() < 0.6, slots=rng.choice(["dynamic", "dynamic", "fixed"]),
                    cache=rng.choice(["physical", "virtual"]), tlb_size=rng.choice([1, 2, 4, 8]),
                    page_tables=rng.choice(["shared", "per-cpu"]), updates=rng.choice([1, 1, 2]),
                    shared_placement=rng.choice(["per-mm allocator", "same colour"]))
        if recipe in ("files", "fork", "vm+fork") and rng.random() < 0.5:
            opts["shared_page"] = True
        m = Machine(k, tasks, **opts)
        whole = explore(m, parts=False, max_states=60_000)
        if whole.verdict == "not proven":
            continue
        r = explore(m)
        by_parts += cut(m.model) is not None
        assert (r.verdict, len(r.trace)) == (whole.verdict, len(whole.trace)), (recipe, opts, r.method)
        verdicts.add(r.verdict)
        compared += 1
    assert compared >= 26 and by_parts >= 22 and verdicts == {"violation", "proven"}, (compared, by_parts, verdicts)


def test_symmetry_reduction_identifies_states_that_differ_only_by_cpu_numbers():
    k, (p, t) = threads()
    a = Machine(k, [p, t], cpus=2, design="per-mm")
    b = a.fresh()
    a.step(f"cpu0: switch to {a.task_label(0)}")
    b.step(f"cpu1: switch to {b.task_label(0)}")
    assert a.state != b.state and key(a) == key(b)
    # Per-cpu pages name their CPU: renaming the CPUs renames the pages too.
    c = Machine(k, [p, t], cpus=2, design="per-cpu")
    d = c.fresh()
    c.step(f"cpu0: switch to {c.task_label(0)}")
    d.step(f"cpu1: switch to {d.task_label(0)}")
    assert c.state.page_tables != d.state.page_tables and key(c) == key(d)
    # ... so a page table naming the other CPU is another state.
    cpus, tables, *rest = c.state
    other = Reduction(c.model).key((cpus, ((1,),), *rest))
    assert other != key(c)


def key(m: Machine) -> tuple:
    """The machine's state as the explorer's visited set sees it."""
    return Reduction(m.model).key(m.state)


def reference_answer(m: Machine) -> tuple[str, int]:
    """The reference search's answer: (verdict, length of a shortest trace)."""
    r = reference_search(m)
    return r.verdict, len(r.trace)


@pytest.mark.parametrize("options,kthread", [
    (dict(cpus=2, design="per-mm"), True), (dict(cpus=1, design="per-mm", pcid=True), True),
    (dict(cpus=2, design="per-mm", smp_safe=False, pcid=True), True),
    (dict(cpus=2, design="per-task", pcid=True), True),
    (dict(cpus=2, design="per-task", fill="software"), True), (dict(cpus=2, design="per-cpu", fill="software"), True),
])
def test_the_reductions_change_no_verdict_and_no_trace_length(options, kthread):
    k = Kernel()
    p = k.fork(k.init)
    tasks = [p, k.clone(p, THREAD), k.fork(p)] + ([k.kthread("kworker")] if kthread else [])
    m = Machine(k, tasks, **options)
    r = explore(m)
    assert reference_answer(m) == (r.verdict, len(r.trace))


def test_explore_starts_from_the_start_whatever_the_machine_did():
    m = Machine(*threads(), cpus=1)
    m.step(0)
    m.step(0)
    r, fresh = explore(m), explore(m.fresh())
    assert [c.label for c in r.trace] == [c.label for c in fresh.trace] and r.states == fresh.states


def test_bad_max_states_is_refused():
    m = Machine(*threads())
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_states must be a positive int"):
            explore(m, max_states=bad)


@pytest.mark.slow
def test_every_design_combination_gets_a_verdict():
    k = Kernel()
    p = k.fork(k.init)
    tasks = [p, k.clone(p, THREAD), k.fork(p)]
    for design, fill, pcid in itertools.product(("per-task", "per-cpu", "per-mm"), ("hardware", "software"),
                                                 (False, True)):
        r = explore(Machine(k, tasks, cpus=2, design=design, fill=fill, pcid=pcid, tlb_size=2), max_states=200_000)
        assert r.verdict in ("violation", "proven"), (design, fill, pcid)
        expected_ok = design == "per-mm" or fill == "software"
        assert (r.verdict == "proven") == expected_ok, (design, fill, pcid, r.text())


def test_an_smp_safe_update_leaves_the_same_state_whichever_cpu_makes_it():
    """Why the search offers each update once: the successors are equal (only counters differ)."""
    k, tasks = threads(3)
    m = Machine(k, tasks, cpus=3, design="per-mm")
    for c in range(3):
        m.step(f"cpu{c}: switch to {m.task_label(c)}")
        m.step(f"cpu{c}: read slot {tasks[c].files.label}")
    model, state = m.model, m.state
    o = m.layout.task_reads[0][0][1]
    successors = {model.next(state, Choice(UPDATE, c, o))[0] for c in range(3)}
    assert len(successors) == 1
    searched = [choice for choice, _ in Reduction(model).enabled(state) if choice.kind == UPDATE]
    offered = [choice for choice in model.enabled(state) if choice.kind == UPDATE]
    assert len(offered) == 3 * len(searched)


def test_plain_updates_are_each_searched_since_they_flush_only_their_own_cpu():
    k, tasks = threads(2)
    m = Machine(k, tasks, cpus=2, design="per-mm", smp_safe=False)
    for c in range(2):
        m.step(f"cpu{c}: switch to {m.task_label(c)}")
        m.step(f"cpu{c}: read slot {tasks[c].files.label}")
    searched = [choice for choice, _ in Reduction(m.model).enabled(m.state) if choice.kind == UPDATE]
    assert {choice.cpu for choice in searched} == {0, 1}


def small_configurations(n: int, seed: int = 2002) -> list[tuple[str, dict]]:
    """`n` small machines drawn from every option: (recipe, options).  Small enough for a
    search with no reductions at all."""
    import random

    rng = random.Random(seed)
    recipes = ["thread", "vm", "fork", "files", "thread+kthread", "alone", "vm", "vm+vm", "vm+files"]
    out = []
    while len(out) < n:
        recipe = rng.choice(recipes)
        design = rng.choice(["per-task", "per-cpu", "per-mm"])
        opts = dict(cpus=rng.choice([1, 2]), design=design, fill=rng.choice(["hardware", "software"]),
                    pcid=rng.random() < 0.3, flush_on_same_mm_switch=rng.random() < 0.3,
                    page_tables=rng.choice(["shared", "per-cpu"]), tlb_size=rng.choice([1, 2, 4, 8, 8]))
        if design == "per-mm":
            opts.update(smp_safe=rng.random() < 0.5, slots=rng.choice(["dynamic", "fixed"]),
                        cache=rng.choice(["physical", "virtual"]),
                        shared_placement=rng.choice(["per-mm allocator", "same colour"]))
            if recipe in ("fork", "files") and rng.random() < 0.5:
                opts["shared_page"] = True
        out.append((recipe, opts))
    return out


def build_recipe(recipe: str) -> tuple[Kernel, list]:
    k = Kernel()
    p = k.fork(k.init)
    other = {"thread": lambda: k.clone(p, THREAD), "vm": lambda: k.clone(p, "CLONE_VM"),
             "fork": lambda: k.fork(p), "files": lambda: k.clone(p, "CLONE_FILES"),
             "thread+kthread": lambda: k.clone(p, THREAD), "alone": lambda: None,
             "vm+vm": lambda: None, "vm+files": lambda: None}[recipe]()
    tasks = [p] + ([other] if other is not None else [])
    if recipe in ("vm+vm", "vm+files"):  # three tasks of one MM, the third with its own tables or p's files
        tasks = [p, k.clone(p, "CLONE_VM"), k.clone(p, "CLONE_VM" if recipe == "vm+vm" else "CLONE_VM|CLONE_FILES")]
    if recipe == "thread+kthread":
        tasks.append(k.kthread("kworker"))
    return k, tasks


def test_running_twins_are_one_state_to_the_explorer_under_per_mm():
    k, (p, t, u) = threads(3)
    a = Machine(k, [p, t, u], cpus=2, design="per-mm")
    b = a.fresh()
    a.step(f"cpu0: switch to {a.task_label(0)}")
    b.step(f"cpu0: switch to {b.task_label(2)}")
    assert a.state != b.state and key(a) == key(b)
    c = Machine(k, [p, t, u], cpus=2, design="per-task")
    d = c.fresh()
    c.step(f"cpu0: switch to {c.task_label(0)}")
    d.step(f"cpu0: switch to {d.task_label(2)}")
    assert key(c) != key(d)  # per-task pages name tasks


def vm_tasks(n: int) -> tuple[Kernel, list]:
    """`n` tasks of one MM made with CLONE_VM|CLONE_FS: each its own files and sighand tables."""
    k = Kernel()
    p = k.fork(k.init)
    return k, [p] + [k.clone(p, "CLONE_VM|CLONE_FS") for _ in range(n - 1)]


def test_tasks_that_differ_only_by_their_private_tables_are_one_state_up_to_renaming():
    k, tasks = vm_tasks(3)
    a = Machine(k, tasks, cpus=2, design="per-mm", tlb_size=8)
    assert len(Reduction(a.model).perms) == 6  # the 3! renamings, identity included
    b = a.fresh()
    for m, t in ((a, tasks[0]), (b, tasks[2])):
        m.step(f"cpu0: switch to {m.task_label(tasks.index(t))}")
        m.step(f"cpu0: read slot {t.files.label}")
        m.step(f"cpu0: update slot {t.files.label} (remap to a new page)")
    assert a.state != b.state and key(a) == key(b)
    c = a.fresh()  # the same task updating its sighand table instead is another state
    c.step(f"cpu0: switch to {c.task_label(0)}")
    c.step(f"cpu0: read slot {tasks[0].files.label}")
    c.step(f"cpu0: update slot {tasks[0].sighand.label} (remap to a new page)")
    assert key(c) != key(a)


def test_renaming_is_off_where_a_full_tlb_evicts_by_slot_order():
    """The victim of a fill into a full TLB is its lowest entry: renaming slots changes which."""
    k, tasks = vm_tasks(3)
    assert Reduction(Machine(k, tasks, cpus=2, design="per-mm", tlb_size=4).model).perms == []
    assert Reduction(Machine(k, tasks, cpus=2, design="per-task", tlb_size=8).model).perms == []


@pytest.mark.slow
def test_under_per_mm_a_right_tlb_entry_means_a_right_page_table():
    """The lemma the part-by-part search rests on (explore._by_parts): along any run with no
    violation yet, a TLB entry that holds the newest version of a slot's table is a copy of
    what the page table maps, so dropping it can only turn a right read into a right walk."""
    from ukva_widgets.engine import random_run

    checked = 0
    for n, (recipe, opts) in enumerate(small_configurations(200, seed=6)):
        if opts["design"] != "per-mm":
            continue
        m = Machine(*build_recipe(recipe), **{**opts, "cpus": 2})
        s = m.layout
        for seed in range(3):
            m.reset()
            for choice in random_run(m.fresh(), 40, seed=seed + 10 * n):
                m.step(choice)
                if m.violation is not None:
                    break
                for cpu in m.cpus:
                    for a, v, page in cpu.tlb:
                        mm = cpu.asids[a].mm
                        for i in range(len(s.tasks)):
                            if s.task_mm[i] != mm:
                                continue
                            for w, o in s.task_reads[i]:
                                if w == v and page == o * s.stride + m.version(o):
                                    checked += 1
                                    assert all(m.page_table(mm, x)[v] == page for x in range(len(m.cpus))), (recipe, opts)
    assert checked > 1000
