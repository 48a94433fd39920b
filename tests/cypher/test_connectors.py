"""Connectors: URI handling, the one translation of driver errors, and real servers."""

from __future__ import annotations

import inspect
from typing import Any

import neo4j.exceptions as ne
import pytest
import redis.exceptions as rx
from falkordb.exceptions import SchemaVersionMismatchException

from lineagegraph.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LineageGraphError,
)
from lineagegraph.graph.cypher.connectors import (
    BoltConnector,
    RespConnector,
    open_connector,
    retryable,
    translate_neo4j,
    translate_redis,
)
from lineagegraph.graph.cypher.dialect import FALKORDB, NEO4J
from tests.cypher.falkordb_server import FalkorDBServer, falkordb, falkordb_server

__all__ = ["falkordb"]

# ---- URIs ---------------------------------------------------------------------------------


def test_bolt_uri_options() -> None:
    c = BoltConnector("neo4j+s://db.example.com:7687?database=lineage&dialect=neo4j")
    try:
        assert c.dialect is NEO4J and c.database == "lineage"
        assert c.target == "neo4j+s://db.example.com:7687?database=lineage"
    finally:
        c.close()
    c = BoltConnector("bolt://127.0.0.1:7687?dialect=falkordb")
    try:
        assert c.dialect is FALKORDB and c.database is None
    finally:
        c.close()


@pytest.mark.parametrize(
    "uri",
    [
        "bolt://neo4j:secret@db:7687",  # secrets belong in settings, not in a printed URI
        "bolt://db:7687?db=x",  # unknown option
        "bolt://db:7687?dialect=memgraph",
        "falkordb://user:pw@host:6379/g",
        "falkordb://host:6379/g?x=1",
        "falkordb://host:port/g",
        "falkordb://host:6379/a/b",
        "redis://host:6379/g",
    ],
)
def test_bad_uris_are_refused_naming_the_uri(uri: str) -> None:
    with pytest.raises(InvalidInput) as info:
        open_connector(uri).close()
    assert info.value.path in ("store_uri", "dialect")
    assert "secret" not in str(info.value) and "pw" not in str(info.value)


def test_resp_uri_defaults() -> None:
    c = RespConnector("falkordb://example.com")
    assert (c.host, c.port, c.graph_name) == ("example.com", 6379, "lineagegraph")
    assert c.target == "falkordb://example.com:6379/lineagegraph"
    assert RespConnector("falkordb://h:1234/my%20graph").graph_name == "my graph"


# ---- error translation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected", "again"),
    [
        (ne.ServiceUnavailable("down"), BackendUnavailable, True),
        (ne.SessionExpired("gone"), BackendUnavailable, True),
        (ne.TransientError("deadlock"), BackendUnavailable, True),
        (ne.NotALeader("leader moved"), BackendUnavailable, True),
        (ne.AuthError("bad password"), BackendUnavailable, False),
        (ne.ConstraintError("duplicate key"), Conflict, False),
        (ne.CypherSyntaxError("bad query"), LineageGraphError, False),
        (ne.DatabaseError("crash"), LineageGraphError, False),
        (ne.ConfigurationError("bad config"), InvalidInput, False),
        (OSError("reset"), BackendUnavailable, True),
    ],
)
def test_neo4j_errors(exc: Exception, expected: type[LineageGraphError], again: bool) -> None:
    out = translate_neo4j(exc, "bolt://db:7687")
    assert type(out) is expected and retryable(out) is again
    assert "bolt://db:7687" in str(out)


@pytest.mark.parametrize(
    ("exc", "expected", "again"),
    [
        (rx.ConnectionError("refused"), BackendUnavailable, True),
        (rx.TimeoutError("slow"), BackendUnavailable, True),
        (rx.BusyLoadingError("loading"), BackendUnavailable, True),
        (SchemaVersionMismatchException(3), BackendUnavailable, True),
        (rx.AuthenticationError("bad password"), BackendUnavailable, False),
        (rx.ResponseError("unique constraint violation on node of type LGNode"), Conflict, False),
        (rx.ResponseError("LOADING Redis is loading the dataset"), BackendUnavailable, True),
        (rx.ResponseError("errMsg: Invalid input"), LineageGraphError, False),
        (OSError("reset"), BackendUnavailable, True),
    ],
)
def test_redis_errors(exc: Exception, expected: type[LineageGraphError], again: bool) -> None:
    out = translate_redis(exc, "falkordb://h:1/g")
    assert type(out) is expected and retryable(out) is again


def _exception_classes(module: Any) -> list[type[Exception]]:
    return [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, Exception) and c.__module__ == module.__name__
    ]


@pytest.mark.parametrize(
    ("module", "translate"), [(ne, translate_neo4j), (rx, translate_redis)], ids=["neo4j", "redis"]
)
def test_every_driver_error_is_translated(module: Any, translate: Any) -> None:
    """No driver exception escapes as itself: each one becomes one of ours."""
    for cls in _exception_classes(module):
        try:
            exc = cls("boom")
        except (TypeError, ValueError):
            continue  # needs constructor arguments the driver fills in itself
        assert isinstance(translate(exc, "x"), LineageGraphError), cls


# ---- real servers -----------------------------------------------------------------------------


@pytest.mark.integration
def test_resp_connector_on_a_real_server(falkordb: FalkorDBServer) -> None:
    c = RespConnector(falkordb.resp_uri("connector_test"))
    try:
        c.ping()
        c.check_version()
        assert c.module_version() >= 40000
        # a graph nobody wrote yet reads as empty
        assert c.read(lambda r: r.run("MATCH (n) RETURN count(n)")) == []
        assert c.write(lambda r: r.run("CREATE (n:T {v: $v}) RETURN n.v", {"v": "it's"})) == [
            ["it's"]
        ]
        with pytest.raises(LineageGraphError) as info:
            c.read(lambda r: r.run("THIS IS NOT CYPHER"))
        assert not isinstance(info.value, BackendUnavailable)
        c.drop_graph()
        assert c.read(lambda r: r.run("MATCH (n) RETURN count(n)")) == []
    finally:
        c.close()


@pytest.mark.integration
def test_a_server_that_is_down_is_backend_unavailable() -> None:
    with falkordb_server(bolt=True) as server:
        resp = RespConnector(server.resp_uri("g"), timeout=2)
        bolt = BoltConnector(f"{server.bolt_uri()}?dialect=falkordb", timeout=2)
        resp.ping()
        bolt.ping()
        server.stop()
        for c in (resp, bolt):
            with pytest.raises(BackendUnavailable) as info:
                c.ping()
            assert retryable(info.value) and info.value.path == "store_uri"
        resp.close()
        bolt.close()
