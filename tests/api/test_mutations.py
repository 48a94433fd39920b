"""Every mutation through the real server: ingest, deployments, approvals, MLflow sync errors.

Deployments and approvals act on the demo lifecycle (``lineagegraph.demo``:
OpenLineage pipelines and a churn model with two versions), loaded through
the event log like any input. Each write must land in the event log first.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from lineagegraph.auth import Role
from lineagegraph.demo import load_demo
from lineagegraph.graph.keys import NodeKey
from tests.api.conftest import INGEST, Api
from tests.api.server import gql

MODEL = "churn-classifier"


@pytest.fixture(scope="module")
def demo(api: Api) -> dict[str, int]:
    return load_demo(api.services)


def _mv(version: str) -> dict[str, str]:
    return {"name": MODEL, "version": version}


REGISTER = """
mutation($input: RegisterDeploymentInput!) {
  registerDeployment(input: $input) {
    __typename
    ... on DeploymentRecorded {
      logPosition projected ended deploymentId
      deployment { id environment endpoint status since
                   serving { modelVersion { id version } traffic since until } }
    }
    ... on UserError { code message path }
  }
}"""

END = """
mutation($input: EndDeploymentInput!) {
  endDeployment(input: $input) {
    __typename
    ... on DeploymentRecorded {
      ended
      deployment {
        status until serving { modelVersion { id } }
        history { totalCount edges { node { modelVersion { version } since until } } }
      }
    }
    ... on UserError { code message path }
  }
}"""

APPROVE = """
mutation($input: RecordApprovalInput!) {
  recordApproval(input: $input) {
    __typename
    ... on ApprovalRecorded {
      projected decisionId
      decision { id decisionType verdict actor comment gate decidedAt modelVersion { id } }
    }
    ... on UserError { code message path }
  }
}"""


def test_ingest_open_lineage_logs_projects_deduplicates_and_dead_letters(
    api: Api, openlineage_fixtures: Path
) -> None:
    template = json.loads(
        (openlineage_fixtures / "events/openlineage-examples/example_full_event.json").read_text()
    )
    event = copy.deepcopy(template)
    run_id = str(uuid.uuid4())
    event["run"]["runId"] = run_id
    bad = copy.deepcopy(template)
    del bad["eventTime"]
    dead_before = len(api.services.log.dead_letters(limit=1000))
    with api.client(Role.INGESTER) as client:
        first = gql(client, INGEST, {"events": [event, bad]})["ingestOpenLineage"]
        again = gql(client, INGEST, {"events": [event]})["ingestOpenLineage"]
        run = gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": f"run:{run_id}"})
    assert first["accepted"] == 1 and first["projected"] is True
    assert first["rejected"] == [
        {"index": 1, "path": "$.eventTime", "message": first["rejected"][0]["message"]}
    ]
    assert "eventTime" in first["rejected"][0]["message"]
    assert again["accepted"] == 0 and again["duplicates"] == 1
    assert run["node"] == {"id": f"run:{run_id}"}
    assert len(api.services.log.dead_letters(limit=1000)) == dead_before + 1


def test_ingest_refuses_an_empty_or_oversized_request_as_typed_errors(api: Api) -> None:
    with api.client(Role.INGESTER) as client:
        empty = gql(client, INGEST, {"events": []})["ingestOpenLineage"]
        huge = gql(client, INGEST, {"events": [{}] * 1001})["ingestOpenLineage"]
    assert empty == {
        "__typename": "InvalidInputError",
        "code": "invalid_input",
        "message": "no events given",
        "path": "events",
    }
    assert huge["__typename"] == "InvalidInputError" and "1000" in huge["message"]


def test_register_replace_and_end_a_deployment(api: Api, demo: dict[str, int]) -> None:
    env, endpoint = "staging", f"https://staging.internal/{uuid.uuid4().hex[:8]}"
    head_before = api.services.log.head()
    with api.client(Role.PROMOTER) as client:
        first = gql(
            client,
            REGISTER,
            {"input": {"modelVersion": _mv("1"), "environment": env, "endpoint": endpoint}},
        )["registerDeployment"]
        second = gql(
            client,
            REGISTER,
            {
                "input": {
                    "modelVersion": _mv("2"),
                    "environment": env,
                    "endpoint": endpoint,
                    "traffic": 1.0,
                    "alias": "champion",
                }
            },
        )["registerDeployment"]
        ended = gql(client, END, {"input": {"environment": env, "endpoint": endpoint}})[
            "endDeployment"
        ]
        versions = gql(
            client,
            """query($name: String!) { v2: modelVersion(name: $name, version: "2") {
                 deployments(includeEnded: true) {
                   edges { node { deployment { endpoint } since until alias } }
                 }
               } }""",
            {"name": MODEL},
        )
    v1, v2 = (str(NodeKey.model_version("mlflow", MODEL, v)) for v in ("1", "2"))
    assert first["__typename"] == "DeploymentRecorded" and first["projected"]
    assert first["deploymentId"] == str(NodeKey.deployment(env, endpoint))
    assert [s["modelVersion"]["id"] for s in first["deployment"]["serving"]] == [v1]
    assert first["deployment"]["status"] == "active"
    assert second["ended"] == [v1]
    assert [s["modelVersion"]["id"] for s in second["deployment"]["serving"]] == [v2]
    assert ended["__typename"] == "DeploymentRecorded" and ended["ended"] == [v2]
    deployment = ended["deployment"]
    assert deployment["status"] == "ended" and deployment["until"] is not None
    assert deployment["serving"] == []
    history = [e["node"] for e in deployment["history"]["edges"]]
    assert [h["modelVersion"]["version"] for h in history] == ["1", "2"]
    assert all(h["until"] is not None for h in history)
    served = [
        e["node"]
        for e in versions["v2"]["deployments"]["edges"]
        if e["node"]["deployment"]["endpoint"] == endpoint
    ]
    assert served[0]["alias"] == "champion" and served[0]["until"] is not None
    # every change went through the event log, as ChangeSets
    logged = api.services.log.read(head_before, 100)
    assert [e.source for e in logged] == ["changeset"] * 3


def test_deployment_mutations_return_typed_errors(api: Api, demo: dict[str, int]) -> None:
    with api.client(Role.PROMOTER) as client:
        unknown = gql(
            client,
            REGISTER,
            {"input": {"modelVersion": _mv("99"), "environment": "prod", "endpoint": "e"}},
        )["registerDeployment"]
        traffic = gql(
            client,
            REGISTER,
            {
                "input": {
                    "modelVersion": _mv("1"),
                    "environment": "prod",
                    "endpoint": "e",
                    "traffic": 2.0,
                }
            },
        )["registerDeployment"]
        blank = gql(
            client,
            REGISTER,
            {"input": {"modelVersion": _mv("1"), "environment": " ", "endpoint": "e"}},
        )["registerDeployment"]
        nothing = gql(client, END, {"input": {"environment": "nowhere", "endpoint": "none"}})[
            "endDeployment"
        ]
    assert unknown["__typename"] == "NotFoundError" and unknown["path"] == "modelVersion"
    assert "churn-classifier|99" in unknown["message"]
    assert traffic["__typename"] == "InvalidInputError" and traffic["path"] == "traffic"
    assert blank["__typename"] == "InvalidInputError" and blank["path"] == "environment"
    assert nothing["__typename"] == "NotFoundError"


def test_record_approval_is_attributed_to_the_calling_token(api: Api, demo: dict[str, int]) -> None:
    with api.client(Role.PROMOTER) as client:
        result = gql(
            client,
            APPROVE,
            {"input": {"modelVersion": _mv("2"), "gate": "production", "comment": "LGTM"}},
        )["recordApproval"]
        rejected = gql(
            client,
            APPROVE,
            {"input": {"modelVersion": _mv("1"), "verdict": "REJECTED"}},
        )["recordApproval"]
        too_long = gql(
            client, APPROVE, {"input": {"modelVersion": _mv("2"), "comment": "x" * 2001}}
        )["recordApproval"]
        decisions = gql(
            client,
            """{ modelVersion(name: "churn-classifier", version: "2") {
                   gateDecisions { edges { node { id verdict actor } } } } }""",
        )["modelVersion"]["gateDecisions"]["edges"]
    decision = result["decision"]
    assert result["__typename"] == "ApprovalRecorded" and result["projected"]
    assert decision["id"] == result["decisionId"]
    assert decision["decisionType"] == "approval" and decision["verdict"] == "approved"
    assert decision["actor"] == "test-promoter" and decision["comment"] == "LGTM"
    assert decision["gate"] == "production" and decision["decidedAt"]
    assert decision["modelVersion"]["id"] == str(NodeKey.model_version("mlflow", MODEL, "2"))
    assert rejected["decision"]["verdict"] == "rejected"
    assert too_long["__typename"] == "InvalidInputError" and too_long["path"] == "comment"
    assert {"id": decision["id"], "verdict": "approved", "actor": "test-promoter"} in [
        e["node"] for e in decisions
    ]


def test_sync_mlflow_without_a_server_says_what_to_configure(api: Api) -> None:
    query = "mutation { syncMlflow { __typename ... on UserError { code path message } } }"
    with api.client(Role.INGESTER) as client:
        result = gql(client, query)["syncMlflow"]
    assert result["__typename"] == "InvalidInputError"
    assert result["path"] == "mlflow_tracking_uri"
    assert "LINEAGEGRAPH_MLFLOW_TRACKING_URI" in result["message"]


def test_model_version_view_and_column_impact_on_the_demo(api: Api, demo: dict[str, int]) -> None:
    query = """
    {
      modelVersion(name: "churn-classifier", version: "2") {
        id modelName version status aliases
        model { id versions { totalCount } }
        trainingRun { id params { key value } metrics { key value } experiment { title } }
        datasets { edges { node { id owners } } }
        features(first: 10) {
          totalCount
          edges { node { id sources(first: 10) { edges { node { id kind } } } } }
        }
        evaluations { edges { node { metrics { key value } dataset { id } } } }
        deployments { edges { node { deployment { environment } since until traffic } } }
      }
    }"""
    with api.client(Role.READER) as client:
        mv = gql(client, query)["modelVersion"]
        feature_field = mv["features"]["edges"][0]["node"]["sources"]["edges"][0]["node"]["id"]
        impact = gql(
            client,
            """query($f: [ID!]) {
                 impact(fields: $f) { byKind { kind affected { via node { id } } } }
               }""",
            {"f": [feature_field]},
        )["impact"]
    assert mv["modelName"] == MODEL and mv["version"] == "2" and "champion" in mv["aliases"]
    assert mv["model"]["versions"]["totalCount"] == 2
    assert {p["key"] for p in mv["trainingRun"]["params"]} == {"max_depth"}
    assert mv["trainingRun"]["experiment"]["title"] == "churn"
    assert [d["node"]["id"] for d in mv["datasets"]["edges"]] == [
        "dataset:postgres://warehouse:5432|analytics.features.customer_features"
    ]
    assert mv["features"]["totalCount"] == 4
    assert mv["evaluations"]["edges"][0]["node"]["dataset"]["id"].endswith("_holdout")
    prod = [d["node"] for d in mv["deployments"]["edges"]]
    assert prod[0]["deployment"]["environment"] == "production" and prod[0]["until"] is None
    groups = {g["kind"]: [a["node"]["id"] for a in g["affected"]] for g in impact["byKind"]}
    assert mv["id"] in groups["MODEL_VERSION"]
    assert any(k.startswith("deployment:production") for k in groups["DEPLOYMENT"])
