"""What the in-browser Python of the live book runs on: Pyodide's core and a lock file of wheels.

Everything is fetched from the registries at build time into a cache, and the site carries it:

- Pyodide's core (pyodide.mjs, pyodide.asm.wasm, python_stdlib.zip, pyodide-lock.json) is the
  `pyodide` npm package, at the version jupyterlite-pyodide-kernel is made for (its PYODIDE_VERSION).
  The npm package holds no packages, only the lock that names them.
- Pure-Python wheels come from PyPI: the kernel's own needs (IPython and its dependencies, jedi,
  micropip, ...) at the versions Pyodide's lock names, and the book's (ipywidgets, comm, bqplot,
  ...) at the versions installed here, so the kernel side of each widget matches the front end the
  site copies from this environment's JupyterLab extensions.
- The kernel's own wheels (pyodide-kernel, piplite, the ipykernel and widgetsnbextension shims)
  ship inside jupyterlite-pyodide-kernel; the book's package is a wheel of this installation's
  modules, made here.
- Compiled packages (numpy, pandas, ...) exist only in Pyodide's own distribution, which is on no
  registry. The lock keeps them, pointing at that distribution's URL, so a page that imports one
  loads it from there at view time (ukva_widgets.browser says so where it cannot).

The lock's `file_name` of a bundled wheel is relative to the lock, so the site works from any URL.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..book import PACKAGE, BookError
from ..browser import DISTRIBUTION

# The Pyodide files the kernel's worker loads; the rest of the npm package (type definitions, a
# console page, source maps) is not needed by a page.
CORE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
# What the kernel's worker installs before it runs a cell (pyodide-kernel's worker.ts: initPackageManager,
# initKernel): preloaded from the lock, it takes nothing from piplite or PyPI.
KERNEL = ("micropip", "piplite", "ipykernel", "comm", "pyodide-kernel", "jedi", "ipython")
BOOK = "ukva-widgets"
# What the book's modules import in the browser. bqplot (and through it numpy and pandas) is in the lock
# but loaded only by the pages that draw a CostPlot (ukva_widgets.browser.need).
BOOK_DEPENDS = ("ipywidgets", "traitlets")
ON_DEMAND = ("bqplot",)
# ipywidgets' front end as a Python package: the site has it as a JupyterLab extension instead.
FRONT_END_ONLY = {"jupyterlab-widgets"}
# The marker environment of Pyodide's Python, for the Requires-Dist lines of the wheels fetched here.
PYODIDE_MARKERS = {"sys_platform": "emscripten", "platform_system": "Emscripten", "platform_machine": "wasm32",
                   "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name
    return str(canonicalize_name(name))


@dataclass
class Wheel:
    """One package of the site's lock: a wheel the site carries, or (url set) one of Pyodide's distribution."""

    name: str
    version: str
    path: Path | None           # the wheel file to copy into the site
    depends: list[str]
    imports: list[str]
    url: str = ""               # where Pyodide's distribution has it (a compiled package)
    sha256: str = ""
    origin: str = ""            # "PyPI", "jupyterlite-pyodide-kernel", "this installation", "Pyodide's distribution"


@contextlib.contextmanager
def cache_lock(cache: Path, say=print):
    """Hold `cache` for one build: a second build (another `ukva site`, a test worker) filling the same cache
    waits here instead of fetching and compiling into the same staging files (flock(2) on cache/.lock; the
    kernel lets it go when this process ends, however it ends). Where there is no flock (Windows), one
    build at a time is the reader's to keep."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another build that is filling {cache}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def pyodide_version() -> str:
    """The Pyodide release jupyterlite-pyodide-kernel is made for."""
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION
    return PYODIDE_VERSION


def pyodide_core(cache: Path, version: str, say=print) -> Path:
    """The folder holding Pyodide's core files, from the `pyodide` npm package (fetched once into `cache`)."""
    target = cache / f"pyodide-{version}"
    if all((target / name).is_file() for name in CORE_FILES):
        return target
    tarball = cache / f"pyodide-{version}.tgz"
    if not tarball.is_file():
        say(f"fetching pyodide@{version} from the npm registry into {cache}")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["npm", "pack", f"pyodide@{version}", "--pack-destination", str(cache),
                                   "--silent"], capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            raise BookError("the live book needs npm to fetch Pyodide (apt-get install npm), or pass "
                            f"--no-lite; or put pyodide-{version}.tgz from the npm registry into {cache}") from None
        if done.returncode != 0 or not tarball.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BookError(f"could not fetch pyodide@{version} from the npm registry ({last}); "
                            "build once with access to it, or pass --no-lite")
    staging = cache / f".pyodide-{version}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        for name in CORE_FILES:
            member = tar.getmember(f"package/{name}")
            (staging / name).write_bytes(tar.extractfile(member).read())
    staging.rename(target)
    return target


