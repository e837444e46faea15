"""jupdb next to other users of the interpreter's hooks: sys.settrace,
sys.setprofile, threading's hooks and other sys.monitoring tools; and
nothing left behind once the last probe is gone."""

import sys
import threading

import pytest

import jupdb
from conftest import line_of

try:
    from jupdb import _native
except ImportError:  # pragma: no cover - only with the nopdb shim
    _native = None


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def unprobed(n):
    total = 0
    for i in range(n):
        total += i
    return total


RETURN_LINE = line_of(f, "return 2 * z")

needs_monitoring = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")


def probe_kinds():
    """Context managers covering every way of creating probes."""

    def nopdb_block():
        dbg = jupdb.NoPdb()
        dbg.capture_calls(f)
        dbg.breakpoint(f, line=RETURN_LINE).eval("z")
        return dbg

    return {
        "capture_call": lambda: jupdb.capture_call(f),
        "capture_calls": lambda: jupdb.capture_calls(f),
        "capture_all": lambda: jupdb.capture_calls(),
        "capture_by_name": lambda: jupdb.capture_calls("f"),
        "breakpoint_line": lambda: jupdb.breakpoint(f, line=RETURN_LINE),
        "breakpoint_call": lambda: jupdb.breakpoint(f),
        "nopdb": nopdb_block,
    }


KINDS = sorted(probe_kinds())


def snapshot():
    tools = None
    if hasattr(sys, "monitoring"):
        tools = [sys.monitoring.get_tool(i) for i in range(6)]
    return (sys.gettrace(), sys.getprofile(), threading.gettrace(), threading.getprofile(), tools)


# ---------------------------------------------------- nothing left behind


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_restored_when_none_were_set(kind):
    before = snapshot()
    with probe_kinds()[kind]():
        assert g(1) == 4
    assert snapshot() == before
    assert sys.gettrace() is None
    assert sys.getprofile() is None
    if _native is not None:
        assert _native.active_probes() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_restored_when_some_were_set(kind):
    def tracer(frame, event, arg):
        return None

    def profiler(frame, event, arg):
        return None

    sys.settrace(tracer)
    sys.setprofile(profiler)
    try:
        with probe_kinds()[kind]():
            assert g(1) == 4
        assert sys.gettrace() is tracer
        assert sys.getprofile() is profiler
    finally:
        sys.settrace(None)
        sys.setprofile(None)


@needs_monitoring
@pytest.mark.parametrize("kind", KINDS)
def test_no_monitoring_tool_left(kind):
    before = [sys.monitoring.get_tool(i) for i in range(6)]
    with probe_kinds()[kind]():
        g(1)
    after = [sys.monitoring.get_tool(i) for i in range(6)]
    assert after == before
    assert "jupdb" not in after


def test_restored_after_an_exception_in_the_block():
    before = snapshot()
    with pytest.raises(KeyError):
        with jupdb.NoPdb() as dbg:
            dbg.capture_calls(f)
            dbg.breakpoint(f, line=RETURN_LINE).exec("z = 1")
            g(1)
            raise KeyError("leave")
    assert snapshot() == before


def test_nested_probes_restore_only_at_the_end():
    before = snapshot()
    with jupdb.capture_calls(f) as outer_calls:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            zs = bp.eval("z")
            with jupdb.capture_call(g) as g_call:
                g(1)
            g(2)
        g(3)
        if _native is not None:
            assert _native.active_probes() > 0
    assert snapshot() == before
    g(4)
    assert [c.args["x"] for c in outer_calls] == [1, 2, 3]
    assert zs == [2, 4]
    assert g_call.args == {"x": 1}


def test_many_probes_in_a_row():
    before = snapshot()
    for i in range(30):
        with jupdb.capture_call(f) as call:
            f(i, 1)
        assert call.args == {"x": i, "y": 1}
        assert snapshot() == before


def test_nopdb_restart():
    dbg = jupdb.NoPdb()
    calls = dbg.capture_calls(f)
    for x in (1, 2):
        dbg.start()
        try:
            f(x, 0)
        finally:
            dbg.stop()
        f(100, 0)
    assert [c.args["x"] for c in calls] == [1, 2]


