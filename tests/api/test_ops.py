"""Operations: health, readiness, metrics, request logs, OpenAPI, CORS, GraphiQL offline,
and errors that never leak internals."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lineagegraph.api.app import create_app
from lineagegraph.api.ui import ui_dir
from lineagegraph.auth import Role, TokenStore
from lineagegraph.errors import BackendUnavailable
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.store import GraphStore, Node
from lineagegraph.settings import Settings
from tests.api.conftest import CORS_ORIGIN, Api, make_services
from tests.api.server import CountingStore, captured_access_log, gql, live_server
from tests.conftest import require


def test_health_and_readiness(api: Api) -> None:
    with api.server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


class BreakableStore(CountingStore):
    """Our GraphStore, made to fail on demand: down, or raising an unexpected error."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.down = False
        self.explode_on: NodeKey | None = None

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("graph store at db.internal:7687 refused the connection")

    def check_health(self) -> None:
        self._check()
        super().check_health()

    def log_position(self) -> int:
        self._check()
        return super().log_position()

    def get_nodes(
        self, keys: Collection[NodeKey], *, as_of: datetime | None = None
    ) -> dict[NodeKey, Node]:
        self._check()
        if self.explode_on in keys:
            raise RuntimeError("secret internals: password=hunter2 at /srv/db")
        return super().get_nodes(keys, as_of=as_of)


@pytest.fixture
def breakable(tmp_path: Path) -> Iterator[tuple[Any, BreakableStore, str]]:
    """A server in background projection mode over a store that can fail."""
    settings = Settings(data_dir=tmp_path, projection_mode="background")
    services, _ = make_services(settings)
    store = BreakableStore(services.store.inner)  # type: ignore[attr-defined]
    services.store = store
    services.ingest.store = store
    services.ingest.projector.store = store
    services.ingest.start()
    token = TokenStore(services.log.engine).create("ops", Role.READER)[1]
    try:
        with live_server(create_app(settings, services=services)) as server:
            yield server, store, token
    finally:
        services.close()


