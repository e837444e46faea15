"""What the engine does itself at a breakpoint hit: cond and eval, in order with the other actions."""

from __future__ import annotations

import pytest

import jupdb


def work(x):
    y = x + 1
    return y * 2


def test_each_expression_has_its_own_namespace():
    with pytest.warns(RuntimeWarning, match="NameError"):
        with jupdb.breakpoint(work, line="return y * 2") as bp:
            first = bp.eval("(z := y * 10)")
            second = bp.eval("z")  # the first one's := is not seen here
            third = bp.eval("y")
            assert work(1) == 4
    assert first == [20] and second == [] and third == [2]


def test_a_walrus_in_cond_does_not_reach_the_actions_nor_the_frame():
    with pytest.warns(RuntimeWarning, match="NameError"):
        with jupdb.breakpoint(work, line="return y * 2", cond="(w := y) > 0") as bp:
            seen = bp.eval("w")
            assert work(1) == 4
    assert seen == []


def test_evals_after_an_exec_see_what_it_changed():
    with jupdb.breakpoint(work, line="return y * 2") as bp:
        before = bp.eval("y")
        bp.exec("y = 100")
        after = bp.eval("y")
        again = bp.eval("y + 1")
        assert work(1) == 200
    assert before == [2] and after == [100] and again == [101]


def test_eval_variables_are_read_at_each_hit():
    extra = {"k": 1}
    with jupdb.breakpoint(work, line="return y * 2") as bp:
        seen = bp.eval("y * k", variables=extra)
        work(1)
        extra["k"] = 3
        work(1)
    assert seen == [2, 6]


def test_a_false_cond_runs_no_action_and_a_failing_one_skips_the_hit():
    calls = []
    with jupdb.breakpoint(work, line="return y * 2", cond="y > 5") as bp:
        seen = bp.eval("y")
        bp.callback(lambda frame: calls.append(frame.f_locals["y"]))
        for x in range(8):
            work(x)
    assert seen == [6, 7, 8] and calls == [6, 7, 8]
    with pytest.warns(RuntimeWarning, match="breakpoint condition '1 / 0'"):
        with jupdb.breakpoint(work, line="return y * 2", cond="1 / 0") as bp:
            seen = bp.eval("y")
            assert work(1) == 4
    assert seen == []


def test_actions_added_while_the_breakpoint_fires():
    with jupdb.breakpoint(work, line="return y * 2") as bp:
        first = bp.eval("y")
        work(1)
        second = bp.eval("x")
        work(5)
    assert first == [2, 6] and second == [5]


def test_on_line_runs_the_actions_in_the_frame_given():
    import sys

    with jupdb.breakpoint(work, line="return y * 2") as bp:  # removed after: later tests count the probes
        seen = bp.eval("x")
        x = 42  # noqa: F841  # read by the expression, in this frame
        bp.on_line(sys._getframe(), 0)
    assert seen == [42]
