"""The ASGI apps ``bench_openlineage_floor.py`` serves under uvicorn: how fast HTTP
alone can answer one event per request on this machine, without lineagegraph's work.

(``GET`` answers 200: the benchmark's readiness check.)

* ``raw``: a bare ASGI app that reads the body and answers 201;
* ``fastapi``: a FastAPI route that reads the body and parses it (orjson);
* ``validating``: ``raw`` plus lineagegraph's own validation of the event
  (parse, the pydantic models of the spec, canonical JSON and its key),
  without logging or projecting it.
"""

from __future__ import annotations

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
