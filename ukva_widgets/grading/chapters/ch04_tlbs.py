"""Chapter 04 exercises: TLBs — which switches write CR3, and what PCID saves in flushes and IPIs.

Expected answers come from replaying the schedule on the engine's SMP machine, which follows
x86 switch_mm_irqs_off (no CR3 write when the next task has the loaded MM), PCID with 6 dynamic
ASIDs per CPU, and flush_tlb_mm_range's shootdown IPIs (notebooks/sources.ipynb §6).
"""

from __future__ import annotations

import random
from typing import Any

from ..items import Item, Part, explain, register
from ..sealed import table
from ..shapes import as_bool, as_dict, as_int, as_list
from .machines import machine, random_schedule, replay, setup_text
from .reasons import reason_item

COUNTED = ("cr3_writes", "full_flushes", "ipis")


def _make_schedule(rng: random.Random) -> dict[str, Any]:
    """A schedule on one process's threads plus one other process, preferably one where PCID
    saves flushes (most random schedules of ten steps are; a few tries find one)."""
    for _ in range(100):
        cpus = rng.choice([1, 2])
        opts = {"cpus": cpus, "design": "per-mm"}
        schedule = random_schedule(machine(2, 1, **opts), rng, 10, ("switch", "read", "update"))
        plain, pcid = machine(2, 1, **opts), machine(2, 1, pcid=True, **opts)
        if replay(plain, schedule)[1] is None and replay(pcid, schedule)[1] is None and \
                plain.counters["full_flushes"] != pcid.counters["full_flushes"]:
            break
    return {"options": opts, "schedule": schedule}


def _schedule_text(settings: dict[str, Any]) -> str:
    steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(settings["schedule"]))
    return f"{setup_text(2, 1, **settings['options'])}\n\nThe schedule:\n{steps}"


def _make_counts(rng: random.Random) -> tuple[dict[str, Any], str]:
    settings = _make_schedule(rng)
    return (settings,
            f"A machine with one process of two threads (tasks 2 and 3, one MM) and one other process "
            f"(task 4):\n\n{_schedule_text(settings)}\n\nCount CR3 writes, full TLB flushes and IPIs "
            "over the whole schedule, without PCID and with it (pcid=True). Answer with a dict:\n"
            '  {"no_pcid": {"cr3_writes": n, "full_flushes": n, "ipis": n}, "pcid": {...the same keys}}')


def _judge_counts(settings: dict[str, Any], answer: Any) -> list[Part]:
    answer = as_dict(answer, "the answer", ["no_pcid", "pcid"])
    parts = []
    each = 1.0 / (2 * len(COUNTED))
    hints = {
        "cr3_writes": "a switch writes CR3 only when the next task's MM is not the loaded one "
                      "(idle keeps the old MM loaded: lazy TLB)",
        "full_flushes": "without PCID every CR3 write drops the whole TLB; with PCID a CPU keeps an "
                        "ASID per recently used MM and flushes only when it must start one afresh",
        "ipis": "an update shoots down the entry on the other CPUs that have the MM loaded and are "
                "not lazy, one IPI each",
    }
    for mode, pcid in (("no_pcid", False), ("pcid", True)):
        counts = as_dict(answer[mode], f"answer[{mode!r}]", COUNTED)
        m = machine(2, 1, pcid=pcid, **settings["options"])
        replay(m, settings["schedule"])
        for name in COUNTED:
            got = as_int(counts[name], f"answer[{mode!r}][{name!r}]")
            want = m.counters[name]
            if got == want:
                parts.append(Part(f"{mode}.{name}", each, each))
            else:
                side = "too many" if got > want else "too few"
                parts.append(Part(f"{mode}.{name}", 0.0, each, f"{mode} {name}: {side}; {hints[name]}."))
    return parts


register(Item("4.1", "count CR3 writes, flushes and IPIs, with and without PCID", 1.0, _make_counts, _judge_counts))


def _make_cr3(rng: random.Random) -> tuple[dict[str, Any], str]:
    settings = _make_schedule(rng)
    n = sum(1 for s in settings["schedule"] if ": switch to " in s)
    return (settings,
            f"The same kind of machine, without PCID:\n\n{_schedule_text(settings)}\n\nFor each of the "
            f"{n} switches, in order, does it write CR3? Answer with a list of {n} True/False.")


def _judge_cr3(settings: dict[str, Any], answer: Any) -> list[Part]:
    schedule = settings["schedule"]
    switches = [i for i, s in enumerate(schedule) if ": switch to " in s]
    answer = [as_bool(a, "each entry") for a in as_list(answer, "the answer", len(switches))]
    m = machine(2, 1, **settings["options"])
    truth = []
    for i, label in enumerate(schedule):
        before = m.counters["cr3_writes"]
        m.step(label)
        if i in switches:
            truth.append(m.counters["cr3_writes"] > before)
    each = 1.0 / len(switches)
    parts = [Part(f"switch {j + 1}", each if a == t else 0.0, each) for j, (a, t) in enumerate(zip(answer, truth))]
    extra = sum(1 for a, t in zip(answer, truth) if a and not t)
    missed = sum(1 for a, t in zip(answer, truth) if t and not a)
    hints = []
    if extra:
        hints.append(f"{extra} switch(es) you say write CR3 do not: what does the CPU have loaded "
                     "already (a thread of the same MM, or the MM an idle CPU kept lazily)?")
    if missed:
        hints.append(f"{missed} switch(es) write CR3 that you said do not: a different MM must be loaded.")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("4.2", "which switches write CR3", 1.0, _make_cr3, _judge_cr3))

# notebooks/sources.ipynb §6: x86 walks page tables in hardware; MIPS (arch/mips/mm/tlbex.c),
# PowerPC 4xx/8xx and sparc64 (TSB plus a miss trap) refill the TLB in software.
FILL = table("4.3")  # in the answer key


def _make_fill(rng: random.Random) -> tuple[dict[str, Any], str]:
    archs = sorted(FILL)
    rng.shuffle(archs)
    return ({"archs": archs},
            "Who fills the TLB on a miss, the hardware (a page-table walker) or the kernel (a software "
            f"refill handler)? For each of {', '.join(archs)} answer \"hardware\" or \"software\", "
            "in a dict keyed by the names.")


def _judge_fill(settings: dict[str, Any], answer: Any) -> list[Part]:
    archs = settings["archs"]
    answer = as_dict(answer, "the answer", archs)
    each = 1.0 / len(archs)
    parts, wrong = [], 0
    for a in archs:
        if answer[a] not in ("hardware", "software"):
            parts.append(Part(a, 0.0, each, f"{a}: answer \"hardware\" or \"software\"."))
            continue
        ok = answer[a] == FILL[a]
        wrong += not ok
        parts.append(Part(a, each if ok else 0.0, each))
    if wrong:
        explain(parts, (parts[-1].feedback + " " if parts[-1].feedback else "") + (
            "Not all right: on a TLB miss, does the CPU walk the page tables itself (so whatever the "
            "shared table says is what it loads), or does it trap to a kernel handler that decides "
            "what to load? Chapter 04's section on filling the TLB names which architectures do which."))
    return parts


register(Item("4.3", "hardware walk or software refill", 1.0, _make_fill, _judge_fill, hide_points=True))


# 4.4 predict-then-explain: when a switch reloads CR3, and who gets a shootdown IPI
# (x86 switch_mm_irqs_off, flush_tlb_mm_range; notebooks/sources.ipynb §6).
reason_item("4.4", "predict, then explain a switch or a shootdown")  # its questions: answers/questions.py
