"""The ingest service: accept inputs durably, then project them.

Callers (the HTTP endpoints, the CLI, the MLflow harvester) validate inputs of
their own source, then call :meth:`IngestService.submit` with the valid ones
and :meth:`IngestService.reject` with the bad ones. ``submit`` returns only
after the inputs are committed to the event log; in ``inline`` mode it also
projects them before returning, so a caller can read its own writes. In
``background`` mode a thread of this process projects them, in ``process``
mode another process (:mod:`lineagegraph.ingest.projector_process`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lineagegraph.errors import BackendUnavailable
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import Appended, EventLog, LogInput
from lineagegraph.ingest.projection import (
    Premapped,
    ProjectionWorker,
    Projector,
    wait_for_position,
)

if TYPE_CHECKING:
    from lineagegraph.ingest.group_commit import GroupCommitter
    from lineagegraph.ingest.projector_process import ProjectorProcess


T = TypeVar("T")

#: the most inputs inline projection takes in one batch after a big submit
MAX_BATCH = 5000


@dataclass(frozen=True, slots=True)
class SubmitResult:
    appended: list[Appended]
    projected: bool  # True when the store has applied them before this returned


class IngestService:
    def __init__(
        self,
        log: EventLog,
        store: GraphStore,
        *,
        mode: str = "inline",
        batch: int = 500,
        store_name: str = "store",
        linger: float = 0.0,
        process: ProjectorProcess | None = None,
    ) -> None:
        """``process``: the projector process of ``process`` mode (required there)."""
        if (mode == "process") != (process is not None):
            raise ValueError("a projector process is what process mode, and only it, takes")
        self.log = log
        self.store = store
        self.mode = mode
        self.projector = Projector(log, store, batch=batch, name=store_name)
        self.process = process
        self.worker: ProjectionWorker | None = None
        if mode == "background":
            self.worker = ProjectionWorker(self.projector, linger=linger)
        self._group: GroupCommitter | None = None
        self._group_lock = threading.Lock()

    def start(self) -> None:
        if self.worker:
            self.worker.start()
            self.worker.notify()
        if self.process:
            self.process.start()

    def stop(self) -> None:
        if self._group is not None:
            self._group.close()
            self._group = None
        if self.worker:
            self.worker.stop()
        if self.process:
            self.process.stop()

    @property
    def projection_down(self) -> str | None:
        """Why projection is stopped, while it is (None: it runs, or catches up)."""
        if self.worker is not None and self.worker.backend_down:
            return "projection paused: the graph store is down"
        if self.process is not None:
            return self.process.down
        return None

    def submit(
        self,
        source: str,
        payloads: Sequence[Any],
        keys: Sequence[str | None] | None = None,
        texts: Sequence[bytes | None] | None = None,
    ) -> SubmitResult:
        """Durably log valid inputs of one source, then project (inline) or wake the worker.

        ``texts``, when the caller has them, are the payloads' canonical JSON
        (``log.canonical_json``), so the log does not serialize them again."""
        inputs = [
            LogInput(source, p, keys[i] if keys else None, texts[i] if texts else None)
            for i, p in enumerate(payloads)
        ]
        appended = self.log.append(inputs)
        if self.process is not None:
            return SubmitResult(appended, False)  # the projector process finds them
        if self.worker is not None:
            self.worker.notify()
            return SubmitResult(appended, False)
        try:
            # what was just logged in one projection batch (one coalesced ChangeSet)
            self.projector.catch_up(min(max(self.projector.batch, len(inputs)), MAX_BATCH))
        except BackendUnavailable:
            # Accepted and durable all the same; projection catches up later.
            return SubmitResult(appended, False)
        return SubmitResult(appended, True)

    def submit_mapped(
        self,
        source: str,
        keys: Sequence[str],
        texts: Sequence[bytes],
        changes: ChangeSet | None,
        followup: Callable[[GraphStore], ChangeSet] | None = None,
    ) -> SubmitResult:
        """Like :meth:`submit` for inputs already validated, keyed, serialized (their
        canonical JSON) and, unless ``changes`` is None, mapped into one ChangeSet:
        inline projection then applies it (and ``followup``, their reconciliation)
        instead of mapping them again (see
        :class:`~lineagegraph.ingest.projection.Premapped`)."""
        inputs = [LogInput(source, None, k, t) for k, t in zip(keys, texts, strict=True)]

        def log() -> tuple[list[Appended], Premapped | None]:
            appended = self.log.append(inputs)
            written = [(k, a.seq) for k, a in zip(keys, appended, strict=True) if not a.duplicate]
            if changes is None or not written:
                return appended, None
            new = frozenset(k for k, _ in written)
            seqs = [seq for _, seq in written]
            return appended, Premapped(source, new, changes, followup, min(seqs), max(seqs))

        if self.process is not None:  # it maps them from the log in its own process
            return SubmitResult(self.log.append(inputs), False)
        if self.worker is not None:
            with self.worker.offering() as offer:
                appended, premapped = log()
                if premapped is not None:
                    offer(premapped)
            return SubmitResult(appended, False)
        appended, premapped = log()
        try:
            self.projector.catch_up(
                min(max(self.projector.batch, len(inputs)), MAX_BATCH), premapped
            )
        except BackendUnavailable:
            return SubmitResult(appended, False)
        return SubmitResult(appended, True)

    def submit_grouped(
        self,
        source: str,
        payloads: Sequence[Any],
        keys: Sequence[str | None] | None = None,
        texts: Sequence[bytes | None] | None = None,
    ) -> Future[SubmitResult]:
        """Like :meth:`submit`, but coalesced with concurrent callers into one log
        transaction (and one projection): for many small concurrent submissions,
        such as one event per HTTP request. The future resolves when they are
        durable (and projected, inline mode)."""
        return self._committer().submit(source, payloads, keys, texts)

    def _committer(self) -> GroupCommitter:
        with self._group_lock:
            if self._group is None:
                from lineagegraph.ingest.group_commit import GroupCommitter

                self._group = GroupCommitter(self.submit)
            return self._group

    def in_order(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` (which logs inputs by other means than :meth:`submit_grouped`,
        e.g. :meth:`submit_mapped`) on the group committer's thread, in order with
        the grouped submissions; the future resolves with its result."""
        return self._committer().call(fn)

    def reject(self, source: str, raw: str | bytes, error: str) -> int:
        """Keep a bad input in the dead letters with its reason; returns its log position."""
        return self.log.reject(source, raw, error)

    def wait_for_projection(self, position: int, timeout: float = 10.0) -> bool:
        if self.process is not None:  # it projects on its own
            return wait_for_position(self.store, position, timeout)
        if self.worker is None:
            self.projector.catch_up()
            return self.store.log_position() >= position
        return self.worker.wait_for(position, timeout)
