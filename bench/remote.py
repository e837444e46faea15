"""Remote debugger benchmark: jupdb against the original jupdb approach, in one run.

    python bench/remote.py            (needs numpy and pyzmq; bench/run.sh installs them)

Two paused programs run side by side, each in its own process:

* the original approach: a pyzmq REP socket served by a thread, JSON requests
  ``{"command": "eval", "code": ...}``, eval/exec in the paused frame, ``str()`` of
  the result (a few lines below, as the original jupdb does it);
* jupdb: ``jupdb.set_trace()``.

Measured: round-trip latency of an eval (p50 over many calls) — the original with a
new socket per call (as its ``debug_eval`` does) and with one reused socket, jupdb's
``Session.eval`` and its compatible ``debug_eval``; and ``Session.fetch`` of a
100 MB NumPy array: throughput, and the peak memory it adds on either side.

Beside them, the floor of this machine at that moment: a one-byte echo over a plain
TCP socket between two processes (what any request/reply over loopback costs at
least), and the same 100 MB sent over a plain TCP socket into freshly allocated
memory (what any fetch costs at least). Wake-ups on a VM vary several-fold from
minute to minute, so only figures from the same run compare.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Callable, Dict, Tuple

ARRAY_BYTES = 100_000_000
CALLS = 3000
FETCH_AGAIN = 2  # fetches on the same connection after the first, in each client

ORIGINAL = textwrap.dedent(
    """
    import inspect, json, sys, threading, zmq
    import numpy as np

    def serve(frame, port, done):
        sock = zmq.Context.instance().socket(zmq.REP)
        sock.bind(f"tcp://127.0.0.1:{port}")
        print("ready", flush=True)
        while True:
            msg = json.loads(sock.recv_string())
            if msg["command"] == "continue":
                sock.send_string(json.dumps({"status": "resuming"}))
                done.set()
                return
            try:
                result = {"result": str(eval(msg["code"], frame.f_globals, frame.f_locals))}
            except Exception as e:
                result = {"error": str(e)}
            sock.send_string(json.dumps(result))

    def work(port):
        a = 10
        arr = np.ones(%d // 8)
        done = threading.Event()
        threading.Thread(target=serve, args=(inspect.currentframe(), port, done)).start()
        done.wait()

    work(int(sys.argv[1]))
    """
    % ARRAY_BYTES
)

JUPDB = textwrap.dedent(
    """
    import jupdb
    import numpy as np

    def work():
        a = 10
        arr = np.ones(%d // 8)
        jupdb.set_trace()

    work()
    """
    % ARRAY_BYTES
)

FETCH_CLIENT = textwrap.dedent(
    """
    import sys, time, jupdb
    import numpy  # imported before the clock starts: unpickling the array would import it (~0.1 s)
    def hwm():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
    def fetch():
        t = time.perf_counter()
        arr = s.fetch("arr")
        elapsed = time.perf_counter() - t
        assert arr.nbytes == %d and float(arr.sum()) == arr.size
        return elapsed
    s = jupdb.connect(int(sys.argv[1]))
    s.eval("a")
    before = hwm()
    first = fetch()  # the first on a new connection: TCP and the memory are cold
    extra = hwm() - before
    print(first, extra, min(fetch() for _ in range(%d)))
    """
    % (ARRAY_BYTES, FETCH_AGAIN)
)


FLOOR_SERVER = textwrap.dedent(
    """
    import socket
    import numpy as np
    data = np.ones(%d // 8)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:  # one connection after another, each served until it says "q"
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            command = conn.recv(1)
            if command == b"e":
                conn.sendall(b"e")
            elif command == b"f":
                conn.sendall(data)
            else:
                break
        conn.close()
    """
    % ARRAY_BYTES
)


def transport_floor(workdir: str, env: Dict[str, str], clients: int) -> Tuple[float, float, float]:
    """This machine's floor, measured as the fetches are: (p50 of a one-byte TCP echo;
    best time of ``clients`` new connections to receive ARRAY_BYTES into fresh memory
    the first time; best time of the FETCH_AGAIN transfers after it on each)."""
    import socket

    import numpy as np

    path = os.path.join(workdir, "floor.py")
    with open(path, "w") as f:
        f.write(FLOOR_SERVER)
    server = subprocess.Popen([sys.executable, path], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())

        def connection() -> socket.socket:
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn

        def transfer(conn: socket.socket) -> float:
            start = time.perf_counter()
            conn.sendall(b"f")
            received = np.empty(ARRAY_BYTES // 8)
            view, got = memoryview(received).cast("B"), 0
            while got < ARRAY_BYTES:
                got += conn.recv_into(view[got:])
            return time.perf_counter() - start

        pinged = connection()

        def echo() -> None:
            pinged.sendall(b"e")
            assert pinged.recv(1) == b"e"

        p50(echo, 200)
        echo_p50 = p50(echo, CALLS)
        pinged.sendall(b"q")
        pinged.close()
        first, again = [], []
        for _ in range(clients):
            conn = connection()
            first.append(transfer(conn))
            again += [transfer(conn) for _ in range(FETCH_AGAIN)]
            conn.sendall(b"q")
            conn.close()
    finally:
        server.kill()
        server.wait(timeout=10)
    return echo_p50, min(first), min(again)


def p50(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith(field)).split()[1]) * 1024


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:  # Linux: resets VmHWM to VmRSS
        f.write("5")


def main() -> None:
    import zmq

    import jupdb
    from jupdb.client import debug_eval

    workdir = tempfile.mkdtemp(prefix="jupdb-bench-")
    os.environ["JUPDB_RUNTIME_DIR"] = workdir
    env = dict(os.environ)
    original_py, jupdb_py, fetch_py = (os.path.join(workdir, n) for n in ("original.py", "app.py", "fetch.py"))
    for path, text in ((original_py, ORIGINAL), (jupdb_py, JUPDB), (fetch_py, FETCH_CLIENT)):
        with open(path, "w") as f:
            f.write(text)

    port = free_port()
    original = subprocess.Popen([sys.executable, original_py, str(port)], env=env, stdout=subprocess.PIPE, text=True)
    debuggee = subprocess.Popen([sys.executable, jupdb_py], env=env, stderr=subprocess.DEVNULL)
    try:
        assert original.stdout is not None and original.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while not any(s.pid == debuggee.pid and s.state == "paused" for s in jupdb.sessions()):
            assert time.monotonic() < deadline, "the jupdb program did not pause"
            time.sleep(0.05)

        ctx = zmq.Context.instance()

        def original_new_socket() -> None:
            sock = ctx.socket(zmq.REQ)
            sock.connect(f"tcp://127.0.0.1:{port}")
            sock.send_string(json.dumps({"command": "eval", "code": "a"}))
            assert json.loads(sock.recv_string()) == {"result": "10"}
            sock.close(linger=0)

        reused = ctx.socket(zmq.REQ)
        reused.connect(f"tcp://127.0.0.1:{port}")

        def original_reused() -> None:
            reused.send_string(json.dumps({"command": "eval", "code": "a"}))
            assert json.loads(reused.recv_string()) == {"result": "10"}

        session = jupdb.connect(debuggee.pid)
        request_port = session.info["request_port"]

        def jupdb_eval() -> None:
            assert session.eval("a").repr == "10"

        def jupdb_debug_eval() -> None:
            assert debug_eval("a", port=request_port) == {"result": "10"}

        for fn in (original_reused, jupdb_eval, jupdb_debug_eval):  # warm up
            p50(fn, 200)
        latency: Dict[str, float] = {
            "original, new socket per call": p50(original_new_socket, CALLS // 10),
            "original, reused socket": p50(original_reused, CALLS),
            "jupdb Session.eval": p50(jupdb_eval, CALLS),
            "jupdb debug_eval (compat)": p50(jupdb_debug_eval, CALLS),
        }

        fetches = []
        for _ in range(3):
            reset_peak(debuggee.pid)
            server_before = vm(debuggee.pid, "VmRSS")
            out = subprocess.run(
                [sys.executable, fetch_py, str(debuggee.pid)], env=env, capture_output=True, text=True, check=True
            ).stdout.split()
            server_extra = vm(debuggee.pid, "VmHWM") - server_before
            fetches.append((float(out[0]), int(out[1]), server_extra, float(out[2])))
        echo_p50, floor_first, floor_again = transport_floor(workdir, env, len(fetches))
        reused.send_string(json.dumps({"command": "continue"}))
        reused.recv_string()
        session.cont()
    finally:
        for p in (original, debuggee):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    print(f"CPython {sys.version.split()[0]}: eval round trip, p50 of {CALLS} calls")
    base = latency["original, reused socket"]
    ratio = echo_p50 / base
    print(f"  {'floor: plain TCP echo':34s} {echo_p50 * 1e6:8.1f} us   {ratio:5.2f}x the original's reused socket")
    for name, value in latency.items():
        print(f"  {name:34s} {value * 1e6:8.1f} us   {value / base:5.2f}x the original's reused socket")

    def gbps(seconds: float) -> float:
        return ARRAY_BYTES / seconds / 1e9

    first, again = gbps(min(f[0] for f in fetches)), gbps(min(f[3] for f in fetches))
    client_extra = max(f[1] for f in fetches) / ARRAY_BYTES
    server_extra = max(f[2] for f in fetches) / ARRAY_BYTES
    mb = ARRAY_BYTES // 10**6
    print(
        f"  fetch of a {mb} MB array, first on a new connection: {first:.2f} GB/s "
        f"(best of {len(fetches)} clients); floor, plain TCP: {gbps(floor_first):.2f} GB/s"
    )
    print(
        f"  fetch of a {mb} MB array, again on that connection:  {again:.2f} GB/s "
        f"(best of {len(fetches) * FETCH_AGAIN}); floor, plain TCP: {gbps(floor_again):.2f} GB/s "
        f"(fetch is {again / gbps(floor_again):.2f}x of it)"
    )
    print(f"  peak extra memory of a first fetch: client {client_extra:.2f}x, debuggee {server_extra:.2f}x the array")
    checks = [
        ("Session.eval p50 <= 60 us", latency["jupdb Session.eval"] <= 60e-6),
        ("Session.eval no slower than the original's reused socket", latency["jupdb Session.eval"] <= base),
        ("debug_eval p50 <= 100 us", latency["jupdb debug_eval (compat)"] <= 100e-6),
        ("fetch >= 1 GB/s (again on a connection, as the floor)", again >= 1.0),
        ("fetch extra memory <= 1.5x on either side", max(client_extra, server_extra) <= 1.5),
    ]
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
