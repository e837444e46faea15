"""capture_call / capture_calls: targets, CallInfo fields, reprs, ordering,
recursion, generators, async code, exceptions."""

import asyncio
import collections
import functools
import io
import os
import pathlib
import threading
import traceback

import pytest

import jupdb


# ---------------------------------------------------------------- targets


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def fx(x, y):  # same shape as f, different name
    return x - y


def reassigning(a, b):
    a = a * 10
    b = "changed"  # noqa: F841 (checked through call.locals)
    return a


def all_kinds(a, b=2, *rest, c, d=4, **kw):
    a = "changed"
    return a


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def outer(n):
    total = inner(n) + inner(n + 1)
    return total


def inner(k):
    return k * 10


def boom(x):
    y = x + 1
    raise ValueError(f"boom {y}")


def catches(x):
    try:
        boom(x)
    except ValueError:
        return "caught"


def handles_own(x):
    try:
        raise ValueError(x)
    except ValueError:
        return "handled"


def chained(x):
    try:
        boom(x)
    except ValueError as exc:
        raise KeyError(x) from exc


def sometimes_raises(x):
    if x < 0:
        raise ArithmeticError(x)
    return x


def gen(n):
    for i in range(n):
        yield i
    return f"done {n}"


def gen_reassigns(n):
    n = n * 100
    yield n
    return n


def gen_raises(n):
    yield n
    raise LookupError(n)


def sub_gen(n):
    yield from range(n)
    return n * 2


def delegating(n):
    got = yield from sub_gen(n)
    return got + 1


def echo_gen():
    received = []
    while True:
        value = yield len(received)
        if value is None:
            return received
        received.append(value)


async def co(x):
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return x * 2


async def co_raises(x):
    await asyncio.sleep(0)
    raise TimeoutError(x)


async def co_main():
    results = await asyncio.gather(co(1), co(2), co(3))
    try:
        await co_raises(7)
    except TimeoutError:
        results.append("timeout")
    return results


def decorator(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@decorator
def decorated(x):
    return x + 1


@decorator
@decorator
def twice_decorated(x):
    return x + 2


class Counter:
    def __init__(self, start):
        self.value = start

    def add(self, v):
        self.value += v
        return self.value


class Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, v):
        return v * self.k


def names(calls):
    return [c.name for c in calls]


# ------------------------------------------------------------- basics


def test_capture_call_fields():
    with jupdb.capture_call(f) as call:
        result = g(1)
    assert result == 4
    assert call.name == "f"
    assert call.file == f.__code__.co_filename
    assert isinstance(call.args, collections.OrderedDict)
    assert call.args == collections.OrderedDict(x=1, y=1)
    assert call.locals == {"x": 1, "y": 1, "z": 2}
    assert call.return_value == 4
    assert call.exception is None
    assert call.globals["f"] is f
    assert call.globals["__name__"] == __name__


def test_capture_call_types():
    with jupdb.capture_call(f) as call:
        f(1, 2)
    assert isinstance(call, jupdb.CallCapture)
    assert isinstance(call, jupdb.CallInfo)
    with jupdb.capture_calls(f) as calls:
        f(1, 2)
    assert isinstance(calls, jupdb.CallListCapture)
    assert isinstance(calls, list)
    assert all(type(c) is jupdb.CallInfo for c in calls)


def test_capture_call_repr():
    with jupdb.capture_call(f) as call:
        g(1)
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"


def test_capture_calls_repr():
    with jupdb.capture_calls(f) as calls:
        g(1)
        g(42)
    assert repr(calls) == (
        "[CallInfo(name='f', args=OrderedDict(x=1, y=1), return_value=4), "
        "CallInfo(name='f', args=OrderedDict(x=42, y=42), return_value=168)]"
    )


def test_repr_uses_value_reprs():
    with jupdb.capture_call(reassigning) as call:
        reassigning("ab", [1])
    assert repr(call) == (
        "CallCapture(name='reassigning', args=OrderedDict(a='ab', b=[1]), return_value='abababababababababab')"
    )


def test_capture_call_keeps_most_recent_to_return():
    with jupdb.capture_call(f) as call:
        f(1, 1)
        f(2, 3)
    assert call.args == {"x": 2, "y": 3}
    assert call.return_value == 10
    assert call.locals["z"] == 5


def test_capture_call_recursion_keeps_outermost():
    # the outermost frame is the last to return
    with jupdb.capture_call(fact) as call:
        assert fact(4) == 24
    assert call.args == {"n": 4}
    assert call.return_value == 24


