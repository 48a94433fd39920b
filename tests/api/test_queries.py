"""Every query, through the real server, on the OpenLineage fixtures ingested by the API.

Expectations are read from the fixture events themselves (the dbt run of the
jaffle shop: a parent dbt run, one child run per model, staging tables in,
marts out), never written down by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.auth import Role
from lineagegraph.graph.keys import NodeKey, parse_key
from tests.api.conftest import Api
from tests.api.server import gql

DBT_RUN = Path("events") / "dbt" / "events-run"


def _dbt_events(openlineage_fixtures: Path) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text()) for p in sorted((openlineage_fixtures / DBT_RUN).glob("*.json"))
    ]


@pytest.fixture(scope="module")
def dbt(openlineage_fixtures: Path, ingested: dict[str, Any]) -> dict[str, Any]:
    """What the dbt fixture says: each model job's inputs, outputs, run and parent run."""
    jobs: dict[str, dict[str, Any]] = {}
    schemas: dict[str, list[str]] = {}
    for ev in _dbt_events(openlineage_fixtures):
        job = str(NodeKey.job(ev["job"]["namespace"], ev["job"]["name"]))
        entry = jobs.setdefault(job, {"inputs": set(), "outputs": set(), "parent": None})
        entry["run"] = str(NodeKey.run(ev["run"]["runId"]))
        parent = (ev["run"].get("facets") or {}).get("parent")
        if parent:
            entry["parent"] = str(NodeKey.run(parent["run"]["runId"]))
        for role in ("inputs", "outputs"):
            for ds in ev.get(role, []):
                key = str(NodeKey.dataset_key(ds["namespace"], ds["name"]))
                entry[role].add(key)
                fields = (ds.get("facets") or {}).get("schema", {}).get("fields")
                if fields:
                    schemas[key] = [f["name"] for f in fields]
    # the model that reads the most staging tables: a good lineage subject
    model_job = max((j for j in jobs if jobs[j]["outputs"]), key=lambda j: len(jobs[j]["inputs"]))
    return {"jobs": jobs, "schemas": schemas, "model_job": model_job}


def test_fixtures_ingest_and_the_invalid_ones_are_rejected_precisely(
    ingested: dict[str, Any],
) -> None:
    accepted = sum(r.get("accepted", 0) + r.get("duplicates", 0) for r in ingested.values())
    assert accepted > 50
    rejected = {name: r["rejected"] for name, r in ingested.items() if r.get("rejected")}
    # the fixtures' README names the events that are invalid on purpose
    assert {Path(n).name for n in rejected} == {
        "event_no_run_id.json",
        "event_invalid_dataset_facet.json",
    }
    for items in rejected.values():
        assert all(item["path"].startswith("$.") and item["message"] for item in items)
    assert all(r["__typename"] == "IngestReport" for r in ingested.values())


def test_node_shows_a_dataset_with_schema_producers_and_quality(
    api: Api, dbt: dict[str, Any]
) -> None:
    job = dbt["model_job"]
    (output,) = dbt["jobs"][job]["outputs"]
    query = """
    query($id: ID!) {
      node(id: $id) {
        id kind name namespace keyParts firstSeen lastSeen provenance { source eventId }
        ... on Dataset {
          schema { name } description quality
          producedBy { totalCount edges { node { id state job { id } parent { id } } } }
          producingJobs { edges { node { id } } }
          consumingJobs { totalCount }
          fields(first: 3) { totalCount edges { node { id path dataset { id } } } }
          versions { totalCount edges { node { version schema { name } dataset { id } } } }
        }
      }
    }"""
    with api.client(Role.READER) as client:
        node = gql(client, query, {"id": output})["node"]
    assert node["id"] == output and node["kind"] == "DATASET"
    assert node["keyParts"] == list(NodeKey.dataset_key(*node["keyParts"]).parts)
    assert [f["name"] for f in node["schema"]] == dbt["schemas"][output]
    assert node["provenance"]["source"] == "openlineage"
    runs = [e["node"] for e in node["producedBy"]["edges"]]
    assert dbt["jobs"][job]["run"] in {r["id"] for r in runs}
    run = next(r for r in runs if r["id"] == dbt["jobs"][job]["run"])
    assert run["job"]["id"] == job and run["parent"]["id"] == dbt["jobs"][job]["parent"]
    assert run["state"] == "COMPLETE"
    assert [e["node"]["id"] for e in node["producingJobs"]["edges"]] == [job]
    fields = node["fields"]
    assert fields["totalCount"] == len(dbt["schemas"][output]) and len(fields["edges"]) == 3
    assert all(e["node"]["dataset"]["id"] == output for e in fields["edges"])
    assert node["versions"]["totalCount"] >= 1
    version = node["versions"]["edges"][0]["node"]
    assert version["dataset"]["id"] == output
    assert [f["name"] for f in version["schema"]] == dbt["schemas"][output]


