"""The system calls a grading kernel may not make: a classic-BPF seccomp program for bwrap's --seccomp.

A submission's kernel needs none of these, and each opens a door the namespaces leave open:

- keyctl, add_key, request_key: the kernel's keyrings are not namespaced like files are. Through
  them a kernel could read or overwrite keys of the user running the grader, or leave a key for a
  classmate's kernel to read (a channel between submissions).
- ptrace, process_vm_readv, process_vm_writev: another process's memory (its sandbox's init).
- setsockopt with SO_SNDBUF/SO_RCVBUF (and the FORCE variants): socket buffers live in kernel
  memory that no rlimit counts; capped at the system's defaults they stay small per descriptor.
- perf_event_open, bpf, userfaultfd, io_uring_*: large kernel interfaces that grading never uses
  and that kernel exploits often start from.

Every call of another architecture's ABI (i386 through `int 0x80`, x32 on x86_64) is refused
too: the numbers below mean other calls there. Refused calls fail with EPERM; everything else is
allowed. The numbers are the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl,
include/uapi/asm-generic/unistd.h for arm64); tests/grading/test_seccomp.py checks them against
this machine's headers and the program against the real kernel.

The program is assembled here with the standard library (it is about forty instructions): the
grader needs no compiler and no libseccomp for it, and bwrap loads it with PR_SET_NO_NEW_PRIVS.
"""

from __future__ import annotations

import platform
import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
NR, ARCH = 0, 4


def _arg(i: int) -> int:
    """Offset of the low 32 bits of argument i (little-endian); int arguments live there."""
    return 16 + 8 * i


LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
ALLOW, ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
X32_SYSCALL_BIT = 0x40000000
SOL_SOCKET = 1
BUFFER_OPTIONS = (7, 8, 32, 33)  # SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE

# name -> number, per machine (platform.machine()), with the audit architecture it reports.
ARCHES = {
    "x86_64": (0xC000003E, {
        "keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "setsockopt": 54}),
    "aarch64": (0xC00000B7, {
        "keyctl": 219, "add_key": 217, "request_key": 218, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "setsockopt": 208}),
}
DENIED = ("keyctl", "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev",
          "perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register")


class SeccompUnsupported(RuntimeError):
    """No seccomp program is known for this machine's architecture."""


def syscalls(machine: str | None = None) -> dict[str, int]:
    """The syscall numbers the program names, for `machine` (default: this one)."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        raise SeccompUnsupported(f"the grading sandbox's seccomp filter knows x86_64 and aarch64, not {machine}")
    return ARCHES[machine][1]


def program(machine: str | None = None) -> bytes:
    """The filter as the kernel's struct sock_filter array, ready for bwrap --seccomp FD."""
    machine = machine or platform.machine()
    numbers = syscalls(machine)
    code: list[tuple[int, int, str | None, str | None]] = []  # (op, k, jump if true, jump if false)

    def emit(op: int, k: int, yes: str | None = None, no: str | None = None) -> None:
        code.append((op, k, yes, no))

    emit(LD_ABS, ARCH)
    emit(JEQ, ARCHES[machine][0], None, "deny")
    emit(LD_ABS, NR)
    if machine == "x86_64":
        emit(JGE, X32_SYSCALL_BIT, "deny", None)
    for name in DENIED:
        emit(JEQ, numbers[name], "deny", None)
    emit(JEQ, numbers["setsockopt"], None, "allow")
    emit(LD_ABS, _arg(1))
    emit(JEQ, SOL_SOCKET, None, "allow")
    emit(LD_ABS, _arg(2))
    for option in BUFFER_OPTIONS:
        emit(JEQ, option, "deny", None)
    labels = {"allow": len(code), "deny": len(code) + 1}
    code.append((RET, ALLOW, None, None))
    code.append((RET, ERRNO | EPERM, None, None))

    out = bytearray()
    for at, (op, k, yes, no) in enumerate(code):
        jt = labels[yes] - at - 1 if yes else 0
        jf = labels[no] - at - 1 if no else 0
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise AssertionError("a seccomp jump is longer than 255 instructions")
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)
