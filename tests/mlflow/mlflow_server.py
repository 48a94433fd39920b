"""A real ``mlflow server`` on a free loopback port with a SQLite backend.

Used by the MLflow tests (through a session fixture in ``conftest.py``) and by
``bench/bench_mlflow_sync.py``. The flags and environment variables are the
ones that keep the server small (one worker, no job execution) and let it
deliver webhooks to a receiver on loopback.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class MlflowServer:
    url: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # let the server deliver webhooks to a receiver on loopback over http
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            # fixed for the server's lifetime, else stored webhook secrets break on restart
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": base64.urlsafe_b64encode(
                secrets.token_bytes(32)
            ).decode(),
            # a webhook registered by a test must be seen by the very next event
            "MLFLOW_WEBHOOK_CACHE_TTL": "0",
        }
    )
    # the server must not talk to another tracking server we may have set for clients
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@contextmanager
def running_mlflow_server(root: Path, *, startup_timeout: float = 300.0) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` under ``root``; stop it (and its children) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    artifacts = root / "artifacts"
    artifacts.mkdir(exist_ok=True)
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root", str(artifacts),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    log_file = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        cmd, env=_server_env(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    server = MlflowServer(url, root, proc)
    try:
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        _stop(proc)
        log_file.close()


def _wait_ready(server: MlflowServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {server.process.returncode}:\n"
                + server.log_path.read_text(errors="replace")[-4000:]
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"mlflow server not ready after {timeout:.0f}s:\n"
        + server.log_path.read_text(errors="replace")[-4000:]
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # the server runs uvicorn workers as children: end the whole session we started
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@dataclass(frozen=True)
class LiveApp:
    url: str


@contextmanager
def serving(app: Any) -> Iterator[LiveApp]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a thread, until exit."""
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield LiveApp(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
