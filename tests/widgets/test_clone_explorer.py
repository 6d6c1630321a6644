"""CloneExplorer: flags in, the engine's clone drawn out, through the controls a learner uses."""

from __future__ import annotations

import traitlets
import pytest

from ukva_widgets.widgets import CloneExplorer
from ukva_widgets.engine.flags import PRESETS


def graph_labels(w: CloneExplorer) -> list[str]:
    return [n["label"] for n in w.picture.graph.node_data]


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
    # drawn once, with an arrow from each task
    mm_nodes = [i for i, label in enumerate(graph_labels(w)) if label.startswith(w.caller.mm.label)]
    assert len(mm_nodes) == 1
    assert {(l["source"], l["target"]) for l in w.picture.graph.link_data} >= {(0, mm_nodes[0]), (1, mm_nodes[0])}


def test_plain_fork_draws_every_object_twice_with_refcount_one():
    w = CloneExplorer(flags="")
    assert all("separate" in line for line in w.text().splitlines()[2:] if "io" not in line and "sysvsem" not in line)
    mm_labels = [label for label in graph_labels(w) if label.startswith("mm#")]
    assert len(mm_labels) == 2 and all(label.endswith("×1") for label in mm_labels)


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
    browser.set(w.text_box, value="CLONE_VMM")
    assert w.flags == "CLONE_VM"
    assert w.text() == before + "\nerror: " + w.error.message
    assert "CLONE_VMM" in w.error.message and "CLONE_VM" in w.error.message
    assert w.error.layout.display is None and "ukva-error-shown" in w.error._dom_classes


def test_a_valid_typed_flag_string_applies_and_clears_the_error(browser):
    w = CloneExplorer()
    browser.set(w.text_box, value="CLONE_BOGUS")
    browser.set(w.text_box, value="CLONE_VM|CLONE_FS")
    assert w.error.message == "" and w.error.layout.display == "none"
    assert w.child.fs is w.caller.fs


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
        assert w.text().splitlines()[-1] == "real kernel: agrees: EINVAL"


def test_namespace_flags_say_the_engine_does_not_model_them():
    w = CloneExplorer(flags="CLONE_NEWNS")
    assert w.child is None and w.not_modelled is not None
    assert "not modelled" in w.text() and "namespaces" in w.error.message


def test_a_flag_the_probe_cannot_try_shows_the_probes_error(browser):
    w = CloneExplorer(flags="CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND")
    browser.click(w.probe_button)
    assert "clone3" in w.error.message
    assert w.text().splitlines()[-1] == f"error: {w.error.message}"


def test_the_error_box_names_the_engines_error_type_not_the_trait_machinery(browser):
    w = CloneExplorer()
    browser.set(w.text_box, value="CLONE_VMM")
    assert "ValueError" in w.error.value and "TraitError" not in w.error.value


def test_every_column_of_the_summary_table_has_a_header():
    w = CloneExplorer("CLONE_VM")
    header = w.summary.value.split("<thead>")[1].split("</thead>")[0]
    assert "<th" in header and '"></th>' not in header and "shared?" in header
