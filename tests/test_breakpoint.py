"""breakpoint(): lines given as int / text / None, cond, eval, exec (with
write-back into the running function), variables, callback, jump,
enable/disable, and failing actions that become warnings."""

import asyncio
import sys
import warnings

import pytest

import jupdb
from conftest import line_in_file, line_of

HELPER_GLOBAL = 7


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def later(x):
    if x < 0:
        w = -1
    return w  # MARK:later-return


def uses_global(x):
    z = x
    return z  # MARK:uses-global


def while_sum(n):
    total = 0
    i = 0
    while i < n:
        total += i  # MARK:while-body
        i += 1
    return total


def for_sum(n):
    total = 0
    for i in range(n):
        total += i  # MARK:for-body
    return total


def with_cell(x):
    z = x + 1
    get = lambda: z  # noqa: E731
    return get()  # MARK:cell-return


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)  # MARK:fact-rec


def gen_double(n):
    for i in range(n):
        yield i * 2  # MARK:gen-yield


async def co_double(x):
    await asyncio.sleep(0)
    return x * 2  # MARK:co-return


def jump_skip(x):
    x = x + 1  # MARK:J1
    x = x * 100  # MARK:J2
    return x  # MARK:J3


def jump_back():
    n = 0
    n += 1  # MARK:JB1
    return n  # MARK:JB2


def new_name_user(x):
    y = x + 1  # MARK:NN1
    y = y + 1  # MARK:NN2
    return y


def twice(x):
    x += 1
    x += 1
    return x


def decorator(fn):
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn
    return wrapper


@decorator
def decorated(x):
    y = x + 1
    return y


class Box:
    def __init__(self, v):
        self.v = v

    def get(self, extra):
        result = self.v + extra
        return result  # MARK:box-get


RETURN_LINE = line_of(f, "return 2 * z")


# ------------------------------------------------------------- lines


def test_line_number():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        zs = bp.eval("z")
        assert g(1) == 4
        assert f(2, 3) == 10
    assert isinstance(bp, jupdb.Breakpoint)
    assert isinstance(zs, list)
    assert zs == [2, 5]


def test_line_text():
    with jupdb.breakpoint(f, line="return 2 * z") as bp:
        zs = bp.eval("z")
        f(1, 2)
    assert zs == [3]


def test_line_text_ignores_surrounding_whitespace():
    with jupdb.breakpoint(f, line="   return 2 * z \t ") as bp:
        zs = bp.eval("z")
        f(1, 2)
    assert zs == [3]


def test_line_text_matching_several_lines_fires_at_each():
    with jupdb.breakpoint(twice, line="x += 1") as bp:
        xs = bp.eval("x")
        assert twice(0) == 2
    assert xs == [0, 1]


def test_line_of_a_decorated_function():
    with jupdb.breakpoint(decorated, line="return y") as bp:
        bp.exec("y = -y")
        assert decorated(1) == -2


def test_line_of_a_decorated_function_without_unwrap_is_not_in_the_wrapper():
    with pytest.raises(ValueError):
        jupdb.breakpoint(decorated, line="return y", unwrap=False)


def test_line_none_on_a_decorated_function_without_unwrap_fires_in_the_wrapper():
    with jupdb.breakpoint(decorated, unwrap=False) as bp:
        seen = bp.eval("args")
        assert decorated(1) == 2
    assert seen == [(1,)]


def test_line_none_fires_at_call():
    with jupdb.breakpoint(f) as bp:
        xs = bp.eval("x")
        has_z = bp.eval("'z' in dir()")
        f(1, 2)
        f(3, 4)
    assert xs == [1, 3]
    assert has_z == [False, False]


def test_line_none_exec_changes_arguments():
    with jupdb.breakpoint(f) as bp:
        bp.exec("x = 100")
        assert f(1, 1) == 202


def test_breakpoint_does_not_fire_after_the_block():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        zs = bp.eval("z")
        f(1, 1)
    f(2, 2)
    assert zs == [2]


def test_breakpoint_in_recursion_fires_per_frame():
    with jupdb.breakpoint(fact, line=line_of(fact, "MARK:fact-rec")) as bp:
        ns = bp.eval("n")
        assert fact(4) == 24
    assert ns == [4, 3, 2]


def test_breakpoint_in_a_loop_fires_every_iteration():
    with jupdb.breakpoint(while_sum, line=line_of(while_sum, "MARK:while-body")) as bp:
        seen = bp.eval("(i, total)")
        assert while_sum(3) == 3
    assert seen == [(0, 0), (1, 0), (2, 1)]


