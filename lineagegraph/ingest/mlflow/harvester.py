"""The MLflow harvester: read a tracking server, log a snapshot of every changed object.

A sync reads, in order: every experiment; the runs that changed (all runs on
a full sync); every registered model and its live versions. Each object
becomes a snapshot (``snapshots.py``) submitted to the ingest service under
source ``mlflow`` with an idempotency key that includes a digest of its
content, so re-reading an unchanged object logs nothing and a full re-sync is
idempotent. Snapshots are submitted in batches as pages arrive, so memory
stays flat on large servers.

What "changed" means, given what MLflow keeps:

* Runs have no update time. An incremental sync reads the runs started or
  ended since the stored cursor (minus ``mlflow_sync_overlap_seconds`` for
  clock skew), the runs still running, and the deleted runs. Tag or metric
  changes on long-finished runs, and restored runs, are seen by the next full
  sync (``sync-mlflow --full``, or ``--watch --full-every N``).
* Registry listings are cheap, so every sync lists all models and versions;
  a version is hydrated again (logged model, signature, training datasets,
  evaluation metrics) only when its fields changed or a run of this sync
  touched its logged model. Versions and models that vanished were deleted
  (or renamed: a new model whose versions match a vanished one's).
* Aliases and tags carry no time: the harvester keeps the deployments it
  saw last (``state.py``) and dates a change by when it observed it (or by a
  webhook's event time; see ``webhooks.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlflow.entities import ViewType
from mlflow.entities.model_registry import ModelVersion, RegisteredModel

from lineagegraph.errors import (
    BackendUnavailable,
    Forbidden,
    InvalidInput,
    LineageGraphError,
    Unauthenticated,
)
from lineagegraph.ingest.log import canonical_json
from lineagegraph.ingest.mlflow.client import (
    MlflowReader,
    experiment_doc,
    logged_model_doc,
    model_version_doc,
    registered_model_doc,
    run_doc,
    run_ref,
)
from lineagegraph.ingest.mlflow.deployments import (
    DeploymentRule,
    VersionFacts,
    assignments,
    reconcile,
)
from lineagegraph.ingest.mlflow.report import NoProgress, SyncProgress, SyncReport
from lineagegraph.ingest.mlflow.snapshots import (
    AnySnapshot,
    Context,
    DatasetDoc,
    ExperimentSnapshot,
    LoggedModelDoc,
    ModelVersionDeletedSnapshot,
    ModelVersionDoc,
    ModelVersionSnapshot,
    RegisteredModelDeletedSnapshot,
    RegisteredModelSnapshot,
    RunDoc,
    RunRef,
    RunSnapshot,
    Serving,
    VersionRef,
    idempotency_key,
    to_payload,
)
from lineagegraph.ingest.mlflow.state import CURSOR, MODEL_PREFIX, SyncState, scope_of
from lineagegraph.ingest.service import IngestService

if TYPE_CHECKING:
    from lineagegraph.runtime import Services

SOURCE = "mlflow"
#: Versions read at once: hydrating one is a few requests that mostly wait on MLflow.
HYDRATION_THREADS = 4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MlflowHarvester:
    """Syncs one MLflow tracking server into the event log (see the module docstring)."""

    def __init__(
        self,
        reader: MlflowReader,
        ingest: IngestService,
        state: SyncState,
        *,
        context: Context,
        rules: Sequence[DeploymentRule] = (),
        overlap_ms: int = 300_000,
        batch: int = 500,
    ) -> None:
        self.reader = reader
        self.ingest = ingest
        self.state = state
        self.context = context
        self.rules = list(rules)
        self.overlap_ms = overlap_ms
        self.batch = batch
        self._buffer: list[AnySnapshot] = []
        self._report = SyncReport(False, 0)
        self._experiments: dict[str, str] = {}
        self._signatures: dict[str, Any] = {}

    @classmethod
    def from_services(cls, services: Services, tracking_uri: str | None = None) -> MlflowHarvester:
        """A harvester for ``tracking_uri``, or the configured ``mlflow_tracking_uri``."""
        settings = services.settings
        uri = tracking_uri or settings.mlflow_tracking_uri
        if not uri:
            raise InvalidInput(
                "no MLflow tracking server: pass --tracking-uri or set "
                "LINEAGEGRAPH_MLFLOW_TRACKING_URI",
                path="mlflow_tracking_uri",
            )
        reader = MlflowReader(uri, page_size=settings.mlflow_page_size)
        context = Context(
            namespace=settings.mlflow_namespace,
            tracking_uri=reader.display_uri,
            table_namespace=settings.table_namespace,
            feature_namespace=settings.mlflow_feature_namespace,
            dataset_aliases=list(settings.dataset_aliases),
        )
        state = SyncState(services.log.engine, scope_of(context.namespace, reader.display_uri))
        return cls(
            reader,
            services.ingest,
            state,
            context=context,
            rules=settings.mlflow_deployments,
            overlap_ms=settings.mlflow_sync_overlap_seconds * 1000,
            batch=settings.projection_batch,
        )

    # ---- the sync --------------------------------------------------------------------
    def sync(self, *, full: bool = False, progress: SyncProgress | None = None) -> SyncReport:
        """One pass over the server: full (everything) or incremental (since the cursor)."""
        progress = progress or NoProgress()
        started = now_ms()
        self._report = SyncReport(full, started)
        cursor = self.state.get(CURSOR) or {}
        since = (
            None if full or "runs_since" not in cursor else cursor["runs_since"] - self.overlap_ms
        )

        self._sync_experiments(progress)
        runs, touched_models = self._sync_runs(since, progress)
        self._sync_registry(full=full, runs=runs, touched_models=touched_models, progress=progress)
        self._flush()
        self.state.save(
            {
                CURSOR: {
                    "runs_since": started,
                    "last_sync": started,
                    "last_full_sync": started if full else cursor.get("last_full_sync"),
                }
            }
        )
        return self._finish()

    def hydrate(
        self,
        model: str | None = None,
        *,
        version: str | None = None,
        run_id: str | None = None,
        hints: Mapping[tuple[str, str], int] | None = None,
    ) -> SyncReport:
        """Read the current state of the objects a notification names and log it.

        Used for webhooks: the notification only says *what* changed; reading
        it back from MLflow makes the order notifications arrive in irrelevant.
        """
        self._report = SyncReport(False, now_ms())
        runs: dict[str, RunDoc] = {}
        if run_id:
            doc = self._run_doc(run_id, runs)
            if doc is not None:
                self._emit(RunSnapshot(observed_at=now_ms(), context=self.context, run=doc))
                runs[run_id] = doc
        if model is not None:
            force = {(model, version)} if version is not None else set()
            self._sync_registry(
                full=False,
                runs=runs,
                touched_models=set(),
                progress=NoProgress(),
                only=model,
                force_versions=force,
                hints=hints,
            )
        self._flush()
        return self._finish()

    def _finish(self) -> SyncReport:
        report = self._report
        report.seconds = (now_ms() - report.started_at) / 1000
        return report

    # ---- experiments and runs --------------------------------------------------------
    def _sync_experiments(self, progress: SyncProgress) -> None:
        experiments = self.reader.experiments()
        progress.start("experiments", len(experiments))
        observed = now_ms()
        for e in experiments:
            doc = experiment_doc(e)
            self._experiments[doc.experiment_id] = doc.name
            self._emit(
                ExperimentSnapshot(observed_at=observed, context=self.context, experiment=doc)
            )
            progress.advance("experiments")
        self._flush()

    def _sync_runs(
        self, since: int | None, progress: SyncProgress
    ) -> tuple[dict[str, RunDoc], set[str]]:
        """Log the changed runs; returns the ones that logged or used models, and those models."""
        ids = sorted(self._experiments)
        if since is None:
            queries = [("", ViewType.ALL)]
        else:
            queries = [
                (f"attributes.start_time >= {since}", ViewType.ALL),
                (f"attributes.end_time >= {since}", ViewType.ALL),
                ("attributes.status = 'RUNNING'", ViewType.ACTIVE_ONLY),
                ("", ViewType.DELETED_ONLY),  # a deletion changes no time MLflow lets us filter on
            ]
        progress.start("runs")
        seen: set[str] = set()
        with_models: dict[str, RunDoc] = {}
        touched: set[str] = set()
        for filter_string, view in queries:
            for page in self.reader.run_pages(ids, filter_string, view):
                observed = now_ms()
                for run in page:
                    if run.info.run_id in seen:
                        continue
                    seen.add(run.info.run_id)
                    doc = run_doc(run, self._experiments.get(str(run.info.experiment_id)))
                    self._emit(RunSnapshot(observed_at=observed, context=self.context, run=doc))
                    if doc.model_inputs or doc.model_outputs:
                        with_models[doc.run_id] = doc
                        touched.update(doc.model_inputs)
                        touched.update(doc.model_outputs)
                progress.advance("runs", len(page))
        self._flush()
        return with_models, touched

    def _run_doc(self, run_id: str, runs: dict[str, RunDoc]) -> RunDoc | None:
        if run_id in runs:
            return runs[run_id]
        run = self.reader.get_run(run_id)
        if run is None:
            return None
        experiment_id = str(run.info.experiment_id)
        if experiment_id not in self._experiments:
            self._experiments.update({e.experiment_id: e.name for e in self.reader.experiments()})
        doc = run_doc(run, self._experiments.get(experiment_id))
        runs[run_id] = doc
        return doc

    # ---- the registry ----------------------------------------------------------------
    def _sync_registry(
        self,
        *,
        full: bool,
        runs: dict[str, RunDoc],
        touched_models: set[str],
        progress: SyncProgress,
        only: str | None = None,
        force_versions: set[tuple[str, str]] | None = None,
        hints: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        if only is None:
            models = {m.name: m for m in self.reader.registered_models()}
            versions: dict[str, list[ModelVersion]] = {}
            for v in self.reader.model_versions():
                versions.setdefault(v.name, []).append(v)
            stored = self.state.load(MODEL_PREFIX)
        else:
            found = self.reader.get_registered_model(only)
            models = {only: found} if found is not None else {}
            versions = {only: list(self.reader.model_versions(only))} if found else {}
            stored = self.state.load_items([MODEL_PREFIX + only])
        stored_names = {item[len(MODEL_PREFIX) :] for item in stored}
        renamed = _renames(stored, stored_names - set(models), versions, set(models) - stored_names)
        observed = now_ms()
        docs = {name: [model_version_doc(v) for v in versions.get(name, [])] for name in models}
        prints = {(d.name, d.version): _fingerprint(d) for ds in docs.values() for d in ds}
        force = force_versions or set()

        def stale(doc: ModelVersionDoc) -> bool:
            known = (stored.get(MODEL_PREFIX + doc.name) or {}).get("versions", {})
            old = known.get(doc.version)
            return (
                full
                or old is None
                or old.get("fp") != prints[(doc.name, doc.version)]
                or doc.model_id in touched_models
                or (doc.name, doc.version) in force
            )

        todo = [d for name in sorted(docs) for d in docs[name] if stale(d)]
        progress.start("model versions", len(todo))
        fresh = self._hydrate_versions(todo, runs, observed, progress)
        changes: dict[str, Any] = {}
        for name, rm in sorted(models.items()):
            prev = stored.get(MODEL_PREFIX + name) or {}
            seen, features = self._log_versions(name, docs[name], prev, fresh, prints, observed)
            serving, _ = self._model_snapshot(
                rm, versions.get(name, []), prev, observed, renamed.get(name), hints
            )
            changes[MODEL_PREFIX + name] = {
                "created": int(rm.creation_timestamp or 0),
                "versions": seen,
                "serving": [s.model_dump() for s in serving],
                "features": sorted(set(prev.get("features", [])) | features),
            }
        for name in sorted(stored_names - set(models)):
            self._model_deleted(name, stored[MODEL_PREFIX + name], renamed)
            changes[MODEL_PREFIX + name] = None
        self._flush()  # state follows only what is durably logged
        self.state.save(changes)

    def _hydrate_versions(
        self,
        docs: list[ModelVersionDoc],
        runs: dict[str, RunDoc],
        observed: int,
        progress: SyncProgress,
    ) -> dict[tuple[str, str], ModelVersionSnapshot]:
        """Read what each version's snapshot needs (logged model, signature, runs), a few
        versions at a time: it is a handful of requests per version, mostly waiting."""
        out: dict[tuple[str, str], ModelVersionSnapshot] = {}
        with ThreadPoolExecutor(HYDRATION_THREADS, thread_name_prefix="mlflow-hydrate") as pool:
            snapshots = pool.map(lambda d: self._version_snapshot(d, runs, observed), docs)
            for doc, snapshot in zip(docs, snapshots, strict=True):
                out[(doc.name, doc.version)] = snapshot
                progress.advance("model versions")
        return out

    def _log_versions(
        self,
        name: str,
        docs: list[ModelVersionDoc],
        prev: Mapping[str, Any],
        fresh: Mapping[tuple[str, str], ModelVersionSnapshot],
        prints: Mapping[tuple[str, str], str],
        observed: int,
    ) -> tuple[dict[str, Any], set[str]]:
        """Log a model's re-read versions and its deleted ones; returns the versions seen
        (for the state) and the feature names of the versions read."""
        seen: dict[str, Any] = {}
        features: set[str] = set()
        for doc in docs:
            snapshot = fresh.get((doc.name, doc.version))
            if snapshot is not None:
                self._emit(snapshot)
                lm = snapshot.logged_model
                features.update(c.name for c in (lm.signature_inputs if lm else None) or [])
            seen[doc.version] = {
                "created": doc.creation_timestamp,
                "source": doc.source,
                "fp": prints[(doc.name, doc.version)],
            }
        known = prev.get("versions", {})
        for version in sorted(set(known) - set(seen), key=_version_order):
            ref = VersionRef(version=version, creation_timestamp=int(known[version]["created"]))
            self._emit(
                ModelVersionDeletedSnapshot(
                    observed_at=observed, context=self.context, name=name, version=ref
                )
            )
        return seen, features

    def _version_snapshot(
        self, doc: ModelVersionDoc, runs: dict[str, RunDoc], observed: int
    ) -> ModelVersionSnapshot:
        logged: LoggedModelDoc | None = None
        if doc.model_id:
            lm = self.reader.get_logged_model(doc.model_id)
            if lm is not None:
                if doc.model_id not in self._signatures:
                    self._signatures[doc.model_id] = self.reader.signature(lm.artifact_location)
                logged = logged_model_doc(lm, self._signatures[doc.model_id])
        run_id = doc.run_id or (logged.source_run_id if logged else None)
        source_run: RunRef | None = None
        if run_id:
            src = self._run_doc(run_id, runs)
            source_run = run_ref(src) if src is not None else RunRef(run_id=run_id)
        evaluation: dict[tuple[str, str], DatasetDoc] = {}
        for m in logged.metrics if logged else []:
            if m.dataset_name and m.run_id and (m.dataset_name, m.dataset_digest) not in evaluation:
                evaluating = self._run_doc(m.run_id, runs)
                for ds in evaluating.datasets if evaluating else []:
                    evaluation.setdefault((ds.name, ds.digest), ds)
        wanted = (
            {(m.dataset_name, m.dataset_digest or "") for m in logged.metrics} if logged else set()
        )
        return ModelVersionSnapshot(
            observed_at=observed,
            context=self.context,
            model_version=doc,
            logged_model=logged,
            source_run=source_run,
            evaluation_datasets=[d for k, d in sorted(evaluation.items()) if k in wanted],
        )

    def _model_snapshot(
        self,
        rm: RegisteredModel,
        live: list[ModelVersion],
        prev: Mapping[str, Any],
        observed: int,
        renamed_from: str | None,
        hints: Mapping[tuple[str, str], int] | None,
    ) -> tuple[list[Serving], list[Serving]]:
        doc = registered_model_doc(rm)
        facts = [VersionFacts(str(v.version), dict(v.tags or {}), v.current_stage) for v in live]
        current = assignments(
            self.rules,
            namespace=self.context.namespace,
            model=doc.name,
            aliases=doc.aliases,
            versions=facts,
        )
        serving, ended = reconcile(
            current, prev.get("serving", []), observed_at=observed, hints=hints
        )
        self._emit(
            RegisteredModelSnapshot(
                observed_at=observed,
                context=self.context,
                registered_model=doc,
                versions=sorted((f.version for f in facts), key=_version_order),
                serving=serving,
                ended=ended,
                renamed_from=renamed_from,
            )
        )
        return serving, ended

    def _model_deleted(
        self, name: str, prev: Mapping[str, Any], renamed: Mapping[str, str]
    ) -> None:
        observed = now_ms()
        _, ended = reconcile([], prev.get("serving", []), observed_at=observed)
        versions = [
            VersionRef(version=v, creation_timestamp=int(info["created"]))
            for v, info in sorted(
                prev.get("versions", {}).items(), key=lambda i: _version_order(i[0])
            )
        ]
        renamed_to = next((new for new, old in renamed.items() if old == name), None)
        self._emit(
            RegisteredModelDeletedSnapshot(
                observed_at=observed,
                context=self.context,
                name=name,
                creation_timestamp=int(prev.get("created", 0)),
                versions=versions,
                ended=ended,
                features=list(prev.get("features", [])),
                renamed_to=renamed_to,
            )
        )

    # ---- submitting ------------------------------------------------------------------
    def _emit(self, snapshot: AnySnapshot) -> None:
        self._report.read[snapshot.type] += 1
        self._buffer.append(snapshot)
        if len(self._buffer) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        result = self.ingest.submit(
            SOURCE, [to_payload(s) for s in batch], [idempotency_key(s) for s in batch]
        )
        for snapshot, appended in zip(batch, result.appended, strict=True):
            if appended.duplicate:
                self._report.unchanged[snapshot.type] += 1
            else:
                self._report.logged[snapshot.type] += 1
                self._report.last_position = max(self._report.last_position, appended.seq)


def _fingerprint(doc: ModelVersionDoc) -> str:
    """What a version's listing says; when it changes, the version is read again."""
    return hashlib.sha256(canonical_json(doc.model_dump(mode="json"))).hexdigest()[:20]


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _renames(
    stored: Mapping[str, Any],
    vanished: Iterable[str],
    versions: Mapping[str, list[ModelVersion]],
    appeared: Iterable[str],
) -> dict[str, str]:
    """New model name -> old one, when a new model's versions are exactly a vanished one's.

    MLflow renames a registered model in place (its versions keep their
    numbers, creation times and sources), so that is its fingerprint.
    """

    def print_of(items: Iterable[tuple[str, int, str | None]]) -> frozenset[Any]:
        return frozenset(items)

    gone = {
        print_of(
            (v, int(info["created"]), info.get("source"))
            for v, info in stored[MODEL_PREFIX + name].get("versions", {}).items()
        ): name
        for name in vanished
    }
    out: dict[str, str] = {}
    for name in appeared:
        mine = print_of(
            (str(v.version), int(v.creation_timestamp or 0), v.source)
            for v in versions.get(name, [])
        )
        if mine and mine in gone:
            out[name] = gone.pop(mine)
    return out


def watch(
    harvester: MlflowHarvester,
    *,
    interval: float,
    first_full: bool = False,
    full_every: int = 0,
    max_polls: int = 0,
    on_report: Callable[[SyncReport], None] | None = None,
    on_error: Callable[[LineageGraphError], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sync every ``interval`` seconds; returns the number of polls made.

    The first poll is full when ``first_full``, and then every
    ``full_every``-th one (0: never), the safety net for changes an
    incremental sync cannot see. A poll that fails (MLflow or the log
    unavailable) is reported to ``on_error`` and the next one tries again.
    ``max_polls`` stops after that many (0: until interrupted).
    """
    polls = 0
    while not max_polls or polls < max_polls:
        full = first_full if polls == 0 else bool(full_every) and polls % full_every == 0
        try:
            report = harvester.sync(full=full)
            if on_report:
                on_report(report)
        except (BackendUnavailable, Unauthenticated, Forbidden) as exc:
            if on_error is None:
                raise
            on_error(exc)
        polls += 1
        if not max_polls or polls < max_polls:
            sleep(interval)
    return polls
