"""SMPStepper: a person as the machine's decider; every click goes to Machine.step/undo/reset, the
buttons keep their places, the headline says what happened, the picture marks got and expected."""

from __future__ import annotations

import html
import re

import pytest
import traitlets

from ukva_widgets.engine import Kernel, explore
from ukva_widgets.engine.machine import Machine
from ukva_widgets.widgets import SMPStepper

THREAD_FLAGS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def _threads():
    """sh and its thread, as the chapters make them."""
    k = Kernel()
    p = k.fork(k.init)
    k.execve(p, "/bin/sh")
    return k, [p, k.clone(p, THREAD_FLAGS)]


def per_task_threads(cpus: int = 2, **options) -> Machine:
    return Machine(*_threads(), cpus=cpus, design="per-task", fill="hardware", **options)


def per_mm(safe: bool, **options) -> Machine:
    return Machine(*_threads(), cpus=2, design="per-mm", smp_safe=safe, **options)


def buttons(w: SMPStepper) -> list:
    return [b for column in w.choices.columns.children for b in column.children] + list(w.choices.cache_row.children)


def click_choice(browser, w: SMPStepper, label: str) -> None:
    button = next(b for b in buttons(w) if b.tooltip == label and not b.disabled)
    browser.click(button)


UNSAFE_UPDATE = ["cpu0: switch to task 2 (sh)", "cpu0: read slot files#2", "cpu1: switch to task 3 (sh)",
                 "cpu1: begin updating slot files#2 (copy it to a new page)",
                 "cpu1: finish updating slot files#2 (map the new page)", "cpu0: read slot files#2"]
SAFE_UPDATE = UNSAFE_UPDATE[:3] + ["cpu1: update slot files#2 (remap to a new page)"]
LOST_UPDATE = ["cpu0: switch to task 2 (sh)", "cpu1: switch to task 3 (sh)",
               "cpu0: begin updating slot files#2 (copy it to a new page)",
               "cpu1: begin updating slot files#2 (copy it to a new page)",
               "cpu0: finish updating slot files#2 (map the new page)",
               "cpu1: finish updating slot files#2 (map the new page)"]


def test_every_enabled_choice_is_an_enabled_button_in_its_cpus_column():
    w = SMPStepper(per_task_threads())
    enabled = sorted(b.tooltip for b in buttons(w) if not b.disabled)
    assert enabled == sorted(c.label for c in w.machine.choices())
    for c, column in enumerate(w.choices.columns.children):
        assert all(b.tooltip.startswith(f"cpu{c}: ") and "ukva-choice" in b._dom_classes for b in column.children)
    assert all(f"ukva-verb-{c.action}" in next(b for b in buttons(w) if b.tooltip == c.label)._dom_classes
               for c in w.machine.choices())


def test_buttons_keep_their_places_a_step_disables_them_and_never_removes_them(browser):
    w = SMPStepper(per_mm(safe=False))
    layout = [list(column.children) for column in w.choices.columns.children]
    assert any(b.disabled for b in buttons(w)) and "read files#2" in [b.description for b in buttons(w)]
    for label in UNSAFE_UPDATE[:4]:
        click_choice(browser, w, label)
        assert [list(column.children) for column in w.choices.columns.children] == layout
    # cpu1 is in the middle of an update: only "finish" is left to it, the rest stay, disabled
    cpu1 = w.choices.columns.children[1].children
    assert [b.description for b in cpu1 if not b.disabled] == ["finish update files#2"]