def test_nothing_captured_after_the_block():
    with jupdb.capture_calls(f) as calls:
        f(1, 1)
    f(5, 5)
    assert len(calls) == 1
    assert calls[0].args == {"x": 1, "y": 1}


def test_nothing_captured_for_other_functions():
    with jupdb.capture_calls(f) as calls:
        fx(1, 1)
        inner(3)
    assert calls == []


# --------------------------------------------------------------- args


def test_args_are_values_at_call_time():
    with jupdb.capture_call(reassigning) as call:
        assert reassigning(3, 4) == 30
    assert call.args == collections.OrderedDict(a=3, b=4)
    assert call.locals == {"a": 30, "b": "changed"}


def test_args_of_every_kind_in_order():
    with jupdb.capture_call(all_kinds) as call:
        all_kinds(1, 2, 3, 4, c=5, e=6)
    assert list(call.args.items()) == [
        ("a", 1),
        ("b", 2),
        ("c", 5),
        ("d", 4),
        ("rest", (3, 4)),
        ("kw", {"e": 6}),
    ]
    assert call.locals["a"] == "changed"


def test_args_defaults_and_empty_varargs():
    with jupdb.capture_call(all_kinds) as call:
        all_kinds(1, c=3)
    assert list(call.args.items()) == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
        ("rest", ()),
        ("kw", {}),
    ]


def test_args_of_a_function_without_parameters():
    def no_params():
        local = 5
        return local

    with jupdb.capture_call(no_params) as call:
        no_params()
    assert call.args == collections.OrderedDict()
    assert call.locals == {"local": 5}
    assert repr(call) == "CallCapture(name='no_params', args=OrderedDict(), return_value=5)"


def test_args_keep_identity_of_objects():
    payload = {"k": [1, 2]}
    with jupdb.capture_call(f) as call:
        try:
            f(payload, payload)
        except TypeError:
            pass
    assert call.args["x"] is payload
    assert call.args["y"] is payload


# ----------------------------------------------------- order and recursion


def test_calls_are_in_return_order():
    with jupdb.capture_calls() as calls:
        assert outer(1) == 30
    interesting = [(c.name, dict(c.args)) for c in calls if c.name in ("outer", "inner")]
    assert interesting == [
        ("inner", {"k": 1}),
        ("inner", {"k": 2}),
        ("outer", {"n": 1}),
    ]
    outer_call = [c for c in calls if c.name == "outer"][0]
    assert outer_call.return_value == 30
    assert outer_call.locals == {"n": 1, "total": 30}


def test_recursion_gives_one_callinfo_per_frame():
    with jupdb.capture_calls(fact) as calls:
        assert fact(4) == 24
    assert [c.args["n"] for c in calls] == [1, 2, 3, 4]
    assert [c.return_value for c in calls] == [1, 2, 6, 24]
    # deeper frames have longer stacks
    depths = [len(c.stack) for c in calls]
    assert depths == sorted(depths, reverse=True)
    assert depths[0] - depths[-1] == 3


# --------------------------------------------------------------- stack


def test_stack_is_a_stack_summary_ending_in_the_call():
    with jupdb.capture_call(f) as call:
        g(1)
    assert isinstance(call.stack, traceback.StackSummary)
    assert call.stack[-1].name == "f"
    assert call.stack[-2].name == "g"
    assert call.stack[-2].line == "return f(x, x)"
    assert call.stack[-3].name == "test_stack_is_a_stack_summary_ending_in_the_call"


def test_print_stack_to_file_and_stdout(capsys):
    with jupdb.capture_call(f) as call:
        g(1)
    buf = io.StringIO()
    call.print_stack(file=buf)
    text = buf.getvalue()
    assert text == "".join(call.stack.format())
    assert text.index(", in g\n") < text.index(", in f\n")
    assert "return f(x, x)" in text
    call.print_stack()
    assert capsys.readouterr().out == text


# ---------------------------------------------------------- thread fields


def test_thread_fields_in_main_thread():
    with jupdb.capture_call(f) as call:
        f(1, 1)
    assert call.thread_name == threading.current_thread().name
    assert call.thread_id in (threading.get_ident(), threading.get_native_id())


# ------------------------------------------------------------ exceptions


def test_exception_is_recorded_and_still_raised():
    with jupdb.capture_call(boom) as call:
        with pytest.raises(ValueError, match="boom 4") as excinfo:
            boom(3)
    assert call.exception is excinfo.value
    assert call.return_value is None
    assert call.args == {"x": 3}
    assert call.locals["y"] == 4
    # the traceback still reaches into boom
    assert excinfo.traceback[-1].name == "boom"


