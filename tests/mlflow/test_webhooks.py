"""MLflow webhooks: signature checks, and real deliveries from the MLflow server.

The receiver runs in the real app (``create_app``) under uvicorn on a free
loopback port; the webhook is registered through ``MlflowClient`` and MLflow
itself signs and delivers the events. No sync runs in the end-to-end test:
the deliveries alone bring the model, its version, tag and alias in.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.webhooks.delivery import _generate_hmac_signature
from sklearn.linear_model import LogisticRegression

from lineagegraph.api.app import create_app
from lineagegraph.errors import InvalidInput, Unauthenticated
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.store import Direction
from lineagegraph.ingest.mlflow.webhooks import hydration_for, verify
from lineagegraph.runtime import Services, build_services
from lineagegraph.settings import Settings
from tests.mlflow.mlflow_server import MlflowServer, serving
from tests.polling import wait_until

SECRET = "webhook-secret-for-tests"
MODEL = "webhook-model"
PATH = "/api/v1/mlflow/webhooks"


def _delivery(
    body: dict[str, Any], *, secret: str = SECRET, at: int | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body as MLflow sends them, signed by MLflow's own signing function."""
    text = json.dumps(body)
    delivery_id, stamp = str(uuid.uuid4()), str(at if at is not None else int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery_id, stamp, text),
        "Content-Type": "application/json",
    }
    return headers, text.encode()


ALIAS_EVENT = {
    "entity": "model_version_alias",
    "action": "created",
    "timestamp": "2026-11-22T10:00:00.250000+00:00",
    "data": {"name": "churn", "alias": "champion", "version": "3"},
}


def test_a_delivery_signed_by_mlflow_verifies() -> None:
    headers, body = _delivery(ALIAS_EVENT)
    event = verify(headers, body, secret=SECRET)
    assert event.event == "model_version_alias.created"
    target = hydration_for(event)
    assert target is not None and (target.model, target.version) == ("churn", None)
    moved_at = int(datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=UTC).timestamp() * 1000)
    assert target.hints == {("alias:champion", "3"): moved_at}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("X-MLflow-Signature"), "without the X-MLflow-Signature header"),
        (lambda h: h.pop("X-MLflow-Delivery-Id"), "without the X-MLflow-Delivery-Id header"),
        (lambda h: h.update({"X-MLflow-Signature": "sha256=abc"}), "must look like 'v1,<base64>'"),
        (lambda h: h.update({"X-MLflow-Timestamp": "yesterday"}), "must be unix seconds"),
        (lambda h: h.update({"X-MLflow-Delivery-Id": "another"}), "signature does not match"),
    ],
)
def test_tampered_deliveries_are_refused(
    change: Callable[[dict[str, str]], Any], message: str
) -> None:
    headers, body = _delivery(ALIAS_EVENT)
    change(headers)
    with pytest.raises(Unauthenticated, match=message):
        verify(headers, body, secret=SECRET)


def test_wrong_secret_stale_and_unconfigured_are_refused() -> None:
    headers, body = _delivery(ALIAS_EVENT, secret="not-the-secret")
    with pytest.raises(Unauthenticated, match="secret in MLflow must equal"):
        verify(headers, body, secret=SECRET)
    sent = int(time.time()) - 3600
    headers, body = _delivery(ALIAS_EVENT, at=sent)
    with pytest.raises(Unauthenticated, match=r"3600s old \(tolerance 300s\)"):
        verify(headers, body, secret=SECRET, now=sent + 3600)
    with pytest.raises(Unauthenticated, match="ahead"):
        verify(headers, body, secret=SECRET, now=sent - 900)
    with pytest.raises(Unauthenticated, match="MLFLOW_WEBHOOK_SECRET is not set"):
        verify(headers, body, secret=None)
    # a correctly signed body that is not an MLflow event is bad input, not bad auth
    headers, _ = _delivery({}, secret=SECRET)
    with pytest.raises(InvalidInput, match="'entity' and 'action'"):
        verify(headers, b"{}", secret=SECRET)


