"""The dialect table: what differs between Neo4j and FalkorDB, and nothing else."""

from __future__ import annotations

import re

import pytest

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.cypher.dialect import (
    DIALECTS,
    EDGE_KIND_BY_TYPE,
    EDGE_TYPES,
    FALKORDB,
    NEO4J,
    NODE_LABELS,
    SCHEMA,
    dialect_named,
    edge_type_pattern,
)
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from tests.cypher.falkordb_server import FalkorDBServer, falkordb

__all__ = ["falkordb"]

IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def test_labels_and_types_come_from_the_enums_and_are_plain_identifiers() -> None:
    assert set(NODE_LABELS) == set(NodeKind) and set(EDGE_TYPES) == set(EdgeKind)
    assert len(set(NODE_LABELS.values())) == len(NodeKind)
    assert len(set(EDGE_TYPES.values())) == len(EdgeKind)
    assert all(IDENT.match(v) for v in [*NODE_LABELS.values(), *EDGE_TYPES.values()])
    assert NODE_LABELS[NodeKind.MODEL_VERSION] == "ModelVersion"
    assert EDGE_TYPES[EdgeKind.INSTANCE_OF] == "INSTANCE_OF"
    assert {EDGE_KIND_BY_TYPE[t] for t in EDGE_TYPES.values()} == set(EdgeKind)


def test_edge_type_pattern_is_sorted_and_refuses_nothing_to_match() -> None:
    kinds = [EdgeKind.PRODUCED, EdgeKind.CONSUMED]
    assert edge_type_pattern(kinds) == ":CONSUMED|PRODUCED"
    assert edge_type_pattern(["trained"]) == ":TRAINED"  # type: ignore[list-item]
    with pytest.raises(ValueError):
        edge_type_pattern([])
    with pytest.raises(ValueError):
        edge_type_pattern(["consumed]->(x) DETACH DELETE x //"])  # type: ignore[list-item]


def test_neo4j_row() -> None:
    assert NEO4J.node_id("b") == "elementId(b)"
    ddl = dict((ix.name, text) for ix, text in NEO4J.index_statements())
    assert ddl["lg_node_key"] == (
        "CREATE CONSTRAINT lg_node_key IF NOT EXISTS FOR (n:LGNode) REQUIRE n.key IS UNIQUE"
    )
    assert (
        ddl["lg_node_kind"] == "CREATE INDEX lg_node_kind IF NOT EXISTS FOR (n:LGNode) ON (n.kind)"
    )
    assert NEO4J.index_listing is None and NEO4J.lock_meta_first
    assert NEO4J.text("a\x00b") == "a\x00b"


def test_falkordb_row() -> None:
    assert FALKORDB.node_id("a") == "id(a)"
    statements = FALKORDB.index_statements()
    assert [text for _, text in statements] == [
        f"CREATE INDEX FOR (n:{ix.label}) ON (n.{ix.prop})" for ix in SCHEMA
    ]
    # indexes that exist are not created again (the DDL has no IF NOT EXISTS)
    left = FALKORDB.index_statements([("LGNode", "key"), ("LGNode", "kind")])
    assert [ix.name for ix, _ in left] == ["lg_node_name_fold", "lg_meta_id"]
    assert FALKORDB.index_listing is not None and not FALKORDB.lock_meta_first
    assert FALKORDB.text("a\x00b") == "a\ufffdb"


def test_node_id_takes_identifiers_only() -> None:
    with pytest.raises(ValueError):
        FALKORDB.node_id("a) OR 1=1 //")


def test_dialects_by_name() -> None:
    assert dialect_named("FalkorDB") is FALKORDB and dialect_named("neo4j") is NEO4J
    assert set(DIALECTS) == {"neo4j", "falkordb"}
    with pytest.raises(InvalidInput) as info:
        dialect_named("memgraph")
    assert info.value.path == "dialect" and "memgraph" in str(info.value)


@pytest.mark.integration
def test_the_neo4j_lock_statement_is_portable_cypher(falkordb: FalkorDBServer) -> None:
    """Neo4j's write-lock statement runs (and changes nothing) on another server."""
    from lineagegraph.graph.cypher import queries as q
    from lineagegraph.graph.cypher.connectors import RespConnector

    c = RespConnector(falkordb.resp_uri("lock_test"))
    try:
        c.write(lambda r: r.run(q.META_CREATE, {"meta": "m", "schema": q.SCHEMA_VERSION}))
        assert c.write(lambda r: r.run(q.META_LOCK, {"meta": "m"})) == [[0, 0]]
        props = c.read(lambda r: r.run("MATCH (m:LGMeta) RETURN properties(m)"))[0][0]
        assert "_lock" not in props
    finally:
        c.drop_graph()
        c.close()