def test_clicking_a_choice_steps_the_machine_and_redraws(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    assert [c.label for c in w.machine.history] == ["cpu0: switch to task 2 (sh)"]
    assert w.position == 1
    assert "cpu0: task 2 (sh), loaded mm#3" in w.text()
    assert "cpu0: sh (pid 2)" in w.picture.value and "CR3 mm#3" in w.picture.value
    assert "init (pid" not in w.picture.value


def test_a_step_the_reader_takes_moves_the_keyboard_focus_to_its_row(browser):
    w = SMPStepper(per_task_threads())
    sent = []
    for row in range(3):
        button = w.trace_chart._row(row + 1).children[0]
        button.send = lambda message, n=row + 1: sent.append((n, message))
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    click_choice(browser, w, "cpu1: switch to task 3 (sh)")
    assert sent == [(1, {"do": "focus"}), (2, {"do": "focus"})]
    w.step("cpu0: read UKVA")  # from code: the reader's focus stays where it is
    assert len(sent) == 2


def test_the_headline_says_what_the_last_step_did_for_screen_readers_too(browser):
    w = SMPStepper(per_task_threads())
    assert "the start" in w.headline.words and 'aria-live="polite"' in w.headline.value
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    assert w.headline.words.startswith("step 1: cpu0: switch to task 2 (sh) — cpu0 writes CR3")
    assert 'role="status"' in w.headline.value
    current = w.trace_chart.rows[0].children[0]
    assert w.headline.words in current.tooltip  # what a screen reader reads where the focus lands


def test_the_per_task_violation_draws_the_page_got_and_the_page_expected(browser):
    w = SMPStepper(per_task_threads())
    for label in ("cpu0: switch to task 2 (sh)", "cpu1: switch to task 3 (sh)", "cpu0: read UKVA"):
        click_choice(browser, w, label)
    v = w.machine.violation
    assert v is not None and v.kind == "wrong-task"
    assert w.headline.words == ("cpu0 runs task 2 (sh) and read task 3 (sh)'s page from the page-table walk; "
                                "it should have read task 2 (sh)'s page")
    assert v.explanation in w.text() and html.escape(v.explanation) in w.violation_box.value
    assert w.why.layout.display is None and not w.why.shown  # the explanation is folded under the headline
    svg = w.picture.value
    got = re.findall(r'<g class="ukva-page[^"]*ukva-got[^"]*"><title>([^<]*)</title>', svg)
    expected = re.findall(r'<g class="ukva-page[^"]*ukva-expected[^"]*"><title>([^<]*)</title>', svg)
    assert set(got) == {"task 3 (sh)&#x27;s page"} and set(expected) == {"task 2 (sh)&#x27;s page"}
    assert "ukva-expected-arrow" in svg
    assert all(b.disabled for b in buttons(w))  # the machine stopped; every button stays, disabled


def test_back_undoes_one_step_and_reset_goes_to_the_start(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    click_choice(browser, w, "cpu0: read UKVA")
    browser.click(w.back_button)
    assert len(w.machine.history) == 1 and w.position == 1
    after_one = w.text()
    browser.click(w.reset_button)
    assert w.machine.history == [] and w.back_button.disabled and w.position == 0
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    assert w.text() == after_one


def test_run_to_violation_plays_the_model_checkers_shortest_trace(browser):
    w = SMPStepper(per_task_threads())
    browser.click(w.run_button)
    assert w.machine.violation is not None
    assert len(w.machine.history) == 3 == w.position
    assert "shortest violating trace" in w.text()


def test_run_to_violation_on_a_correct_design_says_proven(browser):
    w = SMPStepper(per_task_threads(flush_on_same_mm_switch=True, cpus=1))
    browser.click(w.run_button)
    assert w.machine.violation is None and w.machine.history == []
    assert "proven" in w.text()
    assert w.run_button.disabled  # nothing to run to any more


def test_a_choice_that_is_not_enabled_shows_the_engines_error():
    w = SMPStepper(per_task_threads())
    w.step("cpu0: read UKVA")
    assert "not enabled now" in w.error.message
    assert w.machine.history == []


def test_counters_follow_the_machine_and_mark_what_moved(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (sh)")
    assert w.machine.counters["cr3_writes"] == 1
    assert "cr3_writes=1" in w.text() and "ukva-counter" in w.counters.value
    assert re.search(r"cr3_writes</span> <b>1</b><span[^>]*>\+1</span>", w.counters.value)


def test_a_non_machine_is_refused_clearly():
    with pytest.raises(TypeError, match="Machine"):
        SMPStepper("per-task")


def test_text_is_the_plain_text_repr_and_the_snapshot_is_the_picture():
    w = SMPStepper(per_task_threads())
    bundle = w._repr_mimebundle_()
    assert repr(w) == w.text() and bundle["text/plain"] == w.text()
    assert "ukva-machine-svg" in bundle["text/html"] and "<button" not in bundle["text/html"]


def test_the_bad_read_is_marked_on_the_tlb_entry_that_served_it_not_on_the_page_table(browser):
    w = SMPStepper(per_task_threads())
    browser.click(w.run_button)
    wide = w.picture.value.split('class="ukva-narrow"')[0]
    assert wide.count("ukva-bad-read") == 1
    bad = wide[wide.index("ukva-bad-read"):]
    assert f"✗ {w.machine.violation.address:#010x}" in bad[:bad.index("</g>")]
    # The page-table entries are drawn plain: the walker read them correctly.
    assert all("ukva-bad-read" not in g[:g.index("</g>")] for g in wide.split('<g class="ukva-pte')[1:])


def stale_groups(w: SMPStepper) -> list[str]:
    wide = w.picture.value.split('class="ukva-narrow"')[0]
    return [part[:part.index("</g>")] for part in wide.split('<g class="ukva-tlb-entry ukva-stale')[1:]]


def test_a_stale_entry_is_drawn_stale_from_the_update_not_from_the_read(browser):
    w = SMPStepper(per_mm(safe=False))
    for label in UNSAFE_UPDATE[:4]:  # up to the copy: the page table still maps v0
        click_choice(browser, w, label)
        assert stale_groups(w) == []
    click_choice(browser, w, UNSAFE_UPDATE[4])  # the new page mapped: cpu0's entry is stale now
    [entry] = stale_groups(w)
    assert "0xbfc00000" in entry and "stale: page table says files#2 v1" in entry
    assert "stale: page table says v1" in w.text() and w.machine.violation is None
    assert w.headline.words.startswith("cpu0 holds files#2 v0 for 0xbfc00000; the page table says v1")
    click_choice(browser, w, UNSAFE_UPDATE[5])
    assert w.machine.violation.kind == "stale-tlb"
    assert "ukva-bad-read" in stale_groups(w)[0]
    assert w.headline.words == "cpu0 read files#2 v0 through its TLB; the page table says v1; no IPI told cpu0"


def test_a_plain_update_marks_no_ipi_sent_in_the_lane_of_the_cpu_it_left_stale(browser):
    w = SMPStepper(per_mm(safe=False))
    for label in UNSAFE_UPDATE[:5]:
        click_choice(browser, w, label)
    lanes = [row.children[1].value for row in w.trace_chart.children]
    assert [("ukva-no-ipi" in lane) for lane in lanes] == [False, False, False, False, True]
    first_lane = lanes[4].split("grid-column:2")[0]  # cpu0's lane, left of cpu1's
    assert "no IPI sent" in first_lane


def test_smp_safe_updates_leave_no_stale_entry_and_send_the_ipi(browser):
    w = SMPStepper(per_mm(safe=True))
    for label in SAFE_UPDATE:
        click_choice(browser, w, label)
    assert "ukva-stale" not in w.picture.value and "stale" not in w.text().split("enabled:")[0].lower()
    current = w.trace_chart.children[-1].children[1].value
    assert "ukva-ipi" in current and "shootdown IPI cpu1 → cpu0" in current and "+1 IPI" in current
    assert "ukva-no-ipi" not in current


def test_the_lost_update_marks_the_version_lost_and_the_one_copied(browser):
    w = SMPStepper(per_mm(safe=False))
    for label in LOST_UPDATE:
        click_choice(browser, w, label)
    assert w.machine.violation.kind == "lost-update"
    assert w.headline.words == ("cpu1 mapped its copy of files#2 v0 over v1: the update that made v1 is lost")
    wide = w.picture.value.split('class="ukva-narrow"')[0]
    assert re.search(r'ukva-page[^"]*ukva-got"><title>files#2 v1', wide) and ">lost<" in wide
    assert re.search(r'ukva-page[^"]*ukva-expected[^"]*"><title>files#2 v0', wide) and ">copied<" in wide


def test_the_trace_has_one_clickable_row_per_step_and_a_click_moves_the_machine_there(browser):
    w = SMPStepper(per_mm(safe=False))
    for label in UNSAFE_UPDATE:
        click_choice(browser, w, label)
    steps = [row.children[0] for row in w.trace_chart.children]
    assert len(steps) == 6 and all("ukva-trace-step" in b._dom_classes for b in steps)
    browser.click(steps[1])
    assert [c.label for c in w.machine.history] == UNSAFE_UPDATE[:2] and w.position == 2
    assert "ukva-current" in w.trace_chart.children[1]._dom_classes
    assert len(w.trace_chart.children) == 6  # the steps ahead stay, to jump forward again
    browser.click(steps[5])
    assert w.machine.violation is not None and len(w.machine.history) == 6


def test_the_position_traitlet_moves_the_machine_along_the_trace():
    w = SMPStepper(per_mm(safe=False), trace=UNSAFE_UPDATE)
    assert w.position == 6 and w.machine.violation is not None
    w.position = 3
    assert [c.label for c in w.machine.history] == UNSAFE_UPDATE[:3]
    with pytest.raises(traitlets.TraitError, match="between 0 and 6"):
        w.position = 7


def test_assigning_another_machine_shows_it_in_the_same_view():
    w = SMPStepper(per_task_threads())
    picture, chart = w.picture, w.trace_chart
    w.machine = per_mm(safe=True)
    assert w.picture is picture and w.trace_chart is chart and w.position == 0
    assert "per-mm UKVA" in w.text() and "slot files#2" in w.picture.value


def test_taking_another_step_after_going_back_forgets_the_steps_ahead(browser):
    w = SMPStepper(per_mm(safe=False))
    for label in UNSAFE_UPDATE[:3]:
        click_choice(browser, w, label)
    w.jump(1)
    click_choice(browser, w, "cpu1: switch to task 3 (sh)")
    assert [c.label for c in w.trace] == [UNSAFE_UPDATE[0], "cpu1: switch to task 3 (sh)"]
    assert len(w.trace_chart.children) == 2


def test_the_current_step_shows_what_it_changed(browser):
    w = SMPStepper(per_task_threads(flush_on_same_mm_switch=True))
    for label in ("cpu0: switch to task 2 (sh)", "cpu0: read UKVA", "cpu0: switch to task 3 (sh)"):
        click_choice(browser, w, label)
    current = w.trace_chart.children[-1].children[1].value
    assert "ukva-flushed" in current and "<s>0xbfc00000" in current  # the dropped entry, struck through
    assert "+1 page flush" in current and "ukva-changed" in w.trace_chart.children[-1]._dom_classes
    first = w.trace_chart.children[0].children[1].value
    assert "+1 CR3 write" in first and "CR3 write" in first
    wide = w.picture.value.split('class="ukva-narrow"')[0]
    assert "ukva-flushed ukva-changed" in wide  # the entry the switch flushed, a ghost in its row


def test_the_machine_picture_keeps_its_size_and_its_pages_keep_their_places(browser):
    w = SMPStepper(per_mm(safe=True))
    sizes, places = set(), set()
    for label in SAFE_UPDATE + ["cpu1: read slot files#2", "cpu0: switch to idle (lazy TLB)", None]:
        svg = w.picture.value
        sizes.add(tuple(re.findall(r'viewBox="([^"]+)"', svg)))
        places.add(tuple(re.findall(r'<g class="ukva-page[^"]*"><title>[^<]*</title><rect x="([^"]+)" y="([^"]+)"',
                                    svg)))
        if label:
            click_choice(browser, w, label)
    assert len(sizes) == 1 and len(places) == 1


def test_a_pre_played_stepper_starts_at_the_end_of_its_trace():
    m = per_mm(safe=False)
    trace = explore(m.fresh()).trace
    w = SMPStepper(m, trace=trace)
    assert w.position == len(trace) and w.machine.violation is not None
    assert len(w.trace_chart.children) == len(trace)


def test_going_back_and_forth_shows_what_a_fresh_drawing_of_that_position_shows():
    from ukva_widgets.widgets.machine_picture import machine_svg

    w = SMPStepper(per_mm(safe=False), trace=UNSAFE_UPDATE)
    rows = {}
    for k in (3, 6, 3, 0, 6):
        w.position = k
        fresh = per_mm(safe=False)
        for label in UNSAFE_UPDATE[:k]:
            fresh.step(label)
        assert w.picture.value == machine_svg(fresh), f"position {k}"
        rows.setdefault(k, [row.children[1].value for row in w.trace_chart.children])
        assert [row.children[1].value for row in w.trace_chart.children] == rows[k]
