"""Compile wheels to Pyodide's bytecode, as Pyodide's own distribution ships its packages: importing
IPython and ipywidgets from compiled wheels takes half the time it takes from sources in a browser.

Runs inside Pyodide (in Node, at build time: packages.compile_wheels), so that the bytecode is that
of the Python the browser runs; it uses the standard library only. A wheel either keeps its sources
and gains unchecked hash-based .pyc files beside them in __pycache__ (the book's own package, so
that its tracebacks show its code), or has each module replaced by its .pyc (as Pyodide does).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def compile_wheel(source: str, target: str, keep_sources: bool) -> int:
    """Write `source` compiled to `target`; returns the number of modules compiled."""
    files: dict[str, bytes] = {}
    record = None
    compiled = 0
    with zipfile.ZipFile(source) as wheel:
        for info in wheel.infolist():
            name, data = info.filename, wheel.read(info)
            top = name.split("/")[0]
            if name.endswith(".dist-info/RECORD"):
                record = name
                continue
            if not name.endswith(".py") or top.endswith(".data"):
                files[name] = data
                continue
            try:
                code = compile(data, name, "exec", dont_inherit=True)
            except SyntaxError:  # e.g. a test file for another Python: keep it as it is
                files[name] = data
                continue
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            if keep_sources:
                files[name] = data
                files[importlib.util.cache_from_source(name)] = pyc
            else:
                files[name + "c"] = pyc
            compiled += 1
    if record is not None:
        lines = [_record_line(name, data) for name, data in files.items()] + [f"{record},,"]
        files[record] = ("\n".join(lines) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in files.items():
            out.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    with open(target, "wb") as f:
        f.write(buffer.getvalue())
    return compiled


def compile_all(jobs: list[list]) -> int:
    """Compile each [source, target, keep_sources]; returns the number of modules compiled."""
    return sum(compile_wheel(source, target, keep) for source, target, keep in jobs)