def test_later_probes_see_code_that_earlier_probes_ignored(make_module):
    helper = make_module(
        "jupdb_coexist_helper",
        """
        def h(x):
            return x + 1
        """,
    )
    # f is called, but not targeted, while a module-matching probe is active ...
    with jupdb.capture_calls(module=helper) as module_calls:
        f(1, 1)
        helper.h(1)
    # ... which must not stop later probes from seeing it
    with jupdb.capture_calls(f) as by_function:
        f(2, 2)
    with jupdb.capture_calls("f") as by_name:
        f(3, 3)
    with jupdb.capture_calls() as everything:
        f(4, 4)
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        zs = bp.eval("z")
        f(5, 5)
    assert [c.name for c in module_calls] == ["h"]
    assert [c.args["x"] for c in by_function] == [2]
    assert [c.args["x"] for c in by_name] == [3]
    assert [c.args["x"] for c in everything if c.name == "f"] == [4]
    assert zs == [10]


# ---------------------------------------------------- sys.settrace tracer


def test_preexisting_tracer_still_sees_calls():
    events = []

    def tracer(frame, event, arg):
        if frame.f_code in (f.__code__, unprobed.__code__):
            events.append((frame.f_code.co_name, event))
        return None

    sys.settrace(tracer)
    try:
        f(0, 0)
        with jupdb.capture_calls(f) as calls:
            f(1, 1)
            unprobed(2)
        f(2, 2)
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    assert events == [("f", "call"), ("f", "call"), ("unprobed", "call"), ("f", "call")]
    assert [c.args["x"] for c in calls] == [1]


def test_preexisting_tracer_still_sees_calls_with_line_breakpoint():
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is f.__code__:
            events.append(event)
        return None

    sys.settrace(tracer)
    try:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            zs = bp.eval("z")
            bp.exec("z = 10")
            assert f(1, 1) == 20
            assert f(2, 2) == 20
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    assert events == ["call", "call"]
    assert zs == [2, 4]


def test_preexisting_tracer_keeps_its_line_events_under_a_capture():
    lines = []

    def local(frame, event, arg):
        if event == "line":
            lines.append(frame.f_lineno - frame.f_code.co_firstlineno)
        return local

    def tracer(frame, event, arg):
        if frame.f_code is unprobed.__code__:
            return local
        return None

    sys.settrace(tracer)
    try:
        unprobed(2)
        expected = list(lines)
        del lines[:]
        with jupdb.capture_calls(f):
            f(1, 1)
            unprobed(2)
    finally:
        sys.settrace(None)
    assert expected
    assert lines == expected


def test_preexisting_tracer_keeps_its_line_events_under_a_line_breakpoint():
    lines = []

    def local(frame, event, arg):
        if event == "line":
            lines.append(frame.f_lineno - frame.f_code.co_firstlineno)
        return local

    def tracer(frame, event, arg):
        if frame.f_code is f.__code__:
            lines.append(event)
            return local
        return None

    sys.settrace(tracer)
    try:
        f(1, 1)
        expected = list(lines)
        del lines[:]
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            zs = bp.eval("z")
            assert f(1, 1) == 4
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    assert expected == ["call", 1, 2]
    assert lines == expected
    assert zs == [2]


def test_cprofile_keeps_counting():
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        f(0, 0)
        with jupdb.NoPdb() as dbg:
            calls = dbg.capture_calls(f)
            zs = dbg.breakpoint(f, line=RETURN_LINE).eval("z")
            f(1, 1)
            g(2)
        f(3, 3)
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler).stats
    key = (f.__code__.co_filename, f.__code__.co_firstlineno, "f")
    assert stats[key][1] == 4  # total number of calls
    g_key = (g.__code__.co_filename, g.__code__.co_firstlineno, "g")
    assert stats[g_key][1] == 1
    assert len(calls) == 2
    assert zs == [2, 4]


def test_tracer_set_inside_the_block_is_left_alone():
    """A tracer that the program installs while a probe is active is the
    program's business: jupdb must not break it."""
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is f.__code__:
            events.append(event)
        return None

    try:
        with jupdb.capture_calls(f) as calls:
            sys.settrace(tracer)
            f(1, 1)
            sys.settrace(None)
    finally:
        sys.settrace(None)
    assert events == ["call"]
    assert len(calls) == 1


# ---------------------------------------------------- setprofile / threading