def test_node_shows_a_run_with_its_job_parent_inputs_and_outputs(
    api: Api, dbt: dict[str, Any]
) -> None:
    job = dbt["model_job"]
    expected = dbt["jobs"][job]
    query = """
    query($id: ID!) {
      node(id: $id) {
        ... on Run {
          runId state startedAt endedAt
          job { id runs { totalCount } inputs { edges { node { id } } } }
          parent { id children { totalCount edges { node { id } } } }
          inputs { edges { node { id kind } } }
          outputs { edges { node { id } } }
          params { key value } metrics { key value } facets
        }
      }
    }"""
    with api.client(Role.READER) as client:
        run = gql(client, query, {"id": expected["run"]})["node"]
    assert run["state"] == "COMPLETE" and run["startedAt"] <= run["endedAt"]
    assert run["job"]["id"] == job
    assert {e["node"]["id"] for e in run["inputs"]["edges"]} == expected["inputs"]
    assert {e["node"]["id"] for e in run["outputs"]["edges"]} == expected["outputs"]
    assert {e["node"]["id"] for e in run["job"]["inputs"]["edges"]} == expected["inputs"]
    children = {e["node"]["id"] for e in run["parent"]["children"]["edges"]}
    siblings = {j["run"] for j in dbt["jobs"].values() if j["parent"] == expected["parent"]}
    assert run["parent"]["id"] == expected["parent"] and children == siblings
    assert "parent" in run["facets"]


def test_node_refuses_a_malformed_id_naming_it_and_is_null_for_an_unknown_one(api: Api) -> None:
    with api.client(Role.READER) as client:
        body = gql(client, '{ node(id: "no-kind-here") { id } }', ok=False)
        missing = gql(client, '{ node(id: "dataset:nowhere|nothing") { id } }')
        several = gql(
            client,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": ["dataset:nowhere|nothing", "job:jaffle_dev|dbt-run-jaffle_shop"]},
        )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "invalid_key"
    assert error["extensions"]["path"].startswith("id")
    assert "'no-kind-here'" in error["message"]
    assert missing["node"] is None
    assert several["nodes"] == [None, {"id": "job:jaffle_dev|dbt-run-jaffle_shop"}]


