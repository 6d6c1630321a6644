"""The benchmark harness (`make bench`): runs every benchmarks/bench_*.py, prints a table,
writes benchmarks/results.json. Each module defines `run() -> list[Result]`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import Result  # noqa: E402


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only these modules (e.g. engine widgets)")
    parser.add_argument("--json", default=str(HERE / "results.json"), help="where to write the results")
    args = parser.parse_args(argv)

    results: list[Result] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if args.only and path.stem.removeprefix("bench_") not in args.only:
            continue
        t0 = time.perf_counter()
        results.extend(load(path).run())
        print(f"# {path.name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    width = max((len(r.name) for r in results), default=10)
    print(f"{'benchmark':<{width}}  {'value':>12}  {'unit':<8} {'goal':>12}  ok   detail")
    for r in results:
        goal = f"{'>=' if r.higher_is_better else '<='}{r.goal:g}"
        print(f"{r.name:<{width}}  {r.value:>12.4g}  {r.unit:<8} {goal:>12}  {'yes' if r.ok else 'NO ':<4} {r.detail}")
    Path(args.json).write_text(json.dumps({
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
        "results": [r.as_dict() for r in results],
    }, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
