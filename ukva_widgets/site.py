"""`ukva site [--out DIR]`: the whole book as static HTML, for reading without a kernel.

Built with nbconvert (already installed with JupyterLab; jupyter-book would add Sphinx and a second
way of rendering notebooks for the same pages) from the stored, executed notebooks, in JupyterLab's
own look. The stored notebooks keep each widget's text view (its `text/plain`) and a static picture of
it (its `text/html`), not its live state (notebook_store drops the random widget ids), so every widget
is shown as that picture, marked `.ukva-widget-snapshot` with "interactive in JupyterLab / live" beside
it and its text view under it (`.ukva-widget-text`; alone for an output without a picture). The pages
load no script or stylesheet from anywhere: nbconvert's require.js, MathJax and Mermaid tags (CDN
links) are left out, the search is a small script of its own over an index written beside the pages,
and links between notebooks point at the pages.

    site/index.html             contents: the chapters in order, then the other pages (a glossary, ...)
    site/notebooks/NN-*.html    a chapter each, with previous/next/contents/glossary/search links
    site/exercises/NN-*.html    the student exercises (as shipped, unanswered)
    site/search.html            search over every page (site/search-index.js)
    site/lite/                  the same notebooks live in the browser (ukva_widgets/lite: JupyterLite with
                                Pyodide); every page links to its live copy ("Run this chapter live")
"""

from __future__ import annotations

import argparse
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CHAPTER = re.compile(r"^\d\d-.*\.ipynb$")
# a Markdown or HTML link to a notebook of the book: [text](02-tasks.ipynb#claim-1), href="x.ipynb"
NOTEBOOK_LINK = re.compile(r"(\]\(|href=[\"'])([^)\"'\s]*?)\.ipynb(?=[#)\"'])")
DROPPED_MIMES = ("application/javascript", "text/javascript")

TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}<style>
nav.ukva-nav { display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap; padding: 0.6em 1em;
  border-bottom: 1px solid var(--jp-border-color2); font-family: var(--jp-ui-font-family); }
nav.ukva-nav.bottom { border-top: 1px solid var(--jp-border-color2); border-bottom: none; }
nav.ukva-nav form { margin-left: auto; }
nav.ukva-nav a.ukva-live { font-weight: bold; }
.ukva-widget-text pre { border-left: 3px solid var(--jp-brand-color1); padding-left: 0.6em; }
</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.ukva.nav_top }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.ukva.nav_bottom }}{{ super() }}{%- endblock body_footer -%}
"""


@dataclass
class Page:
    source: Path
    rel: str          # "notebooks/02-tasks-and-clone.html"
    title: str
    kind: str         # "chapter", "exercise", "page"


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return re.sub(r"[*_`]", "", m.group(1)).strip()
    return fallback


def _read(path: Path):
    import nbformat

    if path.suffix == ".md":  # a page written in Markdown (e.g. a glossary) becomes one cell
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(path.read_text())])
    return nbformat.read(path, as_version=4)


def pages_of(root: Path) -> list[Page]:
    """The book's pages in reading order: chapters, then other pages beside them, then exercises."""
    notebooks = sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "notebooks").glob("*.md"))
    exercises = sorted((root / "exercises").glob("*.ipynb"))
    pages = []
    for path in notebooks + exercises:
        kind = "exercise" if path.parent.name == "exercises" else \
            "chapter" if CHAPTER.match(path.name) else "page"
        rel = f"{path.parent.name}/{path.stem}.html"
        pages.append(Page(path, rel, _title(_read(path), path.stem), kind))
    order = {"chapter": 0, "page": 1, "exercise": 2}
    return sorted(pages, key=lambda p: (order[p.kind], p.source.name))


