"""Handing notebooks out and in on a JupyterHub: `ukva fetch` on each student's server, `ukva collect`
on the instructor's side.

Out: the instructor makes a release folder with `ukva student --roster roster.csv --out RELEASE` (the
course key stays on the instructor's machine: the folder holds each student's notebooks, their id and
seed, nothing else) and makes RELEASE/<user>/ readable on the hub, where <user> is the student's
JupyterHub name, which must be their roster id. Each student's server starts with `ukva fetch`, which
copies RELEASE/$JUPYTERHUB_USER/*.ipynb into their copy of the book (~/ukva-book/exercises/). It never
overwrites a notebook the student has edited: it replaces only what is missing, the unedited copy the
book gave, or what an earlier fetch gave; an edited notebook is kept, and the release put beside it as
NAME.released.ipynb.

In: `ukva collect --homes '/home/{user}/ukva-book/exercises' --roster roster.csv --out submitted/`
copies each roster student's notebooks into submitted/<student_id>/, keeping each file's modification
time (the due date is checked against it). Only regular files are taken, never through a symbolic
link, each at most 20 MiB; a file collected before is replaced only with --update.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .output import MAX_BYTES, printable, read_regular, say, sha256, write_atomic

RECORD = ".ukva-release.json"  # in the student's copy: what fetch gave, by name -> sha256
BOOK_RECORD = ".ukva-book.json"  # what `ukva book` gave (book.py), read only


class ReleaseError(ValueError):
    """Fetching or collecting cannot go on; the message says why and what to do."""


def _record(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files", data) if isinstance(data, dict) else {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def fetch(release: Path, user: str, book: Path) -> list[str]:
    """Copy RELEASE/<user>/*.ipynb into BOOK/exercises/; what was done, a line per notebook."""
    from .roster import STUDENT_ID

    if not STUDENT_ID.fullmatch(user):
        raise ReleaseError(f"the user name {user!r} is not a roster id (letters, digits and . _ @ -)")
    mine = release / user
    if not mine.is_dir():
        return [f"no release for {user} in {release}: nothing fetched (the generic exercises stay)"]
    exercises = book / "exercises"
    exercises.mkdir(parents=True, exist_ok=True)
    gave = _record(book / RECORD)
    book_gave = _record(book / BOOK_RECORD)
    lines = []
    for source in sorted(mine.glob("*.ipynb")):
        data = read_regular(source)
        if data is None:
            lines.append(f"skipped {source.name}: not a regular file of at most {MAX_BYTES >> 20} MiB")
            continue
        target = exercises / source.name
        have = sha256(read_regular(target)) if target.exists() or target.is_symlink() else None
        new = sha256(data)
        if new in (have, gave.get(source.name), gave.get(f"{Path(source.name).stem}.released.ipynb")):
            continue  # there already, or given before (and perhaps worked on since): nothing new
        unedited = have is None or have in (gave.get(source.name), book_gave.get(f"exercises/{source.name}"))
        if not unedited:
            target = exercises / f"{Path(source.name).stem}.released.ipynb"
            lines.append(f"kept your edited {source.name}; your own variant is in {target.name}")
        else:
            lines.append(f"fetched {source.name}")
        write_atomic(target, data, 0o644)
        gave[target.name] = gave[source.name] = new
    write_atomic(book / RECORD, json.dumps({"files": gave}, indent=1, sort_keys=True) + "\n", 0o644)
    return lines or ["your released notebooks are up to date"]


def collect(homes: str, students: list[str], out: Path, chapters: set[str] | None, update: bool) -> list[str]:
    """Copy each student's notebooks from `homes` (a path with {user}) into OUT/<student>/."""
    from .roster import chapter_in_name

    if "{user}" not in homes:
        raise ReleaseError(f"--homes {homes!r} must say where each student's notebooks are, with {{user}} "
                           "for the user name, e.g. '/home/{user}/ukva-book/exercises'")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines, nothing, count = [], [], 0
    for sid in students:
        folder = Path(homes.replace("{user}", sid))
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".ipynb"))
        except OSError:
            names = []
        taken = 0
        for name in names:
            if chapters is not None and chapter_in_name(name) not in chapters:
                continue
            source = folder / name
            data = read_regular(source)
            if data is None:
                lines.append(f"{sid}: skipped {name} (a link, a device, or larger than {MAX_BYTES >> 20} MiB)")
                continue
            target = out / sid / name
            before = read_regular(target) if target.exists() else None
            if before == data:
                taken += 1
                continue
            if before is not None and not update:
                lines.append(f"{sid}: {name} changed since it was collected; kept the earlier copy (--update "
                             "takes the new one)")
                continue
            target.parent.mkdir(mode=0o700, exist_ok=True)
            write_atomic(target, data)
            mtime = source.lstat().st_mtime
            os.utime(target, (mtime, mtime))
            taken += 1
            count += 1
        if not taken:
            nothing.append(sid)
    lines.append(f"collected {count} new notebook(s) into {out}")
    if nothing:
        lines.append(f"nothing from {len(nothing)} student(s): {', '.join(nothing)}")
    return lines


def register(subparsers: argparse._SubParsersAction) -> None:
    fetch_cmd = subparsers.add_parser(
        "fetch", help="(on a student's JupyterHub server) copy this student's released notebooks into their book",
        description="Copy RELEASE/<user>/*.ipynb (made by `ukva student --roster ... --out RELEASE`) into "
                    "DIR/exercises/, never overwriting a notebook the student edited.")
    fetch_cmd.add_argument("--release", type=Path, default=os.environ.get("UKVA_RELEASE"),
                           help="the release folder (default: the environment variable UKVA_RELEASE)")
    fetch_cmd.add_argument("--user", default=os.environ.get("JUPYTERHUB_USER"),
                           help="whose notebooks (default: JUPYTERHUB_USER, which JupyterHub sets)")
    fetch_cmd.add_argument("--dir", type=Path, default=Path.home() / "ukva-book",
                           help="the student's copy of the book (default: ~/ukva-book)")
    fetch_cmd.set_defaults(func=run_fetch)

    collect_cmd = subparsers.add_parser(
        "collect", help="copy every roster student's notebooks from their homes into a folder to grade",
        description="Copy each roster student's *.ipynb from HOMES (with {user} for the student id) into "
                    "OUT/<student_id>/, keeping modification times; regular files only, never through a link.")
    collect_cmd.add_argument("--homes", required=True, help="where a student's notebooks are, e.g. "
                                                            "'/home/{user}/ukva-book/exercises'")
    collect_cmd.add_argument("--roster", type=Path, required=True, help="the roster (student_id,name)")
    collect_cmd.add_argument("--out", type=Path, required=True, help="the folder to collect into")
    collect_cmd.add_argument("--manifest", type=Path, help="collect only the assignment's notebooks")
    collect_cmd.add_argument("--update", action="store_true", help="replace a notebook collected before")
    collect_cmd.set_defaults(func=run_collect)


def run_fetch(args: argparse.Namespace) -> int:
    if not args.release or not args.user:
        print("ukva fetch: say where the release is and whose (--release DIR --user NAME, or UKVA_RELEASE and "
              "JUPYTERHUB_USER)", file=sys.stderr)
        return 2
    try:
        say(fetch(Path(args.release), args.user, args.dir))
    except (OSError, ReleaseError) as exc:
        print(printable(f"ukva fetch: {exc}"), file=sys.stderr)
        return 2
    return 0


def run_collect(args: argparse.Namespace) -> int:
    from .assignment import ManifestError, read_manifest
    from .roster import RosterError, read_roster

    try:
        students = list(read_roster(args.roster))
        chapters = set(read_manifest(args.manifest).chapters) if args.manifest is not None else None
        say(collect(args.homes, students, args.out, chapters, args.update))
    except (RosterError, ManifestError, ReleaseError, OSError) as exc:
        print(printable(f"ukva collect: {exc}"), file=sys.stderr)
        return 2
    return 0
