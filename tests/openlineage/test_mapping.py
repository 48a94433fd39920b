"""OpenLineage events -> ChangeSets: the graph shape, facet by facet (no store needed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.graph.changeset import ChangeSet, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.registry import open_store
from lineagegraph.ingest.identity import AliasRule, IdentityResolver
from lineagegraph.ingest.openlineage.facets import DATASET_FACETS, JOB_FACETS, RUN_FACETS
from lineagegraph.ingest.openlineage.mapping import OpenLineageMapper
from lineagegraph.ingest.openlineage.validate import validate_event
from tests.openlineage.helpers import templates

E = EdgeKind
PROV = Provenance("openlineage", "test")
RUN_ID = "3f1c2d5e-8b7a-4d0c-9e21-1a2b3c4d5e6f"
FACET = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s"}


def mapped(event: Mapping[str, Any], mapper: OpenLineageMapper | None = None) -> ChangeSet:
    cs = (mapper or OpenLineageMapper()).map(validate_event(event), PROV)
    cs.validate()
    return cs


def props(cs: ChangeSet, key: NodeKey) -> dict[str, Any]:
    """The properties the ChangeSet gives a node (its upserts merged in order)."""
    out: dict[str, Any] = {}
    found = False
    for n in cs.nodes:
        if n.key == key:
            found = True
            out.update(n.props)
    assert found, f"{key} is not upserted"
    return out


def edges(cs: ChangeSet, kind: EdgeKind | None = None) -> dict[tuple[str, str, str], Any]:
    return {
        (str(e.src), e.kind.value, str(e.dst)): dict(e.props)
        for e in cs.edges
        if kind is None or e.kind is kind
    }


def event(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-01T10:00:00Z",
        "producer": "https://example.com/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": RUN_ID},
        "job": {"namespace": "etl", "name": "daily"},
    }
    base.update(parts)
    return base


DS_IN = NodeKey.dataset_key("postgres://db:5432", "shop.public.orders")
DS_OUT = NodeKey.dataset_key("s3://lake", "marts/orders")
RUN = NodeKey.run(RUN_ID)
JOB = NodeKey.job("etl", "daily")


def test_a_run_event_becomes_runs_jobs_datasets_fields_and_versions() -> None:
    cs = mapped(
        event(
            inputs=[
                {
                    "namespace": "postgres://DB:5432/",
                    "name": "shop.public.orders",
                    "facets": {
                        "schema": {**FACET, "fields": [{"name": "id", "type": "int"}]},
                        "version": {**FACET, "datasetVersion": "42"},
                    },
                    "inputFacets": {"inputStatistics": {**FACET, "rowCount": 10}},
                }
            ],
            outputs=[
                {
                    "namespace": "s3://lake",
                    "name": "marts/orders",
                    "facets": {
                        "schema": {
                            **FACET,
                            "fields": [
                                {"name": "id", "type": "int", "ordinal_position": 1},
                                {"name": "addr", "type": "struct", "fields": [{"name": "zip"}]},
                            ],
                        }
                    },
                    "outputFacets": {"outputStatistics": {**FACET, "rowCount": 7, "size": 99}},
                }
            ],
        )
    )
    assert props(cs, RUN)["state"] == "COMPLETE"
    assert props(cs, JOB)["last_completed_run"]["run_id"] == RUN_ID
    # the namespace spelling is normalized (host case, trailing slash): one node
    assert props(cs, DS_IN)["current_version"] == "42"
    dv_in = NodeKey.dataset_version(DS_IN.parts[0], DS_IN.parts[1], "42")
    out_version = props(cs, DS_OUT)["current_version"]
    assert out_version.startswith("schema-")  # no version facet: the schema's hash
    dv_out = NodeKey.dataset_version(DS_OUT.parts[0], DS_OUT.parts[1], out_version)
    got = edges(cs)
    for edge in [
        (RUN, E.INSTANCE_OF, JOB),
        (DS_IN, E.CONSUMED, RUN),
        (DS_IN, E.CONSUMED, JOB),
        (RUN, E.PRODUCED, DS_OUT),
        (JOB, E.PRODUCED, DS_OUT),
        (dv_in, E.VERSION_OF, DS_IN),
        (RUN, E.READ_VERSION, dv_in),
        (RUN, E.WROTE_VERSION, dv_out),
        (DS_OUT, E.HAS_FIELD, NodeKey.field(*DS_OUT.parts, "addr")),
        (DS_OUT, E.HAS_FIELD, NodeKey.field(*DS_OUT.parts, "addr", "zip")),
    ]:
        assert (str(edge[0]), edge[1].value, str(edge[2])) in got, edge
    assert got[(str(DS_IN), "consumed", str(RUN))]["input_statistics"]["row_count"] == 10
    produced = got[(str(RUN), "produced", str(DS_OUT))]
    assert produced["output_statistics"] == {"row_count": 7, "size": 99, "file_count": None}
    assert "facets.outputStatistics" in produced
    field = props(cs, NodeKey.field(*DS_OUT.parts, "id"))
    assert (field["type"], field["ordinal_position"], field["path"]) == ("int", 1, ["id"])


def test_run_state_comes_only_from_terminal_events() -> None:
    states = {}
    for etype in ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"):
        p = props(mapped(event(eventType=etype)), RUN)
        states[etype] = (p.get("state"), p.get("running_state"), "started_at" in p)
    assert states == {
        "START": (None, "START", True),
        "RUNNING": (None, "RUNNING", False),
        "COMPLETE": ("COMPLETE", None, False),
        "FAIL": ("FAIL", None, False),
        "ABORT": ("ABORT", None, False),
        "OTHER": (None, None, False),
    }
    assert "completed_at" not in props(mapped(event(eventType="FAIL")), RUN)


def test_parent_run_facet_links_the_run_to_a_parent_created_from_the_facet(
    openlineage_fixtures: Path,
) -> None:
    facet = json.loads((openlineage_fixtures / "facet-examples/ParentRunFacet/2.json").read_text())
    cs = mapped(event(run={"runId": RUN_ID, "facets": facet}))
    parent = facet["parent"]
    parent_run = NodeKey.run(parent["run"]["runId"])
    parent_job = NodeKey.job(parent["job"]["namespace"], parent["job"]["name"])
    got = edges(cs)
    assert (str(RUN), "child_of", str(parent_run)) in got
    assert (str(parent_run), "instance_of", str(parent_job)) in got
    run = props(cs, RUN)
    assert run["root_run_id"] == parent["root"]["run"]["runId"]
    assert (run["root_job_namespace"], run["root_job_name"]) == ("airflow", "my_dag")
    assert run["parent_run_id"] == parent["run"]["runId"]
    # the parent's own facets are the parent's events' business, not the child's
    assert props(cs, parent_run) == {"run_id": parent["run"]["runId"]}


def test_column_lineage_keeps_transformations_and_creates_input_fields(
    openlineage_fixtures: Path,
) -> None:
    facet = json.loads(
        (openlineage_fixtures / "facet-examples/ColumnLineageDatasetFacet/1.json").read_text()
    )
    facet["columnLineage"]["dataset"] = [
        {
            "namespace": "SnowflakeOpenLineage",
            "name": "CUSTOMERS",
            "field": "REGION",
            "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
        }
    ]
    out = {"namespace": "SnowflakeOpenLineage", "name": "DISCOUNTS_BY_NAME", "facets": facet}
    cs = mapped(event(outputs=[out]))
    derives = edges(cs, E.DERIVES)

    def f(ds: str, name: str) -> str:
        return str(NodeKey.field("SnowflakeOpenLineage", ds, name))

    name_from_name = derives[(f("CUSTOMERS", "NAME"), "derives", f("DISCOUNTS_BY_NAME", "NAME"))]
    assert name_from_name["transformations"] == [
        {"type": "DIRECT", "subtype": "IDENTITY", "masking": False}
    ]
    assert name_from_name["transformation_type"] == "IDENTITY"  # the deprecated form, kept
    assert name_from_name["transformation_description"] == "SELECT NAME"
    join = derives[(f("DISCOUNTS", "CUSTOMERS_ID"), "derives", f("DISCOUNTS_BY_NAME", "ENDS_AT"))]
    assert join["transformations"][0]["subtype"] == "JOIN"
    # a dataset-level dependency derives every output field
    for out_field in ("NAME", "AMOUNT_OFF", "STARTS_AT", "ENDS_AT"):
        dep = derives[(f("CUSTOMERS", "REGION"), "derives", f("DISCOUNTS_BY_NAME", out_field))]
        assert dep["transformations"] == [
            {"type": "INDIRECT", "subtype": "FILTER", "scope": "dataset"}
        ]
    # input fields of datasets the event does not list exist as fields of their datasets
    customers = NodeKey.dataset_key("SnowflakeOpenLineage", "CUSTOMERS")
    assert (str(customers), "has_field", f("CUSTOMERS", "ID")) in edges(cs, E.HAS_FIELD)


def test_a_table_symlink_names_the_dataset_and_alias_rules_apply_after() -> None:
    files = {
        "namespace": "s3://warehouse",
        "name": "/hive/sales.db/orders",
        "facets": {
            "symlinks": {
                **FACET,
                "identifiers": [
                    {"namespace": "hive://metastore:9083", "name": "sales.orders", "type": "TABLE"}
                ],
            }
        },
    }
    cs = mapped(event(inputs=[files]))
    table = NodeKey.dataset_key("hive://metastore:9083", "sales.orders")
    path = NodeKey.dataset_key("s3://warehouse", "/hive/sales.db/orders")
    assert (str(table), "consumed", str(RUN)) in edges(cs)
    assert (str(path), "alias_of", str(table)) in edges(cs)
    assert props(cs, table)["symlinks"][0]["name"] == "sales.orders"

    rule = AliasRule(
        namespace="hive://metastore:9083",
        name=r"(?P<db>\w+)\.(?P<t>\w+)",
        to_namespace="databricks://ws",
        to_name="main.{db}.{t}",
    )
    cs = mapped(event(inputs=[files]), OpenLineageMapper(IdentityResolver([rule])))
    canonical = NodeKey.dataset_key("databricks://ws", "main.sales.orders")
    assert (str(canonical), "consumed", str(RUN)) in edges(cs)


def test_lifecycle_drop_tombstones_the_dataset_and_rename_links_the_old_name() -> None:
    def with_lifecycle(state: str, **extra: Any) -> dict[str, Any]:
        facet = {**FACET, "lifecycleStateChange": state, **extra}
        return {
            "namespace": "s3://lake",
            "name": "marts/orders",
            "facets": {"lifecycleStateChange": facet},
        }

    cs = mapped(event(outputs=[with_lifecycle("DROP")]))
    assert [t.key for t in cs.node_tombstones] == [DS_OUT]
    assert props(cs, DS_OUT)["lifecycle_state"]["state"] == "DROP"

    previous = {"namespace": "s3://lake", "name": "marts/orders_v1"}
    cs = mapped(event(outputs=[with_lifecycle("RENAME", previousIdentifier=previous)]))
    old = NodeKey.dataset_key("s3://lake", "marts/orders_v1")
    assert [t.key for t in cs.node_tombstones] == [old]
    assert edges(cs, E.ALIAS_OF)[(str(old), "alias_of", str(DS_OUT))] == {"reason": "rename"}

    cs = mapped(event(outputs=[with_lifecycle("TRUNCATE")]))
    assert cs.node_tombstones == [] and props(cs, DS_OUT)["lifecycle_state"]["state"] == "TRUNCATE"


def test_custom_facets_are_kept_and_a_deleted_facet_clears_its_properties() -> None:
    job = {
        "namespace": "etl",
        "name": "daily",
        "facets": {
            "sql": {**FACET, "query": "select 1"},
            "my_team_facet": {**FACET, "team": {"name": "growth", "oncall": ["ana"]}},
        },
    }
    p = props(mapped(event(job=job)), JOB)
    assert p["sql"] == "select 1"
    assert p["facets.my_team_facet"]["team"] == {"name": "growth", "oncall": ["ana"]}
    job["facets"] = {"sql": {**FACET, "_deleted": True}}
    p = props(mapped(event(job=job)), JOB)
    assert p["facets.sql"] is None and p["sql"] is None and p["sql_dialect"] is None


def test_dataset_and_job_events_carry_static_metadata_and_lineage() -> None:
    base = {k: v for k, v in event().items() if k not in ("run", "eventType")}
    job_event = {
        **base,
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        "outputs": [{"namespace": "s3://lake", "name": "marts/orders"}],
    }
    got = edges(mapped(job_event))
    assert set(got) == {
        (str(DS_IN), "consumed", str(JOB)),
        (str(JOB), "produced", str(DS_OUT)),
    }
    dataset_event = {
        **{k: v for k, v in base.items() if k != "job"},
        "dataset": {
            "namespace": "s3://lake",
            "name": "marts/orders",
            "facets": {"ownership": {**FACET, "owners": [{"name": "team:data", "type": "OWNER"}]}},
        },
    }
    cs = mapped(dataset_event)
    assert props(cs, DS_OUT)["owners"] == [{"name": "team:data", "type": "OWNER"}]
    assert cs.edges == []


def test_the_facets_airflow_and_dbt_send_all_map(openlineage_fixtures: Path) -> None:
    """Every facet in the producers' expected events (templates) is kept on its node,
    and the standard ones become their first-class properties."""
    store = open_store("memory://")
    seen: set[str] = set()
    mapper = OpenLineageMapper()
    for name, doc in templates(openlineage_fixtures):
        validated = validate_event(doc)
        cs = mapper.map(validated, Provenance("openlineage", name))
        cs.validate()
        store.apply(cs)
        containers: list[tuple[NodeKey, Mapping[str, Any], Mapping[str, Any]]] = []
        if "run" in doc:
            run = NodeKey.run(validated.event.run.runId)  # type: ignore[union-attr]
            containers.append((run, doc["run"].get("facets") or {}, RUN_FACETS))
        job = NodeKey.job(doc["job"]["namespace"], doc["job"]["name"])
        containers.append((job, doc["job"].get("facets") or {}, JOB_FACETS))
        for ds in [*doc.get("inputs", []), *doc.get("outputs", [])]:
            links = (ds.get("facets") or {}).get("symlinks", {}).get("identifiers", [])
            key = NodeKey.dataset_key(
                *IdentityResolver().resolve_with_symlinks(ds["namespace"], ds["name"], links)
            )
            containers.append((key, ds.get("facets") or {}, DATASET_FACETS))
        for key, facets, extractors in containers:
            p = props(cs, key)
            for facet_name in facets:
                seen.add(facet_name)
                assert p[f"facets.{facet_name}"] == facets[facet_name], (name, facet_name)
                for prop in extractors[facet_name](None) if facet_name in extractors else {}:
                    assert prop in p, (name, key, facet_name, prop)
    assert {"columnLineage", "symlinks", "lifecycleStateChange", "ownership", "jobType"} <= seen
    assert store.stats().node_count > 50


@pytest.mark.parametrize("etype", ["START", "COMPLETE"])
def test_mapping_is_a_pure_function_of_the_event(etype: str) -> None:
    doc = event(eventType=etype, outputs=[{"namespace": "s3://lake", "name": "marts/orders"}])
    before = copy.deepcopy(doc)
    assert mapped(doc).__repr__() == mapped(doc).__repr__()
    assert doc == before