def test_exception_caught_inside_caller():
    with jupdb.capture_calls(boom) as boom_calls, jupdb.capture_call(catches) as catches_call:
        assert catches(1) == "caught"
    assert len(boom_calls) == 1
    assert isinstance(boom_calls[0].exception, ValueError)
    assert catches_call.exception is None
    assert catches_call.return_value == "caught"


def test_exception_handled_inside_the_function_is_not_recorded():
    with jupdb.capture_call(handles_own) as call:
        assert handles_own(1) == "handled"
    assert call.exception is None
    assert call.return_value == "handled"


def dive(n):
    if n == 0:
        raise IndexError("bottom")
    return dive(n - 1)


def test_exception_through_recursion_is_recorded_in_every_frame():
    with jupdb.capture_calls(dive) as calls:
        with pytest.raises(IndexError) as excinfo:
            dive(3)
    assert [c.args["n"] for c in calls] == [0, 1, 2, 3]
    assert all(c.exception is excinfo.value for c in calls)
    assert all(c.return_value is None for c in calls)


def test_chained_exception_is_untouched():
    with jupdb.capture_calls(chained) as calls:
        with pytest.raises(KeyError) as excinfo:
            chained(2)
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert str(excinfo.value.__cause__) == "boom 3"
    assert calls[0].exception is excinfo.value


def test_exception_is_reset_by_a_later_successful_call():
    with jupdb.capture_call(sometimes_raises) as call:
        with pytest.raises(ArithmeticError):
            sometimes_raises(-1)
        assert isinstance(call.exception, ArithmeticError)
        assert sometimes_raises(5) == 5
    assert call.exception is None
    assert call.return_value == 5


def test_capture_calls_mixes_returns_and_raises():
    with jupdb.capture_calls(sometimes_raises) as calls:
        for x in (1, -2, 3):
            try:
                sometimes_raises(x)
            except ArithmeticError:
                pass
    assert [c.args["x"] for c in calls] == [1, -2, 3]
    assert [c.return_value for c in calls] == [1, None, 3]
    assert [type(c.exception) for c in calls] == [type(None), ArithmeticError, type(None)]


# ------------------------------------------------------------ generators


def test_generator_is_one_call():
    with jupdb.capture_calls(gen) as calls:
        assert list(gen(3)) == [0, 1, 2]
    assert len(calls) == 1
    assert calls[0].name == "gen"
    assert calls[0].args == {"n": 3}
    assert calls[0].return_value == "done 3"
    assert calls[0].exception is None


def test_generator_args_are_those_at_start():
    with jupdb.capture_call(gen_reassigns) as call:
        assert list(gen_reassigns(2)) == [200]
    assert call.args == {"n": 2}
    assert call.return_value == 200


def test_interleaved_generators_are_separate_calls():
    with jupdb.capture_calls(gen) as calls:
        a, b = gen(2), gen(3)
        assert next(a) == 0
        assert next(b) == 0
        assert next(a) == 1
        assert next(b) == 1
        with pytest.raises(StopIteration) as stop_a:
            next(a)
        assert stop_a.value.value == "done 2"
        assert len(calls) == 1
        assert list(b) == [2]
    assert [c.args["n"] for c in calls] == [2, 3]
    assert [c.return_value for c in calls] == ["done 2", "done 3"]


def test_generator_that_raises():
    with jupdb.capture_calls(gen_raises) as calls:
        it = gen_raises(5)
        assert next(it) == 5
        with pytest.raises(LookupError) as excinfo:
            next(it)
    assert len(calls) == 1
    assert calls[0].exception is excinfo.value
    assert calls[0].return_value is None


def test_yield_from_delegation():
    with jupdb.capture_calls(sub_gen) as subs, jupdb.capture_calls(delegating) as dels:
        it = delegating(3)
        assert list(it) == [0, 1, 2]
    assert len(subs) == 1 and subs[0].return_value == 6
    assert len(dels) == 1 and dels[0].return_value == 7
    assert dels[0].locals["got"] == 6


def test_generator_send_is_untouched():
    with jupdb.capture_calls(echo_gen) as calls:
        it = echo_gen()
        assert next(it) == 0
        assert it.send("a") == 1
        assert it.send("b") == 2
        with pytest.raises(StopIteration) as stop:
            it.send(None)
    assert stop.value.value == ["a", "b"]
    assert len(calls) == 1
    assert calls[0].return_value == ["a", "b"]


# ----------------------------------------------------------------- async


