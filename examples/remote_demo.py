"""The remote debugger in one minute: pause a running program, drive it from here.

    python examples/remote_demo.py

Starts a small "training" script in a subprocess, under ``jupdb run``; it
pauses at ``jupdb.set_trace()``. This process then connects (as a notebook
would), inspects and changes the script's live variables, steps, interrupts
an evaluation that would run for ever, sets a breakpoint, and lets it go on
until it dies of an uncaught exception: a post-mortem shows where and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import jupdb

PROGRAM = textwrap.dedent(
    """
    import jupdb

    def loss_of(weights, lr):
        penalty = sum(w * w for w in weights) * lr
        return round(penalty, 4)

    def train():
        weights = [0.5, -1.25, 2.0]
        lr = 0.1
        jupdb.set_trace()                      # pause here, wait for a client
        for epoch in range(3):
            loss = loss_of(weights, lr)
            print(f"epoch {epoch}: lr={lr} loss={loss}", flush=True)
            weights = [w * 0.5 for w in weights]
        return weights

    def report(weights, runs):
        return sum(weights) / runs             # runs is 0: ZeroDivisionError

    report(train(), runs=0)
    """
)


def main() -> None:
    with tempfile.TemporaryDirectory() as runtime:
        env = dict(os.environ, JUPDB_RUNTIME_DIR=runtime)
        os.environ["JUPDB_RUNTIME_DIR"] = runtime
        script = os.path.join(runtime, "train.py")
        with open(script, "w") as f:
            f.write(PROGRAM)
        # Its output reaches this terminal through the session (as it reaches a notebook).
        program = subprocess.Popen(
            [sys.executable, "-m", "jupdb", "run", script],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            session = connect_when_paused()
            print("connected to", session.where()[0])
            print("weights =", session.eval("weights"))
            session.exec("lr = 0.01")  # written back into the paused frame
            print("changed lr to", session.eval("lr"))
            print("next ->", session.next())
            print("step ->", session.step())
            print("step into ->", session.step())  # into loss_of()
            print("finish ->", session.finish())  # back in train(), loss assigned
            print("source:\n" + session.source(context=2))
            threading.Thread(target=interrupt_when_running, args=(session,), daemon=True).start()  # or Ctrl-C
            try:
                session.eval("sum(i for i in range(10**12))")
            except jupdb.RemoteError as error:
                print("interrupted ->", error.ename, "| still paused at", session.where()[0].line)
            line = next(n for n, text in enumerate(PROGRAM.splitlines(), 1) if "penalty =" in text)
            session.add_breakpoint(script, line)
            session.cont()
            stop = session.wait(timeout=10)
            print("breakpoint ->", stop, "| weights there:", session.eval("weights"))
            session.clear_breakpoint()
            session.cont()
            stop = session.wait(timeout=10)
            print("post-mortem ->", stop, "|", stop.exception.ename, "| runs there:", session.eval("runs"))
            session.cont()
        except BaseException:
            program.kill()
            raise
        finally:
            program.wait(timeout=10)
        print("program exited with", program.returncode)


def interrupt_when_running(session: "jupdb.Session") -> None:
    """Interrupt the client code the program runs, once it runs some."""
    while not session.interrupt():
        time.sleep(0.05)


def connect_when_paused(timeout: float = 10.0) -> "jupdb.Session":
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in jupdb.sessions() if s.state == "paused"]
        if found:
            return jupdb.connect(found[0].pid)
        if time.monotonic() > deadline:
            raise TimeoutError("the program did not pause")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
