"""The ASGI apps ``bench_openlineage_floor.py`` serves under uvicorn: how fast HTTP
alone can answer one event per request on this machine, without lineagegraph's work.

(``GET`` answers 200: the benchmark's readiness check.)

* ``raw``: a bare ASGI app that reads the body and answers 201;
* ``fastapi``: a FastAPI route that reads the body and parses it (orjson);
* ``validating``: ``raw`` plus lineagegraph's own validation of the event
  (parse, the pydantic models of the spec, canonical JSON and its key),
  without logging or projecting it;
* ``acking()`` (a factory): lineagegraph's own app, answering once the event is
  durable in the log, with nobody projecting in the process: the HTTP half of
  a server whose projection runs in another process, :func:`project`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from lineagegraph.ingest.openlineage.ingest import check
from lineagegraph.ingest.openlineage.reader import split_documents

Message = dict[str, Any]


async def _body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def raw(scope: Message, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await _body(receive)
        await _answer(send, 200 if scope["method"] == "GET" else 201, b"{}")


async def validating(scope: Message, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["method"] == "GET":  # the readiness check
        await _answer(send, 200, b"{}")
    elif scope["type"] == "http":
        checked = [check(item) for item in split_documents(await _body(receive), "body")]
        bad = [c.error.to_dict() for c in checked if c.error is not None]
        await _answer(send, 400 if bad else 201, orjson.dumps({"errors": bad}))


fastapi = FastAPI()


@fastapi.get("/healthz")
async def healthz() -> Response:
    return Response(b"{}", media_type="application/json")


@fastapi.post("/api/v1/lineage", status_code=201)
async def lineage(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(b"{}", status_code=201, media_type="application/json")


def _settings() -> Any:
    from lineagegraph.settings import Settings

    return Settings(data_dir=Path(os.environ["FLOOR_DATA_DIR"]), projection_mode="background")


def acking() -> Any:
    """``lineagegraph serve``'s app on ``$FLOOR_DATA_DIR`` with its projection worker
    never started: requests are validated and logged (group commit) and answered."""
    from lineagegraph.api.app import create_app
    from lineagegraph.api.logs import configure_logging
    from lineagegraph.runtime import build_services

    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)  # a line per request, as serve
    return create_app(settings, services=build_services(settings, start_worker=False), tune_gc=True)


def project(linger: float = 0.025) -> None:
    """Project ``$FLOOR_DATA_DIR``'s log into its store from this process until SIGTERM,
    as the background worker does (a batch, then ``linger`` when it was not full)."""
    from lineagegraph.graph.registry import open_store
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.ingest.mappers import configure_mappers
    from lineagegraph.ingest.projection import Projector

    settings = _settings()
    configure_mappers(settings)
    projector = Projector(EventLog(settings.log_url), open_store(settings.store_uri))
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    while not stopping:
        report = projector.run_once()
        if report.projected + report.failed < projector.batch:
            time.sleep(linger)
