"""CloneExplorer: flags in, the engine's clone drawn out, through the controls a learner uses."""

from __future__ import annotations

import pytest
import traitlets

from ukva_widgets.engine.flags import PRESETS
from ukva_widgets.widgets import CloneExplorer


def cells(w: CloneExplorer, cls: str) -> list[str]:
    """The objects drawn in one column of the picture ("ukva-own-caller", "ukva-shared", "ukva-own-child"):
    "mm#2: ◀ #2 ×2 ▶", the whole label (the chip's tooltip) and the words drawn (the row names the kind)."""
    parts = [p.split("</td>")[0] for p in w.picture.value.split(f'class="{cls}"')[1:]]
    return [p.split('title="')[1].split('"')[0] + ": " + p.split(">")[-2].split("<")[0] for p in parts if "none" not in p]


def test_sighand_without_vm_shows_einval_and_the_rule():
    w = CloneExplorer(flags="CLONE_SIGHAND")
    assert w.child is None
    assert "EINVAL" in w.text()
    assert w.clone_error.rule.name in w.text()
    assert w.clone_error.rule.reason in w.text()
    assert "EINVAL" in w.summary.value


def test_vm_with_sighand_shows_shared_mm_and_sighand_with_refcount_two():
    w = CloneExplorer(flags="CLONE_SIGHAND")
    w.flags = "CLONE_VM|CLONE_SIGHAND"
    text = w.text()
    assert w.child is not None and w.child.mm is w.caller.mm and w.child.sighand is w.caller.sighand
    assert f"mm       shared    {w.caller.mm.label} refcount 2" in text
    assert f"sighand  shared    {w.caller.sighand.label} refcount 2" in text
    assert "files    separate" in text
    # drawn once, in the shared column between the tasks
    shared = cells(w, "ukva-shared")
    assert f"{w.caller.mm.label}: ◀ #{w.caller.mm.id} ×2 ▶" in shared
    assert f"{w.caller.sighand.label}: ◀ #{w.caller.sighand.id} ×2 ▶" in shared
    assert not any(w.caller.mm.label in c for c in cells(w, "ukva-own-caller") + cells(w, "ukva-own-child"))


def test_plain_fork_draws_every_object_twice_with_refcount_one():
    w = CloneExplorer(flags="")
    assert all("separate" in line for line in w.text().splitlines()[2:] if "io" not in line and "sysvsem" not in line)
    mm_labels = [c for c in cells(w, "ukva-own-caller") + cells(w, "ukva-own-child") if c.startswith("mm#")]
    assert len(mm_labels) == 2 and all(label.endswith("×1") for label in mm_labels)
    assert "caller's own" in w.picture.value and "child's own" in w.picture.value


def test_ticking_a_checkbox_in_the_browser_changes_the_flags_and_the_engine(browser):
    w = CloneExplorer()
    browser.set(w.checkboxes["CLONE_VM"], value=True)
    assert w.flags == "CLONE_VM"
    assert w.child.mm is w.caller.mm and w.caller.mm.refcount == 2
    browser.set(w.checkboxes["CLONE_SIGHAND"], value=True)
    assert set(w.flags.split("|")) == {"CLONE_VM", "CLONE_SIGHAND"}
    assert w.child.sighand is w.caller.sighand


def test_setting_flags_ticks_the_matching_checkboxes():
    w = CloneExplorer()
    w.flags = "CLONE_FS|CLONE_FILES"
    ticked = {name for name, box in w.checkboxes.items() if box.value}
    assert ticked == {"CLONE_FS", "CLONE_FILES"}
    assert w.text_box.value == w.flags


def test_typing_an_unknown_flag_shows_the_engines_error_and_changes_nothing(browser):
    w = CloneExplorer(flags="CLONE_VM")
    before = w.text()
    picture = w.picture.value
    browser.set(w.text_box, value="CLONE_VMM")
    assert w.flags == "CLONE_VM"
    assert w.text() == before + "\nerror: " + w.error.message
    assert "CLONE_VMM" in w.error.message and "CLONE_VM" in w.error.message
    assert w.error.layout.display is None and "ukva-error-shown" in w.error._dom_classes
    # next to the box it is about, the box marked invalid, the picture kept with a note
    assert w.children.index(w.error) == w.children.index(w.text_box) + 1
    assert "ukva-invalid" in w.text_box._dom_classes
    assert w.picture.value == picture and "still showing clone(CLONE_VM)" in w.stale_note.value


def test_a_valid_typed_flag_string_applies_and_clears_the_error(browser):
    w = CloneExplorer()
    browser.set(w.text_box, value="CLONE_BOGUS")
    browser.set(w.text_box, value="CLONE_VM|CLONE_FS")
    assert w.error.message == "" and w.error.layout.display == "none"
    assert w.child.fs is w.caller.fs
    assert "ukva-invalid" not in w.text_box._dom_classes and w.stale_note.value == ""


