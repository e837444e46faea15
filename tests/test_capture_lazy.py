"""What the engine records of a call, and what is built only when read."""

from __future__ import annotations

import io
import traceback
import weakref

import pytest

import jupdb


class Payload:
    pass


def callee(x):
    return x + 1


def caller_holding(obj_factory):
    obj = obj_factory()
    ref = weakref.ref(obj)
    callee(1)
    return ref


def test_no_frame_outlives_its_call():
    # The capture keeps each calling frame's code and position, not the frame:
    # the caller's locals go when it returns.
    with jupdb.capture_calls(callee) as calls:
        ref = caller_holding(Payload)
    assert len(calls) == 1 and len(calls[0].stack) > 2
    assert ref() is None


def reference_stack():
    """traceback.extract_stack() as seen inside callee_with_reference."""
    return callee_with_reference()


def callee_with_reference():
    return traceback.extract_stack()


def test_stack_is_what_extract_stack_gives():
    with jupdb.capture_calls(callee_with_reference) as calls:
        reference = reference_stack()
    stack = calls[0].stack
    assert isinstance(stack, traceback.StackSummary)
    # Every calling frame is the same; the callee itself is at its start, not at its return.
    assert [(f.filename, f.lineno, f.name, f.line) for f in stack[:-2]] == [
        (f.filename, f.lineno, f.name, f.line) for f in reference[:-2]
    ]
    assert stack[-2].name == "reference_stack" and stack[-2].line == "return callee_with_reference()"
    assert stack[-1].name == "callee_with_reference"
    assert stack[-1].lineno == callee_with_reference.__code__.co_firstlineno


def test_args_and_stack_are_built_once():
    with jupdb.capture_call(callee) as call:
        callee(3)
    assert call.args is call.args
    assert call.stack is call.stack
    assert call.locals is call.locals


def test_capture_call_shows_the_latest_call_only():
    with jupdb.capture_call(callee) as call:
        assert call.name is None and call.args is None and call.stack is None
        callee(1)
        first_stack = call.stack
        callee(2)
    assert call.args == {"x": 2} and call.return_value == 3
    assert call.stack is not first_stack


def make_closure():
    free = 10

    def inner(a, *rest, **options):
        cell = a

        def uses():
            return cell + free

        snapshot = dict(locals())
        return snapshot

    return inner


def test_locals_of_cells_free_variables_and_varargs_as_f_locals_lists_them():
    inner = make_closure()
    with jupdb.capture_call(inner) as call:
        seen = inner(1, 2, key=3)
    locals_ = dict(call.locals)
    assert locals_.pop("snapshot") == seen
    assert list(locals_) == list(seen)
    assert locals_ == seen
    assert call.args == {"a": 1, "rest": (2,), "options": {"key": 3}}


def adds_a_name(n):
    total = n * 2
    return total


def test_locals_include_names_a_breakpoint_added():
    with jupdb.capture_call(adds_a_name) as call:
        with jupdb.breakpoint(adds_a_name, line="return total") as bp:
            bp.exec("added = total + 1")
            adds_a_name(4)
    assert call.locals["total"] == 8
    assert call.locals["added"] == 9


def test_print_stack_all_outside_ipython_prints_the_same():
    with jupdb.capture_call(callee) as call:
        callee(1)
    some, every = io.StringIO(), io.StringIO()
    call.print_stack(file=some)
    call.print_stack(file=every, all=True)
    assert some.getvalue() == every.getvalue() == "".join(call.stack.format())


def test_a_recorder_refuses_a_sink_it_cannot_record_into():
    with pytest.raises(TypeError, match="list or a CallInfo"):
        jupdb._native.CallRecorder(object(), info_type=jupdb.CallInfo, report=print)
    with pytest.raises(TypeError, match="CallInfo subclass"):
        jupdb._native.CallRecorder([], info_type=dict, report=print)


class Box:
    pass


def keep(box):
    return 1


def test_a_call_in_a_reference_cycle_is_collected():
    import gc

    with jupdb.capture_calls(keep) as calls:
        keep(Box())
    info = calls[0]
    box = info.args["box"]
    box.info = info  # box -> its call -> box (its argument, and a local)
    assert info.locals["box"] is box
    ref = weakref.ref(box)
    calls.clear()
    del info, box
    gc.collect()
    assert ref() is None


def take(obj):
    return None


def test_the_previous_call_of_capture_call_is_freed_when_the_next_ends():
    first = Payload()
    ref = weakref.ref(first)
    with jupdb.capture_call(take) as call:
        take(first)
        del first
        take(Payload())
        assert ref() is None  # nothing but the capture held it
    assert call.args is not None