def test_coroutines_are_one_call_each():
    with jupdb.capture_calls(co) as calls, jupdb.capture_calls(co_raises) as raising:
        assert asyncio.run(co_main()) == [2, 4, 6, "timeout"]
    assert sorted((c.args["x"], c.return_value) for c in calls) == [(1, 2), (2, 4), (3, 6)]
    assert all(c.exception is None for c in calls)
    assert len(raising) == 1
    assert isinstance(raising[0].exception, TimeoutError)
    assert raising[0].exception.args == (7,)
    assert raising[0].args == {"x": 7}


# -------------------------------------------------------------- decorated


def test_decorated_function_is_unwrapped_by_default():
    with jupdb.capture_calls(decorated) as calls:
        assert decorated(5) == 6
    assert len(calls) == 1
    assert calls[0].args == collections.OrderedDict(x=5)
    assert calls[0].return_value == 6


def test_decorated_chain_is_unwrapped_to_the_end():
    with jupdb.capture_calls(twice_decorated) as calls:
        assert twice_decorated(5) == 7
    assert len(calls) == 1
    assert calls[0].args == collections.OrderedDict(x=5)


def test_decorated_function_without_unwrap_captures_the_wrapper():
    with jupdb.capture_calls(decorated, unwrap=False) as calls:
        assert decorated(5) == 6
    assert len(calls) == 1
    assert calls[0].name == "wrapper"
    assert calls[0].args == collections.OrderedDict(args=(5,), kwargs={})
    assert calls[0].return_value == 6


# ---------------------------------------------------- methods and instances


def test_bound_method_only_that_instance():
    a, b = Counter(0), Counter(100)
    with jupdb.capture_calls(a.add) as calls:
        a.add(1)
        b.add(2)
        a.add(3)
        Counter.add(b, 4)
    assert [c.args["v"] for c in calls] == [1, 3]
    assert all(c.args["self"] is a for c in calls)
    assert [c.return_value for c in calls] == [1, 4]
    assert b.value == 106


def test_unbound_function_from_class_captures_all_instances():
    a, b = Counter(0), Counter(100)
    with jupdb.capture_calls(Counter.add) as calls:
        a.add(1)
        b.add(2)
    assert [c.return_value for c in calls] == [1, 102]


def test_callable_instance_only_that_instance():
    double, triple = Scaler(2), Scaler(3)
    with jupdb.capture_calls(double) as calls:
        assert double(1) == 2
        assert triple(1) == 3
        assert double(5) == 10
    assert [c.args["v"] for c in calls] == [1, 5]
    assert all(c.args["self"] is double for c in calls)
    assert all(c.name == "__call__" for c in calls)


# ------------------------------------------------------ name, module, file


HELPER_SOURCE = """
    def f(x, y):
        return x * y

    def alpha(x):
        return beta(x) + 1

    def beta(x):
        return x * 3
"""


def test_name_string_matches_code_name_anywhere(make_module):
    helper = make_module("jupdb_helper_names", HELPER_SOURCE)
    with jupdb.capture_calls("f") as calls:
        assert f(1, 2) == 6
        assert helper.f(3, 4) == 12
        fx(1, 1)
    assert [c.return_value for c in calls] == [6, 12]
    assert calls[0].file == f.__code__.co_filename
    assert calls[1].file == helper.__file__


def test_module_target(make_module):
    helper = make_module("jupdb_helper_module", HELPER_SOURCE)
    other = make_module("jupdb_helper_other", HELPER_SOURCE)
    with jupdb.capture_calls(module=helper) as calls:
        assert helper.alpha(2) == 7
        other.alpha(2)
        f(1, 1)
    assert names(calls) == ["beta", "alpha"]
    assert all(c.file == helper.__file__ for c in calls)


def test_name_and_module_target(make_module):
    helper = make_module("jupdb_helper_name_module", HELPER_SOURCE)
    with jupdb.capture_calls("beta", module=helper) as calls:
        helper.alpha(2)
        helper.f(1, 1)
    assert names(calls) == ["beta"]
    assert calls[0].args == {"x": 2}


def test_file_glob_target(make_module):
    helper = make_module("jupdb_helper_glob_one", HELPER_SOURCE)
    other = make_module("jupdb_helper_other_two", HELPER_SOURCE)
    with jupdb.capture_calls(file="jupdb_helper_glob_*.py") as calls:
        helper.alpha(1)
        other.alpha(1)
        f(1, 1)
    assert names(calls) == ["beta", "alpha"]
    assert all(c.file == helper.__file__ for c in calls)


def test_file_glob_with_directory(make_module, tmp_path):
    helper = make_module("jupdb_helper_glob_dir", HELPER_SOURCE)
    pattern = f"{tmp_path.name}/*.py"
    with jupdb.capture_calls("beta", file=pattern) as calls:
        helper.alpha(1)
        f(1, 1)
    assert names(calls) == ["beta"]


