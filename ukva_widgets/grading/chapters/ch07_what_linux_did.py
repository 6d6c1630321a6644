"""Chapter 07 exercises: what Linux did — place each later kernel mapping in the argument, explain
why kmap_local and the LDT alias are safe, and explain in your own words why the vDSO's shared data
page or the per-CPU kmap slots are safe (manually graded; the seed picks which).

Sources: mm/highmem.c (kmap_local slots), arch/x86/kernel/ldt.c (commit f55f0501cbf6: two slots,
install_ldt's IPIs, "Two mms never share an LDT"), arch/x86/entry/vdso/vma.c and vsyscall_64.c,
arch/mips/kernel/vdso.c (the coloured data page), the process-local memory and ASI RFCs;
notebooks/sources.ipynb §1, §7.
"""

from __future__ import annotations

import random
from typing import Any

from ..items import AnswerError, Item, Part, explain, register
from ..sealed import table
from ..shapes import as_list
from .reasons import manual_item, reason_item

# What each mapping shows about chapters 05-06: where it lives, and which rule it follows.
KINDS = {
    "per-cpu-address": "each CPU uses addresses of its own, so one shared page table holds every CPU's mapping",
    "per-mm": "it belongs to one MM: mapped in that MM's page table, or placed at an address that MM chose",
    "shared-across-mms": "the same physical page mapped into every MM: data shared across MMs",
    "double-buffer": "a second copy so other CPUs keep a valid old one until they are told to switch: an "
                     "SMP-safe update",
    "fixed-global": "one address, the same page, in every process",
}
MAPPINGS = table("7.1")  # each mapping by its kind, in the answer key


def _make_classify(rng: random.Random) -> tuple[dict[str, Any], str]:
    per_mm = sorted(m for m, k in MAPPINGS.items() if k == "per-mm")
    others = sorted(m for m, k in MAPPINGS.items() if k != "per-mm")
    # Every variant: two per-MM mappings and three of the four other kinds, in a random order.
    chosen = rng.sample(per_mm, 2) + rng.sample(others, 3)
    rng.shuffle(chosen)
    kinds = "\n".join(f"  {k!r}: {v}" for k, v in KINDS.items())
    listing = "\n".join(f"  {i}: {m}" for i, m in enumerate(chosen))
    return ({"mappings": chosen},
            f"Chapter 07 met kernel mappings that Linux did build. Place each one:\n{listing}\n"
            f"with one of these kinds:\n{kinds}\n"
            "Answer with a list of 5 kinds, one per mapping in this order, e.g. [\"per-mm\", ...].")


def _judge_classify(settings: dict[str, Any], answer: Any) -> list[Part]:
    mappings = settings["mappings"]
    answer = as_list(answer, "the answer", len(mappings))
    bad = [v for v in answer if v not in KINDS]
    if bad:
        raise AnswerError(f"{bad[0]!r:.60} is not a kind; use one of {', '.join(map(repr, KINDS))}")
    each = 1.0 / len(mappings)
    parts, wrong = [], []
    for i, m in enumerate(mappings):
        ok = answer[i] == MAPPINGS[m]
        parts.append(Part(f"mapping {i}", each if ok else 0.0, each))
        if not ok:
            wrong.append(answer[i])
    if wrong:
        hints = {
            "per-cpu-address": "a per-CPU address differs from CPU to CPU; does this mapping?",
            "per-mm": "per MM means another MM has its own (or none); is that so here?",
            "shared-across-mms": "shared across MMs means the same physical page in every MM: is it?",
            "double-buffer": "double buffering needs two copies of one thing, old and new: are there two?",
            "fixed-global": "fixed-global means the same address in every process: is it?",
        }
        # Which kinds were used wrongly, never how many mappings: a count would give the answer away.
        explain(parts, "Not all placed right. " + " ".join(sorted({hints[w] for w in wrong})))
    return parts


register(Item("7.1", "place each of Linux's kernel mappings", 1.0, _make_classify, _judge_classify,
              hide_points=True))


reason_item("7.2", "predict, then explain why Linux's mappings are safe")  # its questions: answers/questions.py

manual_item("7.3", "explain why a mapping Linux kept is safe (manually graded)", (
    ("The vDSO's data page, one page in every MM",
     "The vDSO's data page is one physical page mapped into every process's address space. Which of "
     "chapter 06's three conditions for a per-MM area does that touch, why is it harmless on x86, and "
     "what must an architecture like MIPS do about it?"),
    ("kmap_local's per-CPU slots under hardware TLB fill",
     "Chapter 07 says Linux kept per-CPU kmap slots rather than a per-MM area for high-memory page tables. "
     "Explain why those per-CPU slots survive hardware TLB fill when chapter 05's per-CPU UKVA does not."),
))  # the rubric is in the solution notebook, never in this package
