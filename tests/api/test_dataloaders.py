"""No N+1: a page of 100 datasets with their producing runs and jobs costs a few store
reads, the same number as a page of 10 (counted by a proxy of our GraphStore)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from lineagegraph.auth import Role
from tests.api.conftest import INGEST, Api
from tests.api.server import gql

NS = "nplus1://warehouse"
PRODUCER = "https://github.com/lineagegraph/lineagegraph/tests"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _event(i: int) -> dict[str, object]:
    return {
        "eventType": "COMPLETE",
        "eventTime": datetime(2026, 5, 1, tzinfo=UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nplus1-{i}"))},
        "job": {"namespace": NS, "name": f"load_{i:03d}"},
        "inputs": [{"namespace": NS, "name": "source"}],
        "outputs": [{"namespace": NS, "name": f"table_{i:03d}"}],
    }


@pytest.fixture(scope="module")
def hundred_datasets(api: Api) -> None:
    with api.client(Role.INGESTER) as client:
        report = gql(client, INGEST, {"events": [_event(i) for i in range(100)]})
    assert (
        report["ingestOpenLineage"]["accepted"] + report["ingestOpenLineage"]["duplicates"] == 100
    )


QUERY = """
query($first: Int!) {
  search(text: "table_", namespace: "nplus1://warehouse", kinds: [DATASET], first: $first) {
    edges { node {
      id
      ... on Dataset {
        producedBy { edges { node { id state job { id name } parent { id } } } }
        producingJobs { totalCount }
        consumingJobs { totalCount }
        versions { totalCount }
      }
    } }
  }
}"""


def _reads(api: Api, first: int) -> tuple[dict[str, int], list[dict[str, object]]]:
    api.store.reset()
    with api.client(Role.READER) as client:
        data = gql(client, QUERY, {"first": first})
    return dict(api.store.calls), data["search"]["edges"]


def test_a_page_of_100_datasets_costs_a_few_store_reads(api: Api, hundred_datasets: None) -> None:
    calls, edges = _reads(api, 100)
    assert len(edges) == 100
    for edge in edges:
        node = edge["node"]
        (run,) = [e["node"] for e in node["producedBy"]["edges"]]
        assert run["state"] == "COMPLETE"
        assert node["id"].endswith(run["job"]["name"].replace("load_", "table_"))
    # one search, then one batched read per level of the query: not one per dataset
    assert calls["search"] == 1
    assert calls.get("get_edges", 0) <= 3 and calls.get("get_nodes", 0) <= 3, calls
    small_calls, small = _reads(api, 10)
    assert len(small) == 10
    assert small_calls == calls  # the same reads for 10 as for 100 datasets
