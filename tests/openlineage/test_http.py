"""POST /api/v1/lineage over real HTTP (uvicorn on a loopback port), as producers use it."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset
from openlineage.client.facet_v2 import schema_dataset, sql_job
from openlineage.client.transport.http import (
    HttpCompression,
)

from lineagegraph.api.app import create_app
from lineagegraph.auth import Role, TokenStore
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.store import Direction
from lineagegraph.runtime import Services
from lineagegraph.settings import Settings
from tests.api.server import LiveServer, live_server
from tests.openlineage.helpers import capture, emit_run

LIMIT = 256 * 1024
URL = "/api/v1/lineage"


@dataclass
class Server:
    live: LiveServer
    tokens: dict[Role, str]

    @property
    def services(self) -> Services:
        svc: Services = self.live.app.state.services
        return svc

    def client(self, role: Role | None = Role.INGESTER) -> httpx.Client:
        return self.live.client(self.tokens[role] if role else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The whole service (embedded store and log on disk), its body limit lowered."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ol-http"),
        openlineage_max_body_bytes=LIMIT,
        openlineage_max_batch=50,
    )
    with live_server(create_app(settings)) as live:
        tokens = TokenStore(live.app.state.services.log.engine)
        issued = {r: tokens.create(f"ol-{r.value}", r)[1] for r in (Role.INGESTER, Role.READER)}
        yield Server(live, issued)


def test_the_openlineage_python_client_emits_to_the_service(server: Server) -> None:
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    for compression in (None, HttpCompression.GZIP):
        schema = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name="id", type="BIGINT")]
        )
        job = Job(
            namespace="client-test",
            name=f"load_{compression}",
            facets={"sql": sql_job.SQLJobFacet(query="INSERT INTO out SELECT * FROM src")},
        )
        emit_run(
            server.live.url,
            server.tokens[Role.INGESTER],
            job,
            run_id=run_id,
            parent_id=parent_id,
            inputs=[InputDataset(namespace="postgres://db:5432", name="app.public.src")],
            outputs=[OutputDataset(namespace="s3://lake", name="out", facets={"schema": schema})],
            compression=compression,
        )
        store = server.services.store
        run = NodeKey.run(run_id)
        props = store.get_nodes([run])[run].props
        assert props["state"] == "COMPLETE"
        assert {e.dst for e in store.get_edges([run], direction=Direction.DOWNSTREAM)} >= {
            NodeKey.run(parent_id),
            NodeKey.job("client-test", job.name),
            NodeKey.dataset_key("s3://lake", "out"),
        }
        job_key = NodeKey.job("client-test", job.name)
        assert store.get_nodes([job_key])[job_key].props["sql"].startswith("INSERT INTO out")
        field = NodeKey.field("s3://lake", "out", "id")
        assert store.get_nodes([field])[field].props["type"] == "BIGINT"


def event(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-02-01T00:00:00Z",
        "producer": "https://example.com/http-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "http-test", "name": name},
        **kw,
    }


def test_one_event_gets_marquez_status_codes(server: Server) -> None:
    with server.client() as c:
        doc = event("single", eventTime="2026-02-01T00:00:00")  # no timezone: a warning
        first = c.post(URL, json=doc)
        assert first.status_code == 201
        assert first.json()["status"] == "accepted"
        assert [w["code"] for w in first.json()["warnings"]] == ["time_without_timezone"]
        again = c.post(URL, json=doc)
        assert again.status_code == 201
        assert (again.json()["status"], again.json()["seq"]) == ("duplicate", first.json()["seq"])

        bad = event("single")
        del bad["run"]["runId"]
        refused = c.post(URL, json=bad)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert (error["code"], error["path"]) == ("validation_failed", "$.run.runId")
        assert error["details"]["rule"] == "required"
        letters = {d.seq: d for d in server.services.log.dead_letters(limit=1000)}
        assert "$.run.runId" in letters[error["details"]["dead_letter"]].error

        garbled = c.post(URL, content=b'{"eventType": "START",', headers=_json)
        assert garbled.status_code == 400
        assert garbled.json()["error"]["details"]["rule"] == "json"


_json = {"Content-Type": "application/json"}


def test_a_batch_keeps_its_good_events_whatever_the_bad_ones(
    server: Server, openlineage_fixtures: Path
) -> None:
    good = capture(openlineage_fixtures, "airflow/events-run1")[:4]
    bad = event("batch", eventType="DONE")
    with server.client() as c:
        mixed = c.post(URL, json=[good[0], bad, good[1]])
        assert mixed.status_code == 207
        body = mixed.json()
        assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
        assert body["results"][1]["error"]["path"] == "$.eventType"
        assert body["results"][1]["error"]["details"]["rule"] == "enum"
        # NDJSON, gzipped: the first two are duplicates now, all are fine
        ndjson = b"\n".join(json.dumps(e).encode() for e in good) + b"\n"
        sent = c.post(
            URL,
            content=gzip.compress(ndjson),
            headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        )
        assert sent.status_code == 201
        assert [r["status"] for r in sent.json()["results"]] == ["duplicate"] * 2 + ["accepted"] * 2
        none = c.post(URL, json=[bad, {"not": "an event"}])
        assert none.status_code == 400
        assert [r["status"] for r in none.json()["error"]["details"]["results"]] == ["rejected"] * 2
    run = NodeKey.run(good[1]["run"]["runId"])
    assert server.services.store.get_nodes([run])


def test_limits_and_encodings_are_refused_clearly(server: Server) -> None:
    with server.client() as c:
        big = event("big", run={"runId": str(uuid.uuid4()), "facets": {}})
        big["job"]["facets"] = {"blob": {"_producer": "p", "_schemaURL": "s", "x": "y" * LIMIT}}
        too_large = c.post(URL, json=big)
        assert too_large.status_code == 413
        assert too_large.json()["error"]["details"]["limit_bytes"] == LIMIT
        bomb = gzip.compress(b"[" + b" " * (LIMIT * 4) + b"]")
        assert len(bomb) < LIMIT
        inflated = c.post(URL, content=bomb, headers={**_json, "Content-Encoding": "gzip"})
        assert inflated.status_code == 413
        many = c.post(URL, json=[event(f"n{i}") for i in range(51)])
        assert many.status_code == 413
        assert many.json()["error"]["details"]["max_batch"] == 50
        brotli = c.post(URL, content=b"{}", headers={**_json, "Content-Encoding": "br"})
        assert brotli.status_code == 415
        corrupt = c.post(
            URL, content=b"\x1f\x8bnot gzip", headers={**_json, "Content-Encoding": "gzip"}
        )
        assert corrupt.status_code == 400 and corrupt.json()["error"]["details"]["rule"] == "gzip"


def test_ingest_needs_an_ingester_token(server: Server) -> None:
    with server.client(None) as anonymous, server.client(Role.READER) as reader:
        assert anonymous.post(URL, json=event("auth")).status_code == 401
        assert reader.post(URL, json=event("auth")).status_code == 403
