"""The predict-then-explain questions: each scenario, the outcome it leads to, the right reason and
every misconception with its rebuttal. The chapters register the items (`reason_item`); this is the
only place their answers are written. Sources are cited next to each registration in chapters/.
"""

from ..items import Question


def _shared_table(t_flags: str, q_flags: str, shape: str) -> str:
    """6.6's scenario: the engine code of the machine (ch06's shared_table_setup), then its shape."""
    return ("On the engine (from ukva_widgets.engine import Kernel, Machine):\n\n"
            f"k = Kernel(); p = k.fork(k.init)\nt = k.clone(p, {t_flags!r})\nq = k.clone(t, {q_flags!r})\n"
            "m = Machine(k, tasks=[p, t, q], cpus=2, design='per-mm', cache='physical')\n\n"
            f"{shape} A per-MM UKVA with SMP-safe updates and dynamic slots gives every files table a slot in "
            "each MM whose tasks use it. The data cache is physically indexed, so two mappings of one page "
            "never sit in two cache lines.")


QUESTIONS: dict[str, tuple[Question, ...]] = {
    # 1.5, registered in chapters/ch01_*.py
    "1.5": (
        Question(
            "A process runs\n\n    fd = os.open(\"/etc/services\", os.O_RDONLY)\n    pid = os.fork()\n"
            "    if pid == 0:\n        os.read(fd, 10)\n        os._exit(0)\n    os.waitpid(pid, 0)\n"
            "    data = os.read(fd, 10)",
            "which 10 bytes does the parent read", ("the first 10", "the next 10"), "the next 10",
            "the copied descriptor points at the same open file as the parent's, and the offset lives there",
            (("the child's memory is shared with the parent until it exits, so its read buffer and "
              "offset are the parent's too",
              "fork gives the child its own copy of memory at once (copy-on-write only makes the copy "
              "lazy, never visible); no memory is shared, and the offset is not in user memory anyway."),
             ("the kernel keeps one offset per file (per inode), shared by every process that reads it",
              "two processes that each open() the file read it independently, from offset 0 each; what "
              "is shared here comes from fork, not from the file."),
             ("fork shares the descriptor table itself, so both processes use one table",
              "sharing the table is what clone(CLONE_FILES) does; fork copies it, so a close() or open() in "
              "the child does not change the parent's table. Look at what each copied descriptor points to."))),
        Question(
            "A process runs\n\n    x = 5\n    pid = os.fork()\n    if pid == 0:\n        x += 30\n"
            "        os._exit(0)\n    os.waitpid(pid, 0)\n    print(x)",
            "what the parent prints", ("5", "35"), "5",
            "the child wrote to x in its own copy of memory; the parent's x was never touched",
            (("os._exit throws away the child's changes, because it skips flushing them",
              "_exit skips flushing stdio buffers and atexit handlers, not memory: the child's x did "
              "become 35, in the child's memory."),
             ("waitpid restores the parent's memory as it was before the fork",
              "waiting only collects the child's exit status; nothing of the parent's memory was ever "
              "changed, so nothing needs restoring."),
             ("copy-on-write lets the parent see the child's value only if the parent reads it before "
              "writing to it",
              "copy-on-write copies a page on the first write by either process, and the writer gets the "
              "copy: the other process never sees that write, whatever it reads first."))),
    ),

    # 2.5, registered in chapters/ch02_*.py
    "2.5": (
        Question(
            "Process P (pid 2) calls clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND): every sharing "
            "flag of a thread except CLONE_THREAD.",
            "is the child a thread of P (in P's thread group, same tgid)",
            ("yes", "no", "clone fails"), "no",
            "the thread group is the signal_struct, and only CLONE_THREAD shares it",
            (("sharing the address space is what makes a thread; CLONE_THREAD only changes how the "
              "pid is numbered",
              "the child gets its own tgid and its own signal_struct: kill() of P's group does not reach "
              "it, and getpid() in it differs from P's. Which object is the thread group?"),
             ("clone() refuses it, because CLONE_SIGHAND may only be given with CLONE_THREAD",
              "the rule runs the other way round: CLONE_THREAD needs CLONE_SIGHAND, and CLONE_SIGHAND "
              "needs CLONE_VM. This call satisfies both; try it on the engine."),
             ("the kernel adds CLONE_THREAD itself once CLONE_VM and CLONE_SIGHAND are both given",
              "copy_process() adds no flag on its own: a missing requirement is refused with EINVAL, "
              "never filled in, and here nothing is missing."))),
        Question(
            "Process P (pid 2) calls clone(CLONE_SIGHAND|CLONE_FILES), without CLONE_VM.",
            "what clone() does", ("succeeds", "fails with EINVAL"), "fails with EINVAL",
            "handlers are addresses in one program's memory, so sharing them needs a shared VM",
            (("CLONE_FILES may only be given together with CLONE_VM, as a file table holds user pointers",
              "a child with its own memory may share the file table: clone(CLONE_FILES) alone succeeds. "
              "Look at the other flag."),
             ("shared handlers need CLONE_THREAD as well: only threads of one group may share them",
              "CLONE_VM|CLONE_SIGHAND without CLONE_THREAD is accepted: two processes of one address "
              "space may share handlers. What does a handler table contain?"),
             ("only init may share its signal handlers with a child it creates with clone()",
              "no rule singles out init for CLONE_SIGHAND; the init rule is about CLONE_PARENT "
              "(a sibling of init would be a child of the idle task, which never reaps it)."))),
    ),

    # 3.4, registered in chapters/ch03_*.py
    "3.4": (
        Question(
            "On the engine:\n\n    k = Kernel(); P = k.fork(k.init)\n    C = k.fork(P)\n    k.exit(C)\n\n"
            "P has not called wait().",
            "is C's signal_struct still allocated", ("yes", "no"), "yes",
            "a zombie keeps its task and signal_struct until its parent reaps it",
            (("exit() frees everything the task holds at once; only the pid number is kept",
              "exit() drops the mm, fs and file table at once, but the parent has not read the exit "
              "status yet: what must stay allocated for wait() to report it?"),
             ("C shares P's signal_struct since the fork, so it lives as long as P",
              "a forked child gets a signal_struct of its own; only CLONE_THREAD shares it. Yet C's own "
              "one is still there: why?"),
             ("it is freed only when init adopts the zombie and reaps it",
              "init adopts only orphans, and C's parent P is alive: P's wait() is what releases C."))),
        Question(
            "On the engine:\n\n    k = Kernel(); P = k.fork(k.init)\n    C = k.clone(P, \"CLONE_FS|CLONE_FILES\")\n"
            "    k.execve(C, \"/bin/sh\")",
            "does C still share P's fs_struct (root and current directory) afterwards",
            ("yes", "no"), "yes",
            "execve() unshares the mm and a shared file table, but leaves fs_struct as it is",
            (("execve() starts the new program with nothing shared: every object is copied",
              "begin_new_exec() replaces the mm and unshares the file table, but it leaves root and cwd "
              "alone; check C.fs is P.fs on the engine."),
             ("CLONE_FS copied root and cwd at clone time, so C never shared an fs_struct with P",
              "CLONE_FS makes copy_fs() take a reference to the caller's fs_struct: a chdir() by either "
              "task is seen by the other. The question is whether execve() ends that."),
             ("execve() keeps every object because it changes only the program, never the task's objects",
              "execve() does change objects: C gets a new mm, and a file table it shares with P is "
              "unshared (C.files is P.files turns False). Why is fs_struct different?"))),
    ),

    # 4.4, registered in chapters/ch04_*.py
    "4.4": (
        Question(
            "One CPU, no PCID. Tasks 2 and 3 are threads of one MM. The CPU runs task 2, then switches "
            "to task 3.",
            "does this switch write CR3 (and so flush the TLB)", ("yes", "no"), "no",
            "switch_mm sees that the next task's MM is already loaded, so there is nothing to load",
            (("every context switch writes CR3, to keep the next task from seeing the previous one's memory",
              "threads of one MM see each other's memory anyway; x86's switch_mm_irqs_off skips the "
              "write when the next MM is the loaded one. Replay it on the machine and watch cr3_writes."),
             ("the TLB is tagged with the task's pid, so the switch needs no flush",
              "where TLB entries are tagged at all (PCID), the tag names an address space, not a task; "
              "and this machine has no PCID."),
             ("the CPU flushes its TLB in hardware on every task switch, so a CR3 write would be redundant",
              "the CPU knows nothing of tasks: only a CR3 write (or an invalidation instruction) drops "
              "TLB entries, and the kernel decides when to issue one."))),
        Question(
            "Three CPUs, hardware fill, per-MM UKVA with SMP-safe updates. cpu0 and cpu1 run the two "
            "threads of one MM and have both read the UKVA; cpu2 has only ever run another process. "
            "cpu0 updates a slot of the UKVA.",
            "how many shootdown IPIs does the update send", ("0", "1", "2"), "1",
            "only CPUs in the MM's cpumask can cache its entries, and cpu0 flushes its own",
            (("every other CPU must be told, since any TLB could hold a copy of the entry",
              "a CPU that never loaded this MM's page table cannot have cached its entries; the kernel "
              "tracks which CPUs may, in mm_cpumask, so as not to disturb the others."),
             ("none: cpu1 picks up the new entry on its next page walk",
              "a TLB hit never walks: cpu1 would keep using its cached, old entry until something "
              "flushes it."),
             ("cpu0's local flush reaches the other CPUs' TLBs by itself, so only cpu2 needs telling",
              "a local flush acts on the local TLB only; that is why flush_tlb_mm_range sends IPIs, and "
              "cpu2 is the one CPU that cannot hold the entry."))),
    ),

    # 5.4, registered in chapters/ch05_*.py
    "5.4": (
        Question(
            "A per-task UKVA with hardware fill on ONE CPU, two threads of one MM, and the kernel flushes "
            "the TLB on every switch, even between threads of the same MM (flush_on_same_mm_switch=True).",
            "the model checker's verdict", ("violation", "proven"), "proven",
            "one CPU means one walker, and each switch flushes the previous task's entry",
            (("the flush gives each thread a page table of its own",
              "the MM still has exactly one page table, shared by both threads; the flush only empties "
              "the TLB. What is left that could show the wrong page?"),
             ("a per-task UKVA is safe on one CPU whether or not the kernel flushes",
              "without the flush a switch between threads of one MM keeps the MM loaded, and the TLB keeps "
              "the previous task's entry: chapter 05 shows that violation on one CPU."),
             ("hardware fill reads only the TLB, never the page table, so the table's entry does not matter",
              "a TLB miss makes the hardware walk the loaded MM's page table: that is exactly where the "
              "per-task entry is written."))),
        Question(
            "A per-CPU UKVA with software TLB refill, two threads of one MM on two CPUs.",
            "the model checker's verdict", ("violation", "proven"), "proven",
            "the refill handler loads this CPU's page, whatever the shared table says",
            (("software refill gives each CPU a page table of its own",
              "the MM still has one page table; the point is that the handler does not have to follow it."),
             ("with software refill there is no TLB to go stale",
              "the TLB is still there and still caches translations; what changes is who decides what a "
              "miss loads into it."),
             ("two CPUs never read the UKVA at the same moment, so they cannot disturb each other",
              "the checker tries every interleaving, reads on both CPUs included; with hardware fill the "
              "same machine breaks. What differs?"))),
    ),

    # 6.4, registered in chapters/ch06_*.py
    "6.4": (
        Question(
            "Two CPUs share one MM; cpu0 remaps a UKVA slot with the protocol\n"
            "    lock, read_pte, write_pte, flush_local, shootdown, unlock\n"
            "(no wait_acks), and frees the old page as soon as the protocol ends. cpu1 has read the slot before.",
            "can cpu1 use the old page after cpu0's update has finished", ("yes", "no"), "yes",
            "cpu1 flushes only when it takes the IPI, which may come after cpu0 has finished",
            (("the lock keeps cpu1 from reading the slot while the update runs",
              "the lock is taken only by updaters; a read goes through cpu1's TLB and takes no lock at all."),
             ("IPIs are delivered at once, so waiting for the acknowledgement only costs time",
              "an IPI is handled when the target CPU takes the interrupt, which may be many steps later; "
              "the protocol checker tries every such delay."),
             ("cpu1 refills from the new page-table entry, because cpu0 wrote it before flushing",
              "a CPU walks the page table only on a TLB miss; while its old entry is there, cpu1 hits "
              "and never looks at the new one."))),
        Question(
            "Two CPUs share one MM and both remap the same UKVA slot (v0 -> v1 each, so v2 is expected at "
            "the end) with the protocol\n"
            "    read_pte, write_pte, flush_local, shootdown, wait_acks\n"
            "(no lock).",
            "can an update be lost (the page table ends at v1)", ("yes", "no"), "yes",
            "both CPUs can read v0 before either writes, so both write v1",
            (("writing one page-table entry is atomic, so two updates cannot interfere",
              "each write is atomic, but the update is a read followed by a write, and another CPU's "
              "write can fall between them."),
             ("the shootdown makes the other updater read the page table again",
              "an IPI flushes a TLB entry; it does not restart another CPU's update, whose value was "
              "read into a register (read_pte), not through the TLB."),
             ("waiting for acknowledgements puts the two updates in order",
              "wait_acks comes after write_pte: by then both CPUs may already have read the same old "
              "version. Ordering must start before the read."))),
    ),

    # 7.2, registered in chapters/ch07_*.py
    "7.2": (
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
    ),
    # 6.5, registered in chapters/ch06_*.py
    "6.5": (
        Question(
            "Two CPUs, one MM: cpu0 runs thread p, cpu1 runs thread t; cpu0 remaps a slot of the per-MM area "
            "(design=\"per-mm\", SMP-safe updates). On Linux the same schedule is `ukva measure threads-update`: "
            "one thread remaps a page over and over while the other spins on the second CPU. On a busy two-CPU "
            "virtual machine the kernel counted 0.98 shootdown IPIs per update on the second CPU.",
            "how many shootdown IPIs does the engine count for one update", ("0", "1", "2", "3"), "1",
            "on some updates cpu1 was running something else (another program, or the host preempted it) and "
            "got no IPI",
            (("the kernel batches several updates into one flush when they come quickly one after another, so it "
              "needs fewer IPIs than updates",
              "each mmap() call flushes before it returns; batching happens inside one call (several pages, one "
              "IPI per CPU), not across calls, and the count would then fall far below one per update."),
             ("some IPIs went to cpu0, the updating CPU, instead of the second CPU",
              "the updating CPU flushes its own TLB directly, without an IPI; the measurement shows almost none "
              "landing there."),
             ("/proc/interrupts counts only the IPIs that found a page to flush",
              "flush_tlb_func() counts every shootdown IPI a CPU receives as it arrives, before it looks at what "
              "to flush."))),
        Question(
            "Two CPUs: cpu0 runs p, cpu1 runs a process q forked from p (its own MM); cpu0 remaps a slot of "
            "p's per-MM area. On Linux this is `ukva measure processes-update`. Over 2500 updates the kernel's "
            "tlb:tlb_flush tracepoint counted 2 IPIs on the second CPU, both of reason 'remote wrong CPU'.",
            "how many shootdown IPIs does the engine count for one update", ("0", "1", "2", "3"), "0",
            "x86 keeps a CPU that switched away in the MM's cpumask and trims it with an IPI at most once a "
            "second",
            (("after fork, q keeps sharing p's page tables until one of the two processes writes to a page "
              "(copy-on-write)",
              "copy-on-write shares pages, not the MM: q has its own MM and page table, and a remap in p's MM "
              "never concerns what q's CPU caches."),
             ("the kernel sends every flush to all CPUs, and most IPIs were lost",
              "then the second CPU would have received one per update, about 2500; a flush goes only to the "
              "CPUs in the MM's cpumask."),
             ("the engine does not count IPIs between processes",
              "the engine counts every IPI its shootdown sends; none is due here, because no other CPU has p's "
              "MM loaded."))),
        Question(
            "Three CPUs, one MM: cpu0 runs thread p, cpu1 runs t, cpu2 runs u; cpu0 remaps a slot of the "
            "per-MM area. On a three-CPU Linux machine `ukva measure --cpus 3 threads-update` shows the "
            "tlb:tlb_flush reasons: on cpu0 one 'remote IPI send' per update, on cpu1 and on cpu2 one 'remote "
            "shootdown' per update each.",
            "how many shootdown IPIs does the engine count for one update", ("0", "1", "2", "3"), "2",
            "the sender traces each flush once; each CPU it interrupts traces its own IPI",
            (("cpu1 forwards the flush to cpu2, so only one IPI leaves cpu0",
              "no CPU forwards a shootdown: the sender's smp_call_function_many() interrupts every target CPU "
              "itself and waits for all of them."),
             ("the engine counts one IPI per page it flushes, while the kernel counts one IPI per update, whatever "
              "it flushes",
              "both count one IPI per target CPU per flush, however many pages it covers; here one page on two "
              "CPUs makes two."),
             ("cpu2 is in lazy TLB mode, so it counts its flush later",
              "cpu2 runs u, a user thread of the MM: it is not lazy, and it gets its IPI at once, as the "
              "measurement shows."))),
    ),
    # 6.6, registered in chapters/ch06_*.py (its machines: SHARED_TABLES there)
    "6.6": (
        Question(
            _shared_table("CLONE_VM", "CLONE_FILES",
                          "t runs in p's MM with a files table of its own; q has an MM of its own and shares t's files "
                      "table, so that table has a slot in two MMs."),
            "can one task read an older version of t's files table than another task can already see",
            ("yes", "no"), "yes",
            "it sits in two MMs' page tables, each under its own lock, so an update reaches one MM at a time",
            (("a physically indexed cache keeps one copy of each physical page, so every MM sees the same "
              "table at once",
              "the cache is right about every physical page it holds. An update maps a new page; what matters "
              "is which page each MM's page table points at while the update is half done, and no cache "
              "decides that."),
             ("the MM's lock makes the whole update one step, so no task can read in between",
              "a lock belongs to one MM and orders that MM's updaters; readers take no lock, and the other "
              "MM's page table is under a lock of its own."),
             ("the shootdown IPIs go to every CPU running either MM, so no stale entry can survive the update",
              "the IPIs of an update go to the CPUs in one MM's mm_cpumask, and an IPI only flushes TLB "
              "entries: it cannot change what the other MM's page table maps."))),
        Question(
            _shared_table("CLONE_FILES", "CLONE_FILES",
                          "p, t and q each have an MM of their own and all three use one files table, so that table "
                      "has a slot in three MMs."),
            "can one task read an older version of t's files table than another task can already see",
            ("yes", "no"), "yes",
            "the table sits in three page tables, and an update remaps it in one of them at a time",
            (("the three tasks share the files table itself, not copies of it, so they always see one version",
              "they share the files_struct, but each MM shows it through a page its own page table maps, and "
              "an update changes those mappings one MM at a time."),
             ("a physically indexed cache keeps one copy of each physical page, so every MM sees the same "
              "table at once",
              "the cache is right about every physical page it holds. An update maps a new page; what matters "
              "is which page each MM's page table points at while the update is half done."),
             ("SMP-safe updates take a lock, so an update cannot be seen half done",
              "each MM has its own lock and readers take none: between the step that remaps the table in one "
              "MM and the step that remaps it in the next, a task of the second MM reads the old page."))),
        Question(
            _shared_table("CLONE_VM|CLONE_FILES", "CLONE_VM|CLONE_FILES",
                          "p, t and q all run in p's MM and use one files table, so that table has one slot, "
                          "in one MM."),
            "can one task read an older version of t's files table than another task can already see",
            ("yes", "no"), "no",
            "it is mapped in one MM only: one page table, one lock and one shootdown cover it",
            (("three tasks share one files table, which is exactly the sharing Linus warned about in 2002",
              "the warning is about data shared across MMs. Tasks of one MM sharing one table is what a "
              "per-MM slot is for."),
             ("the physically indexed cache is what keeps a shared table safe on two CPUs",
              "no page here is mapped at two addresses, so there is nothing for a cache to alias. Chapter 06 "
              "shows a physically indexed cache does not save a table that two MMs share."),
             ("the update cannot finish while another CPU is running a task of the MM",
              "an SMP-safe update does not wait for the other CPUs to stop: it remaps the slot and shoots "
              "down their TLB entries, and a CPU that was away catches up on tlb_gen when it comes back."))),
    ),
}
