"""The OpenLineage hot path (a raw ASGI route ahead of FastAPI's, and without CORS, a
lane ahead of the middleware stack): it is still logged, measured, documented and
refused like every other route."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lineagegraph.auth import Role
from tests.api.conftest import CORS_ORIGIN, Api
from tests.api.server import LiveServer, captured_access_log, live_server


def _event() -> dict[str, object]:
    return {
        "eventType": "START",
        "eventTime": "2026-03-01T00:00:00Z",
        "producer": "https://example.com/route-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "route-test", "name": "hot-path"},
    }


def _samples(server: LiveServer, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    with server.client() as client:
        text = client.get("/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.fixture(scope="module")
def lane(api: Api) -> Iterator[LiveServer]:
    """The session's services served by an app without CORS: with its fast lane."""
    from lineagegraph.api.app import create_app

    settings = api.services.settings.model_copy(update={"cors_origins": []})
    app = create_app(settings, services=api.services)
    assert app.fast_lane is not None
    with live_server(app) as server:
        yield server


@pytest.mark.parametrize("served", ["routed", "fast lane"])
def test_the_hot_path_is_logged_measured_and_counted(
    api: Api, lane: LiveServer, served: str
) -> None:
    server = lane if served == "fast lane" else api.server
    latency = "lineagegraph_http_request_duration_seconds_count"
    received = "lineagegraph_api_ingest_inputs_total"
    key = (("method", "POST"), ("route", "/api/v1/lineage"), ("status", "201"))
    accepted = (("outcome", "accepted"), ("source", "openlineage"))
    before = _samples(server, latency).get(key, 0)
    counted = _samples(server, received).get(accepted, 0)
    request_id = f"ol-{served.replace(' ', '-')}"
    with captured_access_log() as stream, server.client(api.tokens[Role.INGESTER]) as client:
        response = client.post(
            "/api/v1/lineage", json=_event(), headers={"X-Request-ID": request_id}
        )
    assert response.status_code == 201 and response.json()["status"] == "accepted"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == request_id
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if f'"{request_id}"' in x]
    assert (line["route"], line["status"], line["principal"]) == (
        "/api/v1/lineage",
        201,
        "test-ingester",
    )
    assert api.tokens[Role.INGESTER] not in stream.getvalue()
    assert _samples(server, latency)[key] == before + 1
    assert _samples(server, received)[accepted] == counted + 1


def test_the_fast_lane_answers_errors_as_the_app_does(
    api: Api, lane: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lineagegraph.api import openlineage

    bad = {**_event(), "eventTime": "yesterday"}
    answers = []
    for server in (api.server, lane):
        with server.client() as client:
            anonymous = client.post("/api/v1/lineage", json=_event())
        with server.client(api.tokens[Role.READER]) as client:
            reader = client.post("/api/v1/lineage", json=_event())
        with server.client(api.tokens[Role.INGESTER]) as client:
            invalid = client.post("/api/v1/lineage", json=bad)
        answers.append([anonymous, reader, invalid])
    for routed, laned in zip(*answers, strict=True):
        assert laned.status_code == routed.status_code
        assert laned.json()["error"]["code"] == routed.json()["error"]["code"]
        assert laned.json()["error"].get("path") == routed.json()["error"].get("path")
    anonymous, reader, invalid = answers[1]
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert reader.status_code == 403
    assert invalid.status_code == 400 and invalid.json()["error"]["path"] == "$.eventTime"

    async def broken(*_: object) -> object:
        raise RuntimeError("a bug, with a secret in its message")

    monkeypatch.setattr(openlineage, "ingest_request", broken)
    with captured_access_log() as stream, lane.client(api.tokens[Role.INGESTER]) as client:
        crashed = client.post("/api/v1/lineage", json=_event(), headers={"X-Request-ID": "ol-500"})
    assert crashed.status_code == 500
    assert crashed.json()["error"] == {
        "code": "internal",
        "message": "internal error (request ol-500)",
    }
    assert "secret" not in crashed.text
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if '"request"' in x]
    assert (line["request_id"], line["status"]) == ("ol-500", 500)


def test_new_request_ids_are_unique(api: Api) -> None:
    with api.client(Role.READER) as client:
        ids = {client.post("/api/v1/lineage", json={}).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_other_methods_cors_and_openapi_still_apply(api: Api) -> None:
    with api.server.client() as client:
        get = client.get("/api/v1/lineage")
        preflight = client.options(
            "/api/v1/lineage",
            headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        paths = client.get("/openapi.json").json()["paths"]
    with api.client(Role.INGESTER) as client:
        cross = client.post("/api/v1/lineage", json=_event(), headers={"Origin": CORS_ORIGIN})
    assert get.status_code == 405 and "POST" in get.headers["allow"]
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert cross.status_code == 201
    assert cross.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert {"401", "403", "413"} <= set(paths["/api/v1/lineage"]["post"]["responses"])


def test_the_documented_route_serves_the_same_without_the_raw_one(api: Api) -> None:
    from lineagegraph.api import openlineage
    from lineagegraph.api.app import create_app
    from tests.api.server import live_server

    app = create_app(api.services.settings, services=api.services)
    app.router.routes.remove(openlineage.route)
    with live_server(app) as server:
        with server.client(api.tokens[Role.INGESTER]) as client:
            ok = client.post("/api/v1/lineage", json=_event())
        with server.client(api.tokens[Role.READER]) as client:
            refused = client.post("/api/v1/lineage", json=_event())
    assert ok.status_code == 201 and ok.json()["status"] == "accepted"
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


def test_a_cancelled_request_leaves_its_submission_to_the_committer() -> None:
    import asyncio
    from concurrent.futures import Future
    from types import SimpleNamespace

    from lineagegraph.api import openlineage
    from lineagegraph.ingest.log import Appended
    from lineagegraph.ingest.openlineage.ingest import check
    from lineagegraph.ingest.openlineage.reader import RawItem
    from lineagegraph.ingest.service import SubmitResult

    submission: Future[SubmitResult] = Future()
    svc = SimpleNamespace(ingest=SimpleNamespace(submit_grouped=lambda *_: submission))
    checked = [check(RawItem("body", doc=_event()))]

    async def cancel_while_waiting() -> None:
        task = asyncio.create_task(openlineage._ingest(svc, checked))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

    asyncio.run(cancel_while_waiting())
    assert not submission.cancelled()  # so the group committer can still resolve it
    submission.set_result(SubmitResult([Appended(1, False)], True))