def test_setting_an_unknown_flag_in_python_raises_a_clear_trait_error():
    w = CloneExplorer()
    with pytest.raises(traitlets.TraitError, match="CLONE_VMM"):
        w.flags = "CLONE_VMM"
    assert w.flags == ""


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_choosing_a_preset_applies_the_flags_glibc_passes(browser, preset):
    w = CloneExplorer()
    browser.set(w.preset, index=[v for _, v in w.preset.options].index(preset))
    expected = CloneExplorer(flags=int(PRESETS[preset]))
    assert w.flags == expected.flags
    assert w.text() == expected.text()


def test_pthread_create_preset_puts_the_child_in_the_callers_thread_group(browser):
    w = CloneExplorer()
    browser.set(w.preset, index=[v for _, v in w.preset.options].index("pthread_create"))
    assert w.child.tgid == w.caller.tgid
    assert "signal   shared" in w.text()


def test_text_is_the_plain_text_repr():
    w = CloneExplorer(flags="CLONE_VM")
    assert repr(w) == w.text()
    assert w._repr_mimebundle_()["text/plain"] == w.text()
    assert "0x" not in w.text()


def test_every_flag_checkbox_carries_its_css_class():
    w = CloneExplorer()
    for name, box in w.checkboxes.items():
        assert f"ukva-flag-{name}" in box._dom_classes
    assert "ukva-clone-explorer" in w._dom_classes


def test_asking_the_real_kernel_reports_agreement_for_a_plain_fork(browser):
    w = CloneExplorer(flags="CLONE_VM|CLONE_SIGHAND")
    browser.click(w.probe_button)
    line = w.text().splitlines()[-1]
    assert line.startswith("real kernel: ")
    from ukva_widgets.real import probe
    if not probe(0).available:
        assert "could not be asked" in line
    else:
        assert "agrees" in line and "disagrees" not in line


def test_asking_the_real_kernel_about_a_refused_combination_agrees_on_einval(browser):
    w = CloneExplorer(flags="CLONE_SIGHAND")
    browser.click(w.probe_button)
    from ukva_widgets.real import probe
    if probe(0).available:
        assert w.text().splitlines()[-1] == "real kernel: agrees on clone(CLONE_SIGHAND): EINVAL"


def test_namespace_flags_say_the_engine_does_not_model_them():
    w = CloneExplorer(flags="CLONE_NEWNS")
    assert w.child is None and w.not_modelled is not None
    assert "not modelled" in w.text() and "namespaces" in w.summary.value


def test_the_probe_tries_the_flags_it_can_and_names_the_ones_it_left_out(browser):
    w = CloneExplorer()
    browser.set(w.preset, index=[v for _, v in w.preset.options].index("pthread_create"))
    browser.click(w.probe_button)
    line = w.text().splitlines()[-1]
    assert "left out" in line and "CLONE_SETTLS" in line and "CLONE_VFORK" not in line
    from ukva_widgets.real import probe
    if probe(0).available:
        assert line.startswith("real kernel: agrees on clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD")
        assert w.probe_error.message == ""


def test_the_sharing_flags_sit_beside_the_picture_and_the_rest_fold_under_more_flags():
    w = CloneExplorer()
    beside = w.children[w.children.index(w.error) + 1].children[0]
    shown = [b.description for b in beside.children[1].children]
    assert shown == ["VM", "FS", "FILES", "SIGHAND", "THREAD", "IO", "SYSVSEM"]
    assert not w.more_flags.shown and w.more_flags.content.layout.display == "none"  # folded
    assert "ukva-fold-header" in w.more_flags.header._dom_classes  # a real button opens it
    assert "ukva-flag-CLONE_SETTLS" in w.more_flags.content.children[0].children[1]._dom_classes


def test_the_error_box_says_not_applied_not_the_trait_machinery(browser):
    w = CloneExplorer()
    browser.set(w.text_box, value="CLONE_VMM")
    assert "not applied" in w.error.value and "TraitError" not in w.error.value


def test_a_refused_clone_is_drawn_with_its_errno_and_rule_in_the_picture():
    w = CloneExplorer("CLONE_SIGHAND")
    assert "EINVAL" in w.picture.value and w.clone_error.rule.name in w.picture.value


def test_the_picture_keeps_one_row_per_kind_whatever_the_flags(browser):
    w = CloneExplorer()
    rows = w.picture.value.count("<tr")
    for flag in ("CLONE_VM", "CLONE_IO", "CLONE_SYSVSEM", "CLONE_SIGHAND"):
        browser.set(w.checkboxes[flag], value=True)
        assert w.picture.value.count("<tr") == rows


def test_a_kind_whose_sharing_a_flag_turned_over_is_marked_changed(browser):
    w = CloneExplorer("CLONE_VM")
    assert "ukva-changed" not in w.picture.value
    browser.set(w.checkboxes["CLONE_FILES"], value=True)
    changed = [row for row in w.picture.value.split("<tr")[1:] if 'class="ukva-changed"' in row.split(">")[0]]
    assert len(changed) == 1 and ">files<" in changed[0] and ">changed<" in changed[0]
