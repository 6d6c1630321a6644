"""JupyterHub for a class reading the ukva_widgets book (see README.md beside this file).

Every user gets their own copy of the book on the first start of their server: the single-user server
is started through `ukva book --dir $HOME/ukva-book --copy-only`, which copies the chapters and the
student exercises shipped in the installed package (and, on later starts, adds new ones without
overwriting anything the student edited), and then opens on the front page of that copy. With
UKVA_HUB_RELEASE set, `ukva fetch` first copies the student's own variants from
$UKVA_HUB_RELEASE/<user>/ (made by `ukva student --roster ... --out` on the instructor's machine) into
that copy. The course key that made them is never needed here, and never passed to a user's server:
a server gets only the environment variables listed in env_keep below.

Out of the box this is the small local setup the project tests with two users: DummyAuthenticator
(any password, or UKVA_HUB_PASSWORD when set) and SimpleLocalProcessSpawner, which runs every user's
server as the hub's own system user, each in their own home folder (UKVA_HUB_HOMES/<user>). Each
user's Jupyter server only serves their own home and the hub only lets a user reach their own
server, but their kernels share one Unix account: for a real class use system users
(LocalProcessSpawner + PAMAuthenticator) or containers (Zero to JupyterHub), as README.md says.

Settings from the environment (all optional):
    UKVA_HUB_USERS      comma-separated user names allowed in (default: ada,brian)
    UKVA_HUB_PASSWORD   the shared password DummyAuthenticator accepts (default: any)
    UKVA_HUB_HOMES      folder holding each user's home (default: ./ukva-hub-homes)
    UKVA_HUB_STATE      folder for the hub's database, cookie secret and proxy pid (default: .)
    UKVA_HUB_PROXY      path of configurable-http-proxy (default: found on PATH)
    UKVA_HUB_RELEASE    folder of per-student notebooks, RELEASE/<user>/*.ipynb (default: none)
"""

import os
import shlex
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

BIN = Path(sys.executable).parent  # the environment JupyterHub runs in also holds ukva_widgets
STATE = Path(os.environ.get("UKVA_HUB_STATE", ".")).resolve()
HOMES = Path(os.environ.get("UKVA_HUB_HOMES", "ukva-hub-homes")).resolve()

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set(filter(None, os.environ.get("UKVA_HUB_USERS", "ada,brian").split(",")))
if os.environ.get("UKVA_HUB_PASSWORD"):
    c.DummyAuthenticator.password = os.environ["UKVA_HUB_PASSWORD"]

c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")

RELEASE = os.environ.get("UKVA_HUB_RELEASE")
UKVA = shlex.quote(str(BIN / "ukva"))
# The start-up hook: the student's own variants first (a missing or unreadable release never keeps the
# server from starting), then make (or complete) the user's copy of the book, then the usual server.
FETCH = f'{UKVA} fetch --release {shlex.quote(RELEASE)} --dir "$HOME/ukva-book"; ' if RELEASE else ""
START = (f'{FETCH}{UKVA} book --dir "$HOME/ukva-book" --copy-only && '
         f'exec {shlex.quote(str(BIN / "jupyterhub-singleuser"))} "$@"')
c.Spawner.cmd = ["sh", "-c", START, "ukva-singleuser"]
# What a user's server may inherit from the hub's environment: JupyterHub's default, written out so
# that no one adds a secret of the instructor's (UKVA_COURSE_KEY, UKVA_GRADING_SEED) to it.
c.Spawner.env_keep = ["JUPYTERHUB_SINGLEUSER_APP"]
c.Spawner.default_url = "/lab/tree/ukva-book/notebooks/00-start.ipynb"
if os.geteuid() == 0:  # containers and CI run as root; Jupyter Server refuses that unless told
    c.Spawner.args = ["--ServerApp.allow_root=True"]

c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
if os.environ.get("UKVA_HUB_PROXY"):
    c.ConfigurableHTTPProxy.command = [os.environ["UKVA_HUB_PROXY"]]
c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # the class reaches it through your web server / TLS
