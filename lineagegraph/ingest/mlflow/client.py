"""Reading MLflow through ``MlflowClient``, and turning its entities into snapshot documents.

Only ``mlflow-skinny`` is imported here, so the harvester runs without the full
``mlflow`` package against a tracking server (``http(s)://``), and against a
``sqlite:`` or ``file:`` store when the full package is installed.
Credentials are MLflow's own business: ``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` and the other
variables MLflow reads itself. We never write them into the environment, and a
tracking URI is shown (and stored as state) without its user info.

MLflow's errors are translated once, here, into lineagegraph's (see
:data:`ERROR_CODES`).
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import yaml
from mlflow.entities import Experiment, LoggedModel, Run, ViewType
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from requests import RequestException

from lineagegraph.errors import (
    BackendUnavailable,
    Forbidden,
    InvalidInput,
    LineageGraphError,
    NotFound,
    Unauthenticated,
)
from lineagegraph.ingest.mlflow.snapshots import (
    Column,
    DatasetDoc,
    ExperimentDoc,
    LoggedModelDoc,
    ModelMetric,
    ModelVersionDoc,
    RegisteredModelDoc,
    RunDoc,
    RunRef,
)
from lineagegraph.ingest.mlflow.sources import is_training, parse_source

log = logging.getLogger(__name__)
T = TypeVar("T")

#: MLflow error code -> the lineagegraph error it becomes (anything else: BackendUnavailable).
ERROR_CODES: dict[str, type[LineageGraphError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "NOT_FOUND": NotFound,
    "ENDPOINT_NOT_FOUND": NotFound,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": Forbidden,
    "CUSTOMER_UNAUTHORIZED": Forbidden,
    "INVALID_PARAMETER_VALUE": InvalidInput,
    "BAD_REQUEST": InvalidInput,
    "MALFORMED_REQUEST": InvalidInput,
}

#: Run tags left out of snapshots: bulky, and already said by the run's outputs.
DROPPED_RUN_TAGS = frozenset({"mlflow.log-model.history"})
#: The input tag that says what a run used a dataset for.
CONTEXT_TAG = "mlflow.data.context"
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9A-Za-z]+)(?:/|$)")


def display_uri(uri: str) -> str:
    """A tracking URI without user info (``http://user:pw@host`` -> ``http://host``)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def logged_model_id(source: str | None) -> str | None:
    """The logged model a version was registered from (``models:/m-<id>``), if any.

    Over REST ``ModelVersion.model_id`` comes back empty, so the source is the
    dependable place to read it.
    """
    if not source:
        return None
    m = _LOGGED_MODEL_SOURCE.match(source)
    return m.group(1) if m else None


class MlflowReader:
    """Paginated, error-translated reads of one MLflow tracking server."""

    def __init__(self, tracking_uri: str, *, page_size: int = 1000) -> None:
        if not tracking_uri:
            raise InvalidInput("an MLflow tracking URI is needed", path="tracking_uri")
        self.tracking_uri = tracking_uri
        self.display_uri = display_uri(tracking_uri)
        self.page_size = page_size
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate MLflow and HTTP errors raised inside into lineagegraph errors."""
        try:
            yield
        except MlflowException as exc:
            cls = ERROR_CODES.get(str(exc.error_code), BackendUnavailable)
            raise cls(
                f"MLflow at {self.display_uri}: {what} failed: {exc.message}",
                path="tracking_uri",
                mlflow_error=str(exc.error_code),
            ) from None
        except RequestException as exc:
            raise BackendUnavailable(
                f"MLflow at {self.display_uri} unreachable while {what}: {exc}", path="tracking_uri"
            ) from None

    def _pages(self, what: str, fetch: Callable[[str | None], Any]) -> Iterator[list[Any]]:
        token: str | None = None
        while True:
            with self.errors(what):
                page = fetch(token)
            yield list(page)
            token = page.token
            if not token:
                return

    # ---- tracking ------------------------------------------------------------------
    def experiments(self) -> list[Experiment]:
        """Every experiment, deleted ones included."""
        out: list[Experiment] = []
        for page in self._pages(
            "listing experiments",
            lambda token: self.client.search_experiments(
                view_type=ViewType.ALL, max_results=self.page_size, page_token=token
            ),
        ):
            out.extend(page)
        return out

    def run_pages(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        view: int = ViewType.ALL,
    ) -> Iterator[list[Run]]:
        """Runs of the experiments in pages, oldest first (new runs land on later pages).

        The next page is fetched while the caller works on this one: MLflow
        takes about as long to answer a page as we take to log it.
        """

        def pages() -> Iterator[list[Run]]:
            for i in range(0, len(experiment_ids), 100):
                batch = list(experiment_ids[i : i + 100])
                yield from self._pages(
                    "searching runs",
                    lambda token, batch=batch: self.client.search_runs(  # type: ignore[misc]
                        batch,
                        filter_string=filter_string,
                        run_view_type=view,
                        max_results=self.page_size,
                        order_by=["attributes.start_time ASC"],
                        page_token=token,
                    ),
                )

        yield from prefetched(pages())

    def get_run(self, run_id: str) -> Run | None:
        try:
            with self.errors(f"reading run {run_id}"):
                return self.client.get_run(run_id)
        except NotFound:
            return None

    # ---- registry ------------------------------------------------------------------
    def registered_models(self) -> Iterator[RegisteredModel]:
        for page in self._pages(
            "listing registered models",
            lambda token: self.client.search_registered_models(
                max_results=min(self.page_size, 1000), page_token=token
            ),
        ):
            yield from page

    def get_registered_model(self, name: str) -> RegisteredModel | None:
        try:
            with self.errors(f"reading registered model {name!r}"):
                return self.client.get_registered_model(name)
        except NotFound:
            return None

    def model_versions(self, name: str | None = None) -> Iterator[ModelVersion]:
        """Live versions of every model, or of one (deleted versions are not listed)."""
        if name is not None and "'" in name:
            # the filter language has no escape for quotes: list all, keep this model's
            yield from (v for v in self.model_versions() if v.name == name)
            return
        filter_string = f"name = '{name}'" if name is not None else None
        for page in self._pages(
            "listing model versions",
            lambda token: self.client.search_model_versions(
                filter_string, max_results=self.page_size, page_token=token
            ),
        ):
            yield from page

    def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        try:
            with self.errors(f"reading model version {name!r} {version}"):
                return self.client.get_model_version(name, version)
        except NotFound:
            return None

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        try:
            with self.errors(f"reading logged model {model_id}"):
                return self.client.get_logged_model(model_id)
        except NotFound:
            return None

    def signature(self, artifact_location: str) -> tuple[list[Column], list[Column]] | None:
        """The column signature in a logged model's ``MLmodel`` file, if it has one.

        A model without a readable ``MLmodel`` or without a column-based
        signature yields None: features are then unknown, not an error.
        """
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="lineagegraph-mlmodel-") as tmp:
            try:
                with self.errors(f"reading {artifact_location}/MLmodel"):
                    path = mlflow.artifacts.download_artifacts(
                        artifact_uri=f"{artifact_location.rstrip('/')}/MLmodel",
                        dst_path=tmp,
                        tracking_uri=self.tracking_uri,
                    )
                doc = yaml.safe_load(Path(path).read_text())
            except Exception as exc:  # any artifact store's error: features stay unknown
                log.warning("no signature from %s/MLmodel: %s", artifact_location, exc)
                return None
        sig = (doc or {}).get("signature") if isinstance(doc, dict) else None
        if not isinstance(sig, dict) or not sig.get("inputs"):
            return None
        return _colspec(sig.get("inputs")), _colspec(sig.get("outputs"))


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """Iterate ``items`` one step ahead, in a helper thread (errors surface in order)."""
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="mlflow-prefetch") as pool:
        ahead = pool.submit(next, items, done)
        while True:
            item = ahead.result()
            if item is done:
                return
            ahead = pool.submit(next, items, done)
            yield item  # type: ignore[misc]


# ---- entity -> document ------------------------------------------------------------


def experiment_doc(e: Experiment) -> ExperimentDoc:
    return ExperimentDoc(
        experiment_id=str(e.experiment_id),
        name=e.name,
        artifact_location=e.artifact_location or "",
        lifecycle_stage=e.lifecycle_stage or "active",
        creation_time=e.creation_time,
        last_update_time=e.last_update_time,
        tags=dict(e.tags or {}),
    )


def run_doc(run: Run, experiment_name: str | None) -> RunDoc:
    info, data = run.info, run.data
    return RunDoc(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        experiment_name=experiment_name,
        run_name=info.run_name,
        user_id=info.user_id,
        status=str(info.status or ""),
        start_time=info.start_time,
        end_time=info.end_time,
        lifecycle_stage=info.lifecycle_stage or "active",
        artifact_uri=info.artifact_uri or "",
        params=dict(data.params or {}),
        metrics={k: _number(v) for k, v in (data.metrics or {}).items()},
        tags={k: v for k, v in (data.tags or {}).items() if k not in DROPPED_RUN_TAGS},
        datasets=run_datasets(run),
        model_inputs=[m.model_id for m in (run.inputs.model_inputs if run.inputs else []) or []],
        model_outputs=[
            m.model_id for m in (run.outputs.model_outputs if run.outputs else []) or []
        ],
    )


def run_ref(doc: RunDoc, *, training_only: bool = True) -> RunRef:
    """What a model version keeps of its source run: the datasets it trained on."""
    datasets = (
        [d for d in doc.datasets if is_training(d.context)] if training_only else doc.datasets
    )
    return RunRef(
        run_id=doc.run_id,
        experiment_id=doc.experiment_id,
        experiment_name=doc.experiment_name,
        start_time=doc.start_time,
        datasets=datasets,
    )


def run_datasets(run: Run) -> list[DatasetDoc]:
    out: list[DatasetDoc] = []
    for inp in (run.inputs.dataset_inputs if run.inputs else []) or []:
        ds = inp.dataset
        tags = {t.key: t.value for t in inp.tags or []}
        out.append(
            DatasetDoc(
                name=ds.name or "",
                digest=ds.digest or "",
                source_type=ds.source_type or "",
                source=parse_source(ds.source),
                columns=_schema_columns(ds.schema),
                profile=_json_object(ds.profile),
                context=tags.get(CONTEXT_TAG),
            )
        )
    return out


def model_version_doc(v: ModelVersion) -> ModelVersionDoc:
    return ModelVersionDoc(
        name=v.name,
        version=str(v.version),
        creation_timestamp=int(v.creation_timestamp or 0),
        last_updated_timestamp=v.last_updated_timestamp,
        current_stage=v.current_stage,
        description=v.description or None,
        status=v.status,
        run_id=v.run_id or None,
        source=v.source,
        model_id=getattr(v, "model_id", None) or logged_model_id(v.source),
        user_id=v.user_id or None,
        tags=dict(v.tags or {}),
    )


def registered_model_doc(m: RegisteredModel) -> RegisteredModelDoc:
    return RegisteredModelDoc(
        name=m.name,
        creation_timestamp=int(m.creation_timestamp or 0),
        last_updated_timestamp=m.last_updated_timestamp,
        description=m.description or None,
        tags=dict(m.tags or {}),
        aliases={a: str(v) for a, v in (m.aliases or {}).items()},
    )


def logged_model_doc(
    m: LoggedModel, signature: tuple[list[Column], list[Column]] | None
) -> LoggedModelDoc:
    metrics = [
        ModelMetric(
            key=x.key,
            value=_number(x.value),
            step=int(x.step or 0),
            timestamp=int(x.timestamp or 0),
            run_id=x.run_id,
            dataset_name=x.dataset_name,
            dataset_digest=x.dataset_digest,
        )
        for x in m.metrics or []
    ]
    metrics.sort(key=lambda x: (x.key, x.dataset_name or "", x.timestamp, x.step))
    return LoggedModelDoc(
        model_id=m.model_id,
        name=m.name or "",
        source_run_id=m.source_run_id,
        model_type=m.model_type or None,
        params=dict(m.params or {}),
        tags=dict(m.tags or {}),
        metrics=metrics,
        signature_inputs=signature[0] if signature else None,
        signature_outputs=signature[1] if signature else None,
    )


def _number(value: float) -> float | str:
    """JSON has no NaN or infinity: those metric values are kept as text."""
    f = float(value)
    return f if math.isfinite(f) else str(f)


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _schema_columns(text: str | None) -> list[Column]:
    doc = _json_object(text)
    return _colspec(doc.get("mlflow_colspec")) if doc else []


def _colspec(spec: Any) -> list[Column]:
    """Named columns of an MLflow column spec (a list, or its JSON text)."""
    if isinstance(spec, str):
        try:
            spec = orjson.loads(spec)
        except orjson.JSONDecodeError:
            return []
    if not isinstance(spec, list):
        return []
    out: list[Column] = []
    for col in spec:
        if isinstance(col, Mapping) and col.get("name"):
            kind = col.get("type", "")
            out.append(
                Column(
                    name=str(col["name"]),
                    # nested types (array, object, map) are JSON documents themselves
                    type=kind if isinstance(kind, str) else orjson.dumps(kind).decode(),
                    required=bool(col.get("required", True)),
                )
            )
    return out