def sets_its_own_breakpoint(debugger, n, seen, remove_at=-1):
    """Sets a breakpoint in its own loop, while that loop runs."""
    bp = None
    for i in range(n):
        if i == 1:
            bp = debugger.breakpoint(sets_its_own_breakpoint, line=OWN_BODY)
            bp.callback(lambda frame: seen.append(frame.f_locals["i"]))
        if i == remove_at:
            bp.disable()
            seen.append(("gone", sys.gettrace()))
        total = i  # MARK:own-body
    return total


OWN_BODY = line_of(sets_its_own_breakpoint, "MARK:own-body")


def test_breakpoint_reaches_the_loop_that_is_running():
    # As pdb's `break` does: the frame running when the breakpoint is set stops too.
    seen = []
    with jupdb.NoPdb() as debugger:
        sets_its_own_breakpoint(debugger, 4, seen)
        assert seen == [1, 2, 3]
        assert sys.gettrace() is None  # its frame is gone: nothing left traced (3.10, 3.11)
        sets_its_own_breakpoint(debugger, 1, seen)  # a new call: seen from its start
    assert seen == [1, 2, 3, 0]


def test_a_breakpoint_removed_while_its_loop_runs_leaves_it_untraced():
    seen = []
    with jupdb.NoPdb() as debugger:
        sets_its_own_breakpoint(debugger, 4, seen, remove_at=2)
    assert seen == [1, ("gone", None)]  # nothing traced from the next line on (3.10, 3.11)


def test_breakpoint_in_generator():
    with jupdb.breakpoint(gen_double, line=line_of(gen_double, "MARK:gen-yield")) as bp:
        seen = bp.eval("i")
        assert list(gen_double(3)) == [0, 2, 4]
    assert seen == [0, 1, 2]


def test_breakpoint_in_coroutine():
    with jupdb.breakpoint(co_double, line=line_of(co_double, "MARK:co-return")) as bp:
        bp.exec("x = x + 1")
        assert asyncio.run(co_double(4)) == 10


def test_breakpoint_on_bound_method_only_that_instance():
    a, b = Box(1), Box(100)
    with jupdb.breakpoint(a.get, line=line_of(Box.get, "MARK:box-get")) as bp:
        seen = bp.eval("result")
        bp.exec("result = -result")
        assert a.get(1) == -2
        assert b.get(1) == 101
    assert seen == [2]


def test_breakpoint_by_name_string():
    with jupdb.breakpoint("f", line="return 2 * z") as bp:
        zs = bp.eval("z")
        f(1, 2)
    assert zs == [3]


# -------------------------------------------------------------- cond


def test_cond():
    with jupdb.breakpoint(f, line=RETURN_LINE, cond="x > 1") as bp:
        xs = bp.eval("x")
        for x in (1, 2, 3):
            f(x, 0)
    assert xs == [2, 3]


def test_cond_and_eval_as_code_objects():
    cond = compile("x > 1", "<cond>", "eval")
    expr = compile("x * 10", "<expr>", "eval")
    with jupdb.breakpoint(f, line=RETURN_LINE, cond=cond) as bp:
        xs = bp.eval(expr)
        bp.exec(compile("z = 0", "<code>", "exec"))
        assert [f(1, 0), f(2, 0)] == [2, 0]
    assert xs == [20]


def test_cond_with_line_none():
    with jupdb.breakpoint(f, cond="y == 'hit'") as bp:
        xs = bp.eval("x")
        f("a", "b")
        f("c", "hit")
    assert xs == ["c"]


def test_cond_sees_globals():
    with jupdb.breakpoint(f, line=RETURN_LINE, cond="z == HELPER_GLOBAL") as bp:
        zs = bp.eval("z")
        f(3, 4)
        f(3, 5)
    assert zs == [7]


# -------------------------------------------------------------- exec


def test_exec_changes_local():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.exec("z = 10")
        assert g(1) == 20
        assert f(5, 5) == 20


def test_actions_run_in_order():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        before = bp.eval("z")
        bp.exec("z += 1")
        after = bp.eval("z")
        assert g(1) == 6
    assert before == [2]
    assert after == [3]


def test_exec_binds_a_local_that_was_unbound():
    with pytest.raises(UnboundLocalError):
        later(1)
    with jupdb.breakpoint(later, line=line_of(later, "MARK:later-return")) as bp:
        bp.exec("w = x * 3")
        assert later(2) == 6


def test_exec_new_name_visible_to_later_actions():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.exec("brand_new = z * 3")
        seen = bp.eval("brand_new")
        assert f(1, 1) == 4
    assert seen == [6]


