"""Test helpers for the API: a real uvicorn server, a GraphQL client, a counting store.

``LiveServer`` runs the app with uvicorn on a free loopback port, in a thread
of the test process: requests go through real HTTP, and the test can still
look at the services behind the app (the counting store, the log).
``CountingStore`` is a proxy of our own ``GraphStore`` interface that counts
the calls made to it, for the N+1 test; it is not a stand-in for anything.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from lineagegraph.api.logs import JsonFormatter, access_log
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind
from lineagegraph.graph.store import (
    ApplyResult,
    Direction,
    Edge,
    GraphStore,
    Node,
    SearchPage,
    SearchQuery,
    StoreStats,
    Traversal,
    TraversalSpec,
)


@dataclass
class LiveServer:
    url: str
    app: FastAPI

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """Serve ``app`` on a free loopback port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def captured_access_log() -> Iterator[io.StringIO]:
    """The server's request log lines (JSON, at INFO) written inside the block."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        access_log.removeHandler(handler)


class GraphQLError(AssertionError):
    pass


def gql(
    client: httpx.Client, query: str, variables: dict[str, Any] | None = None, *, ok: bool = True
) -> dict[str, Any]:
    """POST a GraphQL query; with ``ok`` assert there are no errors and return ``data``.

    Without ``ok`` return the whole response body (data and errors).
    """
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = response.json()
    if not ok:
        return body
    if response.status_code != 200 or body.get("errors"):
        raise GraphQLError(f"HTTP {response.status_code}: {body}")
    data: dict[str, Any] = body["data"]
    return data


class CountingStore:
    """A GraphStore that forwards every call to another one and counts them by method."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        self.calls.clear()

    def apply(self, changes: ChangeSet, *, log_position: int | None = None) -> ApplyResult:
        self.calls["apply"] += 1
        return self.inner.apply(changes, log_position=log_position)

    def get_nodes(
        self, keys: Collection[NodeKey], *, as_of: datetime | None = None
    ) -> dict[NodeKey, Node]:
        self.calls["get_nodes"] += 1
        return self.inner.get_nodes(keys, as_of=as_of)

    def get_edges(
        self,
        keys: Collection[NodeKey],
        *,
        direction: Direction = Direction.BOTH,
        edge_kinds: Collection[EdgeKind] | None = None,
        as_of: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[Edge]:
        self.calls["get_edges"] += 1
        return self.inner.get_edges(
            keys,
            direction=direction,
            edge_kinds=edge_kinds,
            as_of=as_of,
            include_deleted=include_deleted,
        )

    def edges_among(
        self,
        keys: Collection[NodeKey],
        *,
        edge_kinds: Collection[EdgeKind] = LINEAGE_EDGE_KINDS,
        as_of: datetime | None = None,
    ) -> list[Edge]:
        self.calls["edges_among"] += 1
        return self.inner.edges_among(keys, edge_kinds=edge_kinds, as_of=as_of)

    def traverse(self, spec: TraversalSpec) -> Traversal:
        self.calls["traverse"] += 1
        return self.inner.traverse(spec)

    def search(self, query: SearchQuery) -> SearchPage:
        self.calls["search"] += 1
        return self.inner.search(query)

    def stats(self) -> StoreStats:
        self.calls["stats"] += 1
        return self.inner.stats()

    def log_position(self) -> int:
        # projection bookkeeping, not a read a query makes: not counted
        return self.inner.log_position()

    def check_health(self) -> None:
        self.inner.check_health()

    def close(self) -> None:
        self.inner.close()

    @property
    def reads(self) -> int:
        return sum(n for name, n in self.calls.items() if name != "apply")
