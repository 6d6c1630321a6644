"""A class on JupyterHub: deploy/jupyterhub/jupyterhub_config.py as an admin runs it, with the real
`jupyterhub` and its `configurable-http-proxy` (from the npm registry), and two students in Chromium.

Both log in (DummyAuthenticator), each gets their own copy of the book on the first start of their
server (the config's start-up hook), lands on the front page, runs it with its widgets, answers an
exercise and gets `check()`'s verdict, saves it; then neither can see the other's files or reach the
other's server. The proxy is npm-installed once into a cache folder (UKVA_CACHE, default
~/.cache/ukva_widgets) unless configurable-http-proxy is on PATH. Without node/npm the test skips
and says so, unless UKVA_REQUIRE_BROWSER=1 (as in CI), when it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import book_pages as bp
import pytest

from ukva_widgets.serving import free_port

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub" / "jupyterhub_config.py"
CACHE = Path(os.environ.get("UKVA_CACHE") or Path.home() / ".cache" / "ukva_widgets")
PROXY_PACKAGE = "configurable-http-proxy@5"
USERS = {"ada": 5, "brian": 16}   # each student's (different) answer to exercise 1.1
CHAPTER = "00-start.ipynb"
EXERCISE = "01-unix-process.ipynb"


def _unavailable(reason: str):
    if os.environ.get("UKVA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"UKVA_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def proxy_command() -> str:
    """configurable-http-proxy: on PATH, or npm-installed into the cache folder (once)."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    prefix = CACHE / "configurable-http-proxy"
    binary = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if not binary.exists():
        if not shutil.which("npm") or not shutil.which("node"):
            _unavailable("the JupyterHub test needs node and npm for configurable-http-proxy "
                         "(apt-get install nodejs npm, or npm install -g configurable-http-proxy)")
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                               "--prefix", str(prefix), PROXY_PACKAGE],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm install {PROXY_PACKAGE} failed:\n{done.stderr[-2000:]}", pytrace=False)
    return str(binary)


