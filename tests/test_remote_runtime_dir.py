"""Another local user cannot plant or read a connection file: the runtime
directory and the files in it are the user's alone, and anything else is
refused with a reason (issue 15, item 1).

Tests run as root here, so "another user" is uid 65534 (nobody): files are
given to it with ``os.chown``, and where a real other process matters it is
run with ``setpriv``.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

import jupdb
from jupdb.client import debug_eval
from remote_helpers import TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401

NOBODY = 65534
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT or not shutil.which("setpriv"), reason="only root can act as another user")

PAUSES = """
import jupdb
x = 41
jupdb.set_trace()
print("after", x, flush=True)
"""


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """Each test's own TMPDIR, where private fallback directories are made (and
    looked for), for the test and the programs it starts."""
    path = tmp_path / "tmp"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("TMPDIR", str(path))
    return path


@pytest.fixture
def listener():
    """A TCP port where an attacker's fake debuggee would listen; fails the test
    if anything connected to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock.getsockname()[1]
    try:
        sock.accept()
        pytest.fail("a client connected to the attacker's port")
    except BlockingIOError:
        pass
    finally:
        sock.close()


def fake_connection(pid: int, port: int) -> str:
    """A well-formed connection file's text, as an attacker would write it: a
    live pid (the victim's), the attacker's port and key."""
    return json.dumps(
        {
            "transport": "tcp",
            "ip": "127.0.0.1",
            "request_port": port,
            "event_port": port,
            "key": "00" * 32,
            "signature_scheme": "hmac-sha256",
            "pid": pid,
            "argv": ["evil.py"],
            "python_version": "3.12.1",
            "session_id": "evil",
            "created": "2099-01-01T00:00:00.000000Z",
            "state": "paused",
            "location": {"file": "evil.py", "line": 1, "function": "<module>"},
        }
    )


def as_nobody(script: str) -> None:
    """Run the shell ``script`` as another user (uid and gid 65534, no groups)."""
    subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sh", "-c", script],
        check=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def shared_dir():
    """A directory like /tmp: everyone may write, sticky (where another user can reach it)."""
    path = tempfile.mkdtemp(prefix="jupdb-shared-test-", dir="/tmp")
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_files_planted_in_a_shared_runtime_dir_are_never_used(launch, shared_dir, monkeypatch, listener, private_tmp):
    monkeypatch.setenv("JUPDB_RUNTIME_DIR", shared_dir)
    program = launch(PAUSES, env={"JUPDB_RUNTIME_DIR": shared_dir})
    program.wait_paused()
    # Another user plants a connection file for the victim's pid, newer than any.
    planted = os.path.join(shared_dir, f"jupdb-{program.pid}-evil.json")
    as_nobody(f"umask 077; cat > {planted} <<'END'\n{fake_connection(program.pid, listener)}\nEND")
    # ... and one the user seems to own (a careless copy), readable by all.
    careless = os.path.join(shared_dir, f"jupdb-{program.pid}-careless.json")
    with open(careless, "w") as fh:
        fh.write(fake_connection(program.pid, listener))
    os.chmod(careless, 0o644)

    for session in (jupdb.connect(timeout=TIMEOUT), jupdb.connect(program.pid, timeout=TIMEOUT)):
        program.sessions.append(session)
        assert session.info["request_port"] != listener
        assert session.path.startswith(str(private_tmp))
        assert session.fetch("x") == 41  # the real program's pickle
    with pytest.raises(ConnectionError) as err:
        debug_eval("x", port=listener)
    assert f"{shared_dir}: has mode 1777" in str(err.value)
    assert f"jupdb: not using the runtime directory {shared_dir}: has mode 1777" in program.stderr
    # What the program itself wrote went to its private directory, never the shared one.
    assert sorted(os.listdir(shared_dir)) == sorted([os.path.basename(planted), os.path.basename(careless)])
    program.sessions[0].cont()
    program.wait_stdout("after 41")
    program.assert_finishes_ok()
    assert os.listdir(private_tmp) == []  # the private directory goes with the program


def _refused(kind: str, tmp_path) -> str:
    """A runtime directory that must be refused, of ``kind``."""
    path = str(tmp_path / kind)
    if kind == "symlink":
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        os.symlink(real, path)
        return path
    os.mkdir(path)
    os.chmod(path, {"0755": 0o755, "sticky": 0o1777, "foreign": 0o700}[kind])
    if kind == "foreign":
        os.chown(path, NOBODY, NOBODY)
    return path


