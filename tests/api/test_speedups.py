"""The per-field shortcuts (``speedups.py``) give exactly Strawberry's answers and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry

from lineagegraph.api.graphql.context import Context
from lineagegraph.api.graphql.schema import build_schema
from lineagegraph.api.graphql.speedups import FastExecutor, speed_up
from lineagegraph.auth import Principal, Role
from tests.api.conftest import Api

NODE_FIELDS = """
  id kind name namespace keyParts props firstSeen lastSeen deletedAt
  provenance { source eventId }
  links(first: 3) { totalCount edges { node { kind direction firstSeen node { id kind } } } }
  ... on Dataset { schema { name type description fields { name } } description owners
                   tags { key value } deprecated quality facets lifecycleState updatedAt
                   producedBy(first: 2) { edges { node { id state runId startedAt } } }
                   fields(first: 5) { edges { node { id path type } } } }
  ... on Job { description jobType integration sql sourceCode
               runs(first: 2) { edges { node { id state endedAt params { key value } } } } }
  ... on Run { runId state startedAt endedAt nominalTime errorMessage codeVersion user
               params { key value } metrics { key value } job { id name } parent { id } }
"""


def _run(schema: strawberry.Schema, api: Api, query: str, variables: dict[str, Any]) -> Any:
    context = Context(api.services, Principal("test", Role.READER, "t"))
    result = asyncio.run(schema.execute(query, variables, context_value=context))
    errors = [(e.message, e.path) for e in result.errors or []]
    return result.data, errors


def test_the_sped_up_schema_answers_exactly_as_strawberry_does(
    api: Api, ingested: dict[str, Any]
) -> None:
    fast, plain = (
        build_schema(api.services.settings),
        build_schema(api.services.settings, fast=False),
    )
    ids: list[str] = []
    by_kind: dict[str, str] = {}
    for kind in ("DATASET", "JOB", "RUN", "FIELD"):
        query = "query($k: NodeKind!) { search(kinds: [$k], first: 30) { edges { node { id } } } }"
        found, _ = _run(plain, api, query, {"k": kind})
        kind_ids = [e["node"]["id"] for e in found["search"]["edges"]]
        assert kind_ids, kind
        ids += kind_ids
        by_kind[kind] = kind_ids[0]
    queries = [(f"query($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}", {"id": i}) for i in ids]
    queries += [
        (
            "query($id: ID!) { lineage(id: $id, depth: 3, limit: 100) { truncated "
            "nodes { depth node { id kind name namespace } } "
            "edges { source target kind props firstSeen lastSeen } } }",
            {"id": by_kind["DATASET"]},
        ),
        (
            "query($id: ID!) { impact(id: $id) { total truncated owners byKind { kind count } "
            "affected { depth path via owners node { id kind } } } }",
            {"id": by_kind["DATASET"]},
        ),
        ('{ node(id: "not an id") { id } nodes(ids: []) { id } }', {}),  # errors too
    ]
    for query, variables in queries:
        assert _run(fast, api, query, variables) == _run(plain, api, query, variables), variables


@strawberry.type
class Thing:
    name: str
    label: str | None = None


@strawberry.type
class Root:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        broken = Thing(name="b")
        broken.name = None  # type: ignore[assignment]  # a null where the schema says never
        return [Thing(name="a", label="x"), broken, Thing(name="c")]


def test_a_null_in_a_non_null_plain_field_is_the_same_error() -> None:
    plain = strawberry.Schema(query=Root)
    fast = strawberry.Schema(query=Root, execution_context_class=FastExecutor)
    speed_up(fast)
    query = "{ things { name label } }"
    a, b = plain.execute_sync(query), fast.execute_sync(query)
    expected = [{"name": "a", "label": "x"}, None, {"name": "c", "label": None}]
    assert a.data == b.data == {"things": expected}
    assert a.errors and b.errors
    assert [(e.message, e.path) for e in a.errors] == [(e.message, e.path) for e in b.errors]
