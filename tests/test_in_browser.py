"""The package as the live book runs it in a browser (Pyodide): no numpy, no process, no thread, no Linux
kernel to ask. A fresh Python plays that browser: numpy (and bqplot, pandas) cannot be imported, starting
a thread raises as Pyodide's does, starting a process raises as Pyodide's does, and
ukva_widgets.browser.IN_BROWSER is True. tests/browser/test_lite.py runs the real thing in Chromium.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

BROWSER_LIKE = textwrap.dedent('''
    import _thread, importlib.abc, json, os, sys, threading

    attempts = []

    class NotInTheBrowser(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("numpy", "pandas", "bqplot"):
                attempts.append("import " + name)
                raise ImportError(f"No module named {name!r} (blocked: a browser page has no numpy)")

    def no_thread(*args, **kwargs):
        attempts.append("thread")
        raise RuntimeError("can't start new thread")

    def no_process(*args, **kwargs):
        attempts.append("process")
        raise OSError(138, "emscripten does not support processes.")

    sys.meta_path.insert(0, NotInTheBrowser())
    for module, name in [(_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                         (threading, "_start_new_thread"), (threading, "_start_joinable_thread")]:
        if hasattr(module, name):
            setattr(module, name, no_thread)
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve"):
        if hasattr(os, name):
            setattr(os, name, no_process)

    import ukva_widgets.browser
    ukva_widgets.browser.IN_BROWSER = True
    seen = {}

    # 1. the engine, Machine and explore: no numpy, and not even the subprocess module
    from ukva_widgets.engine import Kernel, Machine, explore
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD")
    seen["explore"] = explore(Machine(k, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False)).verdict
    seen["engine_imported"] = sorted(m for m in ("subprocess", "numpy") if m in sys.modules)

    # 2. processes now fail as in Pyodide too (IPython imports subprocess, and may)
    import subprocess
    subprocess.Popen.__init__ = no_process

    # 3. every widget but CostPlot, built and used; DesignLab's button checks without a thread
    from ukva_widgets.widgets import (AddressSpaceMap, CacheAliasing, CloneExplorer, DesignLab, SMPStepper,
                                      TaskTree)
    stepper = SMPStepper(Machine(k, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False))
    stepper.step(stepper.machine.choices()[0].label)
    TaskTree(script=["sh = fork init", "fork sh"])
    AddressSpaceMap(machine=Machine(k, tasks=[p, t], cpus=2, design="per-mm", slots="dynamic"))
    CacheAliasing()
    lab = DesignLab(design="per-task", fill="hardware", cpus=2, workload="threads")
    lab.check_button.click()
    seen["lab_after_click"] = [lab.running, lab.result.verdict if lab.result else None]
    seen["lab_spin"] = __import__("ukva_widgets.widgets.design_lab", fromlist=["x"]).spin_missing()
    explorer = CloneExplorer(flags="CLONE_VM|CLONE_FILES")
    explorer.probe_button.click()
    seen["explorer_probe"] = explorer.probe_result.value

    # 4. the real-kernel probe: a stored answer, said so once
    from ukva_widgets.real import probe
    seen["probe"] = [str(probe(0x500)), str(probe(0x800)), probe(0x500).recorded]

    # 5. an exercise's check
    from ukva_widgets.grading import check, exercise
    exercise("4.3", seed=1)
    seen["check"] = check("4.3", {"x86": "software"}).text()
    seen["imported"] = sorted(m for m in ("numpy", "pandas", "bqplot") if m in sys.modules)
    seen["attempts"] = attempts
    print("RESULT " + json.dumps(seen))
''')


@pytest.fixture(scope="module")
def browser_like() -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", BROWSER_LIKE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), done.stdout


def test_the_engine_machine_and_explore_need_no_numpy_no_thread_and_not_even_subprocess(browser_like):
    seen, _ = browser_like
    assert seen["explore"] == "violation"
    assert seen["engine_imported"] == []


def test_every_widget_but_costplot_builds_and_works_without_numpy_a_thread_or_a_process(browser_like):
    seen, _ = browser_like
    assert seen["imported"] == []
    assert seen["attempts"] == []  # no import of numpy, no thread, no process was even tried


def test_design_labs_button_checks_synchronously_to_its_verdict_and_offers_no_spin(browser_like):
    seen, _ = browser_like
    assert seen["lab_after_click"] == [False, "violation"]
    assert "browser page cannot start" in seen["lab_spin"] and "Linux machine with ukva_widgets" in seen["lab_spin"]


def test_the_probe_shows_a_kernels_stored_answer_and_says_once_what_asking_needs(browser_like):
    seen, stdout = browser_like
    vm_files, sighand, kernel = seen["probe"]
    assert vm_files.startswith("clone(CLONE_VM|CLONE_FILES): shares vm files") and kernel.startswith("Linux ")
    assert sighand == "clone(CLONE_SIGHAND): EINVAL"
    notes = [line for line in stdout.splitlines() if "No Linux kernel to ask" in line]
    assert len(notes) == 1 and "needs a Linux machine with ukva_widgets installed" in notes[0]
    assert "stored answer of Linux" in seen["explorer_probe"] and "agrees on clone(CLONE_VM|CLONE_FILES)" in \
        seen["explorer_probe"]


def test_an_exercise_check_gives_its_feedback(browser_like):
    seen, _ = browser_like
    assert seen["check"].startswith("[4.3] not yet")