def test_exec_new_name_visible_at_a_later_line():
    with jupdb.NoPdb() as dbg:
        first = dbg.breakpoint(new_name_user, line=line_of(new_name_user, "MARK:NN1"))
        second = dbg.breakpoint(new_name_user, line=line_of(new_name_user, "MARK:NN2"))
        first.exec("brand_new = x * 5")
        seen = second.eval("brand_new + y")
        assert new_name_user(2) == 4
    assert seen == [13]


def test_exec_sees_globals():
    with jupdb.breakpoint(uses_global, line=line_of(uses_global, "MARK:uses-global")) as bp:
        bp.exec("z = z + HELPER_GLOBAL")
        assert uses_global(1) == 8
    assert HELPER_GLOBAL == 7


def test_exec_assigning_a_global_name_stays_local():
    # exec runs with the frame's locals, so an assignment creates a local
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.exec("HELPER_GLOBAL = 99")
        f(1, 1)
    assert HELPER_GLOBAL == 7


def test_exec_changes_while_loop_variable_mid_loop():
    assert while_sum(5) == 10
    with jupdb.breakpoint(while_sum, line=line_of(while_sum, "MARK:while-body"), cond="i == 2") as bp:
        bp.exec("i = 10")
        # i: 0, 1, then 2 -> 10: total = 0 + 1 + 10, and the loop ends
        assert while_sum(5) == 11


def test_exec_changes_for_loop_variable_for_that_iteration():
    assert for_sum(5) == 10
    with jupdb.breakpoint(for_sum, line=line_of(for_sum, "MARK:for-body"), cond="i == 2") as bp:
        bp.exec("i = 10")
        # the iterator is untouched: 0 + 1 + 10 + 3 + 4
        assert for_sum(5) == 18


def test_exec_changes_cell_variable():
    with jupdb.breakpoint(with_cell, line=line_of(with_cell, "MARK:cell-return")) as bp:
        bp.exec("z = 50")
        assert with_cell(1) == 50


def test_exec_in_generator_changes_yielded_value():
    with jupdb.breakpoint(gen_double, line=line_of(gen_double, "MARK:gen-yield"), cond="i == 1") as bp:
        bp.exec("i = 10")
        assert list(gen_double(3)) == [0, 20, 4]


def test_exec_changes_are_per_call():
    with jupdb.breakpoint(f, line=RETURN_LINE, cond="x == 1") as bp:
        bp.exec("z = 10")
        assert [f(1, 1), f(2, 2), f(1, 1)] == [20, 8, 20]


# ---------------------------------------------------------- variables


def test_eval_with_variables():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        vals = bp.eval("z + k", variables={"k": 100})
        f(1, 1)
    assert vals == [102]


def test_exec_with_variables_not_written_back():
    seen = []
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.exec("z = z + k", variables={"k": 5})
        bp.callback(lambda frame: seen.append(("k" in frame.f_locals, frame.f_locals["z"])))
        still_visible = bp.eval("'k' in dir()")
        assert f(1, 1) == 14
    assert seen == [(False, 7)]
    assert still_visible == [False]


# ----------------------------------------------------------- callback


def test_callback_gets_the_live_frame():
    frames = []

    def cb(frame):
        frames.append((frame.f_code, frame.f_lineno, dict(frame.f_locals)))

    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.callback(cb)
        f(2, 3)
    assert frames == [(f.__code__, RETURN_LINE, {"x": 2, "y": 3, "z": 5})]


def test_callback_frame_is_the_running_frame():
    backs = []
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.callback(lambda frame: backs.append(frame.f_back.f_code))
        g(1)
    assert backs == [g.__code__]


# --------------------------------------------------------------- jump


def test_jump_skips_a_line():
    assert jump_skip(1) == 200
    with jupdb.breakpoint(jump_skip, line=line_of(jump_skip, "MARK:J2")) as bp:
        bp.jump(line_of(jump_skip, "MARK:J3"))
        assert jump_skip(1) == 2
    assert jump_skip(1) == 200


def test_jump_back():
    assert jump_back() == 1
    with jupdb.breakpoint(jump_back, line=line_of(jump_back, "MARK:JB2"), cond="n < 3") as bp:
        seen = bp.eval("n")
        bp.jump(line_of(jump_back, "MARK:JB1"))
        assert jump_back() == 3
    assert seen == [1, 2]


def test_jump_without_line_raises():
    with jupdb.breakpoint(f) as bp:
        with pytest.raises(ValueError):
            bp.jump(RETURN_LINE)


# ----------------------------------------------------- enable / disable


