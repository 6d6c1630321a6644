"""Serving the book: `ukva book` opens JupyterLab on the first chapter, `ukva serve` serves every
chapter as a Voila app. Both listen on 127.0.0.1 only and require a token, and both load the
ipywidgets and bqplot front ends from the installed packages, so no CDN or internet is needed.

Every Voila page view starts a kernel of its own. Two things stop them piling up (a reader who
opens chapters one after another, or reloads, would otherwise leave one kernel per view behind):
the page's shutdown beacon, which Voila sends when the reader leaves, is accepted (Voila's pages set
no XSRF cookie, so jupyter_server refused the beacon with 403; `set_xsrf_cookie` sets one as the
page is made), and a kernel left idle with no page connected (a crashed browser sends no beacon) is
culled after `CULL_IDLE_SECONDS`.

The browser tests and benchmarks start their servers through `lab_server` / `voila_server` too,
so what is tested is what a reader runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

FIRST_CHAPTER = "00-start.ipynb"


@dataclass
class Server:
    """A local Jupyter server to launch: its command line and where a browser should go."""

    name: str                      # "JupyterLab" or "Voila", for messages
    argv: list[str]
    port: int
    token: str
    landing: str                   # URL path a reader opens first, e.g. "/lab/tree/notebooks/00-start.ipynb"
    health: str = "/"              # URL path that answers 200 once the server is ready
    env: dict[str, str] = field(default_factory=dict)  # set over the environment it is started in
    process: subprocess.Popen | None = field(default=None, repr=False)
    _log: BinaryIO | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str | None = None, **query: str) -> str:
        """The full URL of `path` (the landing page by default), carrying the token."""
        path = self.landing if path is None else path
        params = "&".join([f"token={self.token}", *(f"{k}={v}" for k, v in query.items())])
        return f"{self.base_url}{path}{'&' if '?' in path else '?'}{params}"

    def start(self, env: Mapping[str, str] | None = None, timeout: float = 90.0,
              log: Path | None = None) -> Server:
        """Launch the server and return once it answers HTTP; raise with its log if it does not."""
        self._log = open(log, "wb") if log else None  # noqa: SIM115 - open as long as the server runs
        env = {**(os.environ if env is None else env), **self.env}
        self.process = subprocess.Popen(self.argv, env=env,
                                        stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode} before it "
                                   f"was ready; see {log or 'its output'}")
            try:
                with urllib.request.urlopen(self.url(self.health), timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on port {self.port} within {timeout:.0f} s; "
                           f"see {log or 'its output'}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
            self._log = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_book(explicit: Path | None = None, directory: Path | None = None, update: bool = False) -> Path:
    """The book folder to serve: `explicit` (--root) as it is, else `book.locate(directory)`, which
    copies the shipped book into the reader's own folder when there is none here."""
    from .book import BookError, has_chapters, locate

    if explicit is not None:
        if not has_chapters(explicit):
            raise BookError(f"{explicit} has no notebooks/ folder with chapters; pass the folder that "
                            "holds notebooks/ (or --dir DIR to get a copy of the book there)")
        return explicit.resolve()
    return locate(directory, update)


def lab_server(root: Path, port: int, token: str, extra: Sequence[str] = ()) -> Server:
    """JupyterLab serving `root`, landing on the first chapter."""
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser",
            f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", *extra]
    if os.geteuid() == 0:  # containers and CI run as root; JupyterLab refuses that unless told
        argv.append("--ServerApp.allow_root=True")
    return Server("JupyterLab", argv, port, token,
                  landing=f"/lab/tree/notebooks/{FIRST_CHAPTER}", health="/api/status")


# Jupyter data shipped in the package: the book's Voila template (jupyter_data/voila/templates/ukva).
JUPYTER_DATA = Path(__file__).resolve().parent / "jupyter_data"


# A kernel no page is connected to and that ran nothing for this long is shut down (checked every
# CULL_INTERVAL_SECONDS); a reader's open page stays connected, so its kernel is never culled.
CULL_IDLE_SECONDS = 300
CULL_INTERVAL_SECONDS = 60


def set_xsrf_cookie(handler, notebook, cwd) -> None:
    """Voila's prelaunch hook: make the page set jupyter_server's XSRF cookie (reading the token
    sets it), which the page's shutdown beacon sends back; returns None, the notebook unchanged."""
    handler.xsrf_token  # noqa: B018 - the property sets the cookie


def voila_main() -> None:
    """`python -c "from ukva_widgets.serving import voila_main; voila_main()" ARGS`: Voila, with the
    book's prelaunch hook (a Python callable cannot be given on a command line)."""
    from traitlets.config import Config
    from voila.app import Voila

    config = Config()
    config.VoilaConfiguration.prelaunch_hook = set_xsrf_cookie
    # The live book's kernel (jupyterlite-pyodide-kernel, which `ukva site` builds with) installs a
    # JupyterLab extension made for JupyterLite pages only: in Voila it fails to load and logs errors.
    config.VoilaConfiguration.extension_denylist = ["@jupyterlite/pyodide-kernel-extension"]
    Voila.launch_instance(config=config)


