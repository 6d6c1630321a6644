"""The live book's own wheels (ukva_widgets/lite): the wheel of this package the browser installs, and
the compiled copies of wheels (lite/pyc.py, which the build runs inside Pyodide; here on this Python)."""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
import threading
import zipfile

from ukva_widgets.lite import packages, pyc


def record_ok(wheel: zipfile.ZipFile) -> bool:
    """Every file the wheel holds is in its RECORD with its sha256, and nothing else is."""
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    listed = {}
    for line in wheel.read(record).decode().splitlines():
        path, digest, _ = line.rsplit(",", 2)
        listed[path] = digest
    for name in wheel.namelist():
        if name != record:
            data = wheel.read(name)
            expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if listed.pop(name, None) != expected:
                return False
    return list(listed) == [record]


def test_the_book_wheel_holds_the_package_and_requires_only_what_the_browser_imports(tmp_path):
    wheel = zipfile.ZipFile(packages.book_wheel(tmp_path))
    names = wheel.namelist()
    assert "ukva_widgets/engine/machine.py" in names and "ukva_widgets/real/recorded.json" in names
    assert not any("__pycache__" in n or "jupyter_data" in n for n in names)
    meta = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert [line.split(": ")[1] for line in meta.splitlines() if line.startswith("Requires-Dist")] == \
        list(packages.BOOK_DEPENDS)
    assert record_ok(wheel)
    assert packages.book_wheel(tmp_path).read_bytes() == packages.book_wheel(tmp_path / "again").read_bytes()


def tiny_wheel(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("tinypkg/__init__.py", "ANSWER = 42\n")
        z.writestr("tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        z.writestr("tinypkg-1.0.dist-info/RECORD", "")
    return path


def test_a_compiled_wheel_imports_from_bytecode_alone_and_records_what_it_holds(tmp_path, monkeypatch):
    assert pyc.compile_wheel(str(tiny_wheel(tmp_path / "in.whl")), str(tmp_path / "out.whl"), False) == 1
    out = zipfile.ZipFile(tmp_path / "out.whl")
    assert "tinypkg/__init__.pyc" in out.namelist() and "tinypkg/__init__.py" not in out.namelist()
    assert record_ok(out)
    out.extractall(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert importlib.import_module("tinypkg").ANSWER == 42
    sys.modules.pop("tinypkg")


def test_the_books_compiled_wheel_keeps_its_sources_beside_the_bytecode(tmp_path):
    pyc.compile_wheel(str(tiny_wheel(tmp_path / "in.whl")), str(tmp_path / "out.whl"), True)
    names = zipfile.ZipFile(tmp_path / "out.whl").namelist()
    assert "tinypkg/__init__.py" in names
    assert importlib.util.cache_from_source("tinypkg/__init__.py") in names


def test_a_second_build_filling_the_same_cache_waits_for_the_first_and_says_so(tmp_path):
    order, said = [], []
    with packages.cache_lock(tmp_path, said.append):
        second = threading.Thread(target=lambda: _fill(tmp_path, order, said))
        second.start()
        second.join(0.5)
        assert second.is_alive() and order == [], "the second build went on while the first held the cache"
        order.append("first")
    second.join(10)
    assert order == ["first", "second"]
    assert said == [f"waiting for another build that is filling {tmp_path}"]


def _fill(cache, order, said):
    with packages.cache_lock(cache, said.append):
        order.append("second")