REASONS = {
    "symlink": "is a symbolic link",
    "0755": "has mode 0755",
    "sticky": "has mode 1777",
    "foreign": f"is owned by uid {NOBODY}, not by you",
}


@pytest.mark.parametrize("kind", ["symlink", "0755", "sticky", "foreign"])
def test_a_runtime_dir_not_the_users_alone_is_refused_with_a_reason(launch, tmp_path, monkeypatch, kind):
    if kind == "foreign" and not IS_ROOT:
        pytest.skip("only root can give a directory away")
    path = _refused(kind, tmp_path)
    monkeypatch.setenv("JUPDB_RUNTIME_DIR", path)
    program = launch(PAUSES, env={"JUPDB_RUNTIME_DIR": path})
    program.wait_paused()
    assert f"jupdb: not using the runtime directory {path}: {REASONS[kind]}" in program.stderr
    assert os.listdir(path) == []
    session = program.connect()
    assert session.eval("x").repr == "41"
    session.cont()
    program.wait_stdout("after 41")
    program.assert_finishes_ok()


def test_an_unwritable_runtime_dir_falls_back_to_a_private_one(launch, tmp_path, monkeypatch, private_tmp):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = str(blocker / "runtime")
    monkeypatch.setenv("JUPDB_RUNTIME_DIR", path)
    program = launch(PAUSES, env={"JUPDB_RUNTIME_DIR": path})
    program.wait_paused()
    assert f"jupdb: not using the runtime directory {blocker}" in program.stderr
    session = program.connect()
    assert session.path.startswith(str(private_tmp))
    session.cont()
    program.wait_stdout("after 41")
    program.assert_finishes_ok()


def test_with_nowhere_private_to_write_set_trace_lets_the_program_go_on(launch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    program = launch(PAUSES, env={"JUPDB_RUNTIME_DIR": str(blocker / "runtime"), "TMPDIR": str(blocker / "tmp")})
    program.wait_stdout("after 41")
    program.assert_finishes_ok()
    assert "jupdb: cannot serve this process, so it goes on without pausing" in program.stderr
    assert "no private directory instead" in program.stderr
    assert "Traceback" not in program.stderr


def _plant_in_own_dir(runtime_dir: str, port: int) -> dict:
    """Files in the user's own runtime directory that must not be read: another
    user's (root gives it away), one readable by all, a link. Each to its name."""
    os.makedirs(runtime_dir, mode=0o700)
    text = fake_connection(os.getpid(), port)
    planted = {}
    for kind in ("foreign", "readable", "target"):
        path = os.path.join(
            runtime_dir if kind != "target" else os.path.dirname(runtime_dir), f"jupdb-{os.getpid()}-{kind}.json"
        )
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o644 if kind == "readable" else 0o600)
        planted[kind] = path
    if IS_ROOT:
        os.chown(planted["foreign"], NOBODY, NOBODY)
    else:
        os.unlink(planted.pop("foreign"))
    link = os.path.join(runtime_dir, f"jupdb-{os.getpid()}-link.json")
    os.symlink(planted.pop("target"), link)
    planted["link"] = link
    return planted


FILE_REASONS = {
    "foreign": f"is owned by uid {NOBODY}, not by you",
    "readable": "has mode 0644",
    "link": "is a symbolic link",
}


def test_clients_read_only_the_users_own_private_files_and_say_what_they_skipped(runtime_dir, listener):
    planted = _plant_in_own_dir(runtime_dir, listener)
    assert jupdb.sessions() == []
    for target in (None, os.getpid(), "evil"):
        with pytest.raises(LookupError) as err:
            jupdb.connect(target)
        for kind, path in planted.items():
            assert f"{path}: {FILE_REASONS[kind]}" in str(err.value)
    with pytest.raises(ConnectionError) as err:
        debug_eval("1", port=listener)
    assert f"{planted['readable']}: has mode 0644" in str(err.value)
    # Named outright, a file is still checked.
    with pytest.raises(OSError, match="has mode 0644"):
        jupdb.connect(planted["readable"])
    # ``jupdb sessions`` says the same.
    cli = subprocess.run([sys.executable, "-m", "jupdb", "sessions"], capture_output=True, text=True, timeout=TIMEOUT)
    assert cli.returncode == 0
    for kind, path in planted.items():
        assert f"{path}: {FILE_REASONS[kind]}" in cli.stderr
