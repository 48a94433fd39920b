"""Harvesting a real MLflow server: what the graph answers after the syncs.

One scenario for the module (``scenario.py``): the first act populates the
server, a first sync harvests it, the second act moves the champion alias,
changes a tag, deletes a run and renames a model, then an incremental sync
and a full re-sync run. The tests ask the graph the questions people ask.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from lineagegraph.graph.export import export_graph
from lineagegraph.graph.impact import impact
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.lineage import Granularity, expand, lineage
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, GraphStore
from lineagegraph.ingest.mlflow.harvester import MlflowHarvester
from lineagegraph.ingest.mlflow.mapping import map_mlflow_event
from lineagegraph.ingest.mlflow.report import SyncReport
from lineagegraph.ingest.projection import Projector
from lineagegraph.runtime import Services, build_services
from lineagegraph.settings import Settings
from tests.mlflow import scenario
from tests.mlflow.mlflow_server import MlflowServer
from tests.mlflow.scenario import CHURN, FRAUD, FRAUD_RENAMED, METASTORE, Story

NS = "mlflow"
PRODUCTION = "https://serving.internal/{model}"
DEPLOYMENTS = [
    {"alias": "champion", "environment": "production", "endpoint": PRODUCTION},
    {"alias": "challenger", "environment": "staging", "endpoint": "{model}"},
]
TABLE = NodeKey.dataset_key(METASTORE, scenario.TRAINING_TABLE)
HOLDOUT = NodeKey.dataset_key("s3://ml-data", "churn/holdout.parquet")


@dataclass
class Harvest:
    story: Story
    services: Services
    first: SyncReport
    second: SyncReport
    full: SyncReport
    on_server: dict[str, int]  # what MLflow itself lists (other test modules share the server)
    between: datetime  # after the first sync, before the second act
    second_window: tuple[datetime, datetime]  # around the second sync
    stats_before_full: Any

    @property
    def store(self) -> GraphStore:
        return self.services.store


def settings_for(tmp: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp,
        store_uri="memory://",
        table_namespace=METASTORE,
        mlflow_deployments=DEPLOYMENTS,
        # harvester and server share one clock here: no skew to cover
        mlflow_sync_overlap_seconds=0,
        **extra,
    )


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def harvest(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harvest]:
    story = scenario.first_act(mlflow_server.url)
    on_server = _count_on_server(mlflow_server.url)
    services = build_services(settings_for(tmp_path_factory.mktemp("harvest")))
    try:
        harvester = MlflowHarvester.from_services(services, mlflow_server.url)
        first = harvester.sync()
        time.sleep(0.05)  # keep "between" strictly after every first-sync observation
        between = _now()
        time.sleep(0.05)
        scenario.second_act(mlflow_server.url, story)
        before = _now()
        second = harvester.sync()
        after = _now()
        stats = services.store.stats()
        full = harvester.sync(full=True)
        yield Harvest(
            story, services, first, second, full, on_server, between, (before, after), stats
        )
    finally:
        services.close()


def _count_on_server(url: str) -> dict[str, int]:
    client = MlflowClient(url)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    ids = [e.experiment_id for e in experiments]
    return {
        "experiment": len(experiments),
        "run": len(client.search_runs(ids, run_view_type=ViewType.ALL, max_results=5000)),
        "model_version": len(client.search_model_versions()),
        "registered_model": len(client.search_registered_models()),
    }


def mv(name: str, version: str) -> NodeKey:
    return NodeKey.model_version(NS, name, version)


def _serving(store: GraphStore, deployment: NodeKey, **kw: Any) -> dict[NodeKey, Any]:
    return {
        e.src: e
        for e in store.get_edges(
            [deployment], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.SERVES], **kw
        )
    }


# ---- the syncs --------------------------------------------------------------------------


def test_first_sync_logs_every_object(harvest: Harvest) -> None:
    r = harvest.first
    # the scenario: two experiments; 7 runs (incl. the parent "sweep" and "scratch"); two
    # models with 5 versions; the server may hold other modules' objects too
    assert harvest.on_server["run"] >= 7 and harvest.on_server["model_version"] >= 5
    for kind in ("experiment", "run", "model_version", "registered_model"):
        assert r.read[kind] == harvest.on_server[kind], kind
    assert r.logged == r.read
    assert harvest.services.log.counts().get("rejected", 0) == 0
    assert harvest.services.log.counts()["projection_errors"] == 0


def test_incremental_sync_reads_only_what_changed(harvest: Harvest) -> None:
    r = harvest.second
    # only the deleted run is read again; the registry is listed, changed versions logged
    assert r.read["run"] == 1 and r.logged["run"] == 1
    assert r.logged["experiment"] == 0
    # churn v2 (its tag) and the renamed model's two versions
    assert r.logged["model_version"] == 3
    assert r.logged["registered_model_deleted"] == 1


def test_full_resync_is_idempotent(harvest: Harvest) -> None:
    assert sum(harvest.full.logged.values()) == 0
    assert harvest.full.read["run"] == harvest.on_server["run"]
    assert harvest.store.stats() == harvest.stats_before_full


# ---- the questions ----------------------------------------------------------------------


def test_which_datasets_trained_a_version(harvest: Harvest) -> None:
    run = NodeKey.run(harvest.story.runs["churn-2"])
    up = lineage(
        harvest.store, mv(CHURN, "2"), direction=Direction.UPSTREAM, granularity=Granularity.RUN
    )
    assert {n.key for n in up.nodes if n.kind is NodeKind.DATASET} == {TABLE, HOLDOUT}
    contexts = {
        e.src: e.props["context"] for e in up.edges if e.kind is EdgeKind.CONSUMED and e.dst == run
    }
    assert contexts == {TABLE: "training", HOLDOUT: "evaluation"}
    # the dataset version read, with the schema MLflow logged
    versions = harvest.store.get_edges(
        [run], direction=Direction.DOWNSTREAM, edge_kinds=[EdgeKind.READ_VERSION]
    )
    table_versions = [e.dst for e in versions if e.dst.dataset == TABLE]
    assert len(table_versions) == 1
    dv = harvest.store.get_nodes(table_versions)[table_versions[0]]
    assert {f["name"] for f in dv.props["fields"]} == {*scenario.FEATURES, "region", "label"}


def test_which_runs_and_features_lead_to_a_version(harvest: Harvest) -> None:
    story = harvest.story
    up = lineage(
        harvest.store, mv(CHURN, "3"), direction=Direction.UPSTREAM, granularity=Granularity.RUN
    )
    keys = {n.key for n in up.nodes}
    assert NodeKey.run(story.runs["churn-3"]) in keys
    features = {k for k in keys if k.kind is NodeKind.FEATURE}
    assert features == {NodeKey.feature(f"{NS}/{CHURN}", f) for f in scenario.FEATURES}
    feeds = {(e.src, e.dst) for e in up.edges if e.kind is EdgeKind.FEEDS}
    for f in scenario.FEATURES:
        assert (
            NodeKey.field(METASTORE, scenario.TRAINING_TABLE, f),
            NodeKey.feature(f"{NS}/{CHURN}", f),
        ) in feeds
    # job granularity: the experiment's Job stands for the runs
    jobs = lineage(harvest.store, mv(CHURN, "3"), direction=Direction.UPSTREAM)
    assert NodeKey.job(NS, "churn-training") in {n.key for n in jobs.nodes}
    assert not any(n.kind is NodeKind.RUN for n in jobs.nodes)
    # structure: parent run, experiment
    edges = harvest.store.get_edges(
        [NodeKey.run(story.runs["churn-3"])], direction=Direction.DOWNSTREAM
    )
    assert (EdgeKind.CHILD_OF, NodeKey.run(story.runs["sweep"])) in {(e.kind, e.dst) for e in edges}
    assert (EdgeKind.IN_EXPERIMENT, NodeKey.experiment(NS, story.experiments["churn"])) in {
        (e.kind, e.dst) for e in edges
    }


def test_which_version_serves_production_and_since_when(harvest: Harvest) -> None:
    store = harvest.store
    prod = NodeKey.deployment("production", f"https://serving.internal/{CHURN}")
    now = _serving(store, prod)
    assert set(now) == {mv(CHURN, "2")}
    since = datetime.fromisoformat(now[mv(CHURN, "2")].props["since"])
    start, end = harvest.second_window
    assert start <= since <= end  # the move was observed by the second sync
    assert now[mv(CHURN, "2")].props["alias"] == "champion"
    # history: version 1 served until the move, and is still there as of before it
    history = _serving(store, prod, include_deleted=True)
    assert history[mv(CHURN, "1")].deleted_at == since
    assert set(_serving(store, prod, as_of=harvest.between)) == {mv(CHURN, "1")}
    assert set(_serving(store, NodeKey.deployment("staging", CHURN))) == {mv(CHURN, "3")}
    node = store.get_nodes([prod])[prod]
    assert [s["version"] for s in node.props["serving"]] == ["2"]
    assert store.get_nodes([mv(CHURN, "2")])[mv(CHURN, "2")].props["aliases"] == ["champion"]
    assert store.get_nodes([mv(CHURN, "1")])[mv(CHURN, "1")].props["aliases"] == []


def test_which_models_a_dataset_feeds(harvest: Harvest) -> None:
    result = impact(harvest.store, TABLE)
    versions = {a.node.key for a in result.by_kind.get(NodeKind.MODEL_VERSION, [])}
    assert versions == {mv(CHURN, v) for v in ("1", "2", "3")}
    deployments = {a.node.key for a in result.by_kind.get(NodeKind.DEPLOYMENT, [])}
    assert NodeKey.deployment("production", f"https://serving.internal/{CHURN}") in deployments
    fraud = impact(harvest.store, NodeKey.dataset_key("s3://ml-data", "fraud/train.parquet"))
    assert {a.node.key for a in fraud.by_kind[NodeKind.MODEL_VERSION]} == {
        mv(FRAUD_RENAMED, "1"),
        mv(FRAUD_RENAMED, "2"),
    }


def test_evaluations_tie_a_version_to_its_holdout(harvest: Harvest) -> None:
    edges = harvest.store.get_edges(
        [mv(CHURN, "2")], direction=Direction.DOWNSTREAM, edge_kinds=[EdgeKind.EVALUATED]
    )
    assert len(edges) == 1
    evaluation = harvest.store.get_nodes([edges[0].dst])[edges[0].dst]
    assert 0.0 <= evaluation.props["metrics"]["accuracy"] <= 1.0
    assert evaluation.props["dataset"] == str(HOLDOUT)
    inputs = harvest.store.get_edges(
        [evaluation.key], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.EVALUATED]
    )
    assert {e.src.kind for e in inputs} == {
        NodeKind.MODEL_VERSION,
        NodeKind.DATASET,
        NodeKind.DATASET_VERSION,
    }
    assert HOLDOUT in {e.src for e in inputs}


def test_deleted_run_is_marked_not_live(harvest: Harvest) -> None:
    run = NodeKey.run(harvest.story.deleted_run)
    assert harvest.store.get_nodes([run]) == {}
    assert run in harvest.store.get_nodes([run], as_of=harvest.between)


def test_tag_change_and_version_facts(harvest: Harvest) -> None:
    node = harvest.store.get_nodes([mv(CHURN, "2")])[mv(CHURN, "2")]
    assert node.props["tags"]["validation"] == "passed"
    assert node.props["run_id"] == harvest.story.runs["churn-2"]
    assert node.props["model_id"].startswith("m-")
    assert [c["name"] for c in node.props["signature"]["inputs"]] == scenario.FEATURES
    links = harvest.store.get_edges(
        [NodeKey.run(harvest.story.runs["churn-2"])], edge_kinds=[EdgeKind.LINKED_RUN]
    )
    assert [e.dst for e in links] == [NodeKey.run(scenario.OPENLINEAGE_RUN)]


def test_renamed_model_ends_the_old_name(harvest: Harvest) -> None:
    store = harvest.store
    old, new = NodeKey.model_key(NS, FRAUD), NodeKey.model_key(NS, FRAUD_RENAMED)
    assert old not in store.get_nodes([old]) and new in store.get_nodes([new])
    assert store.get_nodes([new])[new].props["previous_names"] == [FRAUD]
    assert store.get_nodes([old], as_of=harvest.between)[old].props["name"] == FRAUD
    assert store.get_nodes([mv(FRAUD, "1"), mv(FRAUD, "2")]) == {}
    old_features = [NodeKey.feature(f"{NS}/{FRAUD}", f) for f in scenario.FEATURES]
    assert store.get_nodes(old_features) == {}
    old_prod = NodeKey.deployment("production", f"https://serving.internal/{FRAUD}")
    assert _serving(store, old_prod) == {}
    new_prod = NodeKey.deployment("production", f"https://serving.internal/{FRAUD_RENAMED}")
    assert set(_serving(store, new_prod)) == {mv(FRAUD_RENAMED, "1")}


# ---- the log ---------------------------------------------------------------------------


def _export(store: GraphStore) -> list[Any]:
    return sorted(export_graph(store, include_deleted=True), key=repr)


def test_replay_and_reverse_order_give_the_same_graph(harvest: Harvest) -> None:
    expected = _export(harvest.store)
    replayed = open_store("memory://")
    Projector(harvest.services.log, replayed).catch_up()
    assert _export(replayed) == expected
    # snapshots are self-contained: applied newest first, they converge all the same
    reverse = open_store("memory://")
    events = [e for batch in harvest.services.log.iter_all() for e in batch]
    for event in reversed(events):
        if event.source == "mlflow":
            reverse.apply(map_mlflow_event(event))
    assert _export(reverse) == [item for item in expected if item["source"] == "mlflow"]


def test_sqlite_tracking_uri_gives_the_same_graph(
    harvest: Harvest, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    direct = build_services(settings_for(tmp_path))
    try:
        MlflowHarvester.from_services(
            direct, f"sqlite:///{mlflow_server.root / 'mlflow.db'}"
        ).sync()

        def keys(store: GraphStore) -> set[str]:
            # a deployment outlives the models it served (the renamed model's stays, empty)
            return {
                item["id"]
                for item in export_graph(store)
                if item["type"] == "node" and item["kind"] != NodeKind.DEPLOYMENT.value
            }

        assert keys(direct.store) == keys(harvest.store)
    finally:
        direct.close()


# ---- OpenLineage meets MLflow ----------------------------------------------------------

PRODUCER = "https://github.com/lineagegraph/lineagegraph/tests"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _ol_event(
    job: str, run_id: str, at: datetime, inputs: list[Any], outputs: list[Any]
) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": at.isoformat(),
        "producer": PRODUCER,
        "schemaURL": f"{SPEC}#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "airflow-prod", "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
    }


def test_openlineage_job_to_deployment_is_one_path(harvest: Harvest) -> None:
    """An Airflow job writes the table (OpenLineage), MLflow trains on it: one path."""
    schema = {
        "_producer": PRODUCER,
        "_schemaURL": f"{SPEC}#/$defs/SchemaDatasetFacet",
        "fields": [{"name": c, "type": "double"} for c in scenario.FEATURES],
    }
    table = {"namespace": METASTORE, "name": scenario.TRAINING_TABLE, "facets": {"schema": schema}}
    at = _now() - timedelta(days=1)
    load = _ol_event(
        "shop_daily.load_customers", "0191e1a2-0000-7000-8000-0000000000aa", at, [], [table]
    )
    train = _ol_event("churn.train", scenario.OPENLINEAGE_RUN, at + timedelta(hours=1), [table], [])
    result = harvest.services.ingest.submit("openlineage", [load, train])
    assert result.projected and not any(a.duplicate for a in result.appended)
    assert harvest.services.log.counts()["projection_errors"] == 0

    etl_job = NodeKey.job("airflow-prod", "shop_daily.load_customers")
    prod = NodeKey.deployment("production", f"https://serving.internal/{CHURN}")
    jobs = expand(harvest.store, [etl_job], direction=Direction.DOWNSTREAM)
    assert jobs.path_to(prod) == [
        etl_job,
        TABLE,
        NodeKey.job(NS, "churn-training"),
        mv(CHURN, "2"),
        prod,
    ]
    runs = expand(
        harvest.store, [etl_job], direction=Direction.DOWNSTREAM, granularity=Granularity.ALL
    )
    path = runs.path_to(prod)
    assert path[0] == etl_job and path[-1] == prod and TABLE in path
    # the two runs of the training execution are linked, whichever side named the other
    linked = harvest.store.get_edges(
        [NodeKey.run(scenario.OPENLINEAGE_RUN)], edge_kinds=[EdgeKind.LINKED_RUN]
    )
    assert [e.src for e in linked] == [NodeKey.run(harvest.story.runs["churn-2"])]
