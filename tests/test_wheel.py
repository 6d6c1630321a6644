"""What a learner who `pip install`s the wheel gets: the book, from an empty folder.

One wheel is built from this checkout and installed (with its dependencies, from PyPI through pip's
cache) into a fresh venv without system site-packages, once for the module; then `ukva book`,
`ukva serve`, `ukva site` and `ukva grade` run in an empty folder, where no checkout can help them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel, = (tmp / "dist").glob("ukva_widgets-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, timeout=300)
    done = subprocess.run([str(tmp / "venv/bin/python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "venv"


@pytest.fixture(scope="module")
def empty(venv, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An empty folder to run `ukva` in, and the environment: the venv's bin first, a private HOME."""
    folder = tmp_path_factory.mktemp("empty")
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(home),
           "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "PYTHONPATH": ""}
    env.pop("VIRTUAL_ENV", None)
    return folder, env


def run(empty, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    folder, env = empty
    return subprocess.run(["ukva", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def serving(empty, *args: str) -> tuple[str, subprocess.Popen]:
    """Start `ukva ARGS --no-browser`; return the URL it prints once it answers, and the process."""
    folder, env = empty
    process = subprocess.Popen(["ukva", *args, "--no-browser"], cwd=folder, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = re.search(r"http://\S+", line)
        if match:
            return match.group(0), process
    process.wait()
    raise AssertionError(f"ukva {' '.join(args)} printed no URL:\n{''.join(seen)}")


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.status, response.read().decode()


def test_the_wheel_holds_the_package_not_the_checkout(venv):
    where = subprocess.run([str(venv / "bin/python"), "-c", "import ukva_widgets; print(ukva_widgets.__file__)"],
                           capture_output=True, text=True, cwd="/", check=True).stdout
    assert str(venv) in where and str(ROOT) not in where


def test_ukva_book_copies_the_book_into_ukva_book_and_opens_jupyterlab_on_it(empty):
    url, process = serving(empty, "book")
    try:
        assert "/lab/tree/notebooks/00-start.ipynb?token=" in url
        base, token = url.split("/lab/")[0], url.split("token=")[1]
        status, body = get(f"{base}/api/contents/notebooks/00-start.ipynb?token={token}")
        assert status == 200 and '"cells"' in body
        status, body = get(f"{base}/api/contents/exercises?token={token}")
        assert "01-unix-process.ipynb" in body and "solutions" not in body
    finally:
        process.terminate()
        process.wait(timeout=30)
    folder = empty[0]
    assert (folder / "ukva-book/notebooks/00-start.ipynb").is_file()
    assert not (folder / "ukva-book/exercises/solutions").exists()


def test_ukva_serve_serves_the_chapters_as_voila_apps(empty):
    url, process = serving(empty, "serve")
    try:
        status, body = get(url.replace("/00-start.ipynb?", "/01-unix-process.ipynb?"))
        assert status == 200 and "jp-OutputArea" in body
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ukva_site_builds_the_static_book(empty):
    done = run(empty, "site", "--out", "site")
    assert done.returncode == 0, done.stderr
    pages = {p.name for p in (empty[0] / "site/notebooks").glob("*.html")}
    assert pages == {p.stem + ".html" for p in (ROOT / "notebooks").glob("*.ipynb")}
    # and the live book beside it, built from what pip installed (its own wheel of the package)
    assert (empty[0] / "site/lite/notebooks/index.html").is_file(), done.stdout
    assert list((empty[0] / "site/lite/static/pyodide").glob("ukva_widgets-*.whl")), done.stdout


def test_ukva_grade_grades_an_exercise_of_the_copy(empty):
    run(empty, "book", "--copy-only")
    done = run(empty, "grade", "ukva-book/exercises/01-unix-process.ipynb", "--quiet", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+/\d+\s+ukva-book/exercises/01-unix-process\.ipynb", done.stdout), done.stdout


def test_ukva_student_without_the_solutions_says_so_in_one_line(empty):
    done = run(empty, "student")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "solution" in done.stderr, done.stderr


def test_the_wheel_carries_no_answer_key_no_rubric_and_no_rebuttal(venv):
    """What a student installs: the answer key only sealed (grading/sealed.json), the rubrics nowhere."""
    from ukva_widgets.grading.answers.questions import QUESTIONS
    from ukva_widgets.grading.answers.tables import TABLES
    from ukva_widgets.grading.bank import rubrics

    site = next((venv / "lib").glob("python3*/site-packages"))
    package = site / "ukva_widgets"
    assert not (package / "grading" / "answers").exists() and (package / "grading" / "sealed.json").is_file()
    text = "".join(p.read_text(errors="replace") for p in package.rglob("*") if p.is_file()
                   and p.suffix in (".py", ".json", ".ipynb", ".md"))
    for rubric in rubrics(sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))).values():
        assert rubric[:80] not in text
    for questions in QUESTIONS.values():
        for q in questions:
            assert all(rebuttal[:80] not in text for _, rebuttal in q.misconceptions)
    for item_id, rows in TABLES.items():
        option, value = next(iter(rows.items()))
        assert f"{option!r}: {value!r}" not in text and f'"{option}": {value!r}' not in text, item_id
    from ukva_widgets.grading import exercise

    probe = ("import json; from ukva_widgets.grading.sealed import is_sealed; from ukva_widgets.grading import "
             "exercise; print(json.dumps([is_sealed(), exercise('7.1', seed=5).text]))")
    done = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, cwd="/", check=True)
    assert json.loads(done.stdout) == [True, exercise("7.1", seed=5).text]  # sealed, and the checkout's problems
