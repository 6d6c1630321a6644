"""AddressSpaceMap: the engine's layout of one MM and what the fixed UKVA address shows for whom."""

from __future__ import annotations

from ukva_widgets.engine.layout import UKVA_BASE
from ukva_widgets.widgets import AddressSpaceMap


def test_per_mm_dynamic_slots_give_each_files_table_its_own_slot():
    w = AddressSpaceMap()
    text = w.text()
    assert "UKVA slot 0  files#2, read by task 2" in text
    assert "UKVA slot 1  files#3, read by task 3" in text
    assert "kernel  the same in every MM" in text
    assert w.regions.value.count('<g class="ukva-region-ukva') == 1 + 4  # the sliver, and each slot zoomed
    assert w.regions.value.count("ukva-region-kernel") == 1


def test_under_per_task_a_second_cpu_rewrites_the_shared_entry(browser):
    w = AddressSpaceMap()
    browser.set(w.design_control, index=list(w.design_control.options).index("per-task"))
    assert w.machine.options.design == "per-task"
    browser.set(w.cpu_controls[0], index=[v for _, v in w.cpu_controls[0].options].index(0))
    assert f"task 2 on cpu0: {UKVA_BASE:#010x} should show task 2 (task A)'s page; " \
           f"mm#3's page table maps it to task 2 (task A)'s page" in w.text()
    browser.set(w.cpu_controls[1], index=[v for _, v in w.cpu_controls[1].options].index(1))
    assert "task 2 on cpu0: 0xbfc00000 should show task 2 (task A)'s page; " \
           "mm#3's page table maps it to task 3 (task B)'s page" in w.text()
    assert "cpu0 runs task 2 (task A), cpu1 runs task 3 (task B)" in w.text()


def test_scheduling_a_task_already_running_elsewhere_shows_the_engines_error(browser):
    w = AddressSpaceMap()
    w.cpu_controls[0].value = 0
    before = w.text()
    w.cpu_controls[1].value = 0
    assert "not enabled now" in w.error.message
    assert w.text() == before and w.cpu_controls[1].value == -1


def test_choosing_the_task_shows_its_mm():
    w = AddressSpaceMap()
    w.task_control.value = 3
    assert w.text().splitlines()[1] == "address space of mm#3"


def test_text_is_the_plain_text_repr():
    w = AddressSpaceMap()
    assert repr(w) == w.text() and "0x7f" not in w.text()


def test_choosing_what_a_cpu_runs_changes_its_column_and_marks_the_slot_it_reads(browser):
    w = AddressSpaceMap()
    assert "ukva-slot-read" not in w.regions.value and "ukva-ok" not in w.shows.value
    browser.set(w.cpu_controls[0], index=[v for _, v in w.cpu_controls[0].options].index(0))
    assert w.shows.value.count("ukva-cpu-column ukva-ok") == 1 and "◀ cpu0" in w.regions.value
    assert w.regions.value.count("ukva-slot-read") == 1


def test_per_task_on_two_cpus_is_marked_wrong_on_the_cpu_whose_entry_was_rewritten(browser):
    w = AddressSpaceMap()
    w.cpu_controls[0].value = 0
    w.cpu_controls[1].value = 1
    browser.set(w.design_control, index=list(w.design_control.options).index("per-task"))
    columns = w.shows.value.split('class="ukva-cpu-column')[1:]
    assert columns[0].startswith(" ukva-wrong") and "✗ wrong" in columns[0]
    assert columns[1].startswith(" ukva-ok") and "✓ right" in columns[1]
    assert "now cpu0: task 2 (task A) expects task 2 (task A)'s page, the page table gives task 3 (task B)'s page: WRONG" \
        in w.text()


def test_changing_the_design_keeps_what_each_cpu_runs(browser):
    w = AddressSpaceMap()
    w.cpu_controls[0].value = 1
    browser.set(w.design_control, index=list(w.design_control.options).index("per-cpu"))
    assert w.machine.options.design == "per-cpu"
    assert [c.value for c in w.cpu_controls] == [1, -1]
    assert "cpu0 runs task 3 (task B)" in w.text()


def test_the_map_is_drawn_to_scale_with_the_kernel_a_quarter():
    w = AddressSpaceMap()
    svg = w.regions.value
    kernel = svg.split('class="ukva-region-kernel"')[1]
    height = float(kernel.split('height="')[1].split('"')[0])
    assert height == 75.0  # 1 GiB of the 300-pixel, 4 GiB bar


def test_the_design_and_task_are_traitlets_linked_to_their_controls():
    w = AddressSpaceMap()
    w.design = "per-cpu"
    assert w.design_control.value == "per-cpu" and w.machine.options.design == "per-cpu"
    w.task = 3
    assert w.task_control.value == 3 and w.text().splitlines()[1] == "address space of mm#3"


def test_a_column_whose_answer_changed_is_marked(browser):
    w = AddressSpaceMap()
    browser.set(w.cpu_controls[0], index=[v for _, v in w.cpu_controls[0].options].index(0))
    columns = w.shows.value.split('class="ukva-cpu-column')[1:]
    assert "ukva-changed" in columns[0].split(">")[0] and "ukva-changed" not in columns[1].split(">")[0]


def test_every_label_of_the_map_fits_inside_its_box():
    w = AddressSpaceMap()
    import re
    width = float(re.search(r'viewBox="0 0 ([\d.]+)', w.regions.value).group(1))
    assert width <= 356  # the narrowest output area, at its natural size: no text shrinks
