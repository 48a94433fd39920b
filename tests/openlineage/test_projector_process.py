"""``lineagegraph serve --projection process``: the server acknowledges, a process of its
own projects, and the server's answers follow it (the real command, over real HTTP)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset

from lineagegraph.auth import Role, TokenStore
from lineagegraph.ingest.log import EventLog
from lineagegraph.settings import Settings
from tests.conftest import free_port
from tests.openlineage.helpers import emit_run
from tests.polling import wait_until

CLI = [sys.executable, "-c", "from lineagegraph.cli.main import app; app()"]
STARTED = re.compile(r"projector process (\d+) started")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    tokens: dict[Role, str]

    def client(self, role: Role) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def projectors(self) -> list[int]:
        """The pids of the projector processes the server has started, in order."""
        return [int(pid) for pid in STARTED.findall(self.log())]

    def lag(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        (value,) = re.findall(r"^lineagegraph_projection_lag (\S+)$", text, re.M)
        return float(value)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        with self.client(Role.READER) as client:
            body = client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")  # exited, not yet reaped
    except FileNotFoundError:
        return True


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    events = EventLog(Settings(data_dir=tmp_path).log_url)
    tokens = TokenStore(events.engine)
    issued = {r: tokens.create(f"proc-{r.value}", r)[1] for r in (Role.INGESTER, Role.READER)}
    events.close()
    port = free_port()
    log_path = tmp_path / "server.log"
    cmd = [*CLI, "serve", "--projection", "process", "--port", str(port)]
    env = {**os.environ, "LINEAGEGRAPH_DATA_DIR": str(tmp_path), "LINEAGEGRAPH_LOG_LEVEL": "INFO"}
    with log_path.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    served = Served(proc, f"http://127.0.0.1:{port}", log_path, issued)

    def up() -> bool:
        assert proc.poll() is None, served.log()[-3000:]
        try:
            return httpx.get(f"{served.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, "the server is ready")
        yield served
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _emit(served: Served, job: str, parent_id: str) -> str:
    """A run of ``job`` through the openlineage-python client; its run id."""
    run_id = str(uuid.uuid4())
    emit_run(
        served.url,
        served.tokens[Role.INGESTER],
        Job(namespace="proc", name=job),
        run_id=run_id,
        parent_id=parent_id,
        inputs=[InputDataset(namespace="s3://lake", name=f"{job}_in")],
        outputs=[OutputDataset(namespace="s3://lake", name=f"{job}_out")],
    )
    return run_id


RUN = """
query Run($id: ID!) {
  node(id: $id) { props }
  lineage(id: $id, direction: DOWNSTREAM, depth: 1, granularity: RUN) { nodes { node { id } } }
}
"""


def _projected_run(served: Served, run_id: str, out: str) -> None:
    """Once the server reports no lag, it answers with the run and what it wrote."""
    wait_until(lambda: served.lag() == 0, "the projection caught up")
    data = served.gql(RUN, id=f"run:{run_id}")
    assert data["node"]["props"]["state"] == "COMPLETE"
    assert f"dataset:s3://lake|{out}" in {n["node"]["id"] for n in data["lineage"]["nodes"]}


def test_serve_projects_in_a_process_of_its_own_and_answers_from_it(served: Served) -> None:
    parent_id = str(uuid.uuid4())
    run_id = _emit(served, "load", parent_id)
    with served.client(Role.INGESTER) as client:  # a batch too
        batch = [
            {
                "eventType": "COMPLETE",
                "eventTime": "2026-02-01T00:00:00Z",
                "producer": "https://example.com/projector-process-test",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": "proc", "name": f"batch_{i}"},
                "outputs": [{"namespace": "s3://lake", "name": f"batch_{i}_out"}],
            }
            for i in range(40)
        ]
        assert client.post("/api/v1/lineage", json=batch).status_code == 201
    _projected_run(served, run_id, "load_out")
    found = served.gql('{ search(text: "batch_", kinds: [JOB], first: 100) { edges { cursor } } }')
    assert len(found["search"]["edges"]) == 40
    (projector,) = served.projectors()
    assert projector != served.proc.pid

    # A projector that dies is replaced, and nothing acknowledged meanwhile is lost.
    os.kill(projector, signal.SIGKILL)
    wait_until(lambda: "exited with code -9" in served.log(), "the server saw the projector die")
    run_id = _emit(served, "after", parent_id)
    _projected_run(served, run_id, "after_out")
    first, second = served.projectors()
    assert first == projector and second != projector

    # Stopping the server stops its projector.
    served.proc.terminate()
    served.proc.wait(timeout=60)
    wait_until(lambda: _gone(second), "the projector stopped with the server", timeout=30)


def test_the_projector_batches_more_than_the_server_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lineagegraph.ingest.projector_process import PROCESS_BATCH, batch_size

    assert batch_size(Settings()) == PROCESS_BATCH > Settings().projection_batch
    assert batch_size(Settings(projection_batch=64)) == 64
    monkeypatch.setenv("LINEAGEGRAPH_PROJECTION_BATCH", "5000")
    assert batch_size(Settings()) == 5000
