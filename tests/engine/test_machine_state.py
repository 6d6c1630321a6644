"""The machine's state at its boundary: named parts a view reads by name (State, Cpu, Entry...),
the Machine's readers, raw choices as named tuples with no packed codes and no hidden size
limit, and verdicts that say what they assume."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Choice, Cpu, Kernel, Machine, State, explore, make_tasks
from ukva_widgets.engine.state import EVICT, FINISH, READ, SWITCH, UPDATE, Entry, Pending


def per_mm_pair(**options) -> Machine:
    return Machine(*make_tasks(threads=2), cpus=2, design="per-mm", **options)


def test_the_state_reads_by_name_and_still_by_position():
    m = per_mm_pair()
    m.step(Choice(SWITCH, 0, 0))
    m.step(Choice(READ, 0, m.layout.task_reads[0][0][0]))
    assert isinstance(m.state, State) and isinstance(m.cpu(0), Cpu)
    cpu = m.cpu(0)
    assert (cpu.current, cpu.loaded) == (0, 0) and m.state[0][0][0] == cpu.current
    (entry,) = cpu.tlb
    assert isinstance(entry, Entry) and entry.page == m.page_table(0)[entry.vpage]
    assert m.cpus == m.state.cpus and m.cpumask(0) == [0] and m.tlb_gen(0) == 0
    assert not m.is_lazy(0) and m.pending(0) is None and m.version(m.layout.task_reads[0][0][1]) == 0


def test_the_readers_follow_the_machine_as_it_steps():
    m = per_mm_pair(smp_safe=False)
    files = m.layout.task_reads[0][0][1]
    m.step(Choice(SWITCH, 0, 0))
    m.step(Choice(UPDATE, 0, files))
    assert m.pending(0) == Pending(files, 0, 0) and isinstance(m.pending(0), Pending)
    m.step(Choice(FINISH, 0, files, 0))
    assert m.pending(0) is None and m.version(files) == 1
    m.step(Choice(SWITCH, 0, -1))
    assert m.is_lazy(0) and m.cpumask(0) == [0]
    with pytest.raises(ValueError, match="cpu 5 does not exist"):
        m.cpu(5)


def test_a_cached_pages_data_reads_by_name():
    k = Kernel()
    p = k.fork(k.init)
    m = Machine(k, [p, k.fork(p)], cpus=1, design="per-mm", shared_page=True, cache="virtual")
    m.step(Choice(SWITCH, 0, 0))
    m.step(next(s for s in m.choices() if s.action == "write"))
    page = m.cache(m.layout.shared_index)
    assert page.written == 1 and page.memory == 0 and page.lines[0].dirty == 1
    evict = next(s.choice for s in m.choices() if s.action == "evict")
    assert evict.kind == EVICT and evict.arg == m.layout.shared_index and evict.sub == page.lines[0].key
    m.step(evict)
    assert m.cache(m.layout.shared_index).memory == 1


def test_choices_are_named_tuples_with_no_packed_codes_on_the_largest_machine():
    """Eight tasks of one MM, each with its own files and sighand tables: sixteen slot objects,
    every one updated and finished by its own choice, the object and the MM it maps named apart."""
    k = Kernel()
    p = k.fork(k.init)
    tasks = [p] + [k.clone(p, "CLONE_VM|CLONE_FS") for _ in range(7)]
    m = Machine(k, tasks, cpus=1, design="per-mm", smp_safe=False)
    assert len(m.layout.objects) == 16
    last = len(tasks) - 1
    m.step(Choice(SWITCH, 0, last))
    sighand = m.layout.task_reads[last][1][1]
    assert sighand == 15
    m.step(Choice(UPDATE, 0, sighand))
    (finish,) = [s for s in m.choices()]
    assert finish.choice == Choice(FINISH, 0, sighand, 0) and tasks[last].sighand.label in finish.label
    m.step(finish)
    assert m.version(sighand) == 1 and m.violation is None


def test_a_choice_that_is_not_enabled_is_refused_by_name():
    m = per_mm_pair()
    with pytest.raises(ValueError, match="not enabled now"):
        m.step(Choice(READ, 0, 0))


def test_every_verdict_says_what_it_assumes():
    k, tasks = make_tasks(threads=2)
    soft = explore(Machine(k, tasks, cpus=2, design="per-task", fill="software"))
    assert soft.verdict == "proven"
    assert ("every switch to a user task flushes this CPU's UKVA entry (software refill: a TLB hit never reaches "
            "the refill handler)") in soft.assumptions
    assert soft.text().splitlines()[-1] == "assumes: " + "; ".join(soft.assumptions)
    hard = explore(Machine(k, tasks, cpus=2, design="per-task"))
    assert hard.verdict == "violation" and not any("flushes this CPU" in a for a in hard.assumptions)
    assert hard.text().endswith("assumes: " + "; ".join(hard.assumptions))
    small = Machine(k, tasks, cpus=2, design="per-mm", tlb_size=1)
    assert "a full TLB (1 entry) evicts its lowest entry, not the least recently used" in small.assumptions()
    assert small.text().splitlines()[-1].startswith("assumes: 2 CPUs and these 2 tasks, each slot updated at most once")
    by_parts = explore(small)
    assert by_parts.method.startswith("part by part") and any("proves any TLB size" in a for a in by_parts.assumptions)
