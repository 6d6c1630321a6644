"""Without Chromium the browser tests skip and say how to install it; with UKVA_REQUIRE_BROWSER=1
(as .ci/run sets) they fail instead, so CI cannot pass without having run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_without_chromium(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run one browser test in a fresh pytest with the browser pointed at a file that is not there."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "test_serving.py"), "-k", "reopens_it_in_the_other_theme", "-rsfE",
         "-p", "no:cacheprovider", "-q"],
        env={**os.environ, "UKVA_CHROMIUM": str(tmp_path / "no-chromium-here"), **env},
        capture_output=True, text=True, timeout=300, cwd=HERE.parents[1])


def test_browser_tests_skip_and_say_how_to_install_chromium_when_it_is_missing(tmp_path):
    done = run_without_chromium(tmp_path, UKVA_REQUIRE_BROWSER="0")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 skipped" in done.stdout and "apt-get install chromium" in done.stdout, done.stdout[-2000:]


def test_browser_tests_fail_without_chromium_when_ukva_require_browser_is_set(tmp_path):
    done = run_without_chromium(tmp_path, UKVA_REQUIRE_BROWSER="1")
    assert done.returncode != 0, done.stdout[-2000:]
    assert "UKVA_REQUIRE_BROWSER=1 but" in done.stdout and "apt-get install chromium" in done.stdout, \
        done.stdout[-2000:]