def voila_server(root: Path, port: int, token: str, extra: Sequence[str] = (),
                 cull_idle_seconds: int = CULL_IDLE_SECONDS, cull_interval_seconds: int = CULL_INTERVAL_SECONDS
                 ) -> Server:
    """Voila serving the book in `root` as apps: the chapters (notebooks/) and the exercises
    (exercises/), so a chapter's link to its exercises works; a reader lands on the front page
    (notebooks/00-start), and the tree page at / is the index of both folders.

    The pages use the book's template (Voila's lab one without CDN links or build-version notices,
    see jupyter_data/voila/templates/ukva), found through JUPYTER_PATH; the index is Voila's plain
    HTML list of chapters (its JupyterLab-based one loads the widget plugins with no kernel and logs
    errors). The reader may pick the dark theme with `?theme=dark` on a chapter's URL (each page
    has a button for it). Kernels: see the module's docstring."""
    argv = [sys.executable, "-c", "from ukva_widgets.serving import voila_main; voila_main()", str(root),
            "--no-browser",
            "--Voila.ip=127.0.0.1", f"--Voila.port={port}", "--Voila.port_retries=0",
            f"--Voila.token={token}", "--VoilaConfiguration.allow_theme_override=YES",
            "--VoilaConfiguration.template=ukva", "--VoilaConfiguration.classic_tree=True",
            f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
            f"--MappingKernelManager.cull_interval={cull_interval_seconds}",
            "--MappingKernelManager.cull_connected=False", *extra]
    jupyter_path = os.pathsep.join(filter(None, [str(JUPYTER_DATA), os.environ.get("JUPYTER_PATH")]))
    return Server("Voila", argv, port, token, landing=f"/voila/render/notebooks/{FIRST_CHAPTER}", health="/",
                  env={"JUPYTER_PATH": jupyter_path})


def chapter_url_path(server: Server, notebook: str) -> str:
    """Where `server` shows one chapter (a file name such as "01-tasks.ipynb")."""
    return (f"/lab/tree/notebooks/{notebook}" if server.name == "JupyterLab"
            else f"/voila/render/notebooks/{notebook}")


def _run(server: Server, open_browser: bool) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if s.connect_ex(("127.0.0.1", server.port)) == 0:
            print(f"ukva: port {server.port} is already in use; pick another with --port or omit it "
                  "to get a free one", file=sys.stderr)
            return 2
    # `kill` (SIGTERM) must stop the server too, not leave it running on its own
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    print(f"{server.name} is serving the book at\n    {server.url()}\n(Ctrl-C stops it)", flush=True)
    if open_browser:
        webbrowser.open(server.url())
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _book(args: argparse.Namespace) -> int:
    root = find_book(args.root, args.dir, args.update)
    if args.copy_only:
        print(f"the book is in {root}")
        return 0
    port = args.port or free_port()
    return _run(lab_server(root, port, secrets.token_hex(24)), not args.no_browser)


def _serve(args: argparse.Namespace) -> int:
    root = find_book(args.root, args.dir)
    port = args.port or free_port()
    return _run(voila_server(root, port, secrets.token_hex(24)), not args.no_browser)


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, func, what in (
        ("book", _book, "open the book in JupyterLab, on notebooks/" + FIRST_CHAPTER),
        ("serve", _serve, "serve the chapters as Voila apps (an index page lists them)"),
    ):
        p = subparsers.add_parser(name, help=what, description=what + "; listens on 127.0.0.1 "
                                  "with a fresh token and prints the URL to open. Outside a checkout the "
                                  "book is first copied into a folder of your own (./ukva-book by default).")
        p.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
        p.add_argument("--no-browser", action="store_true", help="only print the URL, open nothing")
        p.add_argument("--dir", type=Path, default=None,
                       help="your copy of the book: made (or completed) from the installed book first, "
                            "never overwriting a notebook you edited (default: here if this folder holds "
                            "notebooks/, else ./ukva-book)")
        p.add_argument("--root", type=Path, default=None,
                       help="serve the notebooks/ of this folder as it is, copying nothing")
        if name == "book":
            p.add_argument("--update", action="store_true",
                           help="refresh the notebooks of your copy that you have not edited")
            p.add_argument("--copy-only", action="store_true",
                           help="make or refresh the copy, start no JupyterLab (e.g. a JupyterHub "
                                "start-up hook: ukva book --dir ~/ukva-book --copy-only)")
        p.set_defaults(func=func)
