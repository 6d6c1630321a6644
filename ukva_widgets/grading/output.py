"""Whatever a submission controls (file names, the STUDENT it claims, error texts, answers), made safe
where it is shown; files handed in read without following a link; reports written so that nothing is
half-written or written through a link.

A string from a submission can hold anything, even a lone UTF-16 surrogate (from a JSON escape such as
"\\ud800", or a file name that is not UTF-8, which Python decodes to \\udc80-\\udcff): no UTF-8 writer
can encode it, so `clean` shows it escaped before anything else touches the text. Then the terminal
gets control characters escaped (`printable`), a CSV cell never starts a formula (`csv_cell`), HTML
is escaped (`html_text`), and JSON gets clean strings (`clean_tree`).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters (C0, DEL, C1) and the invisible format characters that reorder or hide text
# (zero-width, bidi overrides and isolates, line/paragraph separators).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
# A formula trigger at the start of a cell or after a separator a spreadsheet may split the cell at.
_FORMULA = re.compile(r"(^|[,;|\t\r\n]\s*)([=+\-@])")


def clean(text: Any) -> str:
    """`text` as a string any UTF-8 writer accepts: a byte Python could not decode (U+DC80-U+DCFF) as
    \\xNN, any other lone surrogate as \\uXXXX."""
    def escape(m: re.Match) -> str:
        code = ord(m.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    return _SURROGATE.sub(escape, str(text))


def printable(text: Any) -> str:
    """`text` safe for a terminal: every control or invisible format character shown escaped."""
    def escape(m: re.Match) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return _UNPRINTABLE.sub(escape, clean(text))


def csv_cell(value: Any) -> str:
    """A CSV cell no spreadsheet runs as a formula: a quote before = + - @ at its start or after any
    separator inside it (, ; | tab, line breaks), and before a leading tab or carriage return (OWASP's
    advice against CSV injection, for a spreadsheet that splits cells at another separator)."""
    text = _FORMULA.sub(lambda m: m.group(1) + "'" + m.group(2), clean(value))
    return "'" + text if text[:1] in ("\t", "\r") else text


def html_text(value: Any) -> str:
    return html.escape(clean(value))


def clean_tree(value: Any) -> Any:
    """A JSON-able value with every string (keys too) cleaned."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v) for v in value]
    return value


class ReportError(OSError):
    pass


MAX_BYTES = 20 << 20  # no notebook handed in is larger (the grader refuses larger ones too)


def read_regular(path: Path) -> bytes | None:
    """A regular file's bytes, read without following a symbolic link or blocking on a device (a FIFO,
    /proc/kmsg...); None for anything else, or for a file larger than MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def write_atomic(path: Path, text: str | bytes, mode: int = 0o600) -> str | None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace: a
    reader sees the old file or the whole new one, never half. rename(2) replaces a symbolic link
    at `path` itself and never writes through it; returns a note when it did. The file gets
    `mode` (0600 by default: grades are private)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise ReportError(f"cannot write the report {path}: it is a directory")
    was_link = path.is_symlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            # backslashreplace: the last guard, should any text have missed clean() (a lone surrogate)
            f.write(text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace"))
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return f"{path} was a symbolic link: it was replaced by the report (its target was not touched)" \
        if was_link else None


def say(lines: Iterable[str], stream: Any = None) -> bool:
    """Print `lines` (made printable) to `stream` (stdout); False if the reader went away (a closed
    pipe, as with `| head`): then nothing more is printed there, and no error follows at exit."""
    stream = stream or sys.stdout
    try:
        for line in lines:
            print(printable(line), file=stream)
        stream.flush()
    except BrokenPipeError:
        # Python's advice: point the descriptor at /dev/null so the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
        return False
    return True
