"""Approvals: a person's recorded verdict on a model version, kept as a GateDecision.

An approval is one kind of gate decision (``decision_type`` = ``approval``),
linked to the model version it judges by a ``decided`` edge, so the audit
trail of a version holds automatic checks and human sign-offs side by side,
and a gate's "required approvals" check reads them from the graph.

Like deployments, this module only builds the ChangeSet; the caller submits
it to the event log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from lineagegraph.errors import InvalidInput, NotFound
from lineagegraph.graph.changeset import ChangeSet, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import GraphStore

SOURCE = "api"
MAX_COMMENT = 2000


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ApprovalChange:
    decision: NodeKey
    changes: ChangeSet
    decided_at: datetime


def record_approval(
    store: GraphStore,
    model_version: NodeKey,
    *,
    approver: str,
    verdict: Verdict = Verdict.APPROVED,
    gate: str | None = None,
    comment: str | None = None,
    at: datetime | None = None,
) -> ApprovalChange:
    """The ChangeSet recording ``approver``'s verdict on ``model_version``.

    ``approver`` is the authenticated caller (never a free-text field), so the
    audit trail cannot be forged through the API.
    """
    if model_version.kind is not NodeKind.MODEL_VERSION:
        raise InvalidInput(
            f"{model_version} is a {model_version.kind}, not a model_version", path="modelVersion"
        )
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters", path="comment")
    if gate is not None and not gate.strip():
        raise InvalidInput("gate must not be empty when given", path="gate")
    decided_at = at or datetime.now(UTC)
    if decided_at.tzinfo is None or decided_at.utcoffset() is None:
        raise InvalidInput("a time needs a timezone", path="at")
    if not store.get_nodes([model_version]):
        raise NotFound(f"no model version {model_version}", path="modelVersion")

    decision = NodeKey.gate_decision(f"approval-{uuid.uuid4()}")
    prov = Provenance(SOURCE, str(decision))
    cs = ChangeSet()
    props: dict[str, object] = {
        "decision_type": "approval",
        "verdict": verdict.value,
        "actor": approver,
        "model_version": str(model_version),
        "decided_at": decided_at.isoformat(),
    }
    if gate:
        props["gate"] = gate.strip()
    if comment:
        props["comment"] = comment
    cs.node(decision, decided_at, prov, props)
    cs.edge(decision, EdgeKind.DECIDED, model_version, decided_at, prov)
    return ApprovalChange(decision, cs, decided_at)
