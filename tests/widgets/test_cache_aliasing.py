"""CacheAliasing: one physical page, two MMs, two virtual addresses; the stale read and its cure."""

from __future__ import annotations

from ukva_widgets.widgets import CacheAliasing


def click(browser, w, label: str) -> None:
    browser.click(next(b for b in w.choice_box.children if b.description == label))


STALE_READ = ["cpu0: switch to task 2 (init)", "cpu0: write the shared page",
              "cpu0: switch to task 4 (init)", "cpu0: read the shared page"]


def test_a_write_through_one_alias_is_not_seen_through_the_other_in_a_virtual_cache(browser):
    w = CacheAliasing(cache="virtual")
    for label in STALE_READ:
        click(browser, w, label)
    v = w.machine.violation
    assert v is not None and v.kind == "stale-alias"
    assert "aliases" in w.text()
    assert "holds v1, dirty" in w.cache_lines.value  # the written line, under the writer's address
    # the other MM's line is the stale one, marked by class and words, and the read is on it
    [stale] = w.cache_lines.value.split('class="ukva-cache-line ukva-stale-line"')[1:]
    assert "holds v0" in stale.split("</g>")[0] and "✗ read here: stale, v1 written" in stale.split("</g>")[0]


def test_the_physical_cache_is_the_cure(browser):
    w = CacheAliasing(cache="virtual")
    browser.set(w.mode, index=list(w.mode.options).index("physical cache (the cure)"))
    assert w.machine.options.cache == "physical"
    for label in STALE_READ:
        click(browser, w, label)
    assert w.machine.violation is None
    assert "no violation" in w.text()
    assert "one line for both" in w.cache_lines.value
    assert w.cache_lines.value.count('class="ukva-cache-line') == 1 and "ukva-stale-line" not in w.cache_lines.value


def test_the_two_mms_map_the_page_at_different_addresses():
    w = CacheAliasing()
    s = w.machine.layout
    assert len(s.mms) == 2 and s.shared_vpage[0] != s.shared_vpage[1]
    aliases = [g.split("</g>")[0] for g in w.cache_lines.value.split('class="ukva-alias"')[1:]]
    assert len(aliases) == 2 and all("0xbfc0" in a for a in aliases)
    assert w.cache_lines.value.count('class="ukva-cache-line') == 2  # virtual cache: a line per address


def test_run_to_violation_finds_the_stale_read(browser):
    w = CacheAliasing()
    browser.click(w.run_button)
    assert w.machine.violation.kind == "stale-alias"


def test_text_is_the_plain_text_repr():
    w = CacheAliasing()
    assert repr(w) == w.text() and w.text().startswith("CacheAliasing:")


def test_the_cpus_and_tlbs_fold_away_and_the_trace_stays():
    w = CacheAliasing()
    assert w.machine_fold.selected_index is None and w.machine_fold.children == (w.picture,)
    assert w.trace_chart in w.children and w.picture not in w.children
