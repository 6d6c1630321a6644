"""The items whose right answers are facts from the book's sources, not something the engine computes:
each table maps an option the problem may show to its right answer. The chapters read them through
`sealed.table(item_id)`, never from here directly.
"""

from typing import Any

TABLES: dict[str, dict[str, Any]] = {
    # 1.4. 4.2BSD struct user (notebooks/sources.ipynb §8): what a process had exactly one of, in its
    # u-area, against tables the whole system had one of (never per process).
    "1.4": {
        "the open file table (u_ofile)": True,
        "the signal actions (u_signal)": True,
        "the current directory (u_cdir)": True,
        "the root directory (u_rdir)": True,
        "the file creation mask (u_cmask)": True,
        "the per-process kernel stack": True,
        "the system-wide inode table": False,
        "the buffer cache": False,
        "the process table (proc[])": False,
        "the mount table": False,
    },
    # 4.3. notebooks/sources.ipynb §6: x86 walks page tables in hardware; MIPS (arch/mips/mm/tlbex.c),
    # PowerPC 4xx/8xx and sparc64 (TSB plus a miss trap) refill the TLB in software.
    "4.3": {"x86": "hardware", "MIPS": "software", "PowerPC 4xx": "software", "PowerPC 8xx": "software",
            "sparc64": "software"},
    # 7.1. Each later kernel mapping, by the kind chapters 05-06 give it (ch07_what_linux_did.KINDS).
    "7.1": {
        "kmap_local_page()'s fixmap slot (idx + KM_MAX_IDX * cpu)": "per-cpu-address",
        # The vDSO's placement, not its pages: those are one set in every MM (vdso_fault, sources §7).
        "where an MM maps its vDSO (the address it records in mm->context.vdso)": "per-mm",
        "the vvar data page the vDSO reads (one physical page for all processes)": "shared-across-mms",
        "the second of PTI's two LDT slots (write_ldt maps the new LDT there)": "double-buffer",
        "the PTI LDT alias: read-only, non-global PTEs in the MM's own page tables": "per-mm",
        "the legacy vsyscall page at 0xffffffffff600000": "fixed-global",
        "ASI's asi[ASI_MAX_NUM] array inside mm_struct": "per-mm",
        "a kmalloc_proclocal() allocation (the process-local memory RFC)": "per-mm",
    },
}

# The values each table's answers are drawn from (what sealed.json lets a judge try).
DOMAINS: dict[str, tuple[Any, ...]] = {
    "1.4": (True, False),
    "4.3": ("hardware", "software"),
    "7.1": ("per-cpu-address", "per-mm", "shared-across-mms", "double-buffer", "fixed-global"),
}
