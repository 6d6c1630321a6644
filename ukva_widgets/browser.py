"""What changes when the package runs in a web browser: the live book (`ukva site`'s lite/ pages),
where Python is Pyodide and `sys.platform == "emscripten"`.

A browser page starts no process and no thread, and has no Linux kernel to ask. Compiled packages
such as numpy are not on the site: they are in Pyodide's own distribution on the web, which `need`
loads them from when a page first uses them, saying plainly why when it cannot.
"""

from __future__ import annotations

import sys

IN_BROWSER = sys.platform == "emscripten"
# Pyodide's package distribution, by release (also what the live book's lock points compiled packages at).
DISTRIBUTION = "https://cdn.jsdelivr.net/pyodide/v{version}/full/"
NEEDS_LINUX = "this needs a Linux machine with ukva_widgets installed (pip install ukva_widgets)"

_noted: set[tuple[str, object]] = set()


def need(package: str, purpose: str) -> None:
    """Make `package` importable for `purpose` (e.g. "the cost simulator"). Outside a browser this does
    nothing: the package is a dependency. In the browser it loads the package from the site's lock (a
    compiled one from Pyodide's distribution), waiting for it; else it raises ImportError saying why."""
    import importlib.util

    if not IN_BROWSER or importlib.util.find_spec(package) is not None:
        return
    import pyodide_js
    from pyodide.ffi import can_run_sync, run_sync

    where = DISTRIBUTION.format(version=pyodide_js.version)
    if not can_run_sync():
        raise ImportError(f"{purpose} needs {package}, which this page loads from Pyodide's distribution "
                          f"({where}), but this browser cannot wait for it inside a cell: run `%pip install "
                          f"{package}` in a cell above, then run this cell again")
    problem = ""
    try:
        run_sync(pyodide_js.loadPackage(package))
    except Exception as exc:  # noqa: BLE001 - whatever stopped the download is what the reader needs to know
        problem = f": {exc}"
    importlib.invalidate_caches()
    if importlib.util.find_spec(package) is None:
        why = problem or " from there (is this browser offline?)"
        raise ImportError(f"{purpose} needs {package}, which this page loads from Pyodide's distribution "
                          f"({where}), and it could not be loaded{why}; everything else on the page works without it")


def note_once(text: str) -> None:
    """Print `text` once per notebook cell run (once per process outside IPython): a cell that calls a
    real-kernel probe four times says what is missing once, and says it again when run again."""
    ipython = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    key = (text, getattr(ipython, "execution_count", None))
    if key not in _noted:
        _noted.add(key)
        print(text)
