"""`ukva probe`: the running kernel's answer to clone(flags) next to the engine's.

The CLI layer, so unlike the rest of real/ it may import the engine: it asks both the
kernel (through probe.py) and the engine the same question and shows where they agree.
Exit status: 0 all agree, 1 some disagree, 2 bad input, 3 the kernel or the engine cannot answer.
`ukva probe --sequences [N]` does the same for scripted sequences (sequences.py, engine_replay.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno as errno_mod
import json
import os
import platform
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ukva_widgets.real.probe import ProbeResult

EXIT_AGREE, EXIT_DISAGREE, EXIT_BAD_INPUT, EXIT_CANNOT_COMPARE = 0, 1, 2, 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="ask this Linux kernel what clone() does, next to the engine's answer",
        description="Run clone(FLAGS | SIGCHLD) on the running kernel in an isolated worker, compare "
                    "caller and child with kcmp(2), and print the engine's answer beside it. "
                    "With --sequences, play scripted sequences of clone/unshare/execve/exit/wait on "
                    "the kernel and on the engine and compare what each shows after every step. "
                    "Exit status: 0 agree, 1 disagree, 2 bad input, 3 cannot compare.")
    parser.add_argument("flags", nargs="?", metavar="FLAGS",
                        help='clone flags, e.g. "CLONE_VM|CLONE_FS" (CLONE_ may be omitted; '
                             'an int such as 0x300 works too; 0 is a plain fork)')
    parser.add_argument("--all", action="store_true",
                        help="every subset of VM FS FILES SIGHAND THREAD SYSVSEM PARENT IO (256)")
    parser.add_argument("--sequences", nargs="?", type=int, const=1000, metavar="N",
                        help="play scripted sequences of clone/unshare/exec/exit/wait on the kernel and "
                             "on the engine: fixed cases (exit signals, wait status, reaping, subreapers, "
                             "exec from a thread...) plus N random ones (default 1000)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the random sequences (default 0), to replay a run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop the kernel probe after this long (default 60; 300 with --sequences)")
    parser.set_defaults(func=run)


def engine_answer(flags: int) -> ProbeResult:
    """The engine's answer to the probe's question: a shell forked from init clones with `flags`.

    Sharing is read with the engine's kcmp, as the probe reads the kernel's, so both sides
    mean the same thing (two tasks without an io_context compare equal)."""
    from ukva_widgets.engine import CloneError, Kernel, NotModelled
    from ukva_widgets.real.probe import SHARED_RESOURCES, ProbeResult

    k = Kernel()
    caller = k.fork(k.init)
    try:
        child = k.clone(caller, flags)
    except CloneError as exc:
        return ProbeResult(flags, errno=exc.errno, error=errno_mod.errorcode[exc.errno])
    except NotModelled as exc:
        return ProbeResult(flags, available=False, why=f"the engine does not model this: {exc}")
    parent_is = ("caller" if child.parent is caller else
                 "caller's parent" if child.parent is caller.parent else f"pid {child.parent.pid}")
    shares = {name: k.kcmp(caller, child, f"KCMP_{name.upper()}") == 0 for name in SHARED_RESOURCES}
    return ProbeResult(flags, shares=shares,
                       same_thread_group=child.tgid == caller.tgid, parent_is=parent_is)


@dataclasses.dataclass(frozen=True)
class Row:
    """One question put to both: the two answers and where they differ."""

    kernel: ProbeResult
    engine: ProbeResult

    @property
    def comparable(self) -> bool:
        return self.kernel.available and self.engine.available

    @property
    def differences(self) -> list[str]:
        from ukva_widgets.real.probe import disagreements
        return disagreements(self.kernel, self.engine) if self.comparable else []

    @property
    def agree(self) -> bool:
        return self.comparable and not self.differences

    def as_dict(self) -> dict:
        return {"flags": self.kernel.flags, "kernel": dataclasses.asdict(self.kernel),
                "engine": dataclasses.asdict(self.engine), "comparable": self.comparable,
                "agree": self.agree, "differences": self.differences}


def compare(flag_words: list[int], timeout: float) -> list[Row]:
    """Ask the kernel (one worker for all words) and the engine each question."""
    from ukva_widgets.real.probe import probe_many

    return [Row(kernel, engine_answer(kernel.flags))
            for kernel in probe_many(flag_words, timeout)]


def parse_cli_flags(text: str) -> int:
    """FLAGS as typed: an int literal (0, 0x300) or names, parsed by the engine's parse_flags."""
    from ukva_widgets.engine import parse_flags
    from ukva_widgets.real.probe import check_flags

    try:
        value = int(text, 0)
    except ValueError:
        value = int(parse_flags(text))
    return check_flags(value)


def short_label(flags: int) -> str:
    """Flag names without the CLONE_ prefix, for narrow table columns; '0' for none."""
    from ukva_widgets.engine import flag_names

    return "|".join(name.removeprefix("CLONE_") for name in flag_names(flags)) or "0"