def test_preexisting_profiler_works_again_after():
    events = []

    def profiler(frame, event, arg):
        if frame.f_code is f.__code__:
            events.append(event)

    sys.setprofile(profiler)
    try:
        with jupdb.capture_calls(f) as calls:
            f(1, 1)
        assert sys.getprofile() is profiler
        del events[:]
        f(2, 2)
    finally:
        sys.setprofile(None)
    assert events == ["call", "return"]
    assert len(calls) == 1


def test_threading_hooks_untouched():
    def tracer(frame, event, arg):
        return None

    def profiler(frame, event, arg):
        return None

    threading.settrace(tracer)
    threading.setprofile(profiler)
    try:
        with jupdb.NoPdb() as dbg:
            calls = dbg.capture_calls(f)
            t = threading.Thread(target=f, args=(1, 2))
            t.start()
            t.join(30)
        assert threading.gettrace() is tracer
        assert threading.getprofile() is profiler
    finally:
        threading.settrace(None)
        threading.setprofile(None)
    assert len(calls) == 1


# ------------------------------------------------- other sys.monitoring tools


@pytest.fixture
def other_tool():
    """Registers a test tool (id 2, the profiler id) for the duration of a test."""
    mon = sys.monitoring
    tool = 2
    if mon.get_tool(tool) is not None:
        pytest.skip("tool id 2 is already in use")
    mon.use_tool_id(tool, "jupdb-test-tool")
    try:
        yield tool
    finally:
        mon.set_events(tool, 0)
        for code in (f.__code__, g.__code__):
            mon.set_local_events(tool, code, 0)
        for event in (mon.events.PY_START, mon.events.PY_RETURN, mon.events.LINE):
            mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)


@needs_monitoring
@pytest.mark.parametrize("kind", KINDS)
def test_other_tool_with_global_events_keeps_receiving(other_tool, kind):
    mon = sys.monitoring
    starts = []

    def on_start(code, offset):
        if code is f.__code__:
            starts.append(code)

    mon.register_callback(other_tool, mon.events.PY_START, on_start)
    mon.set_events(other_tool, mon.events.PY_START)
    f(0, 0)
    with probe_kinds()[kind]():
        f(1, 1)
        g(2)
    f(3, 3)
    assert len(starts) == 4
    assert mon.get_events(other_tool) == mon.events.PY_START
    assert mon.get_tool(other_tool) == "jupdb-test-tool"


@needs_monitoring
@pytest.mark.parametrize("kind", KINDS)
def test_other_tool_with_local_events_keeps_receiving(other_tool, kind):
    mon = sys.monitoring
    seen = []
    mask = mon.events.PY_START | mon.events.PY_RETURN | mon.events.LINE

    def on_start(code, offset):
        seen.append("start")

    def on_return(code, offset, value):
        seen.append(("return", value))

    def on_line(code, line):
        seen.append(line - code.co_firstlineno)

    mon.register_callback(other_tool, mon.events.PY_START, on_start)
    mon.register_callback(other_tool, mon.events.PY_RETURN, on_return)
    mon.register_callback(other_tool, mon.events.LINE, on_line)
    mon.set_local_events(other_tool, f.__code__, mask)
    expected = ["start", 1, 2, ("return", 4)]
    f(1, 1)
    assert seen == expected
    del seen[:]
    with probe_kinds()[kind]():
        f(1, 1)
    assert seen == expected
    del seen[:]
    f(1, 1)
    assert seen == expected
    assert mon.get_local_events(other_tool, f.__code__) == mask


@needs_monitoring
def test_jupdb_works_when_the_debugger_tool_id_is_taken():
    mon = sys.monitoring
    if mon.get_tool(mon.DEBUGGER_ID) is not None:
        pytest.skip("DEBUGGER_ID already in use")
    mon.use_tool_id(mon.DEBUGGER_ID, "someone-else")
    try:
        with jupdb.NoPdb() as dbg:
            calls = dbg.capture_calls(f)
            zs = dbg.breakpoint(f, line=RETURN_LINE).eval("z")
            g(1)
        assert mon.get_tool(mon.DEBUGGER_ID) == "someone-else"
    finally:
        mon.free_tool_id(mon.DEBUGGER_ID)
    assert [c.return_value for c in calls] == [4]
    assert zs == [2]
