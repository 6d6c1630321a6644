"""Chapter 07 exercises: what Linux did — place each later kernel mapping in the argument, explain
why kmap_local and the LDT alias are safe, and explain the vDSO's shared page (manually graded).

Sources: mm/highmem.c (kmap_local slots), arch/x86/kernel/ldt.c (commit f55f0501cbf6: two slots,
install_ldt's IPIs, "Two mms never share an LDT"), arch/x86/entry/vdso/vma.c and vsyscall_64.c,
arch/mips/kernel/vdso.c (the coloured data page), the process-local memory and ASI RFCs;
notebooks/sources.ipynb §1, §7.
"""

from __future__ import annotations

import random
from typing import Any

from ..items import AnswerError, Item, Part, explain, register
from ..shapes import as_list
from .reasons import Question, manual_item, reason_item

# What each mapping shows about chapters 05-06: where it lives, and which rule it follows.
KINDS = {
    "per-cpu-address": "each CPU uses addresses of its own, so one shared page table holds every CPU's mapping",
    "per-mm": "it belongs to one MM: mapped in that MM's page table, or placed at an address that MM chose",
    "shared-across-mms": "the same physical page mapped into every MM: data shared across MMs",
    "double-buffer": "a second copy so other CPUs keep a valid old one until they are told to switch: an "
                     "SMP-safe update",
    "fixed-global": "one address, the same page, in every process",
}
MAPPINGS = {
    "kmap_local_page()'s fixmap slot (idx + KM_MAX_IDX * cpu)": "per-cpu-address",
    # The vDSO's placement, not its pages: those are one set in every MM (vdso_fault, sources §7).
    "where an MM maps its vDSO (the address it records in mm->context.vdso)": "per-mm",
    "the vvar data page the vDSO reads (one physical page for all processes)": "shared-across-mms",
    "the second of PTI's two LDT slots (write_ldt maps the new LDT there)": "double-buffer",
    "the PTI LDT alias: read-only, non-global PTEs in the MM's own page tables": "per-mm",
    "the legacy vsyscall page at 0xffffffffff600000": "fixed-global",
    "ASI's asi[ASI_MAX_NUM] array inside mm_struct": "per-mm",
    "a kmalloc_proclocal() allocation (the process-local memory RFC)": "per-mm",
}


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
        explain(parts, f"{len(wrong)} of {len(mappings)} placed wrong. " +
                " ".join(sorted({hints[w] for w in wrong})))
    return parts


register(Item("7.1", "place each of Linux's kernel mappings", 1.0, _make_classify, _judge_classify))


reason_item("7.2", "predict, then explain why Linux's mappings are safe", (
    Question(
        "A 32-bit HIGHPTE kernel: on cpu0 a thread calls kmap_local_page() to reach a page-table page in "
        "high memory; at the same moment on cpu1 another thread of the same MM does the same for another "
        "page. Both CPUs walk the MM's one page table in hardware.",
        "can the two temporary mappings collide (one CPU reading the other's page)", ("yes", "no"), "no",
        "each CPU's slots are at addresses of its own, KM_MAX_IDX * cpu apart",
        (("kmap_local flushes the TLB on every switch, and that flush keeps the two CPUs apart",
          "the flush and restore at a task switch (kmap_ctrl) do not separate two CPUs running at the "
          "same moment: both mappings are live at once. Where are they?"),
         ("the threads share one MM, so they must use the same slot, and a lock orders them",
          "there is no lock on a kmap_local slot; the slot index depends on the CPU. What does that do "
          "to the address?"),
         ("a kmap_local mapping is per task, and follows the task if it moves to another CPU",
          "the task may not move while it holds the mapping (migrate_disable()): the slot's address is "
          "its CPU's, not the task's."))),
    Question(
        "With PTI, a thread calls modify_ldt() to change the MM's LDT while other threads of the MM run on "
        "other CPUs and use the old LDT.",
        "does write_ldt() map the new LDT into the slot the other CPUs are using", ("yes", "no"), "no",
        "it maps the new LDT into the other slot and IPIs the CPUs to switch over",
        (("the two slots are there because an MM can have two LDTs at a time",
          "an MM has one LDT, at a fixed place; the second slot exists only while it is being replaced."),
         ("each CPU has its own slot, so a CPU only ever changes its own",
          "both slots are in the MM's page table and belong to the MM, not to a CPU."),
         ("the other CPUs take a lock before they use the LDT, so rewriting it in place is safe",
          "a CPU loads segments from the LDT with no lock at all; the kernel can only tell the others "
          "to switch, by IPI."))),
))

manual_item("7.3", "explain the vDSO's shared page (manually graded)", (
    "The vDSO's data page is one physical page mapped into every process's address space. Which of "
    "chapter 06's three conditions for a per-MM area does that touch, why is it harmless on x86, and "
    "what must an architecture like MIPS do about it?",
    "Chapter 07 says Linux kept per-CPU kmap slots rather than a per-MM area for high-memory page tables. "
    "Explain why those per-CPU slots survive hardware TLB fill when chapter 05's per-CPU UKVA does not.",
), rubric=(
    "Prompt 1 (1 point): 0.4 - the condition is 'nothing shared between MMs' (shared across MMs), which "
    "matters with virtually indexed caches: one physical page at different virtual addresses can sit "
    "in different cache lines (aliases), so a write through one mapping may not be seen through another. "
    "0.3 - x86 caches are physically indexed (no aliasing), so the shared page is harmless there. 0.3 - "
    "MIPS colours the mapping (places the data page at a virtual address of the same cache colour as the "
    "kernel's mapping), as arch/mips/kernel/vdso.c does; flushing (flush_dcache_page) is an acceptable "
    "alternative answer. Prompt 2 (1 point): 0.5 - each CPU's slots are at addresses of their own "
    "(KM_MAX_IDX * cpu apart), so one shared page table holds every CPU's mappings at once and any "
    "hardware walker reads the truth. 0.5 - chapter 05's per-CPU UKVA needed ONE address to show a "
    "different page on each CPU, which one shared table cannot express; migrate_disable() keeps the task "
    "on the CPU whose slot it uses."))
