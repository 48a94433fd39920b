"""The API on data harvested from a real MLflow server (the MLflow tests' scenario).

A real ``mlflow server`` (tests/mlflow/mlflow_server.py) gets real training
runs (tests/mlflow/scenario.py); the ``syncMlflow`` mutation harvests it, and
the model version view, lineage and the promotion mutations work on what the
harvest wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineagegraph.api.app import create_app
from lineagegraph.auth import Role, TokenStore
from lineagegraph.graph.keys import NodeKey
from lineagegraph.settings import Settings
from tests.api.conftest import make_services
from tests.api.server import LiveServer, gql, live_server
from tests.mlflow.mlflow_server import running_mlflow_server
from tests.mlflow.scenario import CHURN, FEATURES, METASTORE, TRAINING_TABLE, Story, first_act


@dataclass
class Harvested:
    server: LiveServer
    tokens: dict[Role, str]
    story: Story
    sync: dict[str, object]

    def client(self, role: Role):  # type: ignore[no-untyped-def]
        return self.server.client(self.tokens[role])


SYNC = """
mutation($full: Boolean!) {
  syncMlflow(full: $full) { __typename ... on SyncReport { summary } ... on UserError { message } }
}"""


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvested]:
    root: Path = tmp_path_factory.mktemp("mlflow")
    with running_mlflow_server(root / "server") as mlflow_server:
        story = first_act(mlflow_server.url)
        settings = Settings(
            data_dir=root / "graph",
            mlflow_tracking_uri=mlflow_server.url,
            table_namespace=METASTORE,
        )
        services, _ = make_services(settings)
        tokens = TokenStore(services.log.engine)
        issued = {role: tokens.create(role.value, role)[1] for role in Role}
        try:
            with live_server(create_app(settings, services=services)) as server:
                with server.client(issued[Role.INGESTER]) as client:
                    sync = gql(client, SYNC, {"full": True})["syncMlflow"]
                yield Harvested(server, issued, story, sync)
        finally:
            services.close()


def test_sync_mlflow_harvests_through_the_mutation(harvested: Harvested) -> None:
    sync = harvested.sync
    assert sync["__typename"] == "SyncReport", sync
    summary = sync["summary"]
    assert summary["full"] is True
    assert summary["logged"].get("run", 0) >= len(harvested.story.runs)
    with harvested.client(Role.INGESTER) as client:
        again = gql(client, SYNC, {"full": False})["syncMlflow"]
    assert again["__typename"] == "SyncReport"
    assert sum(again["summary"]["logged"].values()) == 0  # nothing changed since


MODEL_VERSION = """
query($name: String!, $version: String!) {
  modelVersion(name: $name, version: $version) {
    id modelName version status aliases
    model { versions { totalCount } }
    trainingRun { id state params { key value } metrics { key value } experiment { title } }
    datasets { edges { node { id } } }
    features { edges { node { name } } }
    evaluations { edges { node { metrics { key value } dataset { id } } } }
    deployments { edges { node { deployment { environment endpoint } until } } }
  }
}"""


def test_the_model_version_view_shows_training_data_features_and_deployment(
    harvested: Harvested,
) -> None:
    story = harvested.story
    version = story.versions["churn-1"]  # holds the champion alias
    with harvested.client(Role.READER) as client:
        mv = gql(client, MODEL_VERSION, {"name": CHURN, "version": version})["modelVersion"]
    assert mv["id"] == str(NodeKey.model_version("mlflow", CHURN, version))
    assert "champion" in mv["aliases"] and mv["status"] == "READY"
    assert mv["model"]["versions"]["totalCount"] == 3
    run = mv["trainingRun"]
    assert run["id"] == str(NodeKey.run(story.runs["churn-1"]))
    assert run["state"] == "FINISHED" and run["experiment"]["title"] == "churn-training"
    assert {p["key"] for p in run["params"]} >= {"C", "features"}
    assert "train_accuracy" in {m["key"] for m in run["metrics"]}
    training_table = str(NodeKey.dataset_key(METASTORE, TRAINING_TABLE))
    assert training_table in {d["node"]["id"] for d in mv["datasets"]["edges"]}
    assert {f["node"]["name"] for f in mv["features"]["edges"]} == set(FEATURES)
    (evaluation,) = [e["node"] for e in mv["evaluations"]["edges"]]
    assert "accuracy" in {m["key"] for m in evaluation["metrics"]}
    (serving,) = [d["node"] for d in mv["deployments"]["edges"]]
    assert serving["deployment"]["environment"] == "production" and serving["until"] is None


def test_lineage_from_the_training_table_reaches_the_deployment(harvested: Harvested) -> None:
    training_table = str(NodeKey.dataset_key(METASTORE, TRAINING_TABLE))
    query = """query($id: ID!) {
      lineage(id: $id, direction: DOWNSTREAM, granularity: RUN) { nodes { depth node { id kind } } }
    }"""
    with harvested.client(Role.READER) as client:
        nodes = gql(client, query, {"id": training_table})["lineage"]["nodes"]
    kinds = {n["node"]["kind"] for n in nodes}
    assert {"RUN", "MODEL_VERSION", "DEPLOYMENT"} <= kinds
    runs = {n["node"]["id"] for n in nodes if n["node"]["kind"] == "RUN"}
    assert str(NodeKey.run(harvested.story.runs["churn-1"])) in runs


def test_promotion_mutations_on_a_harvested_version(harvested: Harvested) -> None:
    version = harvested.story.versions["churn-2"]
    mv = {"name": CHURN, "version": version}
    register = """mutation($input: RegisterDeploymentInput!) {
      registerDeployment(input: $input) {
        __typename ... on DeploymentRecorded { deployment { serving { modelVersion { id } } } }
      }
    }"""
    approve = """mutation($input: RecordApprovalInput!) {
      recordApproval(input: $input) {
        __typename ... on ApprovalRecorded { decision { actor modelVersion { version } } }
      }
    }"""
    with harvested.client(Role.PROMOTER) as client:
        deployed = gql(
            client,
            register,
            {"input": {"modelVersion": mv, "environment": "canary", "endpoint": "churn"}},
        )["registerDeployment"]
        approved = gql(client, approve, {"input": {"modelVersion": mv}})["recordApproval"]
    assert deployed["__typename"] == "DeploymentRecorded"
    assert deployed["deployment"]["serving"] == [
        {"modelVersion": {"id": str(NodeKey.model_version("mlflow", CHURN, version))}}
    ]
    assert approved["decision"] == {"actor": "promoter", "modelVersion": {"version": version}}
