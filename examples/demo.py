"""A quick tour of jupdb from code: look inside calls and change them, no pdb session.

Shows capture_call, capture_calls, a breakpoint whose eval/exec read and change
a running function, and a capture of a call made in a worker thread.

Run:  python examples/demo.py
"""

import threading

import jupdb


def mean(xs):
    total = sum(xs)
    n = len(xs)
    return total / n


def spread(xs):
    m = mean(xs)
    deviations = [abs(x - m) for x in xs]
    return mean(deviations)


def main():
    data = [2, 4, 4, 4, 5, 5, 7, 9]

    print("[1] capture_call: the last call of mean() inside spread(), without editing it")
    with jupdb.capture_call(mean) as call:
        result = spread(data)
    print("    spread(data) =", result)
    print("    mean args    =", dict(call.args))
    print("    mean locals  =", {k: v for k, v in call.locals.items() if k != "xs"})
    print("    mean returned", call.return_value)

    print("[2] capture_calls: every call of mean(), in the order they returned")
    with jupdb.capture_calls(mean) as calls:
        spread(data)
    for i, c in enumerate(calls):
        print("    call %d: total=%s n=%s -> %s" % (i, c.locals["total"], c.locals["n"], c.return_value))

    print("[3] breakpoint: read a local with eval, then change it with exec")
    with jupdb.breakpoint(function=mean, line="return total / n") as bp:
        totals = bp.eval("total")
        before = mean(data)
    with jupdb.breakpoint(function=mean, line="return total / n") as bp:
        bp.exec("total = total * 10")
        after = mean(data)
    print("    eval('total') at the breakpoint saw", totals)
    print("    mean(data) = %s normally, %s with exec('total = total * 10')" % (before, after))
    print("    breakpoint exec changed the result:", after == 10 * before)
    print("    and after the with block it is back to", mean(data))

    print("[4] worker thread: probes fire in every thread")
    with jupdb.capture_call(mean) as call:
        worker = threading.Thread(target=mean, args=([10, 20, 60],), name="worker-1")
        worker.start()
        worker.join()
    print("    captured mean(%s) = %s in thread %r" % (call.args["xs"], call.return_value, call.thread_name))

    print("demo finished OK")


if __name__ == "__main__":
    main()
