"""Build DIR/lite/: the book's notebooks as a JupyterLite site with the Pyodide kernel.

`jupyter lite build` (jupyterlite-core) does the site; this module gives it the book as contents,
Pyodide's core and the lock of wheels from packages.py as its well-known `static/pyodide/`, only the
JupyterLab extensions the book uses (ipywidgets' manager, bqplot, bqscales, the Pyodide kernel), and
a kernel that preloads the book's package while Pyodide starts. Each page then gets a note: that it
runs in the browser, what the first visit downloads, where edits are kept, and a link back to the
static page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..book import BookError
from . import packages

KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
# The JupyterLab extensions the book's pages use, found where JupyterLab finds them (this environment's
# share/jupyter/labextensions, from the installed Python packages).
EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "bqplot", "bqscales", "@jupyterlite/pyodide-kernel-extension")
APPS = ("notebooks", "lab", "tree", "edit")
NOTE_ID = "ukva-live-note"


@dataclass
class LiteSite:
    """What `build` wrote."""

    out: Path
    pages: list[str]           # contents paths: "04-tlbs.ipynb", "exercises/04-tlbs.ipynb", ...
    pyodide: str               # the Pyodide release
    python_bytes: int          # Python and the book's packages, as a first visit downloads them
    wheels: list[packages.Wheel]


def cache_dir() -> Path:
    """Where fetched Pyodide and wheels are kept between builds: $UKVA_LITE_CACHE, else the user's cache."""
    if os.environ.get("UKVA_LITE_CACHE"):
        return Path(os.environ["UKVA_LITE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ukva_widgets" / "lite"


def contents_path(source: Path) -> str:
    """A page's path in the live book: chapters and the pages beside them at the top, exercises below."""
    return f"exercises/{source.name}" if source.parent.name == "exercises" else source.name


def lite_url(page: str) -> str:
    """The live page of a contents path, relative to DIR/lite/."""
    app = "notebooks" if page.endswith(".ipynb") else "edit"
    return f"{app}/index.html?path={page}"


def _require() -> None:
    try:
        import jupyterlite_core  # noqa: F401
        import jupyterlite_pyodide_kernel  # noqa: F401
    except ImportError:
        raise BookError("the live book needs jupyterlite-core and jupyterlite-pyodide-kernel, which ukva_widgets "
                        "depends on: reinstall it (pip install ukva_widgets), or pass --no-lite") from None


def _extensions() -> list[str]:
    from jupyter_core.paths import jupyter_path

    found, missing = [], []
    for name in EXTENSIONS:
        where = next((Path(p) / name for p in jupyter_path("labextensions")
                      if (Path(p) / name / "package.json").is_file()), None)
        (found if where else missing).append(str(where) if where else name)
    if missing:
        raise BookError(f"the JupyterLab extension(s) {', '.join(missing)} are not installed here, so the live "
                        "book could not show its widgets: reinstall ukva_widgets (pip install ukva_widgets)")
    return found


def build(sources: list[Path], out: Path, cache: Path | None = None, say=print) -> LiteSite:
    """Write the live book of `sources` (notebook files of the book) into `out` (replaced once the new one is
    complete); Pyodide and the wheels are fetched into `cache` (default cache_dir()) the first time."""
    _require()
    out = Path(out).resolve()  # JupyterLite builds from inside a scratch folder: a relative `out` would land there
    cache = cache or cache_dir()
    version = packages.pyodide_version()
    with packages.cache_lock(cache, say):  # another build filling the same cache waits for this one
        core = packages.pyodide_core(cache, version, say)
        core_lock = json.loads((core / "pyodide-lock.json").read_text())
        wheels = packages.resolve(core_lock, cache, version, say)
        packages.compile_wheels(wheels, core, cache / f"pyc-{version}", say)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    preload = [*packages.KERNEL, packages.BOOK]
    with tempfile.TemporaryDirectory(prefix="ukva-lite-") as tmp:
        lite_dir = Path(tmp)
        pyodide = lite_dir / "static" / "pyodide"
        pyodide.mkdir(parents=True)
        for name in packages.CORE_FILES:
            if name != "pyodide-lock.json":
                shutil.copyfile(core / name, pyodide / name)
        packages.write_lock(core_lock, wheels, pyodide, version)
        _favicons(lite_dir / "static" / "favicons")
        pages = [contents_path(source) for source in sources]
        for source, page in zip(sources, pages):
            _copy_page(source, lite_dir / "book" / page)
        _configure(lite_dir, partial, preload)
        say(f"building the live book (JupyterLite, Pyodide {version}) into {out}")
        done = subprocess.run([sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(lite_dir)],
                              cwd=lite_dir, capture_output=True, text=True)
        if done.returncode != 0 or not (partial / "notebooks" / "index.html").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise BookError(f"jupyter lite build failed (exit {done.returncode}): {tail}")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    python_bytes = sum((core / name).stat().st_size for name in packages.CORE_FILES) + sum(
        w.path.stat().st_size for w in _closure(preload, {w.name: w for w in wheels}) if w.path is not None)
    site = LiteSite(out, pages, version, python_bytes, wheels)
    _add_note(out / "notebooks" / "index.html", site)
    return site


def _configure(lite_dir: Path, output: Path, preload: list[str]) -> None:
    """The site's settings (jupyter-lite.json: a kernel that preloads `preload` from the lock while Pyodide
    starts) and the build's (jupyter_lite_config.json: the book as contents, only the extensions it uses)."""
    (lite_dir / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "ukva_widgets, live",
            "litePluginSettings": {KERNEL_PLUGIN: {"loadPyodideOptions": {"packages": preload}}},
        }}, indent=1))
    (lite_dir / "jupyter_lite_config.json").write_text(json.dumps({"LiteBuildConfig": {
        "contents": [str(lite_dir / "book")], "ignore_sys_prefix": True, "federated_extensions": _extensions(),
        "apps": list(APPS), "no_sourcemaps": True, "no_unused_shared_packages": True,
        "output_dir": str(output), "cache_dir": str(lite_dir / ".cache")}}, indent=1))


