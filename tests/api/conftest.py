"""Fixtures of the API tests: one real server for the session, tokens of every role,
and data ingested through the API itself (OpenLineage fixtures, the demo lifecycle)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
from tests.api.server import CountingStore, LiveServer, gql, live_server

CORS_ORIGIN = "http://explorer.example"


@dataclass
class Api:
    """The session's server, its services and a token per role."""

    server: LiveServer
    services: Services
    store: CountingStore
    tokens: dict[Role, str]

    def client(self, role: Role | None = Role.READER) -> httpx.Client:
        return self.server.client(self.tokens[role] if role else None)


def make_services(settings: Settings) -> tuple[Services, CountingStore]:
    """Services like ``build_services`` makes, with the store behind a counting proxy."""
    store = CountingStore(open_store(settings.store_uri))
    log = EventLog(settings.log_url)
    ingest = IngestService(log, store, mode=settings.projection_mode, store_name="test")
    return Services(settings, store, log, ingest, IdentityResolver([])), store


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("api")
    settings = Settings(data_dir=data_dir, cors_origins=[CORS_ORIGIN], anonymous_read=False)
    services, store = make_services(settings)
    tokens = TokenStore(services.log.engine)
    issued = {role: tokens.create(f"test-{role.value}", role)[1] for role in Role}
    try:
        with live_server(create_app(settings, services=services)) as server:
            yield Api(server, services, store, issued)
    finally:
        services.close()


def fixture_events(openlineage_fixtures: Path) -> list[tuple[str, list[object]]]:
    """Every fixture file's events (a file holds one event or an array), by file."""
    out = []
    for path in sorted((openlineage_fixtures / "events").rglob("*.json")):
        doc = json.loads(path.read_text())
        events = doc if isinstance(doc, list) else [doc]
        out.append((str(path.relative_to(openlineage_fixtures)), events))
    return out


INGEST = """
mutation Ingest($events: [JSON!]!) {
  ingestOpenLineage(events: $events) {
    __typename
    ... on IngestReport { accepted duplicates projected warnings rejected { index path message } }
    ... on UserError { code message path }
  }
}
"""


@pytest.fixture(scope="session")
def ingested(api: Api, openlineage_fixtures: Path) -> dict[str, dict[str, object]]:
    """The OpenLineage fixtures, ingested through the GraphQL mutation: report by file."""
    reports = {}
    with api.client(Role.INGESTER) as client:
        for name, events in fixture_events(openlineage_fixtures):
            reports[name] = gql(client, INGEST, {"events": events})["ingestOpenLineage"]
    return reports
