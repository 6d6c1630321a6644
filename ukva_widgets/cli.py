"""The `ukva` command: one entry point, one module per family of subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# Each module exposes register(subparsers); a registered parser sets `func(args) -> int`.
# Heavy imports stay inside the commands so `ukva --help` is instant.
COMMAND_MODULES = (
    "ukva_widgets.real.command",      # probe
    "ukva_widgets.grading.command",   # student, grade
    "ukva_widgets.serving",           # book, serve
)


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    parser = argparse.ArgumentParser(
        prog="ukva",
        description="ukva_widgets: the book, its exercises, the grader and the kernel probe.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