def run(args: argparse.Namespace) -> int:
    if args.sequences is not None:
        if args.flags or args.all:
            print("ukva probe: --sequences takes no FLAGS and no --all; give one of the three",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        return run_sequences(args)
    if args.timeout is None:
        args.timeout = 60.0
    if bool(args.flags) == bool(args.all):
        print("ukva probe: give FLAGS (e.g. \"CLONE_VM|CLONE_FS\"), --all or --sequences, not both or "
              "neither of FLAGS and --all", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if not args.timeout > 0:
            raise ValueError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
        if args.all:
            from ukva_widgets.real.probe import subsets
            words = subsets()
        else:
            words = [parse_cli_flags(args.flags)]
    except (ValueError, TypeError) as exc:
        print(f"ukva probe: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = compare(words, args.timeout)
    if args.json:
        payload = ({"rows": [row.as_dict() for row in rows]} if args.all else rows[0].as_dict())
        if args.all:
            payload |= {"agree": sum(row.agree for row in rows), "total": len(rows)}
        text = json.dumps(payload, indent=2)
    else:
        text = render_all(rows) if args.all else render_one(rows[0])
    try:
        print(text)
    except BrokenPipeError:         # `ukva probe --all | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
    if not all(row.comparable for row in rows):
        return EXIT_CANNOT_COMPARE
    return EXIT_AGREE if all(row.agree for row in rows) else EXIT_DISAGREE


def run_sequences(args: argparse.Namespace) -> int:
    """`ukva probe --sequences [N] [--seed S]`: the agreement on scripted sequences."""
    from ukva_widgets.real.engine_replay import check_sequences

    timeout = 300.0 if args.timeout is None else args.timeout
    if args.sequences < 0 or not timeout > 0:
        print(f"ukva probe: --sequences takes a count >= 0 (not {args.sequences}) and --timeout a "
              f"positive number of seconds (not {timeout:g})", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = check_sequences(args.sequences, args.seed, timeout)
    if args.json:
        verdicts = report.verdicts
        text = json.dumps({
            "available": report.available, "why": report.why, "privileged": report.privileged,
            "seed": report.seed, "agree": sum(v.agree for v in verdicts), "total": len(verdicts),
            "disagreements": [{"name": v.name, "steps": v.steps, "difference": v.difference}
                              for v in verdicts if not v.agree]}, indent=2)
    else:
        text = render_sequences(report)
    try:
        print(text)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if not report.available:
        return EXIT_CANNOT_COMPARE
    return EXIT_AGREE if all(v.agree for v in report.verdicts) else EXIT_DISAGREE


def render_sequences(report) -> str:
    """The listed cases one per line, the random ones counted, the first disagreements shown."""
    head = (f"{_kernel_name()} against the engine, on scripted sequences "
            f"({'with' if report.privileged else 'without'} CAP_SYS_ADMIN)")
    if not report.available:
        return f"{head}\nunavailable: {report.why}\nagree: cannot compare"
    lines = [head, "listed cases:"]
    lines += [f"  {'yes' if v.agree else 'NO '}  {v.name}" for v in report.listed]
    agreed = sum(v.agree for v in report.random)
    lines.append(f"random: {agreed}/{len(report.random)} sequences of up to 8 steps agree "
                 f"(seed {report.seed})")
    wrong = [v for v in report.verdicts if not v.agree]
    for v in wrong[:5]:
        lines.append(f"  NO  {v.name}: {v.steps}\n       {v.difference}")
    if len(wrong) > 5:
        lines.append(f"  ... and {len(wrong) - 5} more (--json lists them all)")
    lines.append(f"agree: {sum(v.agree for v in report.verdicts)}/{len(report.verdicts)}")
    return "\n".join(lines)


def _kernel_name() -> str:
    return f"Linux {platform.release()} ({platform.machine()})"


def render_one(row: Row) -> str:
    """Kernel and engine side by side, one line per thing compared."""
    from ukva_widgets.real.probe import SHARED_RESOURCES

    def cells(r: ProbeResult) -> list[str]:
        if not r.available:
            return ["unavailable"] + [""] * (len(SHARED_RESOURCES) + 2)
        if r.errno:
            return [r.error] + ["-"] * (len(SHARED_RESOURCES) + 2)
        return (["ok"] + ["yes" if r.shares.get(name) else "no" for name in SHARED_RESOURCES]
                + ["same as caller" if r.same_thread_group else "own", r.parent_is or "?"])

    labels = ["result"] + [f"shares {name}" for name in SHARED_RESOURCES] + ["thread group", "parent"]
    lines = [f"clone({short_label(row.kernel.flags)} | SIGCHLD) "
             f"asked of {_kernel_name()} and of the engine",
             f"{'':<16}{'kernel':<18}engine"]
    lines += [f"{label:<16}{k:<18}{e}" for label, k, e in zip(labels, cells(row.kernel), cells(row.engine))]
    for side, r in (("kernel", row.kernel), ("engine", row.engine)):
        if not r.available:
            lines.append(f"{side}: unavailable: {r.why}")
    if row.comparable:
        lines.append("agree: yes" if row.agree else "agree: NO - " + "; ".join(row.differences))
    else:
        lines.append("agree: cannot compare")
    return "\n".join(lines)


def render_all(rows: list[Row]) -> str:
    """One line per subset (CLONE_ omitted), then the count that agree."""
    width = max(len(short_label(row.kernel.flags)) for row in rows)
    kernel_width = max(len(row.kernel.text()) for row in rows)
    engines = ["same" if row.engine.text() == row.kernel.text() else row.engine.text() for row in rows]
    engine_width = max(len(engine) for engine in engines + ["engine"])
    lines = [f"{_kernel_name()} against the engine; io and sysvsem are shown, not judged",
             f"{'flags':<{width}}  {'kernel':<{kernel_width}}  {'engine':<{engine_width}}  agree"]
    for row, engine in zip(rows, engines):
        verdict = "yes" if row.agree else "NO" if row.comparable else "-"
        lines.append(f"{short_label(row.kernel.flags):<{width}}  {row.kernel.text():<{kernel_width}}  "
                     f"{engine:<{engine_width}}  {verdict}")
    unavailable = {r.why for row in rows for r in (row.kernel, row.engine) if not r.available}
    lines += [f"unavailable: {why}" for why in sorted(unavailable)]
    lines.append(f"agree: {sum(row.agree for row in rows)}/{len(rows)}")
    return "\n".join(lines)
