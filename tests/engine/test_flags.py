"""Clone flags: the header's values, the three ways to write them, and helpful errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ukva_widgets.engine import PRESETS, CloneFlags, flag_names, format_flags, parse_flags
from ukva_widgets.engine.flags import CLONE3_ONLY, split_legacy_word

SCHED_H = Path("/usr/include/linux/sched.h")
F = CloneFlags


def header_values() -> dict[str, int]:
    text = SCHED_H.read_text()
    return {name: int(value.removesuffix("ULL"), 16)
            for name, value in re.findall(r"#define\s+(CLONE_\w+)\s+(0x[0-9a-fA-F]+(?:ULL)?)", text)}


@pytest.mark.skipif(not SCHED_H.exists(), reason="no <linux/sched.h> installed to compare with")
def test_every_flag_of_the_installed_header_has_its_value_here():
    values = header_values()
    assert values, "the header parsed to nothing"
    for name, value in values.items():
        assert CloneFlags[name].value == value, name
    assert {f.name for f in CloneFlags} == set(values)


def test_clone3_only_flags_sit_above_the_legacy_word():
    assert F.CLONE_CLEAR_SIGHAND == 1 << 32
    assert F.CLONE_INTO_CGROUP == 1 << 33
    assert CLONE3_ONLY == F.CLONE_CLEAR_SIGHAND | F.CLONE_INTO_CGROUP | F.CLONE_NEWTIME


def test_an_int_a_string_and_a_list_of_names_mean_the_same_flags():
    expected = F.CLONE_VM | F.CLONE_FS
    assert parse_flags(0x300) == expected
    assert parse_flags("CLONE_VM|CLONE_FS") == expected
    assert parse_flags(" CLONE_VM | FS ") == expected
    assert parse_flags(["CLONE_VM", "CLONE_FS"]) == expected
    assert parse_flags((F.CLONE_VM, "FS")) == expected
    assert isinstance(parse_flags("VM"), CloneFlags)


def test_no_flags_is_zero():
    assert parse_flags("") == 0
    assert parse_flags([]) == 0
    assert format_flags(0) == "0"


@pytest.mark.parametrize("typo, meant", [("CLONE_VN", "CLONE_VM"), ("CLONE_FILS", "CLONE_FILES"),
                                         ("clone_thread", "CLONE_THREAD"), ("SIGHNAD", "CLONE_SIGHAND")])
def test_an_unknown_name_suggests_the_closest_real_flag(typo, meant):
    with pytest.raises(ValueError, match=f"did you mean {meant}\\?"):
        parse_flags(typo)


def test_a_signal_among_the_flags_says_to_pass_it_as_exit_signal():
    with pytest.raises(ValueError, match="exit_signal"):
        parse_flags("CLONE_VM|SIGCHLD")


def test_flags_newer_than_the_test_kernel_are_refused_by_name():
    with pytest.raises(ValueError, match="newer than Linux 6.18"):
        parse_flags("CLONE_AUTOREAP")
    with pytest.raises(ValueError, match="CLONE_PIDFD_AUTOKILL"):
        parse_flags(1 << 36)


@pytest.mark.parametrize("bad", [1.5, None, True, {"CLONE_VM": 1}.values(), [0x100]])
def test_a_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError):
        parse_flags(bad)


def test_csignal_bits_in_an_int_are_not_flags():
    with pytest.raises(ValueError, match="CSIGNAL"):
        parse_flags(0x100 | 17)
    with pytest.raises(ValueError, match="negative"):
        parse_flags(-1)


def test_the_legacy_clone_word_splits_into_flags_and_exit_signal():
    assert split_legacy_word(0x100 | 17) == (F.CLONE_VM, 17)
    assert split_legacy_word(0x11) == (F(0), 17)


def test_flag_names_come_in_value_order():
    assert flag_names(F.CLONE_THREAD | F.CLONE_VM) == ["CLONE_VM", "CLONE_THREAD"]
    assert flag_names(0x300) == ["CLONE_VM", "CLONE_FS"]
    assert format_flags(F.CLONE_VM | F.CLONE_IO) == "CLONE_VM|CLONE_IO"


def test_glibc_pthread_create_shares_everything_but_io():
    flags = PRESETS["pthread_create"]
    assert flag_names(flags) == ["CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND",
                                 "CLONE_THREAD", "CLONE_SYSVSEM", "CLONE_SETTLS",
                                 "CLONE_PARENT_SETTID", "CLONE_CHILD_CLEARTID"]
    assert not flags & F.CLONE_IO


def test_glibc_fork_shares_nothing_and_posix_spawn_needs_clone3():
    assert PRESETS["fork"] == F.CLONE_CHILD_SETTID | F.CLONE_CHILD_CLEARTID
    assert PRESETS["vfork"] == F.CLONE_VM | F.CLONE_VFORK
    assert PRESETS["posix_spawn"] & CLONE3_ONLY == F.CLONE_CLEAR_SIGHAND


def test_importing_the_engine_loads_no_jupyter_package_no_numpy_and_no_process_machinery():
    """Headless and quick: no Jupyter package, numpy only when the cost simulator is asked for,
    and no subprocess or threading (Pyodide has neither; spin.py imports them when it runs)."""
    code = ("import sys, ukva_widgets.engine; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'ipywidgets', 'bqplot', 'traitlets', 'IPython', 'ipykernel', 'jupyter_client', 'numpy', "
            "'subprocess', 'threading'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