def test_disable_and_enable():
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        zs = bp.eval("z")
        f(1, 1)
        bp.disable()
        f(2, 2)
        bp.enable()
        f(3, 3)
    assert zs == [2, 6]


def test_several_breakpoints_in_one_nopdb():
    with jupdb.NoPdb() as dbg:
        at_call = dbg.breakpoint(f).eval("x")
        at_return = dbg.breakpoint(f, line=RETURN_LINE).eval("z")
        calls = dbg.capture_calls(f)
        g(1)
        g(2)
    assert at_call == [1, 2]
    assert at_return == [2, 4]
    assert [c.return_value for c in calls] == [4, 8]


# -------------------------------------------------- module / file + line


BP_HELPER_SOURCE = """
    def first(values):
        total = 0
        for v in values:
            total += v  # MARK:first-body
        return total

    def second(v):
        total = v * 2
        total += v  # MARK:second-body
        return total
"""


def test_module_and_line_number(make_module):
    mod = make_module("jupdb_bp_module", BP_HELPER_SOURCE)
    line = line_in_file(mod.__file__, "MARK:first-body")
    with jupdb.breakpoint(module=mod, line=line) as bp:
        seen = bp.eval("v")
        assert mod.first([1, 2, 3]) == 6
        assert mod.second(1) == 3
    assert seen == [1, 2, 3]


def test_module_and_line_text(make_module):
    mod = make_module("jupdb_bp_module_text", BP_HELPER_SOURCE)
    with jupdb.breakpoint(module=mod, line="total += v  # MARK:second-body") as bp:
        bp.exec("v = 100")
        assert mod.second(1) == 102
        assert mod.first([1]) == 1


def test_file_glob_and_line(make_module):
    mod = make_module("jupdb_bp_file_glob", BP_HELPER_SOURCE)
    line = line_in_file(mod.__file__, "MARK:second-body")
    with jupdb.breakpoint(file="jupdb_bp_file_*.py", line=line) as bp:
        totals = bp.eval("total")
        mod.second(5)
    assert totals == [10]


def test_file_pathlike_and_line(make_module, tmp_path):
    mod = make_module("jupdb_bp_file_path", BP_HELPER_SOURCE)
    line = line_in_file(mod.__file__, "MARK:second-body")
    with jupdb.breakpoint(file=tmp_path / "jupdb_bp_file_path.py", line=line) as bp:
        bp.exec("total = -1")
        assert mod.second(5) == 4


# ----------------------------------------- failing actions become warnings


def _messages(record):
    return [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]


def test_failing_eval_warns_and_program_continues():
    with pytest.warns(RuntimeWarning) as record:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.eval("1 / 0")
            assert f(1, 1) == 4
    messages = _messages(record)
    assert any("ZeroDivisionError" in m and "Traceback" in m for m in messages), messages


def test_failing_exec_warns_and_program_continues():
    with pytest.warns(RuntimeWarning) as record:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.exec("z = undefined_name_for_jupdb_test + 1")
            assert f(1, 1) == 4
    messages = _messages(record)
    assert any("NameError" in m and "undefined_name_for_jupdb_test" in m for m in messages), messages


def test_failing_cond_warns_and_program_continues():
    with pytest.warns(RuntimeWarning) as record:
        with jupdb.breakpoint(f, line=RETURN_LINE, cond="z.no_such_attribute"):
            assert f(1, 1) == 4
    messages = _messages(record)
    assert any("AttributeError" in m and "no_such_attribute" in m for m in messages), messages


def test_failing_callback_warns_and_program_continues():
    def cb(frame):
        raise LookupError("callback failed on purpose")

    with pytest.warns(RuntimeWarning) as record:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.callback(cb)
            assert g(2) == 8
    messages = _messages(record)
    assert any("LookupError" in m and "callback failed on purpose" in m for m in messages), messages


def test_failing_action_in_generator_and_exception_path():
    def cb(frame):
        raise RuntimeError("nope")

    with pytest.warns(RuntimeWarning):
        with jupdb.breakpoint(gen_double, line=line_of(gen_double, "MARK:gen-yield")) as bp:
            bp.callback(cb)
            assert list(gen_double(2)) == [0, 2]


def test_failing_action_does_not_stop_later_hits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.eval("1 / (z - 2)")  # fails only when z == 2
            zs = bp.eval("z")
            results = [f(1, 1), f(2, 2)]
    assert results == [4, 8]
    assert zs[-1] == 4


def test_failing_action_leaves_caller_exception_state_alone():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.eval("1 / 0")
            try:
                raise KeyError("outer")
            except KeyError:
                assert f(1, 1) == 4
                assert sys.exc_info()[0] is KeyError
