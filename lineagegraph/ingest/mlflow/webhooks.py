"""MLflow webhooks: verify a delivery, then read the changed objects back from MLflow.

MLflow 3 sends webhooks for registry events only (registered model created,
model version created, version tag set or deleted, alias created or
deleted); runs are polled. Each delivery is signed (Standard Webhooks style)::

    X-MLflow-Delivery-Id: <uuid>
    X-MLflow-Timestamp:   <unix seconds>
    X-MLflow-Signature:   v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">

with the webhook's secret, which must equal ``LINEAGEGRAPH_MLFLOW_WEBHOOK_SECRET``.
A delivery with a missing, malformed or wrong signature, or a timestamp
further than ``mlflow_webhook_tolerance_seconds`` from now (a replay), is
refused with ``Unauthenticated`` (401) saying which.

A verified delivery is a *notification*: the receiver does not trust its body
for state, it hydrates the named model (and version, and its source run)
from MLflow's API and logs snapshots like the poller does. Deliveries that
arrive late, twice or out of order therefore leave the graph where MLflow is.
An alias event's own time dates the deployment change it causes, when the
alias still points where the event says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from lineagegraph.errors import BackendUnavailable, InvalidInput, Unauthenticated

if TYPE_CHECKING:
    from lineagegraph.runtime import Services

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"

#: The events the receiver hydrates; anything else (prompts, ...) is acknowledged and ignored.
REGISTRY_EVENTS = frozenset(
    {
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
    }
)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified delivery: which entity, what happened, when, and the objects it names."""

    delivery_id: str
    event: str  # "<entity>.<action>", e.g. "model_version_alias.created"
    timestamp_ms: int | None  # the payload's event time, when it has one
    data: Mapping[str, Any]


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for a delivery."""
    content = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str | None,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> WebhookEvent:
    """Check a delivery's signature and age, then parse it; raises ``Unauthenticated``
    (bad signature or time) or ``InvalidInput`` (a signed body that is not an MLflow event)."""
    if not secret:
        raise Unauthenticated(
            "this server accepts no MLflow webhooks: LINEAGEGRAPH_MLFLOW_WEBHOOK_SECRET is not set",
            path="mlflow_webhook_secret",
        )
    lower = {k.lower(): v for k, v in headers.items()}
    for name in (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        if not lower.get(name):
            raise Unauthenticated(f"webhook delivery without the {_title(name)} header", path=name)
    delivery_id, stamp, signatures = (
        lower[DELIVERY_HEADER],
        lower[TIMESTAMP_HEADER],
        lower[SIGNATURE_HEADER],
    )
    try:
        sent_at = int(stamp)
    except ValueError:
        raise Unauthenticated(
            f"{_title(TIMESTAMP_HEADER)} must be unix seconds, got {stamp[:40]!r}",
            path=TIMESTAMP_HEADER,
        ) from None
    age = (time.time() if now is None else now) - sent_at
    if abs(age) > tolerance_seconds:
        raise Unauthenticated(
            f"webhook delivery timestamp is {abs(age):.0f}s {'old' if age > 0 else 'ahead'} "
            f"(tolerance {tolerance_seconds}s): a replayed or delayed delivery is refused",
            path=TIMESTAMP_HEADER,
        )
    expected = sign(secret, delivery_id, stamp, body).partition(",")[2].encode()
    offered = [s for s in signatures.split() if s]
    if not any(_matches(s, expected) for s in offered):
        versions = {s.partition(",")[0] for s in offered}
        if SIGNATURE_VERSION not in versions:
            raise Unauthenticated(
                f"{_title(SIGNATURE_HEADER)} must look like '{SIGNATURE_VERSION},<base64>'",
                path=SIGNATURE_HEADER,
            )
        raise Unauthenticated(
            "webhook signature does not match: the webhook's secret in MLflow must equal "
            "LINEAGEGRAPH_MLFLOW_WEBHOOK_SECRET",
            path=SIGNATURE_HEADER,
        )
    return parse(delivery_id, body)


def _matches(offered: str, expected: bytes) -> bool:
    version, _, value = offered.partition(",")
    if version != SIGNATURE_VERSION:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(value.encode(), expected)


def _title(header: str) -> str:
    return "-".join("MLflow" if p == "mlflow" else p.capitalize() for p in header.split("-"))


def parse(delivery_id: str, body: bytes) -> WebhookEvent:
    """Read the JSON body of a delivery (``{"entity", "action", "timestamp", "data"}``)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"webhook body is not JSON: {exc}", path="body") from None
    if not isinstance(doc, dict):
        raise InvalidInput("webhook body must be a JSON object", path="body")
    entity, action, data = doc.get("entity"), doc.get("action"), doc.get("data")
    if not isinstance(entity, str) or not isinstance(action, str):
        raise InvalidInput("webhook body needs 'entity' and 'action' strings", path="body.entity")
    if not isinstance(data, dict):
        raise InvalidInput("webhook body needs a 'data' object", path="body.data")
    return WebhookEvent(delivery_id, f"{entity}.{action}", _event_time(doc.get("timestamp")), data)


def _event_time(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int(t.timestamp() * 1000) if t.tzinfo else None


@dataclass(frozen=True, slots=True)
class Hydration:
    """What the receiver read back for an event (the kwargs of ``MlflowHarvester.hydrate``)."""

    model: str | None = None
    version: str | None = None
    run_id: str | None = None
    hints: Mapping[tuple[str, str], int] | None = None


def hydration_for(event: WebhookEvent) -> Hydration | None:
    """Which objects an event names; None for events the graph does not use."""
    if event.event not in REGISTRY_EVENTS:
        return None
    data = event.data
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a {event.event} event needs data.name", path="body.data.name")
    version = data.get("version")
    version = str(version) if version is not None else None
    run_id = data.get("run_id") if event.event == "model_version.created" else None
    hints = None
    alias = data.get("alias")
    if event.event == "model_version_alias.created" and alias and version and event.timestamp_ms:
        # the alias moved at the event's time, not when we happened to read it
        hints = {(f"alias:{alias}", version): event.timestamp_ms}
    if event.event.startswith("model_version_alias."):
        version = None  # an alias is the model's: its versions need no new read
    return Hydration(
        model=name,
        version=version,
        run_id=run_id if isinstance(run_id, str) and run_id else None,
        hints=hints,
    )


def receive(services: Services, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Verify a delivery, hydrate what it names and log it; returns a short report.

    The tracking server read is the configured ``mlflow_tracking_uri``.
    """
    settings = services.settings
    secret = settings.mlflow_webhook_secret
    event = verify(
        headers,
        body,
        secret=secret.get_secret_value() if secret is not None else None,
        tolerance_seconds=settings.mlflow_webhook_tolerance_seconds,
    )
    target = hydration_for(event)
    out: dict[str, Any] = {"delivery_id": event.delivery_id, "event": event.event}
    if target is None:
        return {**out, "status": "ignored"}
    if not settings.mlflow_tracking_uri:
        raise BackendUnavailable(
            "MLflow webhooks need the tracking server to read from: set "
            "LINEAGEGRAPH_MLFLOW_TRACKING_URI",
            path="mlflow_tracking_uri",
        )
    from lineagegraph.ingest.mlflow.harvester import MlflowHarvester  # loads MLflow: only here

    report = MlflowHarvester.from_services(services).hydrate(
        target.model, version=target.version, run_id=target.run_id, hints=target.hints
    )
    return {
        **out,
        "status": "hydrated",
        "read": sum(report.read.values()),
        "logged": sum(report.logged.values()),
    }
