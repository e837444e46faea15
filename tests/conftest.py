"""Shared helpers for the jupdb test-suite.

Line numbers are never hard-coded: ``line_of`` finds the line whose text
contains a marker (usually a trailing ``# MARK`` comment) in a function's
source, and ``line_in_file`` does the same for a whole file.

The autouse fixture ``nothing_left_behind`` checks after every test that the
interpreter's hooks are as they were before it (see the spec: "when the last
probe is gone, nothing is left behind").
"""

import importlib.util
import inspect
import sys
import textwrap
import threading

import pytest

import jupdb  # noqa: F401  (fails early and clearly if the package is missing)

try:  # absent when the suite is pointed at nopdb through a shim
    from jupdb import _native
except ImportError:  # pragma: no cover - only with the nopdb shim
    _native = None


def line_of(obj, marker):
    """The file line number of the one line of ``obj``'s source containing ``marker``."""
    lines, start = inspect.getsourcelines(obj)
    if inspect.ismodule(obj):
        start = 1
    hits = [start + i for i, text in enumerate(lines) if marker in text]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times in {obj!r}"
    return hits[0]


def line_in_file(path, marker):
    """The line number of the one line of the file at ``path`` containing ``marker``."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    hits = [i + 1 for i, text in enumerate(lines) if marker in text]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times in {path}"
    return hits[0]


@pytest.fixture
def make_module(tmp_path):
    """Factory: ``make_module(name, source)`` writes ``tmp_path/name.py`` and imports it.

    The module is not left in ``sys.modules``.
    """
    added = []

    def make(name, source):
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, str(path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        added.append(name)
        spec.loader.exec_module(module)
        return module

    yield make
    for name in added:
        sys.modules.pop(name, None)


def _monitoring_tools():
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        return None
    return [mon.get_tool(i) for i in range(6)]


def _hook_state():
    return {
        "sys.gettrace()": sys.gettrace(),
        "sys.getprofile()": sys.getprofile(),
        "threading.gettrace()": threading.gettrace(),
        "threading.getprofile()": threading.getprofile(),
        "sys.monitoring tools 0-5": _monitoring_tools(),
    }


@pytest.fixture(autouse=True)
def nothing_left_behind():
    before = _hook_state()
    yield
    after = _hook_state()
    problems = [
        f"{key} was {value!r} before the test, {after[key]!r} after"
        for key, value in before.items()
        if after[key] != value
    ]
    if problems:
        # put the hooks back so that one leak does not fail every later test
        sys.settrace(before["sys.gettrace()"])
        sys.setprofile(before["sys.getprofile()"])
        threading.settrace(before["threading.gettrace()"])
        threading.setprofile(before["threading.getprofile()"])
    assert not problems, "; ".join(problems)
    if _native is not None:
        assert _native.active_probes() == 0, "a probe is still installed after the test"
