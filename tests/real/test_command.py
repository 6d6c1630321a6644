"""`ukva probe`: kernel and engine side by side, the agreement count, JSON, bad input."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys

import pytest

from ukva_widgets.cli import main

needs_kernel = pytest.mark.usefixtures("probeable_kernel")


def ukva(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row(out: str, label: str) -> list[str]:
    """The cells of the side-by-side line that starts with `label`."""
    line = next(line for line in out.splitlines() if line.startswith(label))
    return line[len(label):].split()


@needs_kernel
def test_ukva_probe_prints_kernel_and_engine_side_by_side(capsys):
    code, out, _ = ukva(capsys, "probe", "CLONE_VM|CLONE_FS")
    assert row(out, "shares vm") == ["yes", "yes"]
    assert row(out, "shares fs") == ["yes", "yes"]
    assert row(out, "shares files") == ["no", "no"]
    assert row(out, "parent") == ["caller", "caller"]
    assert out.rstrip().endswith("agree: yes")
    assert code == 0


@needs_kernel
def test_ukva_probe_shows_the_errno_on_both_sides(capsys):
    code, out, _ = ukva(capsys, "probe", "SIGHAND")
    assert row(out, "result") == ["EINVAL", "EINVAL"]
    assert code == 0


@needs_kernel
def test_ukva_probe_all_lists_every_subset_and_ends_with_the_agreement_count():
    # Run as a user would, through the CLI module in a fresh interpreter.
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "probe", "--all"],
                          capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    agreed = re.fullmatch(r"agree: (\d+)/256", lines[-1])
    assert agreed, lines[-1]
    assert len([line for line in lines if line.endswith((" yes", " NO"))]) == 256
    assert done.returncode == (0 if agreed.group(1) == "256" else 1)


@needs_kernel
def test_ukva_probe_json_holds_both_answers_and_the_verdict(capsys):
    code, out, _ = ukva(capsys, "probe", "--json", "0x10f00")
    data = json.loads(out)
    assert data["flags"] == 0x10F00
    assert data["kernel"]["same_thread_group"] is True
    assert data["agree"] is (code == 0)
    assert (data["differences"] == []) is data["agree"]


def test_ukva_probe_with_a_misspelt_flag_names_the_one_meant(capsys):
    code, out, err = ukva(capsys, "probe", "CLONE_VN")
    assert code == 2 and out == ""
    assert "CLONE_VM" in err


def test_ukva_probe_refuses_a_flag_it_cannot_probe(capsys):
    code, _, err = ukva(capsys, "probe", "VM|VFORK")
    assert code == 2
    assert "CLONE_VFORK" in err


@pytest.mark.parametrize("argv", [["probe"], ["probe", "VM", "--all"]])
def test_ukva_probe_needs_flags_or_all_but_not_both(capsys, argv):
    code, _, err = ukva(capsys, *argv)
    assert code == 2
    assert "FLAGS" in err and "--all" in err


def test_ukva_probe_where_the_kernel_cannot_be_asked_says_why_and_exits_3(capsys, monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    code, out, _ = ukva(capsys, "probe", "VM")
    assert code == 3
    assert "kernel: unavailable: this is Darwin, not Linux" in out
    assert out.rstrip().endswith("agree: cannot compare")