def test_file_pathlike_is_exact(make_module, tmp_path):
    helper = make_module("jupdb_helper_exact", HELPER_SOURCE)
    other = make_module("jupdb_helper_exact_other", HELPER_SOURCE)
    with jupdb.capture_calls(file=tmp_path / "jupdb_helper_exact.py") as calls:
        helper.alpha(1)
        other.alpha(1)
    assert names(calls) == ["beta", "alpha"]
    assert all(c.file == helper.__file__ for c in calls)


def test_file_pathlike_is_resolved(make_module, tmp_path, monkeypatch):
    helper = make_module("jupdb_helper_relative", HELPER_SOURCE)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    relative = pathlib.Path(os.pardir) / "jupdb_helper_relative.py"
    with jupdb.capture_calls("alpha", file=relative) as calls:
        helper.alpha(1)
    assert names(calls) == ["alpha"]


def test_file_targets_use_the_resolved_path(tmp_path):
    import importlib.util
    import sys
    import textwrap

    real = tmp_path / "jupdb_real_dir"
    real.mkdir()
    (real / "jupdb_linked_mod.py").write_text(textwrap.dedent(HELPER_SOURCE))
    link = tmp_path / "jupdb_link_dir"
    link.symlink_to(real, target_is_directory=True)
    spec = importlib.util.spec_from_file_location("jupdb_linked_mod", str(link / "jupdb_linked_mod.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["jupdb_linked_mod"] = mod
    try:
        spec.loader.exec_module(mod)
        assert "jupdb_link_dir" in mod.beta.__code__.co_filename
        with jupdb.NoPdb() as dbg:
            by_real_glob = dbg.capture_calls("beta", file="jupdb_real_dir/*.py")
            by_link_glob = dbg.capture_calls("beta", file="jupdb_link_dir/*.py")
            by_real_path = dbg.capture_calls("beta", file=real / "jupdb_linked_mod.py")
            by_link_path = dbg.capture_calls("beta", file=link / "jupdb_linked_mod.py")
            mod.alpha(1)
    finally:
        sys.modules.pop("jupdb_linked_mod", None)
    assert len(by_real_glob) == 1
    assert len(by_link_glob) == 0
    assert len(by_real_path) == 1
    assert len(by_link_path) == 1


def test_file_pathlike_of_another_file_captures_nothing(make_module, tmp_path):
    helper = make_module("jupdb_helper_not_me", HELPER_SOURCE)
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    with jupdb.capture_calls(file=tmp_path / "unrelated.py") as calls:
        helper.alpha(1)
        f(1, 1)
    assert calls == []


def test_no_target_captures_every_python_call():
    with jupdb.capture_calls() as calls:
        g(3)
        fx(1, 2)
    by_name = {c.name: c for c in calls if c.name in ("f", "g", "fx")}
    assert by_name["f"].args == {"x": 3, "y": 3}
    assert by_name["g"].return_value == 12
    assert by_name["fx"].return_value == -1


# -------------------------------------------------------- enable / disable


def test_capture_disable_and_enable():
    with jupdb.capture_calls(f) as calls:
        f(1, 1)
        calls.disable()
        f(2, 2)
        calls.enable()
        f(3, 3)
    assert [c.args["x"] for c in calls] == [1, 3]


# ------------------------------------------------------------- NoPdb


def test_nopdb_several_probes():
    with jupdb.NoPdb() as dbg:
        assert dbg.started
        f_calls = dbg.capture_calls(f)
        g_call = dbg.capture_call(g)
        g(2)
        g(3)
    assert not dbg.started
    g(4)
    assert [c.args["x"] for c in f_calls] == [2, 3]
    assert g_call.args == {"x": 3}
    assert g_call.return_value == 12


def test_nopdb_start_stop():
    dbg = jupdb.NoPdb()
    calls = dbg.capture_calls(f)
    f(0, 0)  # not started yet
    assert not dbg.started
    dbg.start()
    try:
        assert dbg.started
        f(1, 1)
    finally:
        dbg.stop()
    assert not dbg.started
    f(2, 2)
    assert [c.args["x"] for c in calls] == [1]


def test_debugger_alias():
    assert jupdb.Debugger is jupdb.NoPdb


def test_get_nopdb():
    default = jupdb.get_nopdb()
    assert isinstance(default, jupdb.NoPdb)
    with jupdb.NoPdb() as dbg:
        assert jupdb.get_nopdb() is dbg
        call = jupdb.capture_call(f)  # goes to the active instance
        f(4, 5)
    assert call.return_value == 18
    assert jupdb.get_nopdb() is not dbg
