"""CacheAliasing: one physical page, two MMs, two virtual addresses; the stale read and its cure."""

from __future__ import annotations

from ukva_widgets.widgets import CacheAliasing


def click(browser, w, label: str) -> None:
    buttons = [b for column in w.choices.columns.children for b in column.children]
    browser.click(next(b for b in buttons if b.tooltip == label and not b.disabled))


STALE_READ = ["cpu0: switch to task 2 (process A)", "cpu0: write the shared page",
              "cpu0: switch to task 4 (process B)", "cpu0: read the shared page"]


def test_a_write_through_one_alias_is_not_seen_through_the_other_in_a_virtual_cache(browser):
    w = CacheAliasing(cache="virtual")
    for label in STALE_READ:
        click(browser, w, label)
    v = w.machine.violation
    assert v is not None and v.kind == "stale-alias"
    assert "aliases" in w.text()
    wide = w.cache_lines.value.split('class="ukva-narrow"')[0]
    assert "v1, dirty" in wide  # the written line, under the writer's address
    # the other MM's line is the stale one, marked by class and words, and the read is on it
    [stale] = wide.split('class="ukva-cache-line ukva-stale-line"')[1:]
    line = stale.split("</g></g>")[0]
    assert "colour 2: v0" in line and "✗ stale (v1 written)" in line and ">read here<" in line
    assert w.headline.words == "cpu0 read the shared page data v0 from memory; v1 was written last, through another cache line"


def test_the_physical_cache_is_the_cure(browser):
    w = CacheAliasing(cache="virtual")
    browser.set(w.mode, index=list(w.mode.options).index("physical cache (the cure)"))
    assert w.machine.options.cache == "physical" == w.cache
    for label in STALE_READ:
        click(browser, w, label)
    assert w.machine.violation is None
    assert "no violation" in w.text()
    assert "one line for both" in w.cache_lines.value
    wide = w.cache_lines.value.split('class="ukva-narrow"')[0]
    assert wide.count('class="ukva-cache-line') == 1 and "ukva-stale-line" not in wide


def test_the_two_mms_map_the_page_at_different_addresses():
    w = CacheAliasing()
    s = w.machine.layout
    assert len(s.mms) == 2 and s.shared_vpage[0] != s.shared_vpage[1]
    wide = w.cache_lines.value.split('class="ukva-narrow"')[0]
    aliases = [g.split("</g>")[0] for g in wide.split('class="ukva-alias"')[1:]]
    assert len(aliases) == 2 and all("0xbfc0" in a for a in aliases)
    assert wide.count('class="ukva-cache-line') == 2  # virtual cache: a line per address


def test_run_to_violation_finds_the_stale_read(browser):
    w = CacheAliasing()
    browser.click(w.run_button)
    assert w.machine.violation.kind == "stale-alias"


def test_text_is_the_plain_text_repr():
    w = CacheAliasing()
    assert repr(w) == w.text() and w.text().startswith("CacheAliasing:")


def test_the_cpus_and_tlbs_fold_away_behind_a_button_and_the_trace_stays(browser):
    w = CacheAliasing()
    assert not w.machine_fold.shown and w.picture.layout.display == "none"
    assert "ukva-machine-svg" not in w.picture.value  # folded: not drawn at every step
    assert w.machine_fold.content is w.picture and w.trace_chart in w.children and w.picture not in w.children
    browser.click(w.machine_fold.header)
    assert w.machine_fold.shown and w.picture.layout.display is None and "ukva-machine-svg" in w.picture.value
    assert w.machine_fold.header.description.startswith("▾ hide")


def test_the_cache_traitlet_switches_the_machine():
    w = CacheAliasing()
    w.cache = "physical"
    assert w.machine.options.cache == "physical" and w.mode.value == "physical cache (the cure)"