def test_search_pages_with_cursors_that_resume_after_any_hit(api: Api, dbt: dict[str, Any]) -> None:
    query = """
    query($text: String!, $first: Int!, $after: String) {
      search(text: $text, kinds: [DATASET], first: $first, after: $after) {
        edges { cursor node { id kind name } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    outputs = set().union(*(j["outputs"] for j in dbt["jobs"].values()))
    with api.client(Role.READER) as client:
        everything = gql(client, query, {"text": "jaffle_shop.main", "first": 100})["search"]
        seen: list[str] = []
        after = None
        while True:
            page = gql(client, query, {"text": "jaffle_shop.main", "first": 2, "after": after})
            hits = page["search"]
            seen += [e["node"]["id"] for e in hits["edges"]]
            if not hits["pageInfo"]["hasNextPage"]:
                break
            after = hits["pageInfo"]["endCursor"]
        # resume after the first hit of a page (not only after its end)
        middle = everything["edges"][0]["cursor"]
        resumed = gql(client, query, {"text": "jaffle_shop.main", "first": 2, "after": middle})
        bad = gql(client, query, {"text": "x", "first": 2, "after": "garbage!"}, ok=False)
    all_ids = [e["node"]["id"] for e in everything["edges"]]
    assert outputs <= set(all_ids)
    assert all(e["node"]["kind"] == "DATASET" for e in everything["edges"])
    assert seen == all_ids  # the same hits, in the same order, none twice
    assert [e["node"]["id"] for e in resumed["search"]["edges"]] == all_ids[1:3]
    assert bad["errors"][0]["extensions"]["code"] == "invalid_input"
    assert bad["errors"][0]["extensions"]["path"] == "after"


LINEAGE = """
query($id: ID!, $direction: Direction!, $depth: Int, $granularity: Granularity!, $limit: Int) {
  lineage(id: $id, direction: $direction, depth: $depth, granularity: $granularity,
          limit: $limit) {
    truncated
    nodes { depth node { id kind } }
    edges { source target kind }
  }
}"""


def test_lineage_upstream_at_job_and_run_granularity(api: Api, dbt: dict[str, Any]) -> None:
    job = dbt["model_job"]
    (output,) = dbt["jobs"][job]["outputs"]
    variables = {"id": output, "direction": "UPSTREAM", "depth": 2}
    with api.client(Role.READER) as client:
        by_job = gql(client, LINEAGE, {**variables, "granularity": "JOB"})["lineage"]
        by_run = gql(client, LINEAGE, {**variables, "granularity": "RUN"})["lineage"]
    depth = {n["node"]["id"]: n["depth"] for n in by_job["nodes"]}
    assert depth[output] == 0 and depth[job] == 1
    assert all(depth[i] == 2 for i in dbt["jobs"][job]["inputs"])
    assert not any(n["node"]["kind"] == "RUN" for n in by_job["nodes"])
    ids = set(depth)
    assert all(e["source"] in ids and e["target"] in ids for e in by_job["edges"])
    assert {(e["source"], e["target"]) for e in by_job["edges"]} >= {(job, output)}
    run_depth = {n["node"]["id"]: n["depth"] for n in by_run["nodes"]}
    assert run_depth[dbt["jobs"][job]["run"]] == 1 and job not in run_depth
    assert not by_job["truncated"] and not by_run["truncated"]


def test_lineage_limit_truncates_and_bad_arguments_are_named(api: Api, dbt: dict[str, Any]) -> None:
    (output,) = dbt["jobs"][dbt["model_job"]]["outputs"]
    base = {"id": output, "direction": "BOTH", "granularity": "ALL"}
    with api.client(Role.READER) as client:
        cut = gql(client, LINEAGE, {**base, "limit": 1})["lineage"]
        too_big = gql(client, LINEAGE, {**base, "limit": 10**6}, ok=False)
        missing = gql(client, LINEAGE, {**base, "id": "dataset:nowhere|x"}, ok=False)
    assert cut["truncated"] and len(cut["nodes"]) == 2  # the start and one more
    assert too_big["errors"][0]["extensions"] == {"code": "invalid_input", "path": "limit"}
    assert missing["errors"][0]["extensions"]["code"] == "not_found"
    assert "dataset:nowhere|x" in missing["errors"][0]["message"]


def test_lineage_as_of_before_anything_happened_is_not_found(api: Api, dbt: dict[str, Any]) -> None:
    (output,) = dbt["jobs"][dbt["model_job"]]["outputs"]
    query = """query($id: ID!, $t: DateTime!) { lineage(id: $id, asOf: $t) { nodes { depth } } }"""
    with api.client(Role.READER) as client:
        past = gql(client, query, {"id": output, "t": "2000-01-01T00:00:00+00:00"}, ok=False)
        naive = gql(client, query, {"id": output, "t": "2030-01-01T00:00:00"}, ok=False)
    assert past["errors"][0]["extensions"]["code"] == "not_found"
    assert naive["errors"][0]["extensions"] == {"code": "invalid_input", "path": "asOf"}


def test_impact_of_a_staging_table_groups_by_kind_with_paths(api: Api, dbt: dict[str, Any]) -> None:
    staging = sorted(set().union(*(j["inputs"] for j in dbt["jobs"].values())))[0]
    readers = {j for j, v in dbt["jobs"].items() if staging in v["inputs"]}
    marts = set().union(*(dbt["jobs"][j]["outputs"] for j in readers))
    query = """
    query($id: ID!) {
      impact(id: $id) {
        total truncated owners
        sources { id }
        byKind { kind count affected { depth path via node { id } pathNodes { id } owners } }
      }
    }"""
    with api.client(Role.READER) as client:
        report = gql(client, query, {"id": staging})["impact"]
    assert [s["id"] for s in report["sources"]] == [staging]
    groups = {g["kind"]: g for g in report["byKind"]}
    assert {a["node"]["id"] for a in groups["JOB"]["affected"]} >= readers
    assert {a["node"]["id"] for a in groups["DATASET"]["affected"]} >= marts
    assert report["total"] == sum(g["count"] for g in report["byKind"])
    for group in report["byKind"]:
        for a in group["affected"]:
            assert a["path"][0] == staging and a["path"][-1] == a["node"]["id"]
            assert [n["id"] for n in a["pathNodes"]] == a["path"]
            assert len(a["path"]) == a["depth"] + 1


def test_impact_of_columns_and_its_input_errors(api: Api, dbt: dict[str, Any]) -> None:
    (output,) = dbt["jobs"][dbt["model_job"]]["outputs"]
    column = str(NodeKey.field(*parse_key(output).parts, dbt["schemas"][output][0]))
    query = """query($fields: [ID!], $id: ID) {
      impact(fields: $fields, id: $id, conservative: true) { total byKind { kind count } }
    }"""
    with api.client(Role.READER) as client:
        report = gql(client, query, {"fields": [column]})["impact"]
        nothing = gql(client, query, {}, ok=False)
        not_a_field = gql(client, query, {"fields": [output]}, ok=False)
    # the dbt fixture has no column lineage: the conservative expansion still finds
    # what is downstream of the column's dataset
    assert report["total"] >= 1
    assert nothing["errors"][0]["extensions"] == {"code": "invalid_input", "path": "id"}
    assert not_a_field["errors"][0]["extensions"]["path"] == "fields[0]"


def test_stats_count_what_was_ingested(api: Api, dbt: dict[str, Any]) -> None:
    query = """{ stats { nodeCount edgeCount logPosition logHead projectionLag
                         nodesByKind { kind count } } }"""
    with api.client(Role.READER) as client:
        stats = gql(client, query)["stats"]
    by_kind = {k["kind"]: k["count"] for k in stats["nodesByKind"]}
    assert stats["nodeCount"] == sum(by_kind.values())
    assert by_kind["job"] >= len(dbt["jobs"]) and by_kind["run"] >= len(dbt["jobs"])
    assert stats["projectionLag"] == 0 and stats["logPosition"] == stats["logHead"] > 0
