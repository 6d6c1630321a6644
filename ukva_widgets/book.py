"""Where the book is, and a reader's own copy of it.

The chapters (`notebooks/`) and the student exercises (`exercises/*.ipynb`) ship inside the package
(pyproject/setup.py map them to `ukva_widgets/notebooks` and `ukva_widgets/exercises` in the wheel;
the solution notebooks stay in the checkout, for instructors). Run from a checkout, the checkout's own
folders are the book. `ukva book`, `ukva serve` and `ukva site` all find the book with `locate`:

1. `--dir DIR`: the reader's copy in DIR, made or refreshed from the shipped book first;
2. the current folder, when it holds `notebooks/` with chapters (a checkout, or a copy made before);
3. `./ukva-book`, when an earlier `ukva book` made it;
4. this checkout, when the package runs from one (an editable install);
5. otherwise a fresh copy in `./ukva-book`.

A copy keeps a manifest of the hashes of the files it was given, so a later copy never overwrites a
notebook the reader edited: it keeps it and says so; `update=True` refreshes only the unedited ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
DEFAULT_DIR = Path("ukva-book")
MANIFEST = ".ukva-book.json"
# What a reader's copy holds: the chapters (and any page beside them, e.g. a glossary) and the
# student exercises; never exercises/solutions/.
SHIPPED = {"notebooks": ("*.ipynb", "*.md"), "exercises": ("*.ipynb",)}


class BookError(Exception):
    """Something the reader can fix; `ukva` prints it as one line, without a traceback."""


def has_chapters(root: Path) -> bool:
    return (root / "notebooks").is_dir() and any((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def checkout() -> Path | None:
    """The checkout this package runs from (an editable install or the source tree), if any."""
    if (CHECKOUT / "pyproject.toml").is_file() and has_chapters(CHECKOUT):
        return CHECKOUT
    return None


def source() -> Path:
    """The folder the book is copied from: the checkout, else the installed package's data."""
    root = checkout() or PACKAGE
    if not has_chapters(root):
        raise BookError(f"this installation of ukva_widgets has no chapters in {root / 'notebooks'}; "
                        "reinstall it from a wheel or a checkout (pip install ukva_widgets)")
    return root


def shipped_files(root: Path) -> list[str]:
    """The book's files under `root`, as paths relative to it ("notebooks/00-start.ipynb", ...)."""
    files = set()
    for folder, patterns in SHIPPED.items():
        for pattern in patterns:
            files.update(p.relative_to(root).as_posix() for p in (root / folder).glob(pattern)
                         if p.is_file())
    return sorted(files)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class CopyReport:
    """What `copy_book` did with each file of the shipped book."""

    dest: Path
    copied: list[str] = field(default_factory=list)     # new in the copy
    updated: list[str] = field(default_factory=list)    # unedited, replaced by the newer shipped one
    outdated: list[str] = field(default_factory=list)   # unedited, a newer one ships (without update)
    kept: list[str] = field(default_factory=list)       # edited by the reader, left as it is
    current: list[str] = field(default_factory=list)    # already the shipped version

    def lines(self) -> list[str]:
        out = []
        if self.copied:
            out.append(f"copied {len(self.copied)} notebooks into {self.dest}")
        if self.updated:
            out.append(f"updated {len(self.updated)} notebooks you had not edited: {', '.join(self.updated)}")
        for name in self.kept:
            out.append(f"kept your edited {name} (the shipped one differs; rename yours to get it)")
        if self.outdated:
            out.append(f"{len(self.outdated)} notebooks you have not edited have a newer version "
                       f"({', '.join(self.outdated)}); `ukva book --update` refreshes them")
        return out


def copy_book(dest: Path, update: bool = False, src: Path | None = None) -> CopyReport:
    """Copy the shipped book into `dest` (made if missing), never overwriting a file the reader
    changed since it was copied; with `update`, replace the unedited files that ship newer."""
    src = src or source()
    if dest.exists() and not dest.is_dir():
        raise BookError(f"{dest} is a file, not a folder; pass another --dir")
    manifest_path = dest / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    except (OSError, ValueError) as error:
        raise BookError(f"cannot read {manifest_path} ({error}); delete it to start the copy afresh "
                        "(edited notebooks are then kept, none is overwritten)") from None
    given: dict[str, str] = manifest.get("files", {})
    report = CopyReport(dest)
    try:
        for name in shipped_files(src):
            shipped, mine = src / name, dest / name
            new = _digest(shipped)
            if not mine.exists():
                mine.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shipped, mine)
                report.copied.append(name)
            else:
                have = _digest(mine)
                if have == new:
                    report.current.append(name)
                elif given.get(name) != have:  # changed since we copied it (or never ours): the reader's
                    report.kept.append(name)
                    continue                    # its record stays what we last gave
                elif update:
                    shutil.copyfile(shipped, mine)
                    report.updated.append(name)
                else:
                    report.outdated.append(name)
                    continue
            given[name] = new
        manifest_path.write_text(json.dumps({"files": given}, indent=1, sort_keys=True) + "\n")
    except OSError as error:
        raise BookError(f"cannot write the book into {dest}: {error.strerror or error}") from None
    return report


def existing() -> Path | None:
    """A book already here (steps 2-4 of the module docstring), without copying anything."""
    for found in (Path.cwd(), Path.cwd() / DEFAULT_DIR, checkout()):
        if found is not None and has_chapters(found):
            return found.resolve()
    return None


def locate(directory: Path | None = None, update: bool = False, say=print) -> Path:
    """The book folder to open (see the module docstring); copies the book first when needed and
    says what the copy did through `say`."""
    if directory is None:
        found = existing()
        if found is not None and found == checkout():
            if update:
                raise BookError("--update refreshes a copy of the book; this is the checkout itself "
                                "(use git), or pass --dir DIR")
            return found
        if found is not None and not update:
            return found
        directory = found or DEFAULT_DIR
    for line in copy_book(directory, update).lines():
        say(line)
    return directory.resolve()
