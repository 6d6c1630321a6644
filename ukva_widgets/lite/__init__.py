"""The live book: `ukva site --out DIR` also writes DIR/lite/, a JupyterLite site where every chapter,
the glossary, the sources and the student exercises run in the reader's browser (Pyodide).

    DIR/lite/notebooks/index.html?path=04-tlbs.ipynb             chapter 04, live
    DIR/lite/notebooks/index.html?path=exercises/04-tlbs.ipynb   its exercises, live
    DIR/lite/tree/index.html                                     the book's files

Built with jupyterlite-core and jupyterlite-pyodide-kernel (from PyPI) from the registries only; see
packages.py for where each part of the in-browser Python comes from and build.py for the site. A
reader's edits stay in the browser's own storage (JupyterLite's default).
"""

from .build import LiteSite, build, cache_dir, contents_path, lite_url

__all__ = ["LiteSite", "build", "cache_dir", "contents_path", "lite_url"]