def _pypi(cache: Path, wanted: dict[str, str], python: str, say=print) -> dict[str, Path]:
    """The pure-Python wheel of each `name: version` from PyPI, downloaded once into `cache`."""
    from packaging.utils import parse_wheel_filename

    cache.mkdir(parents=True, exist_ok=True)

    def cached() -> dict[str, Path]:
        found = {}
        for path in cache.glob("*.whl"):
            name, version, _, tags = parse_wheel_filename(path.name)
            if wanted.get(str(name)) == str(version) and all(t.platform == "any" for t in tags):
                found[str(name)] = path
        return found

    have = cached()
    missing = [f"{name}=={version}" for name, version in sorted(wanted.items()) if name not in have]
    if missing:
        say(f"fetching {len(missing)} wheel(s) from PyPI into {cache}: {' '.join(missing)}")
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                               "--python-version", python, "--platform", "any", "--implementation", "py",
                               "--abi", "none", "--dest", str(cache), *missing], capture_output=True, text=True)
        have = cached()
        still = [spec for spec in missing if spec.split("==")[0] not in have]
        if done.returncode != 0 or still:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BookError(f"could not fetch {' '.join(still) or ' '.join(missing)} as pure-Python wheels from PyPI "
                            f"({last}); build once with access to PyPI, or pass --no-lite")
    return have


