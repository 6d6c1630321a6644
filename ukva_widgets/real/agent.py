"""The sequence agent: a small C program every task of a scripted sequence runs (see sequences.py).

Tasks that share an address space (CLONE_VM, threads) cannot run Python, so each task of a sequence
runs this loop instead: it waits on a futex in a shared memory block (a memfd, mapped again after
each execve), performs the one system call the controller asks for, writes the result (a return
value or -errno) and waits again. It calls nothing else, so what the kernel reports afterwards is
what the sequence did. It blocks every signal, so that an exit signal sent to a parent (SIGUSR1,
say) is left pending instead of killing it. Kept here as a string, built with the system's C
compiler into a private temporary directory when the sequences run (`build()`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# The name the binary is built under. Longer than 15 bytes on purpose: after execve the kernel's
# comm holds its first 15 bytes ("ukva-sequence-a"), which the comparison checks.
AGENT_NAME = "ukva-sequence-agent"

# Operations, shared with seqworker.py (same numbers).
OPS = {"clone": 1, "unshare": 2, "exec": 3, "exit": 4, "wait": 5, "sigchld": 6, "subreaper": 7,
       "comm": 8, "ioprio": 9, "clone3": 10}
SLOTS = 64           # named tasks per sequence at most
SLOT_SIZE = 128      # bytes per slot (see struct slot below)
HEADER_SIZE = 512    # agent path (NUL-terminated) at offset 0
SHM_SIZE = HEADER_SIZE + SLOTS * SLOT_SIZE

SOURCE = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/futex.h>

#define SLOTS %(SLOTS)d
#define HEADER %(HEADER_SIZE)d
#define SHM_SIZE %(SHM_SIZE)d
#define STACK (256 * 1024)
#define IDLE_SECONDS 30   /* a task left without orders this long ends its group: never a stray */

/* One slot per named task; the controller writes op/args then bumps cmd_seq, the task answers
   in ret/ret2 and sets done_seq = cmd_seq. 128 bytes, laid out as seqworker.py reads it. */
struct slot {
    int32_t cmd_seq, done_seq, op, pad;
    int64_t arg[4];
    int64_t ret, ret2, tid;
    char text[56];
};

static char *shm;
static int shm_fd;

static long futex(int32_t *addr, int op, int val) {
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static long result(long r) { return r < 0 ? -(long)errno : r; }

static int agent(void *arg);

static long do_clone(struct slot *s) {
    long flags = s->arg[0];
    long child = s->arg[1];
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
    if (stack == MAP_FAILED) return -(long)errno;
    /* glibc's clone() starts agent(child) on the new stack in the child. */
    int r = clone(agent, stack + STACK, (int)flags, (void *)child, NULL, NULL, NULL);
    return r < 0 ? -(long)errno : r;
}

struct clone_args_v0 { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; };

static long do_clone3(struct slot *s) {
    /* Only asked for requests the kernel refuses: a child here would share our stack. */
    struct clone_args_v0 a;
    memset(&a, 0, sizeof a);
    a.flags = (uint64_t)s->arg[0];
    a.exit_signal = (uint64_t)s->arg[2];
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r == 0) syscall(SYS_exit, 99);   /* never expected: leave at once */
    return result(r);
}

static void serve(struct slot *s, int32_t seq) {
    long r = 0, r2 = 0;
    switch (s->op) {
    case 1: r = do_clone(s); break;
    case 2: r = result(syscall(SYS_unshare, (unsigned long)s->arg[0])); break;
    case 3: {
        char fd[16], idx[16];
        char *path = shm;
        snprintf(fd, sizeof fd, "%%d", shm_fd);
        snprintf(idx, sizeof idx, "%%ld", (long)s->arg[1]);
        char *argv[] = {path, fd, idx, NULL};
        char *envp[] = {NULL};
        r = result(syscall(SYS_execve, path, argv, envp));   /* returns only on failure */
        break;
    }
    case 4: syscall(s->arg[1] ? SYS_exit_group : SYS_exit, (int)s->arg[0]); break;
    case 5: {
        int status = 0;
        r = result(syscall(SYS_wait4, -1, &status, WNOHANG | __WALL, NULL));
        r2 = status;
        break;
    }
    case 6: {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = s->arg[0] == 1 ? SIG_IGN : SIG_DFL;
        sa.sa_flags = s->arg[0] == 2 ? SA_NOCLDWAIT : 0;
        r = result(sigaction(SIGCHLD, &sa, NULL));
        break;
    }
    case 7: r = result(prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)s->arg[0], 0, 0, 0)); break;
    case 8: r = result(prctl(PR_SET_NAME, (unsigned long)s->text, 0, 0, 0)); break;
    case 9: r = result(syscall(SYS_ioprio_set, 1, 0, (int)s->arg[0])); break;
    case 10: r = do_clone3(s); break;
    default: r = -EINVAL;
    }
    s->ret = r;
    s->ret2 = r2;
    __atomic_store_n(&s->done_seq, seq, __ATOMIC_RELEASE);
    futex(&s->done_seq, FUTEX_WAKE, 1 << 30);
}

static int agent(void *arg) {
    long idx = (long)arg;
    struct slot *s = (struct slot *)(shm + HEADER) + idx;
    int32_t seen = __atomic_load_n(&s->cmd_seq, __ATOMIC_ACQUIRE);
    s->tid = syscall(SYS_gettid);
    s->ret = 0;
    __atomic_store_n(&s->done_seq, seen, __ATOMIC_RELEASE);   /* started (or: execve done) */
    futex(&s->done_seq, FUTEX_WAKE, 1 << 30);
    for (;;) {
        int32_t cur = __atomic_load_n(&s->cmd_seq, __ATOMIC_ACQUIRE);
        if (cur == seen) {
            struct timespec idle = {IDLE_SECONDS, 0};
            if (syscall(SYS_futex, &s->cmd_seq, FUTEX_WAIT, seen, &idle, NULL, 0) < 0
                    && errno == ETIMEDOUT && __atomic_load_n(&s->cmd_seq, __ATOMIC_ACQUIRE) == seen)
                syscall(SYS_exit_group, 0);
            continue;
        }
        seen = cur;
        serve(s, cur);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    shm_fd = atoi(argv[1]);
    shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
    if (shm == MAP_FAILED) return 3;
    long idx = atol(argv[2]);
    if (idx < 0 || idx >= SLOTS) return 4;
    /* Block every signal (the mask survives clone and execve): a parent sent SIGUSR1 by a child
       that exits must not die of it. Blocking changes nothing the kernel reports here: reaping
       depends on SIGCHLD's handler (SIG_IGN), not on whether it is blocked. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    agent((void *)idx);
    return 0;
}
""" % {"SLOTS": SLOTS, "HEADER_SIZE": HEADER_SIZE, "SHM_SIZE": SHM_SIZE}  # noqa: UP031 (C braces)


def compiler() -> str | None:
    """The C compiler to build the agent with: $CC, else cc or gcc on PATH."""
    for name in filter(None, (os.environ.get("CC"), "cc", "gcc")):
        found = shutil.which(name)
        if found:
            return found
    return None


def build(directory: Path) -> tuple[Path | None, str]:
    """Build the agent in `directory`; (its path, '') or (None, why it could not be built)."""
    cc = compiler()
    if cc is None:
        return None, ("no C compiler (cc or gcc) to build the sequence agent, a small C program "
                      "each task runs; install gcc")
    source = directory / "agent.c"
    source.write_text(SOURCE)
    binary = directory / AGENT_NAME
    done = subprocess.run([cc, "-O1", "-w", "-fno-stack-protector", "-o", str(binary), str(source)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"building the sequence agent with {cc} failed: {last}"
    try:   # without its two arguments the agent exits at once with status 2
        ran = subprocess.run([str(binary)], capture_output=True, timeout=30).returncode
    except OSError as exc:
        ran = exc
    if ran != 2:
        return None, (f"the sequence agent built in {directory} does not run ({ran}); is the temporary "
                      "directory mounted noexec? Point TMPDIR at one that allows programs")
    return binary, ""
