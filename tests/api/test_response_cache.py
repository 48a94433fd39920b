"""The GraphQL response cache, through real servers: the same bytes as without it, never
a stale answer after a write, no sharing between roles or with refused callers, no
mutation, the stats of the log, or errors cached, bounded by bytes, off without a
store revision.

Two apps serve the same services (one embedded store, one log): one with the
cache, one without, so answers can be compared byte for byte. Hits and misses are
read from ``/metrics``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from lineagegraph.api.app import create_app
from lineagegraph.auth import Role, TokenStore
from lineagegraph.graph.registry import open_store
from lineagegraph.ingest.identity import IdentityResolver
from lineagegraph.ingest.log import EventLog
from lineagegraph.ingest.service import IngestService
from lineagegraph.runtime import Services
from lineagegraph.settings import Settings
from tests.api.conftest import INGEST, Api
from tests.api.server import LiveServer, gql, live_server

NS = "cache://warehouse"
PRODUCER = "https://github.com/lineagegraph/lineagegraph/tests"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
SOURCE = f"dataset:{NS}|source"


def event(job: str, inputs: list[str], outputs: list[str], day: int = 1) -> dict[str, object]:
    return {
        "eventType": "COMPLETE",
        "eventTime": datetime(2026, 6, day, tzinfo=UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cache-{job}-{day}"))},
        "job": {"namespace": NS, "name": job},
        "inputs": [{"namespace": NS, "name": n} for n in inputs],
        "outputs": [{"namespace": NS, "name": n} for n in outputs],
    }


@dataclass
class Servers:
    cached: LiveServer
    uncached: LiveServer
    tokens: dict[Role, str]

    def client(self, role: Role | None = Role.READER, *, cache: bool = True) -> httpx.Client:
        server = self.cached if cache else self.uncached
        return server.client(self.tokens[role] if role else None)

    def counts(self) -> dict[str, float]:
        """The cache's counters and gauge on the cached server."""
        with self.cached.client() as client:
            text = client.get("/metrics").text
        out = {}
        for m in re.finditer(
            r'^lineagegraph_graphql_cache_(requests_total\{outcome="(\w+)"\}|evictions_total|bytes)'
            r" (\S+)$",
            text,
            re.MULTILINE,
        ):
            name = m.group(2) or m.group(1).removesuffix("_total")
            out[name] = float(m.group(3))
        return out


def start(
    data_dir: Any, cache_bytes: int = 64 * 1024 * 1024
) -> tuple[Services, dict[Role, str], Settings]:
    settings = Settings(data_dir=data_dir, anonymous_read=False, graphql_cache_bytes=cache_bytes)
    store = open_store(settings.store_uri)
    log = EventLog(settings.log_url)
    ingest = IngestService(log, store, mode=settings.projection_mode, store_name="test")
    services = Services(settings, store, log, ingest, IdentityResolver([]))
    tokens = TokenStore(log.engine)
    issued = {role: tokens.create(f"cache-{role.value}", role)[1] for role in Role}
    return services, issued, settings


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    services, tokens, settings = start(tmp_path_factory.mktemp("cache"))
    off = settings.model_copy(update={"graphql_cache_bytes": 0})
    try:
        with (
            live_server(create_app(settings, services=services)) as cached,
            live_server(create_app(off, services=services)) as uncached,
        ):
            servers = Servers(cached, uncached, tokens)
            with servers.client(Role.INGESTER) as client:
                events = [
                    event("extract", ["source"], ["raw"]),
                    event("clean", ["raw"], ["clean"]),
                    event("features", ["clean"], ["features"]),
                ]
                gql(client, INGEST, {"events": events})
            yield servers
    finally:
        services.close()


LINEAGE = """
query Lineage($id: ID!, $depth: Int) {
  lineage(id: $id, direction: DOWNSTREAM, depth: $depth, limit: 50) {
    truncated
    nodes { depth node { id kind name ... on Dataset { producingJobs(first: 5) { totalCount } } } }
    edges { source target kind }
  }
}"""

QUERIES: list[tuple[str, dict[str, Any]]] = [
    (LINEAGE, {"id": SOURCE}),
    (LINEAGE, {"id": SOURCE, "depth": 1}),
    (
        f'{{ node(id: "{SOURCE}") {{ id kind '
        "... on Dataset { consumingJobs { edges { node { name } } } } } }",
        {},
    ),
    ('{ search(text: "raw", kinds: [DATASET]) { edges { cursor node { id } } } }', {}),
    (
        "query($id: ID!) { impact(id: $id) { total byKind { kind count } affected { path } } }",
        {"id": SOURCE},
    ),
]


def post(client: httpx.Client, query: str, variables: dict[str, Any]) -> httpx.Response:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response


def test_a_cached_answer_is_the_same_bytes_as_an_uncached_one(servers: Servers) -> None:
    before = servers.counts()
    with servers.client() as cached, servers.client(cache=False) as uncached:
        for query, variables in QUERIES:
            first = post(cached, query, variables)
            again = post(cached, query, variables)
            plain = post(uncached, query, variables)
            assert "errors" not in first.json(), first.text
            assert first.content == again.content == plain.content
    after = servers.counts()
    assert after["hit"] - before["hit"] == len(QUERIES)
    assert after["miss"] - before["miss"] == len(QUERIES)
    assert after["bytes"] > 0


