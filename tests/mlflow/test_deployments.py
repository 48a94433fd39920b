"""Deployment rules and snapshots, on their own (no server needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.mlflow.deployments import (
    DeploymentRule,
    VersionFacts,
    assignments,
    reconcile,
)
from lineagegraph.ingest.mlflow.snapshots import (
    Context,
    RegisteredModelDoc,
    RegisteredModelSnapshot,
    Serving,
    idempotency_key,
    parse_snapshot,
)

RULES = [
    DeploymentRule(alias="champion", environment="production", endpoint="https://x/{model}"),
    DeploymentRule(
        alias="canary", environment="production", endpoint="https://x/{model}", traffic=0.1
    ),
    DeploymentRule(tag="deploy.env", environment="{tag_value}"),
    DeploymentRule(stage="Staging", environment="staging"),
]


def test_rules_select_by_alias_tag_or_stage() -> None:
    got = assignments(
        RULES,
        namespace="mlflow",
        model="churn",
        aliases={"champion": "3", "canary": "4"},
        versions=[
            VersionFacts("3", {}, "Production"),
            VersionFacts("4", {"deploy.env": "shadow"}, "Staging"),
        ],
    )
    assert [(a.environment, a.endpoint, a.version, a.via, a.traffic) for a in got] == [
        ("production", "https://x/churn", "3", "alias:champion", None),
        ("production", "https://x/churn", "4", "alias:canary", 0.1),
        ("shadow", "churn", "4", "tag:deploy.env", None),
        ("staging", "churn", "4", "stage:Staging", None),
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"environment": "production"}, "exactly one of alias, tag or stage"),
        ({"alias": "a", "tag": "t", "environment": "p"}, "exactly one of alias, tag or stage"),
        ({"alias": "a", "environment": "{region}"}, "environment template"),
        ({"alias": "a", "environment": "p", "endpoint": "{model"}, "endpoint template"),
    ],
)
def test_bad_rules_say_what_is_wrong(rule: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeploymentRule.model_validate(rule)


def test_reconcile_keeps_since_and_ends_what_is_gone() -> None:
    champion = assignments(
        RULES[:1], namespace="m", model="churn", aliases={"champion": "1"}, versions=[]
    )
    serving, ended = reconcile(champion, [], observed_at=1_000)
    assert [(s.version, s.since, s.until) for s in serving] == [("1", 1_000, None)]
    assert ended == []
    stored = [s.model_dump() for s in serving]
    again, ended = reconcile(champion, stored, observed_at=2_000)
    assert again == serving and ended == []  # unchanged: the same since, nothing ended
    moved = assignments(
        RULES[:1], namespace="m", model="churn", aliases={"champion": "2"}, versions=[]
    )
    serving, ended = reconcile(
        moved, stored, observed_at=3_000, hints={("alias:champion", "2"): 2_500}
    )
    assert [(s.version, s.since) for s in serving] == [("2", 2_500)]
    assert [(s.version, s.since, s.until) for s in ended] == [("1", 1_000, 3_000)]


def _model_snapshot(
    serving: list[Serving], ended: list[Serving], at: int
) -> RegisteredModelSnapshot:
    return RegisteredModelSnapshot(
        observed_at=at,
        context=Context(),
        registered_model=RegisteredModelDoc(name="churn", creation_timestamp=1),
        versions=["1", "2"],
        serving=serving,
        ended=ended,
    )


def test_an_unchanged_model_has_one_key_whatever_it_saw_end() -> None:
    now = Serving(environment="p", endpoint="e", version="2", since=5, via="alias:champion")
    old = Serving(
        environment="p", endpoint="e", version="1", since=1, until=5, via="alias:champion"
    )
    # the sync that saw the move, and the next one (nothing ended any more): one log entry
    assert idempotency_key(_model_snapshot([now], [old], 5)) == idempotency_key(
        _model_snapshot([now], [], 9)
    )
    assert idempotency_key(_model_snapshot([], [now], 9)) != idempotency_key(
        _model_snapshot([now], [], 9)
    )


def test_malformed_snapshots_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_snapshot({"type": "run", "observed_at": 1, "context": {}, "run": {"run_id": "r"}})
    assert err.value.path == "payload.run.experiment_id"
    with pytest.raises(ValidationFailed, match="not an MLflow snapshot"):
        parse_snapshot({"type": "nope"})
