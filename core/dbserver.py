"""The embedded MongoDB-protocol server used when `MONGO_URI` is unset.

One SecantusDB daemon per data folder, shared by the app, the CLI and the benchmarks: its pid, start
time and port are written to `<data_dir>/db-server.json`, and whoever needs the database first starts it
(under a file lock, so two processes never start two servers on the same files).

A pid in that file is trusted only while it still names *this* server: a process started at the recorded
time whose command line is SecantusDB on this data folder. After a reboot or a crash the pid may belong to
anything (another user's shell, an unrelated job); such a process is never signalled.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
from pymongo import MongoClient
from pymongo.errors import PyMongoError

STATE_FILE = "db-server.json"
START_TIMEOUT_S = 60.0


class ServerStartError(RuntimeError):
    """The embedded database server could not be started."""


def local_server_uri(data_dir: Path) -> str:
    """URI of the running embedded server for `data_dir`, starting it if needed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(data_dir / "db-server.lock"):
        state = _read_state(data_dir)
        ours = state is not None and _is_our_server(state, data_dir)
        if ours and _answers(_uri(state["port"])):
            return _uri(state["port"])
        if ours:
            _terminate(state["pid"], timeout_s=5.0)  # alive but deaf (stalled): restart it
        # Reuse the last port when free, so clients that knew the old address reconnect by themselves.
        return _start(data_dir, state["port"] if state and _port_is_free(state["port"]) else _free_port())


def running_server(data_dir: Path) -> dict | None:
    """pid and port of the embedded server if it is running, else None."""
    state = _read_state(data_dir)
    if state and _is_our_server(state, data_dir):
        return state
    return None


def stop_local_server(data_dir: Path) -> bool:
    """Stop the embedded server of `data_dir`; True if one was running."""
    with _exclusive(data_dir / "db-server.lock"):
        state = _read_state(data_dir)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        if state and _is_our_server(state, data_dir):
            _terminate(state["pid"])
            return True
    return False


def server_command(port: int, storage: Path, log_level: str = "WARNING") -> list[str]:
    """The command line of a single-node SecantusDB server on 127.0.0.1:`port` keeping its files in `storage`."""
    return [
        sys.executable,
        "-m",
        "secantus",
        "--standalone",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(storage),
        "--log-level",
        log_level,
    ]


def _start(data_dir: Path, port: int) -> str:
    storage = data_dir.resolve() / "db"
    storage.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "db-server.log", "ab") as log:  # the server keeps its own copy of the handle
        process = subprocess.Popen(
            server_command(port, storage),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the process that started it, so others can share it
        )
    uri = _uri(port)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"The embedded database exited at start (code {process.returncode}); see {data_dir / 'db-server.log'}."
            )
        if _answers(uri, timeout_ms=300):
            try:
                started = psutil.Process(process.pid).create_time()
            except psutil.NoSuchProcess:
                continue  # it answered and died: poll() reports it above
            _write_state(data_dir, {"pid": process.pid, "port": port, "started": started})
            return uri
        time.sleep(0.2)
    process.kill()
    process.wait(timeout=10)
    raise ServerStartError(f"The embedded database did not answer within {START_TIMEOUT_S:.0f} s.")


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _answers(uri: str, timeout_ms: int = 1000) -> bool:
    client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _read_state(data_dir: Path) -> dict | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text()[:4096])
        started = state.get("started")
        return {
            "pid": int(state["pid"]),
            "port": int(state["port"]),
            "started": float(started) if started is not None else None,
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_state(data_dir: Path, state: dict) -> None:
    """Written whole under a temporary name, then renamed: a reader never sees half a file."""
    temporary = data_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(state))
    os.replace(temporary, data_dir / STATE_FILE)


def _is_our_server(state: dict, data_dir: Path) -> bool:
    """True when the recorded pid is still the SecantusDB server of `data_dir` it was when recorded."""
    try:
        process = psutil.Process(state["pid"])
        if state.get("started") is not None and abs(process.create_time() - state["started"]) > 1.0:
            return False  # the pid was reused by a later process
        if process.status() == psutil.STATUS_ZOMBIE:
            _reap(state["pid"])
            return False
        command = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False  # gone, or another user's process: not ours either way
    storage = command[command.index("--storage-path") + 1 :][:1] if "--storage-path" in command else []
    return "secantus" in command and storage == [str(data_dir.resolve() / "db")]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _is_alive(pid: int) -> bool:
    """Whether `pid` (a process already known to be our server) still runs; reaps it if it is our zombie."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    _reap(pid)
    return False


def _terminate(pid: int, timeout_s: float = 15.0) -> None:
    """Stop our server: SIGTERM, then SIGKILL if it has not gone within `timeout_s`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _is_alive(pid):
        time.sleep(0.1)
    if _is_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@contextmanager
def _exclusive(lock_path: Path):
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
