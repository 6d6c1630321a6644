"""`ukva measure`: this machine's TLB shootdowns and CR3 writes beside the engine's prediction.

Runs the experiments of measure_lab.py (threads-update, processes-update, lazy-update,
switch-thread-vs-process), shows progress on stderr and prints a table, or with --json a JSON list
of experiments. Exit status: 0 every experiment measured, 2 bad input, 3 some could not be measured
here (each says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_MEASURED, EXIT_BAD_INPUT, EXIT_PARTLY = 0, 2, 3


def register(subparsers: argparse._SubParsersAction) -> None:
    from ukva_widgets.real.measure import EXPERIMENTS, MAX_CPUS, REPEATS

    parser = subparsers.add_parser(
        "measure", help="count this kernel's TLB shootdowns and CR3 writes, beside the engine's prediction",
        description="Run small C programs pinned to CPUs that make this Linux kernel shoot TLBs down "
                    "(threads of one MM, processes, lazy CPUs) and switch between threads and between "
                    "processes; count what it did from /proc/interrupts and, where perf permits, the "
                    "tlb:tlb_flush tracepoint; print it beside the engine's prediction for the same "
                    "schedules, and say where and why they differ. Exit status: 0 all measured, "
                    "2 bad input, 3 some experiments could not be measured here.")
    parser.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                        help=f"run only these ({', '.join(EXPERIMENTS)}; default: all)")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help=f"use N CPUs (1 to {MAX_CPUS}; default: the usable ones, up to {MAX_CPUS})")
    parser.add_argument("--repeats", type=int, default=REPEATS, metavar="R",
                        help=f"repeats per experiment; each figure is their median (default {REPEATS})")
    parser.add_argument("--json", action="store_true",
                        help='print a JSON list of experiments {"name", "cpus", "repeats", "measured", '
                             '"predicted", "source", "differences", "why"} instead of a table')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ukva_widgets.real.measure import EXPERIMENTS
    from ukva_widgets.real.measure_lab import measure

    show = _progress(sys.stderr)
    try:
        lab = measure(cpus=args.cpus, repeats=args.repeats, progress=show,
                      experiments=args.experiments or EXPERIMENTS)
    except ValueError as exc:
        print(f"ukva measure: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        show(None)
    text = json.dumps(lab.as_json(), indent=2) if args.json else lab.text()
    try:
        print(text)
    except BrokenPipeError:     # `ukva measure | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_PARTLY if any(e.why for e in lab.experiments) else EXIT_MEASURED


def _progress(stream):
    """A progress callback: one line rewritten in place on a terminal, a line per step otherwise;
    called with None at the end to finish the line."""
    tty = stream.isatty()

    def show(message: str | None) -> None:
        if message is None:
            if tty:
                stream.write("\r\033[K")
        elif tty:
            stream.write(f"\r\033[Kukva measure: {message}")
        else:
            stream.write(f"ukva measure: {message}\n")
        stream.flush()
    return show