def test_events_the_graph_does_not_use_are_ignored() -> None:
    headers, body = _delivery(
        {"entity": "prompt", "action": "created", "timestamp": "", "data": {"name": "p"}}
    )
    assert hydration_for(verify(headers, body, secret=SECRET)) is None


# ---- real deliveries --------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    services: Services


@pytest.fixture(scope="module")
def receiver(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("webhooks"),
        store_uri="memory://",
        mlflow_tracking_uri=mlflow_server.url,
        mlflow_webhook_secret=SECRET,
    )
    services = build_services(settings)
    try:
        with serving(create_app(settings, services=services)) as live:
            yield Receiver(live.url, services)
    finally:
        services.close()


def _train_and_register(tracking_uri: str) -> str:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("webhook-training")
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = pd.Series([0, 0, 1, 1])
    with mlflow.start_run(run_name="webhook-train") as run:
        mlflow.sklearn.log_model(
            LogisticRegression().fit(x, y),
            name="model",
            signature=infer_signature(x, y),
            registered_model_name=MODEL,
            pip_requirements=["scikit-learn"],
        )
    return str(run.info.run_id)


def test_mlflow_deliveries_bring_the_registry_in(
    mlflow_server: MlflowServer, receiver: Receiver
) -> None:
    client = MlflowClient(mlflow_server.url)
    hook = client.create_webhook(
        name="lineagegraph-test",
        url=f"{receiver.url}{PATH}",
        events=[
            "registered_model.created",
            "model_version.created",
            "model_version_tag.set",
            "model_version_alias.created",
        ],
        secret=SECRET,
    )
    store = receiver.services.store
    version = NodeKey.model_version("mlflow", MODEL, "1")
    production = NodeKey.deployment("production", MODEL)
    try:
        assert client.test_webhook(hook.webhook_id).success
        run_id = _train_and_register(mlflow_server.url)
        wait_until(lambda: version in store.get_nodes([version]), "the version is delivered")
        # model_version.created names the source run: it is read back too
        assert NodeKey.run(run_id) in store.get_nodes([NodeKey.run(run_id)])
        trained = store.get_edges(
            [version], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.TRAINED]
        )
        assert NodeKey.run(run_id) in {e.src for e in trained}

        client.set_model_version_tag(MODEL, "1", "owner", "team-a")
        wait_until(
            lambda: (
                store.get_nodes([version])[version].props.get("tags", {}).get("owner") == "team-a"
            ),
            "the tag is delivered",
        )

        before = datetime.now(UTC)
        client.set_registered_model_alias(MODEL, "champion", "1")

        def serves() -> list[Any]:
            return store.get_edges(
                [production], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.SERVES]
            )

        wait_until(lambda: bool(serves()), "the alias is delivered")
        edge = serves()[0]
        assert edge.src == version and edge.props["alias"] == "champion"
        # dated by the event's own time (the hint), not by when it was read back
        assert before <= datetime.fromisoformat(edge.props["since"]) <= datetime.now(UTC)
        assert receiver.services.log.counts()["projection_errors"] == 0
    finally:
        client.delete_webhook(hook.webhook_id)


def test_bad_signatures_get_401_over_http(receiver: Receiver) -> None:
    headers, body = _delivery(ALIAS_EVENT, secret="guessed")
    response = httpx.post(f"{receiver.url}{PATH}", content=body, headers=headers, timeout=30)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert "signature does not match" in error["message"]
    headers, body = _delivery(ALIAS_EVENT)
    headers.pop("X-MLflow-Timestamp")
    response = httpx.post(f"{receiver.url}{PATH}", content=body, headers=headers, timeout=30)
    assert response.status_code == 401
    assert "X-MLflow-Timestamp" in response.json()["error"]["message"]
