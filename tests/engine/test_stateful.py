"""Random lives of tasks (Hypothesis stateful testing): after every fork, clone, exit, wait,
execve, unshare or kernel-thread step, the counters match the holders, nothing freed is
reachable, thread groups hang together and every task has a live parent; and a refused step
changed nothing. The invariants are computed here, independently of Kernel.check()."""

from collections import Counter

from engine_snapshot import snapshot
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ukva_widgets.engine import CloneError, CloneFlags, IoprioError, Kernel, NotModelled, TaskStateError
from ukva_widgets.engine.flags import SIGCHLD

# The eight flags the book and the conformance test study, plus ones with their own paths.
STUDIED = ["VM", "FS", "FILES", "SIGHAND", "THREAD", "SYSVSEM", "PARENT", "IO"]
EXTRA = ["VFORK", "PIDFD", "CLEAR_SIGHAND", "DETACHED", "NEWNS", "PARENT_SETTID"]
clone_flags = st.one_of(st.sets(st.sampled_from(STUDIED)),
                        st.sets(st.sampled_from(STUDIED + EXTRA), max_size=4))
unshare_flags = st.sets(st.sampled_from(["VM", "FS", "FILES", "SIGHAND", "THREAD", "SYSVSEM", "NEWUTS",
                                         "PARENT"]), min_size=1, max_size=3)
pick = st.integers(min_value=0, max_value=1000)
REFUSALS = (CloneError, TaskStateError, NotModelled, IoprioError)
HELD = ("mm", "fs", "files", "sighand", "signal", "io_context", "sysvsem")


