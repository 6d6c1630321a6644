"""The `ukva` command: one entry point, one module per family of subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# Each module exposes register(subparsers); a registered parser sets `func(args) -> int`.
# Heavy imports stay inside the commands so `ukva --help` is instant.
COMMAND_MODULES = (
    "ukva_widgets.real.command",      # probe
    "ukva_widgets.real.measure_command",  # measure
    "ukva_widgets.grading.command",   # student, grade
    "ukva_widgets.serving",           # book, serve
    "ukva_widgets.site",              # site
)


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    parser = argparse.ArgumentParser(
        prog="ukva",
        description="ukva_widgets: the book, its exercises, the grader and the kernel probe.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    for command in sub.choices.values():  # `ukva grade --debug ...` works as well as `ukva --debug grade`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="on an error, show the Python traceback")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. An error is one line on stderr (exit status 2 for one the user can fix,
    1 for a bug), never a traceback unless --debug asks for it."""
    from .book import BookError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        where = f"ukva {args.command}"
        error = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever it held
        if isinstance(exc, (BookError, OSError)):
            print(f"{where}: {error}", file=sys.stderr)
            return 2
        print(f"{where}: {type(exc).__name__}: {error} (run `ukva --debug {args.command} ...` for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
