"""Property: capturing never changes what a pure function computes, and what
it records is exactly the arguments and results of the real calls."""

import collections

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jupdb


def combine(a, b, xs):
    scaled = [a * v + b for v in xs]
    return scaled + [len(xs)]


def total(xs):
    if not xs:
        return 0
    return xs[0] + total(xs[1:])


def pairs(xs):
    for i, v in enumerate(xs):
        yield i, v
    return len(xs)


small_ints = st.integers(min_value=-(10**6), max_value=10**6)
int_lists = st.lists(st.integers(), max_size=12)

# The autouse "nothing left behind" fixture is a check that holds for every
# example, so sharing it between examples is intended.
common = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@common
@given(a=small_ints, b=small_ints, xs=int_lists)
def test_capture_records_real_args_and_result(a, b, xs):
    expected = combine(a, b, list(xs))
    with jupdb.capture_calls(combine) as calls:
        result = combine(a, b, xs)
    assert result == expected
    assert len(calls) == 1
    assert calls[0].args == collections.OrderedDict(a=a, b=b, xs=xs)
    assert calls[0].args["xs"] is xs
    assert calls[0].return_value is result
    assert calls[0].exception is None


@common
@given(xs=int_lists)
def test_recursion_records_every_frame(xs):
    with jupdb.capture_calls(total) as calls:
        result = total(xs)
    assert result == sum(xs)
    assert len(calls) == len(xs) + 1
    # return order: innermost (shortest suffix) first
    assert [c.args["xs"] for c in calls] == [xs[i:] for i in range(len(xs), -1, -1)]
    assert [c.return_value for c in calls] == [sum(xs[i:]) for i in range(len(xs), -1, -1)]


@common
@given(xs=int_lists)
def test_generator_results_unchanged(xs):
    with jupdb.capture_calls(pairs) as calls:
        it = pairs(xs)
        items = list(it)
    assert items == list(enumerate(xs))
    assert len(calls) == 1
    assert calls[0].return_value == len(xs)
