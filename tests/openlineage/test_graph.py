"""OpenLineage events through the real log and the embedded store: the lineage the
captures describe is queryable, and projection is idempotent and order-tolerant."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.lineage import Granularity, lineage
from lineagegraph.graph.store import Direction, GraphStore, TraversalSpec
from lineagegraph.ingest.identity import AliasRule
from lineagegraph.ingest.mappers import configure_mappers
from lineagegraph.ingest.openlineage.ingest import IngestReport
from lineagegraph.runtime import build_services
from lineagegraph.settings import Settings
from tests.openlineage.helpers import Sink, capture, fixture_events, sink

E = EdgeKind


def run_of(event: dict[str, Any]) -> NodeKey:
    return NodeKey.run(event["run"]["runId"].lower())


def ds(d: dict[str, Any]) -> NodeKey:
    return NodeKey.dataset_key(d["namespace"], d["name"])


def out_edges(store: GraphStore, key: NodeKey, kind: EdgeKind, **kw: Any) -> set[NodeKey]:
    return {
        e.dst
        for e in store.get_edges([key], direction=Direction.DOWNSTREAM, edge_kinds=[kind], **kw)
    }


def in_edges(store: GraphStore, key: NodeKey, kind: EdgeKind, **kw: Any) -> set[NodeKey]:
    return {
        e.src for e in store.get_edges([key], direction=Direction.UPSTREAM, edge_kinds=[kind], **kw)
    }


def assert_describes(store: GraphStore, events: list[dict[str, Any]]) -> None:
    """The store holds what the events say: hierarchy, inputs, outputs, states, facets."""
    terminal: dict[NodeKey, str] = {}
    for ev in events:
        run, job = run_of(ev), NodeKey.job(ev["job"]["namespace"], ev["job"]["name"])
        assert out_edges(store, run, E.INSTANCE_OF) == {job}
        parent = (ev["run"].get("facets") or {}).get("parent")
        if parent:
            assert NodeKey.run(parent["run"]["runId"]) in out_edges(store, run, E.CHILD_OF)
        for d in ev.get("inputs") or []:
            assert run in out_edges(store, ds(d), E.CONSUMED)
            assert job in out_edges(store, ds(d), E.CONSUMED)
        for d in ev.get("outputs") or []:
            assert ds(d) in out_edges(store, run, E.PRODUCED)
            assert ds(d) in out_edges(store, job, E.PRODUCED)
        if ev.get("eventType") in ("COMPLETE", "FAIL", "ABORT"):
            terminal[run] = ev["eventType"]
        props = store.get_nodes([run])[run].props
        for name in ev["run"].get("facets") or {}:
            assert f"facets.{name}" in props, name
    nodes = store.get_nodes(list(terminal))
    assert {k: n.props["state"] for k, n in nodes.items()} == terminal


def test_airflow_capture_run_hierarchy_datasets_and_states(
    tmp_path: Path, openlineage_fixtures: Path
) -> None:
    runs = [capture(openlineage_fixtures, f"airflow/{d}") for d in ("events-run1", "events-run2")]
    failed = capture(openlineage_fixtures, "airflow/events-failed-run")
    with sink(tmp_path) as s:
        report = s.ingest([e for events in [*runs, failed] for e in events])
        assert (report.accepted, report.rejected) == (25, 0)
        for events in [*runs, failed]:
            assert_describes(s.store, events)
        dag_run = run_of(runs[0][-1])  # the DAG run's COMPLETE comes last
        tasks = in_edges(s.store, dag_run, E.CHILD_OF)
        task_names = {s.store.get_nodes([t])[t].props["job_name"] for t in tasks}
        assert task_names == {"jaffle_ol_demo.build_order_totals", "jaffle_ol_demo.export_totals"}
        # the file the export task writes: job-level lineage shows the task, run-level its run
        export = NodeKey.dataset_key("file", "/data/exports/order_totals.csv")
        job_view = lineage(s.store, export, direction=Direction.UPSTREAM, depth=1)
        assert NodeKey.job("airflow_demo", "jaffle_ol_demo.export_totals") in job_view.depth
        run_view = lineage(
            s.store, export, direction=Direction.UPSTREAM, depth=1, granularity=Granularity.RUN
        )
        assert {run_of(runs[0][6]), run_of(runs[1][6])} <= set(run_view.depth)
        # well-known facets are first-class properties, every facet is kept
        task = NodeKey.job("airflow_demo", "jaffle_ol_demo.export_totals")
        job = s.store.get_nodes([task])[task].props
        assert job["owners"] == [{"name": "airflow", "type": None}]
        assert (job["integration"], job["job_type"], job["type"]) == ("AIRFLOW", "TASK", "batch")
        assert job["source_code_language"] == "python"
        failing = next(e for e in failed if "errorMessage" in e["run"]["facets"])
        props = s.store.get_nodes([run_of(failing)])[run_of(failing)].props
        assert props["error_message"] == failing["run"]["facets"]["errorMessage"]["message"]
        assert props["processing_engine"]["name"] == "Airflow"


def test_dbt_capture_lineage_and_test_results(tmp_path: Path, openlineage_fixtures: Path) -> None:
    run_events = capture(openlineage_fixtures, "dbt/events-run")
    test_events = capture(openlineage_fixtures, "dbt/events-test")
    with sink(tmp_path) as s:
        s.ingest(run_events + test_events)
        assert_describes(s.store, run_events + test_events)
        invocation = run_of(run_events[0])
        models = in_edges(s.store, invocation, E.CHILD_OF)
        assert len(models) == 5
        # where customers comes from, at job level: the models and the staging tables
        customers = NodeKey.dataset_key("duckdb://jaffle_shop.duckdb", "jaffle_shop.main.customers")
        up = lineage(s.store, customers, direction=Direction.UPSTREAM)
        names = {k.parts[1] for k in up.depth if k.kind.value == "dataset"}
        assert {"jaffle_shop.main.stg_customers", "jaffle_shop.main.stg_payments"} <= names
        assert NodeKey.job("jaffle_dev", "jaffle_shop.main.jaffle_shop.customers") in up.depth
        # dbt tests: each dataset's latest assertion results, and per test run on the edge
        orders = NodeKey.dataset_key("duckdb://jaffle_shop.duckdb", "jaffle_shop.main.orders")
        props = s.store.get_nodes([orders])[orders].props
        results = {k: v for k, v in props.items() if k.startswith("quality.")}
        assert len(results) == 10 and all(r["success"] for r in results.values())
        test_run = next(e for e in test_events if e["job"]["name"].endswith("orders.test"))
        edge = s.store.get_edges([orders], direction=Direction.DOWNSTREAM, edge_kinds=[E.CONSUMED])
        per_run = {e.dst: e.props for e in edge}[run_of(test_run)]
        assert len(per_run["data_quality_assertions"]) == 10
        # the schema is versioned by its shape and its columns are fields
        fields = out_edges(s.store, customers, E.HAS_FIELD)
        assert {f.parts[2] for f in fields} >= {"customer_id", "first_name", "number_of_orders"}


def test_column_lineage_is_queryable_across_hops(
    tmp_path: Path, openlineage_fixtures: Path
) -> None:
    events = [
        e for name, _, e in fixture_events(openlineage_fixtures) if "metadata.rendered" in name
    ]
    with sink(tmp_path) as s:
        s.ingest(events)
        ns = "food_delivery"
        top = NodeKey.field(ns, "public.top_delivery_times", "order_placed_on")
        reached = s.store.traverse(
            TraversalSpec(
                starts=(top,), direction=Direction.UPSTREAM, edge_kinds=frozenset({E.DERIVES})
            )
        )
        # every hop the events describe: top_delivery_times <- delivery_7_days <- ... <- orders
        expected: set[NodeKey] = set()
        frontier = {top}
        by_output = {}
        for ev in events:
            for out in ev.get("outputs") or []:
                cl = (out.get("facets") or {}).get("columnLineage")
                for field, spec in (cl or {}).get("fields", {}).items():
                    by_output[NodeKey.field(out["namespace"], out["name"], field)] = {
                        NodeKey.field(i["namespace"], i["name"], i["field"])
                        for i in spec["inputFields"]
                    }
        while frontier:
            nxt = set().union(*(by_output.get(f, set()) for f in frontier)) - expected
            expected |= nxt
            frontier = nxt
        assert len(expected) >= 3
        assert set(reached.depth) - {top} == expected


def t(minutes: int) -> str:
    return (datetime(2026, 4, 1, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def run_event(
    run: str, etype: str, minute: int, outputs: Sequence[str] = (), **kw: Any
) -> dict[str, Any]:
    return {
        "eventType": etype,
        "eventTime": t(minute),
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run},
        "job": {"namespace": "etl", "name": "load"},
        "outputs": [{"namespace": "s3://lake", "name": name} for name in outputs],
        **kw,
    }


R1 = "00000000-0000-4000-8000-000000000001"
R2 = "00000000-0000-4000-8000-000000000002"
R3 = "00000000-0000-4000-8000-000000000003"
JOB = NodeKey.job("etl", "load")
A, B = NodeKey.dataset_key("s3://lake", "a"), NodeKey.dataset_key("s3://lake", "b")


def stale_scenario() -> list[dict[str, Any]]:
    """Run 1 writes a and b (outputs on START only, as many producers do); run 2 only a."""
    return [
        run_event(R1, "START", 0, ["a", "b"]),
        run_event(R1, "COMPLETE", 10),
        run_event(R2, "START", 20, ["a"]),
        run_event(R2, "COMPLETE", 30),
    ]


def test_outputs_a_job_stops_writing_stop_being_current(tmp_path: Path) -> None:
    with sink(tmp_path) as s:
        s.ingest(stale_scenario(), one_by_one=True)
        assert out_edges(s.store, JOB, E.PRODUCED) == {A}
        # history is kept: the run still wrote b, and as of before run 2 the job did too
        assert B in out_edges(s.store, NodeKey.run(R1), E.PRODUCED)
        before = datetime.fromisoformat(t(25))
        assert out_edges(s.store, JOB, E.PRODUCED, as_of=before) == {A, B}
        stale = s.store.get_edges([JOB], direction=Direction.DOWNSTREAM, include_deleted=True)
        ended = {e.dst: e.deleted_at for e in stale if e.kind is E.PRODUCED}
        assert ended == {A: None, B: datetime.fromisoformat(t(30))}
        down = lineage(s.store, JOB, direction=Direction.DOWNSTREAM)
        assert B not in down.depth
        # a later run writing b again makes it current again
        s.ingest([run_event(R3, "START", 40, ["b"]), run_event(R3, "COMPLETE", 50, ["b"])])
        assert out_edges(s.store, JOB, E.PRODUCED) == {B}


def orders(
    events: list[dict[str, Any]], seed: int
) -> Iterator[tuple[str, list[dict[str, Any]], bool]]:
    yield "as sent, one batch", events, False
    yield "reversed, one by one", events[::-1], True
    rng = random.Random(seed)
    for i in range(2):
        shuffled = events[:]
        rng.shuffle(shuffled)
        yield f"shuffle {i}, one by one", shuffled, True


@pytest.mark.parametrize("scenario", ["stale outputs", "captures"])
def test_any_arrival_order_gives_the_same_graph(
    tmp_path: Path, openlineage_fixtures: Path, scenario: str
) -> None:
    if scenario == "stale outputs":
        events = [
            *stale_scenario(),
            run_event(R3, "START", 40, ["b"]),
            run_event(R3, "COMPLETE", 50),
        ]
    else:
        events = capture(openlineage_fixtures, "airflow/events-run1") + capture(
            openlineage_fixtures, "dbt/events-run"
        )
    snapshots = {}
    for name, ordered, one_by_one in orders(events, seed=7):
        with sink(tmp_path, name.replace(" ", "_").replace(",", "")) as s:
            report = s.ingest(ordered, one_by_one=one_by_one)
            assert report.accepted == len(events)
            snapshots[name] = s.snapshot()
    first = next(iter(snapshots.values()))
    assert len(first) > 10
    for name, snap in snapshots.items():
        assert snap == first, name


def test_a_terminal_state_is_never_overwritten_by_a_late_or_later_event(tmp_path: Path) -> None:
    with sink(tmp_path) as s:
        s.ingest(
            [
                run_event(R1, "COMPLETE", 10),
                run_event(R1, "RUNNING", 12),  # a stray heartbeat after completion
                run_event(R1, "START", 0),  # the START, delivered last
            ],
            one_by_one=True,
        )
        props = s.store.get_nodes([NodeKey.run(R1)])[NodeKey.run(R1)].props
        assert props["state"] == "COMPLETE"
        assert props["started_at"] == t(0) and props["ended_at"] == t(10)


def test_the_same_event_twice_changes_nothing(tmp_path: Path, openlineage_fixtures: Path) -> None:
    events = capture(openlineage_fixtures, "dbt/events-run")
    with sink(tmp_path) as s:
        first = s.ingest(events)
        before, head = s.snapshot(), s.log.head()
        again = s.ingest(events)
        assert (first.accepted, again.accepted, again.duplicates) == (12, 0, 12)
        assert s.snapshot() == before and s.log.head() == head


def test_every_fixture_ingests_and_only_the_invalid_ones_are_dead_lettered(
    tmp_path: Path, openlineage_fixtures: Path
) -> None:
    events = [e for _, _, e in fixture_events(openlineage_fixtures)]
    with sink(tmp_path) as s:
        report: IngestReport = s.ingest(events)
        assert report.rejected == 2
        assert report.accepted + report.duplicates == len(events) - 2
        letters = {d.error for d in s.log.dead_letters()}
        assert letters == {
            "$.run.runId: invalid RunEvent: required property 'runId' is missing (rule: required)",
            "$.outputs[0].facets.ownership.owners[0].name: invalid RunEvent: required "
            "property 'name' is missing (rule: required)",
        }
        assert s.log.counts()["projection_errors"] == 0
        runs = {
            run_of(e)
            for e, r in zip(events, report.results, strict=True)
            if "run" in e and r.status != "rejected"
        }
        assert set(s.store.get_nodes(list(runs))) == runs


def test_alias_rules_from_settings_reach_the_mapper(tmp_path: Path) -> None:
    rule = AliasRule(namespace="s3://lake", name="(?P<p>.*)", to_namespace="s3://lake-v2")
    settings = Settings(data_dir=tmp_path, store_uri="memory://", dataset_aliases=[rule])
    services = build_services(settings)
    try:
        s = Sink(services.ingest)
        s.ingest([run_event(R1, "COMPLETE", 0, ["a"])])
        assert out_edges(s.store, NodeKey.run(R1), E.PRODUCED) == {
            NodeKey.dataset_key("s3://lake-v2", "a")
        }
    finally:
        services.close()
        configure_mappers(Settings(data_dir=tmp_path))  # mappers are process-wide


def test_a_dropped_dataset_ends_and_a_later_write_revives_it(tmp_path: Path) -> None:
    facet = {"_producer": "p", "_schemaURL": "s", "lifecycleStateChange": "DROP"}
    drop = {"namespace": "s3://lake", "name": "a", "facets": {"lifecycleStateChange": facet}}
    with sink(tmp_path) as s:
        s.ingest([run_event(R1, "COMPLETE", 0, ["a"])])
        s.ingest([{**run_event(R2, "COMPLETE", 10), "outputs": [drop]}])
        assert s.store.get_nodes([A]) == {}
        assert A in s.store.get_nodes([A], as_of=datetime.fromisoformat(t(5)))
        s.ingest([run_event(R3, "COMPLETE", 20, ["a"])])
        assert A in s.store.get_nodes([A])