def _copy_page(source: Path, target: Path) -> None:
    """Copy a page of the book into the site's contents; a notebook with each multi-line text as one string, as
    the contents API of a Jupyter server gives it (JupyterLab's table of contents fails on a list of lines)."""
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".ipynb":
        target.write_text(json.dumps(nbformat.read(source, as_version=4), indent=1, ensure_ascii=False) + "\n")
    else:
        shutil.copyfile(source, target)


def _favicons(folder: Path) -> None:
    """The notebook app's busy/idle tab icons (it asks for them at static/favicons/), from jupyter_server."""
    import jupyter_server

    icons = Path(jupyter_server.__file__).parent / "static" / "favicons"
    if icons.is_dir():
        shutil.copytree(icons, folder)


def _closure(names: list[str], by_name: dict[str, packages.Wheel]) -> list[packages.Wheel]:
    seen: dict[str, packages.Wheel] = {}
    queue = [packages.canonical(n) for n in names]
    while queue:
        name = queue.pop()
        if name in seen or name not in by_name:
            continue
        seen[name] = by_name[name]
        queue += by_name[name].depends
    return list(seen.values())


NOTE = """<div id="{id}" role="note">
<span><b>Live:</b> Python runs in your browser here (Pyodide {pyodide}); nothing is installed. The first visit
downloads about {mb:.0f}&nbsp;MB, later visits use the browser's cache; the cost plots also fetch numpy from
Pyodide's own site when first drawn. Your edits stay in this browser (File &gt; Download keeps a copy).</span>
<a class="ukva-static" href="../../index.html">Static page</a>
<a class="ukva-contents" href="../../index.html">Contents</a>
<button type="button" aria-label="hide this note" title="hide this note">&times;</button></div>
<style>
#{id} {{ position: fixed; left: 0; right: 0; bottom: 0; z-index: 10000; display: flex; gap: 1em;
  align-items: center; padding: 4px 12px; font: 13px/1.4 system-ui, sans-serif; background: #fff8d6;
  color: #222; border-top: 1px solid #c9b458; }}
#{id} span {{ flex: 1; }} #{id} a {{ color: #1a4f8b; white-space: nowrap; }}
#{id} button {{ border: none; background: none; font-size: 18px; cursor: pointer; color: #222; }}
body.ukva-live-noted #main {{ bottom: 4.6em !important; }}
</style>
<script>
(() => {{
  const note = document.getElementById('{id}');
  document.body.classList.add('ukva-live-noted');
  // This notebook's static page: chapters and other pages are in notebooks/, exercises in exercises/.
  const path = (new URLSearchParams(location.search).get('path') || '').replace(/\\.ipynb$/, '.html');
  const folder = path.startsWith('exercises/') ? '' : 'notebooks/';
  if (path) note.querySelector('.ukva-static').href = `../../${{folder}}${{path}}`;
  else note.querySelector('.ukva-static').remove();
  note.querySelector('button').onclick = () => {{
    note.remove();
    document.body.classList.remove('ukva-live-noted');
    window.dispatchEvent(new Event('resize'));
  }};
}})();
</script>
"""


def _add_note(index: Path, site: LiteSite) -> None:
    """Put the live-page note into the notebook app's page, just before </body>."""
    html = index.read_text(encoding="utf-8")
    if f'id="{NOTE_ID}"' in html:
        return
    note = NOTE.format(id=NOTE_ID, pyodide=site.pyodide, mb=site.python_bytes / 1e6)
    index.write_text(html.replace("</body>", note + "</body>", 1), encoding="utf-8")