class TaskLives(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.k = Kernel()
        self.refused = 0

    def task(self, i: int):
        """Any listed task, zombies included: calls on them must be refused cleanly."""
        tasks = self.k.tasks
        return tasks[i % len(tasks)]

    def attempt(self, call, caller=None) -> None:
        before = snapshot(self.k)
        had_undo_list = caller is not None and caller.sysvsem is not None
        try:
            call()
        except REFUSALS as err:
            self.refused += 1
            if isinstance(err, CloneError) and err.rule.after_semundo and not had_undo_list \
                    and err.flags & CloneFlags.CLONE_SYSVSEM:
                # The one trace a refusal leaves (rules.py): copy_semundo gave the caller an undo list.
                assert caller.sysvsem is not None and caller.sysvsem.refcnt == 1
                assert snapshot(self.k, forget_undo_list_of=caller) == before, "more than the undo list"
            else:
                assert snapshot(self.k) == before, "a refused call changed the kernel"

    @rule(i=pick)
    def fork(self, i):
        self.attempt(lambda: self.k.fork(self.task(i)))

    @rule(i=pick, flags=clone_flags, exit_signal=st.sampled_from([None, 0, SIGCHLD, 10, 100]))
    def clone(self, i, flags, exit_signal):
        t = self.task(i)
        self.attempt(lambda: self.k.clone(t, sorted(flags), exit_signal), caller=t)

    @rule(i=pick)
    def clone_newipc_sysvsem(self, i):
        t = self.task(i)
        self.attempt(lambda: self.k.clone(t, "NEWIPC|SYSVSEM"), caller=t)

    @rule(i=pick, what=st.sampled_from(["ignore", "nocldwait", "default", "subreaper", "no subreaper"]))
    def reaping(self, i, what):
        """Who reaps orphans and zombies: SIGCHLD ignored, SA_NOCLDWAIT, child subreapers."""
        t, k = self.task(i), self.k
        calls = {"ignore": lambda: k.sigaction(t, "SIGCHLD", "SIG_IGN"),
                 "nocldwait": lambda: k.sigaction(t, "SIGCHLD", "SIG_DFL", flags="SA_NOCLDWAIT"),
                 "default": lambda: k.sigaction(t, "SIGCHLD", "SIG_DFL"),
                 "subreaper": lambda: k.set_child_subreaper(t),
                 "no subreaper": lambda: k.set_child_subreaper(t, False)}
        self.attempt(calls[what])

    @rule(i=pick, code=st.integers(0, 255), group=st.booleans())
    def exit(self, i, code, group):
        self.attempt(lambda: self.k.exit(self.task(i), code, group=group))

    @rule(i=pick)
    def wait(self, i):
        self.attempt(lambda: self.k.wait(self.task(i)))

    @rule(i=pick)
    def execve(self, i):
        self.attempt(lambda: self.k.execve(self.task(i), "/bin/sh"))

    @rule(i=pick, flags=unshare_flags)
    def unshare(self, i, flags):
        self.attempt(lambda: self.k.unshare(self.task(i), sorted(flags)))

    @rule(i=pick, ioprio=st.sampled_from([0, 1, 8, 2 << 13, 5 << 13]))
    def lazy_objects(self, i, ioprio):
        """A first block I/O and a first semop(SEM_UNDO): io_context and undo list appear."""
        self.attempt(lambda: (self.k.ioprio_set(self.task(i), ioprio), self.k.semop_undo(self.task(i))))

    @rule()
    def kthread(self):
        self.k.kthread("kworker")

    @rule(i=pick, j=pick)
    def kthread_borrows_an_mm(self, i, j):
        """Lazy TLB, as the SMP machine does it: a kernel thread runs on a user task's mm."""
        kthreads = [t for t in self.k.tasks if t.is_kthread and t.comm != "kthreadd"]
        users = [t for t in self.k.tasks if t.mm is not None]
        if not kthreads or not users:
            return
        kt, mm = kthreads[i % len(kthreads)], users[j % len(users)].mm
        mm.mmgrab()
        if kt.active_mm is not None:
            kt.active_mm.mmdrop()
        kt.active_mm = mm

    @rule(i=pick, path=st.sampled_from(["/", "/tmp"]), sig=st.sampled_from([2, 10, 15]),
          action=st.sampled_from(["SIG_DFL", "SIG_IGN", "handler"]))
    def change_what_sharers_see(self, i, path, sig, action):
        t = self.task(i)
        self.attempt(lambda: (self.k.chdir(t, path), self.k.open(t, path, cloexec=sig == 2),
                              self.k.sigaction(t, sig, action)))

    @invariant()
    def refcounts_equal_the_tasks_holding_each_object(self):
        held = Counter(obj for t in self.k.tasks for name in HELD if (obj := getattr(t, name)) is not None)
        for obj, n in held.items():
            assert obj.refcount == n, f"{obj.label}: refcount {obj.refcount}, held by {n}"
        borrowed = {t.active_mm for t in self.k.tasks}
        for obj in self.k.objects():
            assert obj in held or obj in borrowed, f"{obj.label} is alive but nobody holds it"

    @invariant()
    def mm_count_is_one_for_all_users_plus_one_per_borrower(self):
        borrowers = Counter(t.active_mm for t in self.k.tasks if t.is_kthread and t.active_mm is not None)
        for mm in (o for o in self.k.objects() if o.kind == "mm"):
            assert mm.mm_count == (mm.mm_users > 0) + borrowers[mm], mm.label

    @invariant()
    def freed_objects_are_unreachable(self):
        for t in self.k.tasks:
            for name in HELD + ("active_mm",):
                obj = getattr(t, name)
                assert obj is None or not obj.freed, f"pid {t.pid} reaches freed {obj.label}"

    @invariant()
    def thread_groups_are_consistent(self):
        groups: dict = {}
        for t in self.k.tasks:
            groups.setdefault(t.tgid, []).append(t)
        for tgid, members in groups.items():
            leaders = [t for t in members if t.pid == tgid]
            assert len(leaders) == 1, f"group {tgid} has leaders {leaders}"
            leader = leaders[0]
            assert all(t.group_leader is leader and t.signal is leader.signal for t in members)
            assert leader.signal.nr_threads == len(members)
            assert leader.signal.live == sum(t.state == "running" for t in members)
            for t in members:
                if t is not leader:
                    assert t.state == "running" and t.exit_signal == -1
                    assert t.sighand is leader.sighand

    @invariant()
    def every_task_has_a_live_parent(self):
        k = self.k
        for t in k.tasks:
            if t.parent is None:
                assert t.signal is k.init.signal or t.is_kthread
            else:
                assert t.parent in k.tasks and t.parent.state == "running", f"pid {t.pid}'s parent is gone"

    @invariant()
    def kernel_check_agrees(self):
        self.k.check()


TaskLives.TestCase.settings = settings(max_examples=500, stateful_step_count=30, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
test_task_lives_keep_every_invariant = TaskLives.TestCase