def test_whitespace_and_comments_do_not_make_another_entry(servers: Servers) -> None:
    query = LINEAGE.replace("truncated", "truncated # more lineage?\n   ")
    with servers.client() as client:
        post(client, LINEAGE, {"id": SOURCE, "depth": 2})
        before = servers.counts()
        post(client, query, {"id": SOURCE, "depth": 2})
    assert servers.counts()["hit"] == before["hit"] + 1


def test_an_ingest_between_two_identical_queries_changes_the_answer(servers: Servers) -> None:
    with servers.client() as client:
        first = gql(client, LINEAGE, {"id": SOURCE})
        assert gql(client, LINEAGE, {"id": SOURCE}) == first  # now cached
        ids = {n["node"]["id"] for n in first["lineage"]["nodes"]}
        assert f"dataset:{NS}|model_input" not in ids
        with servers.client(Role.INGESTER) as ingester:
            gql(ingester, INGEST, {"events": [event("train", ["features"], ["model_input"])]})
        second = gql(client, LINEAGE, {"id": SOURCE})
    ids = {n["node"]["id"] for n in second["lineage"]["nodes"]}
    assert {f"dataset:{NS}|model_input", f"job:{NS}|train"} <= ids
    with servers.client(cache=False) as uncached:
        assert gql(uncached, LINEAGE, {"id": SOURCE}) == second


def test_roles_do_not_share_entries_and_refused_callers_get_no_cached_answer(
    servers: Servers,
) -> None:
    variables = {"id": SOURCE, "depth": 3}
    with servers.client(Role.READER) as reader:
        post(reader, LINEAGE, variables)
        before = servers.counts()
        post(reader, LINEAGE, variables)
        assert servers.counts()["hit"] == before["hit"] + 1
    with servers.client(Role.ADMIN) as admin:
        before = servers.counts()
        post(admin, LINEAGE, variables)
        assert servers.counts()["miss"] == before["miss"] + 1  # its own entry
    with servers.client(None) as nobody:  # anonymous reads are off
        body = nobody.post("/graphql", json={"query": LINEAGE, "variables": variables}).json()
    assert body["data"] is None or body["data"].get("lineage") is None
    assert body["errors"][0]["extensions"]["code"] == "unauthenticated"


def test_mutations_stats_and_errors_are_never_cached(servers: Servers) -> None:
    again = [event("extract", ["source"], ["raw"])]  # ingested by the fixture already
    bad = {"id": f"dataset:{NS}|no_such_table"}
    before = servers.counts()
    with servers.client(Role.INGESTER) as client:
        for _ in range(2):
            report = gql(client, INGEST, {"events": again})["ingestOpenLineage"]
            assert report["duplicates"] == 1  # it ran again: an answer of its own
        for _ in range(2):
            gql(client, "{ stats { nodeCount logHead } }")
        for _ in range(2):
            body = gql(client, LINEAGE, bad, ok=False)
            assert body["errors"][0]["extensions"]["code"] == "not_found"
    after = servers.counts()
    assert after["hit"] == before["hit"]
    assert after["bypass"] - before["bypass"] == 4  # the mutations and the stats
    assert after["miss"] - before["miss"] == 2  # the failing lineage, run both times


def test_the_byte_bound_evicts_the_least_recently_used(tmp_path: Any) -> None:
    services, tokens, settings = start(tmp_path, cache_bytes=3000)
    try:
        with live_server(create_app(settings, services=services)) as server:
            servers = Servers(server, server, tokens)
            tables = [f"t{i}" for i in range(8)]
            with servers.client(Role.INGESTER) as client:
                gql(client, INGEST, {"events": [event("load", ["source"], tables)]})
            query = "query($id: ID!) { node(id: $id) { id kind name keyParts } }"
            with servers.client() as client:
                for t in tables:
                    post(client, query, {"id": f"dataset:{NS}|{t}"})
                counts = servers.counts()
                assert counts["evictions"] > 0
                assert 0 < counts["bytes"] <= 3000
                post(client, query, {"id": f"dataset:{NS}|{tables[-1]}"})  # the newest: kept
                assert servers.counts()["hit"] == counts["hit"] + 1
                post(client, query, {"id": f"dataset:{NS}|{tables[0]}"})  # the oldest: evicted
                assert servers.counts()["miss"] == counts["miss"] + 1
    finally:
        services.close()


def test_a_store_without_a_revision_is_never_cached(api: Api) -> None:
    # the session server's store is a counting proxy without revision(), like the
    # Cypher stores: every query reads the store
    assert not hasattr(api.store, "revision")
    query = '{ search(text: "", first: 1) { edges { node { id } } } }'
    api.store.reset()
    with api.client() as client:
        gql(client, query)
        gql(client, query)
    assert api.store.calls["search"] == 2
