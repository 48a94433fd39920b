"""The OpenLineage hot path (a raw ASGI route ahead of FastAPI's): it is still logged,
measured, documented and refused like every other route."""

from __future__ import annotations

import json
import uuid

from prometheus_client.parser import text_string_to_metric_families

from lineagegraph.auth import Role
from tests.api.conftest import CORS_ORIGIN, Api
from tests.api.server import captured_access_log


def _event() -> dict[str, object]:
    return {
        "eventType": "START",
        "eventTime": "2026-03-01T00:00:00Z",
        "producer": "https://example.com/route-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "route-test", "name": "hot-path"},
    }


def _samples(api: Api, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    with api.server.client() as client:
        text = client.get("/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_the_hot_path_is_logged_measured_and_counted(api: Api) -> None:
    latency = "lineagegraph_http_request_duration_seconds_count"
    received = "lineagegraph_api_ingest_inputs_total"
    key = (("method", "POST"), ("route", "/api/v1/lineage"), ("status", "201"))
    accepted = (("outcome", "accepted"), ("source", "openlineage"))
    before, counted = _samples(api, latency).get(key, 0), _samples(api, received).get(accepted, 0)
    with captured_access_log() as stream, api.client(Role.INGESTER) as client:
        response = client.post("/api/v1/lineage", json=_event(), headers={"X-Request-ID": "ol-7"})
    assert response.status_code == 201 and response.json()["status"] == "accepted"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "ol-7"
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if '"ol-7"' in x]
    assert (line["route"], line["status"], line["principal"]) == (
        "/api/v1/lineage",
        201,
        "test-ingester",
    )
    assert api.tokens[Role.INGESTER] not in stream.getvalue()
    assert _samples(api, latency)[key] == before + 1
    assert _samples(api, received)[accepted] == counted + 1


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
