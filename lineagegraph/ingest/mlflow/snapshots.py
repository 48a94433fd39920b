"""Snapshots: self-contained JSON documents of MLflow objects, as logged.

The harvester reads MLflow and writes one *snapshot* per changed object into
the event log (source ``mlflow``); the mapper (``mapping.py``) turns each into
a ChangeSet at projection time. A snapshot holds everything its mapping
needs (a run with its inputs, a model version with its logged model,
signature, training datasets and evaluation metrics, a registered model with
its aliases and deployments), so the log replays into the same graph without
asking MLflow again, and the order snapshots arrive in does not matter.

Every snapshot carries ``observed_at`` (when the harvester read it, epoch
milliseconds) and the ``context`` of the harvest (namespace, identity rules).
Its idempotency key is its type, the object's id, the object's own update
time when MLflow keeps one, and a digest of its content without
``observed_at`` (and without the one-off transition lists of a registered
model): re-reading an unchanged object logs nothing.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.identity import AliasRule
from lineagegraph.ingest.log import canonical_json

SCHEMA_VERSION = 1
_MAX_KEY = 200  # the event log's idempotency key column


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Context(_Doc):
    """How this harvest names things (copied into every snapshot, so replay needs no settings)."""

    namespace: str = "mlflow"
    tracking_uri: str = ""  # without credentials
    table_namespace: str = ""
    feature_namespace: str = ""  # "" = one namespace per model: "<namespace>/<model name>"
    dataset_aliases: list[AliasRule] = Field(default_factory=list)


class Column(_Doc):
    name: str
    type: str = ""
    required: bool = True


class DatasetDoc(_Doc):
    """One MLflow dataset as a run logged it (``log_input``)."""

    name: str
    digest: str = ""
    source_type: str = ""
    source: dict[str, Any] = Field(default_factory=dict)
    columns: list[Column] = Field(default_factory=list)
    profile: dict[str, Any] | None = None
    context: str | None = None  # the input tag mlflow.data.context: training, evaluation, ...


class ExperimentDoc(_Doc):
    experiment_id: str
    name: str
    artifact_location: str = ""
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RunDoc(_Doc):
    run_id: str
    experiment_id: str
    experiment_name: str | None = None
    run_name: str | None = None
    user_id: str | None = None
    status: str = ""
    start_time: int | None = None
    end_time: int | None = None
    lifecycle_stage: str = "active"
    artifact_uri: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float | str] = Field(default_factory=dict)  # non-finite values as text
    tags: dict[str, str] = Field(default_factory=dict)
    datasets: list[DatasetDoc] = Field(default_factory=list)
    model_inputs: list[str] = Field(default_factory=list)  # logged model ids
    model_outputs: list[str] = Field(default_factory=list)


class RunRef(_Doc):
    """What a model version needs to know about the run that trained it."""

    run_id: str
    experiment_id: str | None = None
    experiment_name: str | None = None
    start_time: int | None = None
    datasets: list[DatasetDoc] = Field(default_factory=list)


class ModelMetric(_Doc):
    """A logged model's metric, optionally tied to the dataset it was computed on."""

    key: str
    value: float | str
    step: int = 0
    timestamp: int
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModelDoc(_Doc):
    model_id: str
    name: str = ""
    source_run_id: str | None = None
    model_type: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: list[ModelMetric] = Field(default_factory=list)
    signature_inputs: list[Column] | None = None  # None: no (column-based) signature known
    signature_outputs: list[Column] | None = None


class ModelVersionDoc(_Doc):
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    current_stage: str | None = None
    description: str | None = None
    status: str | None = None
    run_id: str | None = None
    source: str | None = None
    model_id: str | None = None  # the logged model, from ``source`` models:/m-<id>
    user_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Serving(_Doc):
    """One version serving one deployment, from ``since`` (and ``until`` when it ended)."""

    environment: str
    endpoint: str
    version: str
    since: int
    until: int | None = None
    via: str  # what made it serve: "alias:champion", "tag:deploy.env", "stage:Production"
    traffic: float | None = None


class RegisteredModelDoc(_Doc):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)  # alias -> version


class VersionRef(_Doc):
    version: str
    creation_timestamp: int


# ---- the snapshot types ------------------------------------------------------------


class _Snapshot(_Doc):
    schema_version: int = SCHEMA_VERSION
    observed_at: int  # epoch milliseconds
    context: Context

    def ident(self) -> str:  # pragma: no cover - every type overrides
        raise NotImplementedError

    def updated(self) -> int | None:
        return None

    #: fields left out of the idempotency key's digest (besides ``observed_at``)
    transitions: ClassVar[frozenset[str]] = frozenset()


