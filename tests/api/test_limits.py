"""The query limits refuse abusive queries with clear errors, before reading anything."""

from __future__ import annotations

from collections.abc import Iterator

from lineagegraph.auth import Role
from tests.api.conftest import Api
from tests.api.server import gql


def _refused(api: Api, query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    api.store.reset()
    with api.client(Role.READER) as client:
        body = gql(client, query, variables, ok=False)
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "limit_exceeded", error
    assert api.store.reads == 0, f"a refused query read the store: {api.store.calls}"
    return error  # type: ignore[no-any-return]


def test_a_too_deep_query_is_refused(api: Api) -> None:
    nested = "id"
    for _ in range(8):
        nested = f"links {{ edges {{ node {{ node {{ {nested} }} }} }} }}"
    error = _refused(api, f'{{ node(id: "dataset:a|b") {{ {nested} }} }}')
    assert error["extensions"]["setting"] == "max_query_depth"
    assert "depth of 12" in error["message"]


def test_too_many_aliases_are_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: stats {{ nodeCount }}" for i in range(31))
    error = _refused(api, f"{{ {aliases} }}")
    assert error["extensions"]["setting"] == "max_query_aliases"
    assert "31 aliases" in error["message"] and "30" in error["message"]


def test_a_huge_document_is_refused_while_parsing(api: Api) -> None:
    fields = " ".join(["nodeCount"] * 6000)
    error = _refused(api, f"{{ stats {{ {fields} }} }}")
    assert error["extensions"]["setting"] == "max_query_tokens"


ABUSIVE = """
query($n: Int!) {
  search(text: "", first: 100) {
    edges { node { ... on Dataset {
      consumedBy(first: $n) { edges { node { outputs(first: $n) { edges { node { id } } } } } }
    } } }
  }
}"""


def test_an_expensive_query_is_refused_with_its_estimated_cost(api: Api) -> None:
    error = _refused(api, ABUSIVE, {"n": 100})
    details = error["extensions"]["details"]
    assert details["cost"] > details["max_cost"] == 50_000
    assert "first:" in error["message"]


def test_the_same_query_with_small_pages_runs(api: Api) -> None:
    with api.client(Role.READER) as client:
        body = gql(client, ABUSIVE, {"n": 2}, ok=False)
    assert "errors" not in body, body


def test_lineage_costs_what_its_limit_allows(api: Api) -> None:
    query = """query($limit: Int) {
      lineage(id: "dataset:a|b", limit: $limit) {
        nodes { node { ... on Dataset { producedBy(first: 100) { edges { node { id } } } } } }
      }
    }"""
    error = _refused(api, query, {"limit": None})  # max_lineage_nodes x a page of 100
    assert error["extensions"]["details"]["cost"] > 50_000
    with api.client(Role.READER) as client:
        small = gql(client, query, {"limit": 10}, ok=False)
    # within the limit: it runs (and says the start node does not exist)
    assert small["errors"][0]["extensions"]["code"] == "not_found"


def test_a_too_large_body_is_refused_before_it_is_parsed(api: Api) -> None:
    from lineagegraph.api.app import create_app
    from tests.api.server import live_server

    settings = api.services.settings.model_copy(update={"max_graphql_body_bytes": 2048})
    big = b'{"query": "{ stats { nodeCount } }", "variables": {"pad": "' + b"x" * 4096 + b'"}}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    headers = {"Content-Type": "application/json"}
    with (
        live_server(create_app(settings, services=api.services)) as server,
        server.client(api.tokens[Role.READER]) as client,
    ):
        declared = client.post("/graphql", content=big, headers=headers)
        streamed = client.post("/graphql", content=chunks(), headers=headers)
        small = gql(client, "{ stats { nodeCount } }")
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "limit_exceeded"
    assert "2048" in declared.json()["errors"][0]["message"]
    assert streamed.status_code == 400
    assert streamed.json()["errors"][0]["extensions"] == {"code": "limit_exceeded", "path": "body"}
    assert small["stats"]["nodeCount"] >= 0