def _text_views(nb) -> int:
    """Replace each widget view by what a page without a kernel can show; count them.  A widget stores
    a static picture of the state the chapter left it in (its mime bundle's text/html, see
    widgets.base.UkvaWidget.snapshot): shown, marked as a picture of a live widget, with the text view
    folded under it; an output with no picture (an older notebook) shows the text view."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(r"\1\2.html", cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in DROPPED_MIMES:
                data.pop(mime, None)
            if WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                text = data.pop("text/plain", "(a widget: run the chapter in JupyterLab to use it)")
                if isinstance(text, list):
                    text = "".join(text)
                snapshot = data.pop("text/html", None)
                data["text/html"] = _widget_html(text, "".join(snapshot) if isinstance(snapshot, list) else snapshot)
                count += 1
            elif "text/html" in data:
                data["text/html"] = NOTEBOOK_LINK.sub(r"\1\2.html", data["text/html"])
    return count


def _widget_html(text: str, snapshot: str | None) -> str:
    """A widget on a static page: its picture, a note that it is interactive in JupyterLab or live,
    and its text view (folded under the picture, or alone when there is no picture)."""
    view = f"<pre>{html.escape(text)}</pre>"
    if snapshot is None:
        return f'<div class="ukva-widget-text" title="a widget, shown as its text view">{view}</div>'
    return (f'<figure class="ukva-widget-snapshot" style="margin:0.4em 0;padding:0.4em 0 0.4em 0.6em;'
            f'border-left:3px solid var(--jp-brand-color1)">{snapshot}'
            '<figcaption class="ukva-snapshot-note" style="color:var(--jp-ui-font-color2);'
            'font-size:var(--jp-ui-font-size0);margin:0.3em 0">a picture of the widget as the chapter left it: '
            "interactive in JupyterLab or in the live book</figcaption>"
            f'<details class="ukva-widget-text"><summary>the same as text</summary>{view}</details></figure>')


# Markdown's marks, taken out of the search index so a result reads as prose: headings' #, emphasis,
# code ticks, a link's [text](target) kept as its text, HTML tags.
MARKDOWN_MARKS = [(re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"), (re.compile(r"<[^>]+>"), " "),
                  (re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+", re.M), ""), (re.compile(r"`+"), ""),
                  (re.compile(r"(?<![\w*])([*_]{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])"), r"\2"),
                  (re.compile(r"^\s*\|?(\s*:?-{3,}:?\s*\|)+\s*$", re.M), " "), (re.compile(r"\|"), " ")]


def _plain_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "markdown":
            for pattern, replacement in MARKDOWN_MARKS:
                source = pattern.sub(replacement, source)
        parts.append(source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return re.sub(r"\s+", " ", " ".join(p if isinstance(p, str) else "".join(p) for p in parts))


LIVE_LABEL = {"chapter": "Run this chapter live", "exercise": "Do these exercises live", "page": "Open this page live"}


def _nav(pages: list[Page], here: int | None, up: str, where: str, live: bool = False) -> str:
    """The navigation bar: contents, the page's live copy, previous/next page, glossary, and a search box."""
    def link(page: Page, label: str, cls: str) -> str:
        return f'<a class="{cls}" href="{up}{page.rel}">{html.escape(label)}</a>'

    items = [f'<a class="ukva-contents" href="{up}index.html">Contents</a>']
    if live and here is not None:
        from .lite import contents_path, lite_url
        page = pages[here]
        items.append(f'<a class="ukva-live" href="{up}lite/{lite_url(contents_path(page.source))}" title="runs '
                     f'Python in your browser: nothing to install">▶ {LIVE_LABEL[page.kind]}</a>')
    if here is not None:
        if here > 0:
            items.append(link(pages[here - 1], f"← {pages[here - 1].title}", "ukva-prev"))
        if here + 1 < len(pages):
            items.append(link(pages[here + 1], f"{pages[here + 1].title} →", "ukva-next"))
    glossary = next((p for p in pages if "glossary" in p.source.stem.lower()), None)
    if glossary:
        items.append(link(glossary, "Glossary", "ukva-glossary"))
    items.append(f'<form action="{up}search.html"><input type="search" name="q" placeholder="Search the book" '
                 'aria-label="Search the book"></form>')
    return f'<nav class="ukva-nav {where}">{"".join(items)}</nav>'


SEARCH_JS = """
const q = new URLSearchParams(location.search).get('q') || '';
document.querySelector('input[name=q]').value = q;
const words = q.toLowerCase().split(/\\s+/).filter(Boolean);
const out = document.getElementById('results');
const hits = words.length ? UKVA_INDEX.filter(p => words.every(w => p.text.toLowerCase().includes(w)
                                                             || p.title.toLowerCase().includes(w))) : [];
document.getElementById('summary').textContent = words.length
  ? `${hits.length} page(s) mention “${q}”` : 'Type words to find the pages that use them all.';
for (const p of hits) {
  const li = document.createElement('li');
  const a = document.createElement('a'); a.href = p.url; a.textContent = p.title; li.append(a);
  const at = p.text.toLowerCase().indexOf(words[0]);
  const snip = document.createElement('div'); snip.className = 'snippet';
  snip.textContent = '…' + p.text.slice(Math.max(0, at - 80), at + 120) + '…'; li.append(snip);
  out.append(li);
}
"""

PLAIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title><style>
body {{ font-family: system-ui, sans-serif; max-width: 50em; margin: 0 auto; padding: 0 1em; line-height: 1.5; }}
nav.ukva-nav {{ display: flex; gap: 1.2em; align-items: center; padding: 0.6em 0; border-bottom: 1px solid #ccc; }}
nav.ukva-nav form {{ margin-left: auto; }} .snippet {{ color: #555; font-size: 0.9em; }}
</style></head><body>{nav}<main>{body}</main>{script}</body></html>
"""


def build(root: Path, out: Path, say=print, lite: bool = True) -> list[Page]:
    """Write the site for the book in `root` (holding notebooks/ and exercises/) into `out`; with `lite`,
    first the live book into `out`/lite (ukva_widgets.lite), which every page then links to."""
    import jinja2
    from nbconvert import HTMLExporter

    pages = pages_of(root)
    if not any(p.kind == "chapter" for p in pages):
        from .book import BookError
        raise BookError(f"{root / 'notebooks'} holds no chapters (NN-name.ipynb) to build a site from")
    if lite:
        from . import lite as live
        live.build([p.source for p in pages], out / "lite", say=say)
    exporter = HTMLExporter(template_name="lab", template_file="ukva-site.html.j2",
                            extra_loaders=[jinja2.DictLoader({"ukva-site.html.j2": TEMPLATE})])
    index = []
    for i, page in enumerate(pages):
        nb = _read(page.source)
        widgets = _text_views(nb)
        resources = {"metadata": {"name": page.title},
                     "ukva": {"nav_top": _nav(pages, i, "../", "top", lite),
                              "nav_bottom": _nav(pages, i, "../", "bottom", lite)}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        target = out / page.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        index.append({"title": page.title, "url": page.rel, "kind": page.kind, "widgets": widgets,
                      "text": _plain_text(nb)})
    (out / "search-index.js").write_text("const UKVA_INDEX = " + json.dumps(index) + ";\n")
    sections = []
    for kind, heading in (("chapter", "Chapters"), ("page", "More"), ("exercise", "Exercises")):
        items = "".join(f'<li><a href="{p.rel}">{html.escape(p.title)}</a></li>' for p in pages if p.kind == kind)
        if items:
            sections.append(f"<h2>{heading}</h2><ol>{items}</ol>")
    first = next(p for p in pages if p.kind == "chapter")
    (out / "index.html").write_text(PLAIN_PAGE.format(
        title="ukva_widgets: the book", nav=_nav(pages, None, "", "top"),
        body=(f"<h1>ukva_widgets: the book</h1><p>Start with <a href=\"{first.rel}\">{html.escape(first.title)}</a>. "
              "Widgets are shown as their text views; run the book in JupyterLab (<code>ukva book</code>) to use "
              "them.</p>" + (LIVE_INDEX if lite else "") + "".join(sections)), script=""), encoding="utf-8")
    (out / "search.html").write_text(PLAIN_PAGE.format(
        title="Search the book", nav=_nav(pages, None, "", "top"),
        body='<h1>Search</h1><p id="summary"></p><ol id="results"></ol>',
        script=f'<script src="search-index.js"></script><script>{SEARCH_JS}</script>'), encoding="utf-8")
    say(f"wrote {len(pages)} pages into {out} (open {out / 'index.html'})")
    return pages


LIVE_INDEX = ('<p class="ukva-live-intro">Or run it right here, with nothing installed: every page has a '
              '<b>▶ Run this chapter live</b> link to its copy in <a class="ukva-live" href="lite/tree/index.html">'
              'the live book</a>, where Python runs in your browser (JupyterLite and Pyodide) and the widgets move. '
              'Your edits there stay in your browser.</p>')


def _site(args: argparse.Namespace) -> int:
    from .book import BookError, existing, has_chapters, source

    root = args.root or existing() or source()  # found as `ukva book` finds it, but copying nothing
    if args.root and not has_chapters(args.root):
        raise BookError(f"{args.root} has no notebooks/ folder with chapters")
    if args.out.exists() and not args.out.is_dir():
        raise BookError(f"{args.out} is a file, not a folder; pass another --out")
    build(root.resolve(), args.out, lite=args.lite)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    what = "build the whole book as static HTML pages, and a live copy whose Python runs in the browser"
    p = subparsers.add_parser("site", help=what, description=what + ". Reading needs no internet; building the "
                              "live copy fetches Pyodide (npm registry) and wheels (PyPI) once into a cache")
    p.add_argument("--out", type=Path, default=Path("ukva-site"), help="folder to write (default ./ukva-site)")
    p.add_argument("--root", type=Path, default=None,
                   help="the folder holding notebooks/ (default: here, ./ukva-book or this checkout if one "
                        "holds the book, else the installed book)")
    p.add_argument("--no-lite", dest="lite", action="store_false",
                   help="skip DIR/lite/, the live book (JupyterLite): building it fetches Pyodide from the npm "
                        "registry and wheels from PyPI once, into $UKVA_LITE_CACHE or ~/.cache/ukva_widgets/lite")
    p.set_defaults(func=_site)