def _metadata(wheel: Path) -> tuple[list[str], list[str]]:
    """(the packages a wheel requires in Pyodide, its top-level import names), from the wheel itself."""
    from email.parser import Parser

    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = Parser().parsestr(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
        top = next((n for n in names if n.endswith(".dist-info/top_level.txt")), None)
        imports = z.read(top).decode().split() if top else sorted(
            {n.split("/")[0].removesuffix(".py") for n in names
             if not n.split("/")[0].endswith((".dist-info", ".data")) and (n.endswith(".py") or "/" in n)})
    depends = []
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({**PYODIDE_MARKERS, "extra": ""}):
            depends.append(canonical(req.name))
    return depends, imports


def _kernel_wheels() -> dict[str, Path]:
    """The wheels jupyterlite-pyodide-kernel ships for its kernel (newest of each name)."""
    from packaging.utils import parse_wheel_filename

    folder = (Path(sys.prefix) / "share/jupyter/labextensions/@jupyterlite/pyodide-kernel-extension/static/pypi")
    best: dict[str, tuple] = {}
    for path in folder.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(path.name)
        if str(name) not in best or version > best[str(name)][0]:
            best[str(name)] = (version, path)
    if not best:
        raise BookError(f"jupyterlite-pyodide-kernel's wheels are missing from {folder}: "
                        "reinstall it (pip install jupyterlite-pyodide-kernel)")
    return {name: path for name, (_, path) in best.items()}


def book_wheel(folder: Path) -> Path:
    """A wheel of this installation's ukva_widgets modules (the Python only: the book's notebooks are the
    site's contents), written reproducibly into `folder`."""
    from .. import __version__

    name = f"ukva_widgets-{__version__}"
    files = sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".json") and "jupyter_data" not in p.parts)
    meta = "".join([f"Metadata-Version: 2.1\nName: ukva_widgets\nVersion: {__version__}\n",
                    *(f"Requires-Dist: {dep}\n" for dep in BOOK_DEPENDS)])
    entries = [(f"ukva_widgets/{p.relative_to(PACKAGE).as_posix()}", p.read_bytes()) for p in files]
    entries += [(f"{name}.dist-info/METADATA", meta.encode()),
                (f"{name}.dist-info/WHEEL", b"Wheel-Version: 1.0\nGenerator: ukva_widgets.lite\n"
                                            b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
                (f"{name}.dist-info/top_level.txt", b"ukva_widgets\n")]
    record = "".join(f"{path},sha256={_digest(data, urlsafe=True)},{len(data)}\n" for path, data in entries)
    entries.append((f"{name}.dist-info/RECORD", (record + f"{name}.dist-info/RECORD,,\n").encode()))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries:
            z.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    target.write_bytes(buffer.getvalue())
    return target


def _digest(data: bytes, urlsafe: bool = False) -> str:
    raw = hashlib.sha256(data).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() if urlsafe else raw.hex()


def resolve(core_lock: dict, cache: Path, version: str, say=print) -> list[Wheel]:
    """Every package the kernel and the book need and where each comes from: met breadth first from KERNEL,
    the book and ON_DEMAND, a level at a time (a wheel fetched from PyPI names its own dependencies)."""
    lock = {canonical(name): spec for name, spec in core_lock["packages"].items()}
    python = ".".join(core_lock["info"]["python"].split(".")[:2])
    local = {**_kernel_wheels(), BOOK: book_wheel(cache / "book")}
    found: dict[str, Wheel] = {}
    level = [canonical(n) for n in (*KERNEL, BOOK, *ON_DEMAND)]
    while level:
        from_pypi = {}
        for name in level:
            spec = lock.get(name)
            if name in local:
                found[name] = _from_wheel(name, local[name], "this installation" if name == BOOK else
                                          "jupyterlite-pyodide-kernel")
            elif spec is not None and not spec["file_name"].endswith("-none-any.whl"):
                found[name] = Wheel(name, spec["version"], None, spec["depends"], spec["imports"],
                                    url=DISTRIBUTION.format(version=version) + spec["file_name"],
                                    sha256=spec["sha256"], origin="Pyodide's distribution")
            else:
                from_pypi[name] = spec["version"] if spec else _installed_version(name)
        for name, path in _pypi(cache / "wheels", from_pypi, python, say).items():
            found[name] = _from_wheel(name, path, "PyPI")
            if name in lock:  # Pyodide's lock already says what its packages need in Pyodide
                found[name].depends, found[name].imports = lock[name]["depends"], lock[name]["imports"]
        for name in level:
            found[name].depends = [canonical(d) for d in found[name].depends if canonical(d) not in FRONT_END_ONLY]
        level = list(dict.fromkeys(d for name in level for d in found[name].depends if d not in found))
    for wheel in found.values():
        if wheel.path is not None:
            wheel.sha256 = _digest(wheel.path.read_bytes())
    return list(found.values())


def _from_wheel(name: str, path: Path, origin: str) -> Wheel:
    from packaging.utils import parse_wheel_filename

    depends, imports = _metadata(path)
    return Wheel(name, str(parse_wheel_filename(path.name)[1]), path, depends, imports, origin=origin)


def _installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise BookError(f"the live book needs {name} in the browser but it is not installed here, so its "
                        f"version is unknown: reinstall ukva_widgets (pip install ukva_widgets)") from None


# Runs ukva_widgets/lite/pyc.py inside Pyodide in Node, with the host's files under /host.
COMPILE_JS = """
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
const [core, script, jobs] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(core + "/pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: core + "/" });
pyodide.FS.mkdir("/host");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: "/" }, "/host");
pyodide.globals.set("jobs", pyodide.toPy(JSON.parse(readFileSync(jobs, "utf8"))));
pyodide.globals.set("script", "/host" + script);
pyodide.runPython("ns = {}; exec(open(script).read(), ns); print(ns['compile_all'](jobs), 'modules compiled')");
"""


def compile_wheels(wheels: list[Wheel], core: Path, cache: Path, say=print) -> None:
    """Replace each bundled wheel by its compiled copy (pyc.py), compiling the ones not in `cache` yet."""
    jobs = []
    for wheel in wheels:
        if wheel.path is None:
            continue
        target = cache / wheel.sha256[:16] / wheel.path.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            jobs.append([f"/host{wheel.path.resolve()}", f"/host{target.resolve()}.partial", wheel.name == BOOK])
        wheel.path = target
    if jobs:
        say(f"compiling {len(jobs)} wheel(s) to Pyodide's bytecode (Pyodide in Node)")
        (cache / "compile.mjs").write_text(COMPILE_JS)
        (cache / "jobs.json").write_text(json.dumps(jobs))
        try:
            done = subprocess.run(["node", str(cache / "compile.mjs"), str(core.resolve()),
                                   str(Path(__file__).with_name("pyc.py").resolve()), str(cache / "jobs.json")],
                                  capture_output=True, text=True, timeout=1200)
        except FileNotFoundError:
            raise BookError("the live book compiles its wheels with Pyodide in Node, and node is missing: "
                            "apt-get install nodejs, or pass --no-lite") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BookError(f"compiling the wheels with Pyodide in Node failed: {last}")
        for _, target, _ in jobs:
            partial = Path(target.removeprefix("/host"))
            partial.rename(partial.with_suffix(""))
    for wheel in wheels:
        if wheel.path is not None:
            wheel.sha256 = _digest(wheel.path.read_bytes())


def write_lock(core_lock: dict, wheels: Iterable[Wheel], folder: Path, version: str) -> dict:
    """Copy the wheels into `folder` and write its pyodide-lock.json: Pyodide's own lock, with the bundled
    wheels added or replacing its entries, and every other package pointing at Pyodide's distribution."""
    packages = {}
    for name, spec in core_lock["packages"].items():
        packages[canonical(name)] = {**spec, "file_name": DISTRIBUTION.format(version=version) + spec["file_name"]}
    for wheel in wheels:
        file_name = wheel.url
        if wheel.path is not None:
            (folder / wheel.path.name).write_bytes(wheel.path.read_bytes())
            file_name = wheel.path.name
        packages[wheel.name] = {"name": wheel.name, "version": wheel.version, "file_name": file_name,
                                "install_dir": "site", "sha256": wheel.sha256, "package_type": "package",
                                "imports": wheel.imports, "depends": wheel.depends, "unvendored_tests": False}
    lock = {"info": core_lock["info"], "packages": dict(sorted(packages.items()))}
    (folder / "pyodide-lock.json").write_text(json.dumps(lock, indent=1) + "\n")
    return lock
