"""Structure checks for the book in notebooks/: what every chapter must have besides passing nbval.

nbval proves the stored outputs are what the code produces; these tests prove the book is shaped
the way a textbook chapter should: goals, the crux and a time estimate first; discussion prompts, summary,
check-yourself and sources last, then links to the previous and next chapter; every claim of the argument
linked from the front page to a cell that asserts it; terms linked to a glossary whose anchors exist; a live
widget in every chapter; every output a labelled sentence, a table, a figure or a widget, never a bare Python
value; stored executed, with the python3 kernelspec and nothing machine-specific in the outputs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = [
    "00-start", "01-unix-process", "02-tasks-and-clone", "03-lifetimes",
    "04-tlbs", "05-where-can-ukva-live", "06-living-with-per-mm", "07-what-linux-did",
]
APPENDICES = ["appendix-part-by-part"]
PAGES = [*CHAPTERS, *APPENDICES]                   # executed pages with code, held to the chapters' rules of form
ORDER = [*PAGES, "glossary", "sources"]            # the reading order the previous/next links follow
EXERCISES = NOTEBOOKS.parent / "exercises"
CLAIMS = range(1, 12)
CLOSING_SECTIONS = ["Summary", "Check yourself", "Sources"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IGNORE_TAG = "nbval-ignore-output"
# Cells that show the reader's own machine: their output differs per machine.
MACHINE_SPECIFIC = re.compile(r"\b(probe(_all)?|measure)\(|/proc/")
MACHINE_PATH = re.compile(r"/(?:work|tmp|root|home)/")
# A Python default repr (<... object at 0x7f...>), not the simulated addresses the book prints.
MEMORY_ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
LINK = re.compile(r"\]\(((?:\d\d|appendix|glossary|sources)(?:-[a-z0-9-]+)?\.ipynb)(?:#([A-Za-z0-9_-]+))?\)")
CLAIM_ROW = re.compile(r"^\|\s*(\d+)\s*\|.*\[\d\d · ([^\]]+)\]\((\d\d-[a-z0-9-]+\.ipynb)#([A-Za-z0-9_-]+)\)")
ANCHOR = '<a id="{}"></a>'
GLOSSARY_LINK = re.compile(r"\]\(glossary\.ipynb#([a-z0-9-]+)\)")
TIME_ESTIMATE = re.compile(r"^\*Time: about \d+ minutes", re.MULTILINE)
# What a bare Python value looks like when printed: a tuple, list, dict, set, string or default repr.
BARE_VALUE = re.compile(r"""^\s*(?:[([{'"<]|-?\d+(?:\.\d+)?\s*$|True\s*$|False\s*$|None\s*$)""")
VOILA_WIDTH = "body[data-voila] .jp-Cell { max-width: 50rem"


def load(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def level2_headings(nb) -> list[str]:
    return [line[3:].strip() for cell in nb.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("## ")]


def outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from ((cell, out) for out in cell.get("outputs", []))


def output_texts(out) -> list[str]:
    texts = [out.get("text", "")] if "text" in out else []
    texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)]
    texts += out.get("traceback", [])
    return texts


def front_page_claim_links() -> dict[int, tuple[str, str, str]]:
    """Claim number -> (section title, chapter file, anchor), read from the claims table of 00-start."""
    links = {}
    for cell in load("00-start").cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                row = CLAIM_ROW.match(line)
                if row:
                    links[int(row.group(1))] = row.group(2, 3, 4)
    return links


def test_the_book_has_its_eight_chapters_an_appendix_a_glossary_its_sources_and_nothing_else():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(ORDER)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_states_its_crux_and_a_time_estimate_first(name):
    first = load(name).cells[0].source
    assert "**The crux.**" in first, "the first cell states the chapter's crux (OSTEP style)"
    assert TIME_ESTIMATE.search(first), "the first cell says how long the chapter takes: '*Time: about N minutes'"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_discussion_prompts_for_a_class(name):
    nb = load(name)
    cell = next((c for c in nb.cells if c.cell_type == "markdown" and "## For discussion" in c.source), None)
    assert cell is not None, "a '## For discussion' section"
    assert len(re.findall(r"^- ", cell.source, re.MULTILINE)) >= 2, "at least two prompts"


@pytest.mark.parametrize("name", ORDER)
def test_every_page_ends_with_links_to_the_previous_and_next_page(name):
    last = load(name).cells[-1]
    links = {target for target, _ in LINK.findall(last.source)}
    links |= set(re.findall(r"\]\(((?:glossary|sources)\.ipynb)\)", last.source))
    at = ORDER.index(name)
    if at > 0:
        assert f"{ORDER[at - 1]}.ipynb" in links, f"{name} ends with a link back to {ORDER[at - 1]}"
    if at + 1 < len(ORDER):
        assert f"{ORDER[at + 1]}.ipynb" in links, f"{name} ends with a link on to {ORDER[at + 1]}"


@pytest.mark.parametrize("name", ORDER)
def test_every_page_caps_its_text_width_in_voila(name):
    text = "\n".join(c.source for c in load(name).cells if c.cell_type == "markdown")
    assert VOILA_WIDTH in text, "a <style> capping the cells at ~50rem under Voila (JupyterLab drops it)"


def test_glossary_links_land_on_a_term():
    glossary = "\n".join(c.source for c in load("glossary").cells)
    defined = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', glossary))
    assert len(defined) >= 20
    for target in re.findall(r"\]\(#([a-z0-9-]+)\)", glossary):
        assert target in defined, f"the glossary links to its own missing term #{target}"
    for name in CHAPTERS:
        used = GLOSSARY_LINK.findall("\n".join(c.source for c in load(name).cells if c.cell_type == "markdown"))
        assert used, f"{name} links at least one term to the glossary"
        missing = sorted(set(used) - defined)
        assert not missing, f"{name} links to glossary terms that do not exist: {missing}"


# Terms a reader met before their definition: where the book first names one, it links the glossary.
FIRST_USE = {"CR3": "cr3", "IPI": "ipi", "PCID": "asid", "shootdown": "tlb-shootdown", "lazy TLB": "lazy-tlb",
             "PAGE_OFFSET": "page-offset", "high memory": "high-memory", "mm_cpumask": "mm-cpumask",
             "tlb_gen": "tlb-gen", "kmap": "kmap", "subreaper": "subreaper", "vDSO": "vdso",
             "zombie": "zombie", "namespace": "namespace", "clone3": "clone3", "pidfd": "pidfd",
             "CAP_SYS_ADMIN": "capability", "slot": "slot", "colour": "colour", "PTI": "pti", "TSB": "tsb",
             "model checker": "model-checker"}


@pytest.mark.parametrize("term", FIRST_USE)
def test_a_term_links_the_glossary_where_the_book_first_names_it(term):
    word = re.compile(rf"(?<![\w-]){re.escape(term)}", 0 if term[0].isupper() else re.IGNORECASE)
    for name in CHAPTERS:
        first = next((c for c in load(name).cells if c.cell_type == "markdown" and word.search(c.source)), None)
        if first is not None:
            assert f"glossary.ipynb#{FIRST_USE[term]}" in first.source, \
                f"{term!r} first appears in {name} without a link to glossary.ipynb#{FIRST_USE[term]}"
            return
    pytest.fail(f"the book never names {term!r}")


@pytest.mark.parametrize("name", PAGES)
def test_figures_show_before_the_notebook_is_trusted_and_say_what_they_show(name):
    for _cell, out in outputs(load(name)):
        data = out.get("data", {})
        if "image/svg+xml" in data:
            # JupyterLab renders no SVG output of an untrusted notebook; it does render markdown images.
            markdown = data.get("text/markdown", "")
            assert markdown.startswith("![") and "data:image/svg+xml;base64," in markdown
            assert data.get("text/plain", "").startswith("Figure: "), "a caption for static viewers and screen readers"


@pytest.mark.parametrize("name", PAGES)
def test_every_output_is_a_labelled_sentence_a_table_a_figure_or_a_widget(name):
    for cell, out in outputs(load(name)):
        where = f"cell {cell.source[:60]!r}"
        if out.output_type == "execute_result":
            assert WIDGET_MIME in out.get("data", {}), f"{where} shows a bare value; print a labelled sentence"
        elif out.output_type == "display_data":
            plain = out.get("data", {}).get("text/plain", "")
            assert WIDGET_MIME in out["data"] or not plain.startswith("<"), f"{where} displays a default repr"
        elif out.output_type == "stream":
            first = out.get("text", "").lstrip().splitlines()[:1]
            assert not (first and BARE_VALUE.match(first[0])), f"{where} prints a bare value: {first[0]!r}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_opens_with_what_the_reader_will_be_able_to_do(name):
    first = load(name).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "a chapter starts with its title"
    assert "You will be able to" in first.source, "the first cell says what the reader will be able to do"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_ends_with_summary_check_yourself_and_sources(name):
    assert level2_headings(load(name))[-3:] == CLOSING_SECTIONS


@pytest.mark.parametrize("name", CHAPTERS)
def test_check_yourself_questions_have_revealable_answers(name):
    nb = load(name)
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Check yourself" in c.source)
    end = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Sources" in c.source)
    section = "\n".join(c.source for c in nb.cells[start:end + 1])
    questions = re.findall(r"^\d+\. ", section, re.MULTILINE)
    assert len(questions) >= 2, "at least two questions"
    assert section.count("<details>") >= len(questions), "every question has an answer to reveal"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_lists_its_sources(name):
    nb = load(name)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and "## Sources" in c.source)
    cited = set(re.findall(r"\[([A-Za-z0-9 .:/-]+?)\]", "\n".join(c.source for c in nb.cells if c is not cell)))
    listed = set(re.findall(r"^- \*\*\[([^\]]+)\]\*\*", cell.source, re.MULTILINE))
    assert listed, "the Sources section lists its sources as '- **[key]** ...'"
    assert listed <= cited, f"sources listed but never cited in the chapter: {sorted(listed - cited)}"


def test_the_front_page_links_every_claim_to_a_cell_that_asserts_it():
    links = front_page_claim_links()
    assert sorted(links) == list(CLAIMS), "claims 1..11 each have a row with a link in 00-start"
    for claim, (title, chapter, anchor) in links.items():
        assert anchor == f"claim-{claim}"
        cells = load(chapter.removesuffix(".ipynb")).cells
        at = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and ANCHOR.format(anchor) in c.source]
        assert len(at) == 1, f"{chapter} has exactly one anchor {anchor}"
        # JupyterLab opens the chapter without scrolling to the anchor: the link names the section.
        assert f"## {title}" in cells[at[0]].source, f"the link to {chapter}#{anchor} names its section {title!r}"
        demo = next(c for c in cells[at[0] + 1:] if c.cell_type == "code")
        asserts = [n for n in ast.walk(ast.parse(demo.source)) if isinstance(n, ast.Assert)]
        assert asserts, f"the cell after {chapter}#{anchor} asserts the claim"


def test_every_link_between_chapters_resolves():
    for name in ORDER:
        for cell in load(name).cells:
            if cell.cell_type != "markdown":
                continue
            for target, anchor in LINK.findall(cell.source):
                assert (NOTEBOOKS / target).exists(), f"{name} links to missing {target}"
                if anchor:
                    text = "\n".join(c.source for c in load(target.removesuffix(".ipynb")).cells)
                    assert ANCHOR.format(anchor) in text, f"{name} links to missing anchor {target}#{anchor}"


def test_links_to_the_exercises_resolve():
    for name in CHAPTERS:
        for cell in load(name).cells:
            for target in re.findall(r"\]\(\.\./(exercises/[\w.-]+\.ipynb)\)", cell.source):
                assert (NOTEBOOKS.parent / target).exists(), f"{name} links to missing {target}"


def test_the_front_page_maps_every_chapter():
    text = "\n".join(c.source for c in load("00-start").cells if c.cell_type == "markdown")
    linked = {target for target, _ in LINK.findall(text)}
    assert {f"{name}.ipynb" for name in CHAPTERS[1:]} <= linked


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_shows_a_live_widget_with_a_text_view(name):
    views = [out for _, out in outputs(load(name)) if WIDGET_MIME in out.get("data", {})]
    assert views, "at least one widget is the last expression of a cell"
    for out in views:
        text = out["data"].get("text/plain", "")
        assert text.strip() and "children=" not in text and "model_id" not in text, \
            f"a widget's text/plain is its text() view, not the default widget repr: {text[:80]!r}"


@pytest.mark.parametrize("name", PAGES)
def test_chapters_are_stored_executed_with_the_python3_kernelspec(name):
    nb = load(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "every code cell has run"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run once, top to bottom"
    errors = [out for _, out in outputs(nb) if out.output_type == "error"]
    assert not errors, f"stored with an error: {errors[0].get('ename')}" if errors else ""


@pytest.mark.parametrize("name", PAGES)
def test_stored_outputs_hold_no_machine_paths_or_memory_addresses(name):
    for _, out in outputs(load(name)):
        for text in output_texts(out):
            assert not MACHINE_PATH.search(text), f"machine path in output: {text[:120]!r}"
            assert not MEMORY_ADDRESS.search(text), f"memory address in output: {text[:120]!r}"


@pytest.mark.parametrize("name", PAGES)
def test_cells_that_show_this_machine_are_ignored_by_nbval(name):
    for cell in load(name).cells:
        if cell.cell_type == "code" and MACHINE_SPECIFIC.search(cell.source):
            assert IGNORE_TAG in cell.metadata.get("tags", []), f"untagged machine-specific cell: {cell.source[:80]!r}"


@pytest.mark.parametrize("name", PAGES)
def test_no_cell_is_longer_than_a_screen_or_wider_than_a_column(name):
    for cell in load(name).cells:
        assert len(cell.source.splitlines()) <= 30, f"cell too long: {cell.source[:80]!r}"
        if cell.cell_type == "code":
            wide = [line for line in cell.source.splitlines() if len(line) > 100]
            assert not wide, f"code line wider than a notebook column: {wide[0]!r}"


@pytest.mark.parametrize("name", PAGES)
def test_pages_show_no_picture_drawing_code(name):
    """Figures come from ukva_widgets.widgets.figures; a reader never scrolls past SVG markup."""
    for cell in load(name).cells:
        if cell.cell_type == "code":
            assert not re.search(r"<svg|<rect|<text |base64", cell.source), f"drawing code in {cell.source[:80]!r}"


def _book_texts():
    """Every notebook a reader or a student gets (chapters, pages, exercises and their solutions)."""
    paths = [*NOTEBOOKS.glob("*.ipynb"), *EXERCISES.glob("*.ipynb"), *(EXERCISES / "solutions").glob("*.ipynb")]
    return [(path, "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)) for path in sorted(paths)]


def test_no_notebook_cites_a_file_readers_do_not_have_or_an_issue_number():
    for path, text in _book_texts():
        assert "FACTS.md" not in text and "../shared" not in text, f"{path.name} cites a file readers do not have"
        assert not re.search(r"\bissues?\s*#?\d+", text, re.IGNORECASE), f"{path.name} names an issue number"


def test_links_to_the_sources_page_land_on_a_section():
    sections = "\n".join(c.source for c in load("sources").cells)
    cited = 0
    for path, text in _book_texts():
        for anchor in re.findall(r"\]\((?:\.\./notebooks/)?sources\.ipynb#(s\d+)\)", text):
            assert ANCHOR.format(anchor) in sections, f"{path.name} links to missing sources.ipynb#{anchor}"
            cited += 1
        if path.parent == EXERCISES or path.parent.name == "solutions":
            # an exercise notebook lives in exercises/ beside notebooks/ (a checkout, a reader's copy, the site)
            assert "](sources.ipynb" not in text, f"{path.name} links sources.ipynb as if it sat beside it"
    assert cited >= 10


EXERCISE_TIME = re.compile(r"\*Time: about (\d+) minutes for the (\d+) exercises")
CHAPTER_EXERCISE_TIME = re.compile(r"the exercises take about (\d+)\s+more")


@pytest.mark.parametrize("name", CHAPTERS[1:])
def test_a_chapter_and_its_exercise_notebook_state_the_same_exercise_time(name):
    header = nbformat.read(EXERCISES / "solutions" / f"{name}.ipynb", as_version=4).cells[0].source
    minutes = EXERCISE_TIME.search(header)
    assert minutes, "the exercise notebook's header says '*Time: about N minutes for the K exercises'"
    said = CHAPTER_EXERCISE_TIME.search(load(name).cells[0].source)
    assert said and said.group(1) == minutes.group(1), \
        f"chapter {name} says the exercises take {said and said.group(1)} minutes, its exercises say {minutes.group(1)}"
    row = next(line for line in load("00-start").cells[_map_cell()].source.splitlines() if f"]({name}.ipynb)" in line)
    assert row.rstrip(" |").endswith(f"{minutes.group(1)} min"), f"the front page's map disagrees: {row}"


def _map_cell() -> int:
    return next(i for i, c in enumerate(load("00-start").cells) if "## Map of the chapters" in c.source)