class ExperimentSnapshot(_Snapshot):
    type: Literal["experiment"] = "experiment"
    experiment: ExperimentDoc

    def ident(self) -> str:
        return self.experiment.experiment_id

    def updated(self) -> int | None:
        return self.experiment.last_update_time


class RunSnapshot(_Snapshot):
    type: Literal["run"] = "run"
    run: RunDoc

    def ident(self) -> str:
        return self.run.run_id

    def updated(self) -> int | None:
        return self.run.end_time or self.run.start_time


class ModelVersionSnapshot(_Snapshot):
    type: Literal["model_version"] = "model_version"
    model_version: ModelVersionDoc
    logged_model: LoggedModelDoc | None = None
    source_run: RunRef | None = None
    #: datasets the logged model's metrics name, as the evaluating runs logged them
    evaluation_datasets: list[DatasetDoc] = Field(default_factory=list)

    def ident(self) -> str:
        return f"{self.model_version.name}/{self.model_version.version}"

    def updated(self) -> int | None:
        return self.model_version.last_updated_timestamp


class RegisteredModelSnapshot(_Snapshot):
    type: Literal["registered_model"] = "registered_model"
    registered_model: RegisteredModelDoc
    versions: list[str] = Field(default_factory=list)  # live version numbers
    serving: list[Serving] = Field(default_factory=list)  # current deployments
    ended: list[Serving] = Field(default_factory=list)  # deployments that ended now
    renamed_from: str | None = None

    # What changed since the last observation: it always comes with a change of
    # ``serving`` or a new name, so the digest need not hold it, and leaving it
    # out lets the next sync of the unchanged model log nothing.
    transitions: ClassVar[frozenset[str]] = frozenset({"ended", "renamed_from"})

    def ident(self) -> str:
        return self.registered_model.name

    def updated(self) -> int | None:
        return self.registered_model.last_updated_timestamp


class ModelVersionDeletedSnapshot(_Snapshot):
    type: Literal["model_version_deleted"] = "model_version_deleted"
    name: str
    version: VersionRef

    def ident(self) -> str:
        return f"{self.name}/{self.version.version}"


class RegisteredModelDeletedSnapshot(_Snapshot):
    type: Literal["registered_model_deleted"] = "registered_model_deleted"
    name: str
    creation_timestamp: int
    versions: list[VersionRef] = Field(default_factory=list)
    ended: list[Serving] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)  # signature inputs of its versions
    renamed_to: str | None = None

    def ident(self) -> str:
        return self.name


Snapshot: TypeAlias = Annotated[
    ExperimentSnapshot
    | RunSnapshot
    | ModelVersionSnapshot
    | RegisteredModelSnapshot
    | ModelVersionDeletedSnapshot
    | RegisteredModelDeletedSnapshot,
    Field(discriminator="type"),
]
AnySnapshot: TypeAlias = (
    ExperimentSnapshot
    | RunSnapshot
    | ModelVersionSnapshot
    | RegisteredModelSnapshot
    | ModelVersionDeletedSnapshot
    | RegisteredModelDeletedSnapshot
)
_ADAPTER: TypeAdapter[AnySnapshot] = TypeAdapter(Snapshot)


def parse_snapshot(payload: Any) -> AnySnapshot:
    """Read a logged snapshot; a malformed one raises ``ValidationFailed`` naming the field."""
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if loc and isinstance(payload, dict) and loc[0] == payload.get("type"):
            loc = loc[1:]  # the union's tag, not a field of the payload
        where = ".".join(str(p) for p in loc)
        raise ValidationFailed(
            f"not an MLflow snapshot: {first['msg']}", path=f"payload.{where}" if where else None
        ) from None


def to_payload(snapshot: AnySnapshot) -> dict[str, Any]:
    """The JSON document logged for a snapshot."""
    return snapshot.model_dump(mode="json")


def idempotency_key(snapshot: AnySnapshot) -> str:
    """``<type>:<id>@<update time>#<content digest>``: the same content is logged once."""
    doc = to_payload(snapshot)
    for name in ("observed_at", *snapshot.transitions):
        doc.pop(name, None)
    digest = hashlib.sha256(canonical_json(doc)).hexdigest()[:20]
    ident = snapshot.ident()
    updated = snapshot.updated()
    stamp = f"@{updated}" if updated is not None else ""
    key = f"{snapshot.type}:{ident}{stamp}#{digest}"
    if len(key) > _MAX_KEY:  # long model names: keep the key unique, not readable
        ident = "sha256-" + hashlib.sha256(ident.encode()).hexdigest()[:32]
        key = f"{snapshot.type}:{ident}{stamp}#{digest}"
    return key