@pytest.fixture(scope="module")
def hub(browser, tmp_path_factory):
    """The hub from deploy/jupyterhub, on a free 127.0.0.1 port; yields (base URL, homes folder)."""
    hub_bin = Path(sys.executable).parent / "jupyterhub"
    if not hub_bin.exists():
        _unavailable("the JupyterHub test needs jupyterhub: pip install -e '.[test]'")
    proxy = proxy_command()
    tmp = tmp_path_factory.mktemp("hub")
    homes = tmp / "homes"
    for user in USERS:  # each student's JupyterLab settings, where Lab keeps them: no news, no autosave
        for plugin, values in bp.LAB_SETTINGS.items():
            path = homes / user / ".jupyter/lab/user-settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
    port = free_port()
    env = {**os.environ, "UKVA_HUB_USERS": ",".join(USERS), "UKVA_HUB_HOMES": str(homes),
           "UKVA_HUB_STATE": str(tmp), "UKVA_HUB_PROXY": proxy, "PYTHONHASHSEED": "0"}
    log = open(tmp / "hub.log", "wb")  # noqa: SIM115 - open while the hub runs
    process = subprocess.Popen(
        [str(hub_bin), "-f", str(CONFIG), f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
         f"--JupyterHub.hub_bind_url=http://127.0.0.1:{free_port()}",
         f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}"],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"jupyterhub exited; see {tmp / 'hub.log'}"
            assert time.monotonic() < deadline, f"jupyterhub did not answer in 120 s; see {tmp / 'hub.log'}"
            try:
                with urllib.request.urlopen(f"{base}/hub/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        yield base, homes
    finally:
        process.terminate()  # the hub stops the users' servers and its proxy as it exits
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def students(browser, hub):
    """Both students logged in at once, each in a browser context (cookies) of their own, on the
    page their server opens first."""
    base, _ = hub
    pages = {}
    for user in USERS:
        context = bp.offline_context(browser, [])
        page = context.new_page()
        page.goto(f"{base}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", "any")
        page.click("#login_submit")  # the hub starts their server, then sends them to it
        pages[user] = page
    for user, page in pages.items():
        page.wait_for_url(f"**/user/{user}/lab/**", timeout=180_000)
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    yield pages
    for page in pages.values():
        page.context.close()


def test_each_student_lands_on_the_front_page_of_their_own_copy(students, hub):
    _, homes = hub
    for user, page in students.items():
        assert f"/user/{user}/lab/tree/ukva-book/notebooks/{CHAPTER}" in page.url
        assert page.locator(".lm-TabBar-tab.jp-mod-current").first.inner_text().strip() == CHAPTER
        copy = homes / user / "ukva-book"
        assert (copy / "notebooks" / CHAPTER).is_file() and (copy / "exercises" / EXERCISE).is_file()
        assert not (copy / "exercises" / "solutions").exists()


def test_each_student_runs_a_chapter_with_its_widgets(students):
    for page in students.values():
        bp.wait_kernel_idle(page, 120_000)
    for page in students.values():
        bp.run_all_in_lab(page)
    for user, page in students.items():
        bp.wait_for_widgets(page, bp.expected(bp.ROOT, CHAPTER).widgets)
        assert bp.cell_errors(page) == [], f"{user}: {bp.cell_errors(page)}"


def test_each_student_answers_an_exercise_and_check_judges_it(students, hub):
    base, homes = hub
    for user, page in students.items():
        page.goto(f"{base}/user/{user}/lab/tree/ukva-book/exercises/{EXERCISE}?reset")  # only this one open
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        bp.wait_kernel_idle(page, 120_000)
        bp.run_all_in_lab(page)
        at = page.evaluate("() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')]"
                           ".findIndex(c => c.textContent.includes('answer_1_1 = ...'))")
        assert at >= 0, "the exercise has no answer cell for 1.1"
        cell = page.locator(".jp-NotebookPanel .jp-CodeCell").nth(at)  # by place: its text changes
        assert "not answered yet" in cell.locator(".jp-OutputArea").inner_text()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(f'answer_1_1 = {USERS[user]}\ncheck("1.1", answer_1_1)')
        page.keyboard.press("Shift+Enter")
        verdict = cell.locator(".jp-OutputArea-output", has_text=re.compile(r"\[1\.1\](?! not answered yet)"))
        verdict.first.wait_for(timeout=60_000)  # check() judged the answer (right or wrong)
        page.keyboard.press("Control+s")
    for user, answer in USERS.items():
        saved = homes / user / "ukva-book" / "exercises" / EXERCISE
        deadline = time.monotonic() + 30
        while f"answer_1_1 = {answer}" not in saved.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert f"answer_1_1 = {answer}" in saved.read_text(), f"{user}'s answer was not saved in their copy"
        others = [a for u, a in USERS.items() if u != user]
        assert not any(f"answer_1_1 = {a}\\n" in saved.read_text() for a in others)


def test_neither_student_sees_the_others_files_or_server(students, hub):
    base, _ = hub
    for user, page in students.items():
        other = next(u for u in USERS if u != user)
        mine = page.request.get(f"{base}/user/{user}/api/contents/")
        assert mine.status == 200
        assert [item["name"] for item in mine.json()["content"] if not item["name"].startswith(".")] == ["ukva-book"]
        outside = page.request.get(f"{base}/user/{user}/api/contents/%2E%2E/{other}/ukva-book")
        assert outside.status in (400, 403, 404), f"{user} read {other}'s folder through their own server"
        theirs = page.request.get(f"{base}/user/{other}/api/contents/ukva-book", max_redirects=0)
        assert theirs.status in (302, 403, 404), f"{user} reached {other}'s server: {theirs.status}"
        assert "notebooks" not in theirs.text()