def test_readiness_names_what_is_down_without_internals(
    breakable: tuple[Any, BreakableStore, str], tmp_path: Path
) -> None:
    server, store, _ = breakable
    store.down = True
    with server.client() as client:
        deadline = time.monotonic() + 10
        while True:  # the projection worker notices the outage on its next round
            body = client.get("/readyz")
            if "projection paused" in json.dumps(body.json()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        store.down = False
        deadline = time.monotonic() + 10
        while (recovered := client.get("/readyz")).status_code != 200:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert body.status_code == 503
    assert body.json() == {
        "status": "unavailable",
        "reasons": ["graph store unavailable", "projection paused: the graph store is down"],
    }
    assert "db.internal" not in body.text
    assert recovered.status_code == 200  # the worker retried and the store answered


def test_an_unreachable_log_makes_the_service_unready(
    breakable: tuple[Any, BreakableStore, str], tmp_path: Path
) -> None:
    server, _, _ = breakable
    server.app.state.services.log.engine.dispose()
    shutil.rmtree(tmp_path)  # the log's SQLite file and its directory are gone
    with server.client() as client:
        body = client.get("/readyz")
    assert body.status_code == 503 and "event log unreachable" in body.json()["reasons"]


def test_unexpected_errors_are_masked_with_a_request_id(
    breakable: tuple[Any, BreakableStore, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, store, token = breakable
    store.explode_on = NodeKey.dataset_key("secret", "table")
    with server.client(token) as client, caplog.at_level(logging.ERROR, "lineagegraph.api"):
        response = client.post(
            "/graphql", json={"query": '{ node(id: "dataset:secret|table") { id } }'}
        )
    body = response.json()
    (error,) = body["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "internal"}
    assert error["message"] == f"internal error (request {request_id})"
    assert "hunter2" not in response.text and "/srv/db" not in response.text
    logged = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged and logged[0].exc_info and "hunter2" in str(logged[0].exc_info[1])


def test_metrics_expose_latency_ingest_and_lag(api: Api, ingested: dict[str, Any]) -> None:
    with api.client(Role.READER) as client:
        gql(client, "query DashboardStats { stats { nodeCount } }")
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ops = families["lineagegraph_graphql_operation_duration_seconds"]
    assert any(
        s.labels.get("operation") == "DashboardStats" and s.name.endswith("_count") and s.value >= 1
        for s in ops.samples
    )
    routes = {
        s.labels["route"] for s in families["lineagegraph_http_request_duration_seconds"].samples
    }
    assert "/graphql" in routes
    inputs = {s.labels["status"]: s.value for s in families["lineagegraph_log_inputs"].samples}
    assert set(inputs) == {"accepted", "rejected"}
    assert families["lineagegraph_projection_lag"].samples[0].value == 0
    received = {
        s.labels["outcome"]: s.value
        for s in families["lineagegraph_api_ingest_inputs"].samples
        if s.name.endswith("_total") and s.labels["source"] == "openlineage"
    }
    assert received["accepted"] > 0 and received["rejected"] >= 2  # the invalid fixtures
    up = {s.labels["component"]: s.value for s in families["lineagegraph_backend_up"].samples}
    assert up == {"log": 1.0, "store": 1.0}


def test_request_logs_are_json_lines_without_secrets(api: Api) -> None:
    with captured_access_log() as stream, api.client(Role.INGESTER) as client:
        response = client.post(
            "/graphql",
            json={"query": "query WhoAmI { stats { nodeCount } }"},
            headers={"X-Request-ID": "req-42"},
        )
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (line,) = [entry for entry in lines if entry.get("request_id") == "req-42"]
    assert response.headers["x-request-id"] == "req-42"
    assert line["message"] == "request" and line["level"] == "info"
    assert line["route"] == "/graphql" and line["status"] == 200 and line["method"] == "POST"
    assert line["principal"] == "test-ingester" and line["graphql_operation"] == "WhoAmI"
    assert line["duration_ms"] > 0
    assert api.tokens[Role.INGESTER] not in stream.getvalue()


def test_openapi_documents_the_rest_routes(api: Api) -> None:
    with api.server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/metrics", "/api/v1/lineage"} <= set(paths)
    assert "/graphql" not in paths


def test_cors_allows_only_the_configured_origins(api: Api) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    with api.server.client() as client:
        allowed = client.options("/graphql", headers={"Origin": CORS_ORIGIN, **preflight})
        other = client.options("/graphql", headers={"Origin": "http://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "access-control-allow-origin" not in other.headers


#: Hosts GraphiQL pages load from by default; none may appear in ours.
CDNS = ("unpkg.com", "jsdelivr.net", "esm.sh", "cdnjs", "googleapis.com")


def test_graphiql_is_served_from_our_own_build(api: Api) -> None:
    dist = ui_dir(api.services.settings)
    require(
        (dist / "graphiql.html").is_file(),
        f"no UI build in {dist}: run `npm ci && npm run build` in ui/",
    )
    with api.server.client() as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert page.status_code == 200 and "<title>" in page.text and refs
        assert all(r.startswith("/") and not r.startswith("//") for r in refs), refs
        pending, fetched = list(refs), {}
        while pending:  # every asset, and the assets those load (chunks, workers, fonts)
            ref = pending.pop()
            if ref in fetched:
                continue
            response = client.get(ref)
            fetched[ref] = response.status_code
            if ref.endswith((".js", ".css")):
                assert not any(cdn in response.text for cdn in CDNS), ref
                for name in re.findall(r"assets/([\w.-]+\.(?:js|css|ttf|woff2?))", response.text):
                    pending.append(f"/ui/assets/{name}")
    assert not any(cdn in page.text for cdn in CDNS)
    assert set(fetched.values()) == {200}, fetched
    assert any("worker" in ref for ref in fetched)  # Monaco's workers are ours too
