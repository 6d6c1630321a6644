"""Execute notebooks and store them the way this project keeps them: with outputs,
a generic kernelspec, no timestamps and no machine paths (nbval compares against them).

    python -m ukva_widgets.notebook_store notebooks/*.ipynb exercises/solutions/*.ipynb
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# Cells may print where the book lives; stored notebooks must not say where that was.
_MACHINE_PATH = re.compile(r"(/(?:tmp|root|home|work)/[^\s'\"]*)")


def normalise(nb) -> None:
    """Make a notebook's stored form independent of the machine and the moment it ran."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    # Random model ids; what is kept of a widget is its text/plain view and its text/html picture
    # (widgets.base.UkvaWidget: a deterministic snapshot, which the static site shows).
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _MACHINE_PATH.sub("<path>", output["text"])
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    output["data"][key] = _MACHINE_PATH.sub("<path>", value)


def execute(path: Path, timeout: int = 120) -> None:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    os.environ["PYTHONHASHSEED"] = "0"  # the kernel inherits it: set order stays the same
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    normalise(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(f"executing {path}", flush=True)
        execute(path, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
