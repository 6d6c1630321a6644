"""The project's two dependency lists (pyproject.toml, environment.yml) name the same packages."""

import os
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name_and_spec(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].split("#")[0].strip()
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
    return name.lower().replace("_", "-"), requirement[len(name):].strip()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_name_and_spec(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    reqs = {}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("\ndependencies:\n", 1)[1]
    for line in dependencies.splitlines():
        m = re.match(r"^  - ([A-Za-z0-9].*)$", line)  # top-level conda entries only
        if m:
            name, spec = _name_and_spec(m.group(1))
            if name not in ("python", "pip"):
                reqs[name] = spec
    return reqs


def test_environment_yml_and_pyproject_name_the_same_packages_and_versions():
    assert environment_requirements() == pyproject_requirements()


def test_the_ukva_command_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ukva"] == "ukva_widgets.cli:main"


# --- the book a reader copies (ukva_widgets/book.py) -------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

from ukva_widgets import book  # noqa: E402


def test_copy_book_copies_chapters_and_student_exercises_but_no_solutions(tmp_path):
    report = book.copy_book(tmp_path / "mine")
    copied = set(report.copied)
    assert {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")} <= copied
    assert {f"exercises/{p.name}" for p in (ROOT / "exercises").glob("*.ipynb")} <= copied
    assert not any("solutions" in name for name in copied)
    assert (tmp_path / "mine" / "notebooks" / "00-start.ipynb").read_bytes() == \
        (ROOT / "notebooks" / "00-start.ipynb").read_bytes()


def _fake_source(tmp_path, text: str):
    src = tmp_path / "src"
    for name in ("notebooks/00-start.ipynb", "notebooks/01-a.ipynb", "exercises/01-a.ipynb"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(f"{name} {text}")
    return src


def test_copy_book_keeps_an_edited_notebook_and_update_refreshes_only_unedited_ones(tmp_path):
    dest = tmp_path / "mine"
    book.copy_book(dest, src=_fake_source(tmp_path, "v1"))
    (dest / "notebooks/01-a.ipynb").write_text("my answers")
    src = _fake_source(tmp_path, "v2")  # a newer book ships
    again = book.copy_book(dest, src=src)
    assert again.kept == ["notebooks/01-a.ipynb"]
    assert again.outdated == ["exercises/01-a.ipynb", "notebooks/00-start.ipynb"]
    assert any("kept your edited notebooks/01-a.ipynb" in line for line in again.lines())
    assert (dest / "notebooks/00-start.ipynb").read_text().endswith("v1")  # not without --update
    updated = book.copy_book(dest, update=True, src=src)
    assert updated.updated == ["exercises/01-a.ipynb", "notebooks/00-start.ipynb"]
    assert updated.kept == ["notebooks/01-a.ipynb"]
    assert (dest / "notebooks/00-start.ipynb").read_text().endswith("v2")
    assert (dest / "notebooks/01-a.ipynb").read_text() == "my answers"
    (dest / "notebooks/00-start.ipynb").unlink()  # a deleted notebook comes back
    assert book.copy_book(dest, src=src).copied == ["notebooks/00-start.ipynb"]
    manifest = json.loads((dest / book.MANIFEST).read_text())["files"]
    assert set(manifest) == {"notebooks/00-start.ipynb", "notebooks/01-a.ipynb", "exercises/01-a.ipynb"}


def ukva(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ukva_widgets.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ukva_errors_are_one_line_without_a_traceback_unless_debug(tmp_path):
    (tmp_path / "afile").write_text("")
    done = ukva("book", "--dir", "afile", "--copy-only", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "ukva book: afile is a file, not a folder; pass another --dir"
    done = ukva("serve", "--root", "nowhere", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "nowhere has no notebooks/ folder" in done.stderr
    debug = ukva("--debug", "book", "--dir", "afile", "--copy-only", cwd=tmp_path)
    assert "Traceback" in debug.stderr and "BookError" in debug.stderr


def test_ukva_book_copy_only_makes_the_copy_in_dir_and_says_what_it_kept(tmp_path):
    done = ukva("book", "--dir", "b", "--copy-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and (tmp_path / "b/notebooks/00-start.ipynb").is_file()
    mine = tmp_path / "b/exercises/01-unix-process.ipynb"
    mine.write_text(mine.read_text().replace('"source": [', '"source": ["# mine\\n", ', 1))
    done = ukva("book", "--dir", "b", "--copy-only", "--update", cwd=tmp_path)
    assert "kept your edited exercises/01-unix-process.ipynb" in done.stdout
    assert "# mine" in mine.read_text()


# --- Binder (repo2docker) -----------------------------------------------------------------------

def test_binder_files_agree_with_pyproject():
    """repo2docker reads the top-level environment.yml (ignored if a binder/ folder exists): it must
    ask for the Python pyproject requires and install this repository itself."""
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    text = (ROOT / "environment.yml").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = re.search(r"^  - python\s*(\S+)\s*$", text, re.M)
    assert python and python.group(1) == project["requires-python"]
    pip = text.split("  - pip:\n", 1)[1]
    assert re.search(r"^      - (-e )?\.\s*$", pip, re.M), "environment.yml does not pip-install this repository"


def test_binder_post_build_opens_the_front_page(tmp_path):
    """postBuild, run as repo2docker runs it (in the repository, with the environment installed),
    makes JupyterLab open the first chapter."""
    mode = subprocess.run(["git", "ls-files", "-s", "postBuild"], cwd=ROOT, capture_output=True, text=True).stdout
    assert mode.startswith("100755"), f"postBuild must be executable in git, is: {mode!r}"
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run([str(ROOT / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    config = (tmp_path / ".jupyter" / "jupyter_server_config.py").read_text()
    url = re.search(r'default_url = "/lab/tree/(\S+)"', config).group(1)
    assert (ROOT / url).is_file() and url == "notebooks/00-start.ipynb"
    readme = (ROOT / "README.md").read_text()
    link = re.search(r"https://mybinder\.org/v2/gh/\S+\?urlpath=lab/tree/(\S+?\.ipynb)", readme)
    assert link and link.group(1) == url, "README's Binder link must open the same front page"


def test_locate_outside_a_checkout_copies_into_ukva_book_once_then_finds_it(tmp_path, monkeypatch):
    src = _fake_source(tmp_path, "v1")
    monkeypatch.setattr(book, "checkout", lambda: None)  # as installed from a wheel
    monkeypatch.setattr(book, "source", lambda: src)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    said = []
    assert book.locate(say=said.append) == (tmp_path / "empty" / "ukva-book").resolve()
    assert said == ["copied 3 notebooks into ukva-book"]
    said.clear()
    assert book.locate(say=said.append) == (tmp_path / "empty" / "ukva-book").resolve() and said == []
    monkeypatch.chdir(tmp_path / "empty" / "ukva-book")  # inside the copy, the copy is the book
    assert book.locate(say=said.append) == Path.cwd().resolve() and said == []
    _fake_source(tmp_path, "v2")
    assert book.locate(update=True, say=said.append) == Path.cwd().resolve()
    assert said[0].startswith("updated 3 notebooks")


def test_locate_in_a_checkout_uses_the_checkouts_own_notebooks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert book.locate(say=lambda line: pytest.fail(f"copied: {line}")) == ROOT
    with pytest.raises(book.BookError, match="checkout itself"):
        book.locate(update=True)
