"""Generators, coroutines and async generators that end early: one call each,
recorded when it ends, with its own ending, on every CPython version.

A generator abandoned after ``break`` is closed (``close()``) as soon as the last
reference goes, and CPython ends it with ``GeneratorExit`` thrown in at its
``yield``: that is what its call records. A cancelled coroutine records the
``CancelledError`` thrown into it; an async generator closed with ``aclose()``,
``GeneratorExit``."""

import asyncio
import gc
import sys

import pytest

import jupdb


def gen(n):
    for i in range(n):
        yield i
    return f"done {n}"


def gen_in_try(n):
    try:
        for i in range(n):
            yield i
    finally:
        pass


def gen_returns_on_close():
    try:
        yield 1
    except GeneratorExit:
        return "closed"


def gen_with_heap_locals(n):
    data = [object() for _ in range(n)]  # noqa: F841 (locals the capture must see)
    for i in range(n):
        yield i


async def sleeper(x):
    await asyncio.sleep(10)
    return x


async def agen(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


def unrelated_exception():
    # What an engine that waits for "the next exception" would wrongly take.
    try:
        raise KeyError("unrelated")
    except KeyError:
        pass


# Each scenario runs inside capture_calls(target) and returns the calls it saw
# just after the call should have ended (a copy), so a late record fails.


def break_out(calls):
    for _ in gen(5):
        break
    return list(calls)


def break_out_of_try(calls):
    for _ in gen_in_try(5):
        break
    return list(calls)


def close_explicitly(calls):
    it = gen(5)
    next(it)
    it.close()
    seen = list(calls)
    del it
    return seen


def close_while_kept(calls):
    global kept
    kept = gen(5)
    next(kept)
    kept.close()
    return list(calls)


def close_caught(calls):
    it = gen_returns_on_close()
    next(it)
    it.close()
    return list(calls)


def throw_in(calls):
    it = gen(5)
    next(it)
    with pytest.raises(ValueError):
        it.throw(ValueError("thrown"))
    return list(calls)


def run_to_end(calls):
    assert list(gen(2)) == [0, 1]
    return list(calls)


def cancelled_by_wait_for(calls):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sleeper(1), 0.01)
        return list(calls)

    return asyncio.run(main())


def cancelled_task(calls):
    async def main():
        task = asyncio.ensure_future(sleeper(1))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return list(calls)

    return asyncio.run(main())


def aclosed(calls):
    async def main():
        it = agen(5)
        assert await it.__anext__() == 0
        await it.aclose()
        return list(calls)

    return asyncio.run(main())


def async_break_out(calls):
    async def main():
        async for _ in agen(5):
            break
        # The event loop's finalizer hook closes it with aclose() in a task of its own.
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)
        return list(calls)

    return asyncio.run(main())


SCENARIOS = {
    # name: (scenario, target, return value, exception type)
    "break": (break_out, gen, None, GeneratorExit),
    "break out of try/finally": (break_out_of_try, gen_in_try, None, GeneratorExit),
    "close()": (close_explicitly, gen, None, GeneratorExit),
    "close() while referenced": (close_while_kept, gen, None, GeneratorExit),
    "close() caught, returns": (close_caught, gen_returns_on_close, "closed", None),
    "throw()": (throw_in, gen, None, ValueError),
    "run to the end": (run_to_end, gen, "done 2", None),
    "wait_for timeout": (cancelled_by_wait_for, sleeper, None, asyncio.CancelledError),
    "task.cancel()": (cancelled_task, sleeper, None, asyncio.CancelledError),
    "aclose()": (aclosed, agen, None, GeneratorExit),
    "async for, break": (async_break_out, agen, None, GeneratorExit),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_one_call_with_its_own_ending(name):
    scenario, target, value, exc_type = SCENARIOS[name]
    with jupdb.capture_calls(target) as calls:
        seen = scenario(calls)
        assert sys.gettrace() is None, "3.10/3.11: the trace slot is given back when it ends"
        unrelated_exception()
        gc.collect()
    assert len(seen) == 1, f"recorded when it ended: {seen}"
    assert len(calls) == 1, f"exactly one call: {list(calls)}"
    call = calls[0]
    assert call is seen[0]
    assert call.name == target.__name__
    assert call.return_value == value
    if exc_type is None:
        assert call.exception is None
    else:
        assert type(call.exception) is exc_type, repr(call.exception)


def test_generator_closed_before_it_started_is_no_call():
    with jupdb.capture_calls(gen) as calls:
        it = gen(3)
        it.close()
        del it
        gen(3)  # dropped unstarted
        gc.collect()
    assert list(calls) == []


def test_locals_of_an_abandoned_generator():
    # CPython 3.13 frees the locals of a generator closed at a yield outside any
    # try block without running it: they are read before that where the engine can.
    with jupdb.capture_calls(gen_in_try) as calls:
        for _ in gen_in_try(5):
            break
    assert calls[0].locals == {"n": 5, "i": 0}
    assert calls[0].args == {"n": 5}


def test_locals_of_a_generator_closed_at_a_plain_yield():
    with jupdb.capture_calls(gen_with_heap_locals) as calls:
        it = gen_with_heap_locals(3)
        next(it)
        it.close()
        del it
        reuse = [[i] for i in range(10_000)]  # the memory its locals had
    assert len(calls) == 1 and type(calls[0].exception) is GeneratorExit
    if sys.version_info[:2] == (3, 13):
        # CPython frees them without running it (and leaves its frame pointing at them).
        assert calls[0].locals == {}
    else:
        assert calls[0].locals["i"] == 0
        assert len(calls[0].locals["data"]) == 3
    assert len(reuse) == 10_000


def test_a_tracer_keeps_its_events_and_its_slot():
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is gen_in_try.__code__:
            events.append(event)
        return tracer

    sys.settrace(tracer)
    try:
        with jupdb.capture_calls(gen_in_try) as calls:
            for _ in gen_in_try(3):
                break
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    assert len(calls) == 1 and type(calls[0].exception) is GeneratorExit
    assert events.count("exception") == 1  # GeneratorExit, thrown in at the yield
