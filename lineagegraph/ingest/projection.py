"""Projection: apply logged inputs to a graph store, in log order, idempotently.

The store records the log position it has applied (in the same transaction as
the changes), so projection resumes where it stopped and a fresh store
replays from position 0. A batch of inputs is mapped and applied as one
ChangeSet, coalesced (:func:`~lineagegraph.graph.changeset.coalesce`: the
upserts of one node or edge by many inputs are folded by the store's own merge
rules, so the store applies each distinct fact once and ends in the same state);
if the store rejects the batch, inputs are applied one by one so that a single
bad input lands in the dead letters and the rest go through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lineagegraph.errors import BackendUnavailable, InvalidInput
from lineagegraph.gcpause import gc_paused
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import EventLog, LoggedEvent
from lineagegraph.ingest.mappers import Reconciler, mapper_for, reconciler_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Premapped:
    """Inputs of one source mapped before they were logged, as one (coalesced) ChangeSet.

    The ingest path that validated and mapped them anyway (in a worker process,
    see :mod:`lineagegraph.ingest.openlineage.ingest`) hands the result to
    projection, which uses it instead of mapping again when, and only when,
    the batch it reads from the log is exactly these inputs (by idempotency
    key). The ChangeSet may also hold inputs that were logged before
    (duplicates): applying facts twice changes nothing.
    """

    source: str
    keys: frozenset[str]
    changes: ChangeSet
    #: the source's reconciliation, made ready by the same path (called with the
    #: store once ``changes`` are applied); None: the source's reconciler runs on
    #: the events read back from the log
    followup: Callable[[GraphStore], ChangeSet] | None = None
    #: the log positions of the first and last of ``keys`` (0: unknown), so that
    #: inputs logged before them are projected first, and the batch kept for after
    first: int = 0
    last: int = 0

    @staticmethod
    def merged(batches: Sequence[Premapped]) -> Premapped:
        """Consecutive batches of one source as one (applying the concatenated
        ChangeSets is applying each in turn: the store folds repeated facts)."""
        first = batches[0]
        if len(batches) == 1:
            return first
        followups = [b.followup for b in batches]
        followup = None
        if all(f is not None for f in followups):

            def followup(store: GraphStore) -> ChangeSet:
                return ChangeSet.merge(f(store) for f in followups if f is not None)

        known = all(b.first for b in batches)
        return Premapped(
            first.source,
            frozenset().union(*(b.keys for b in batches)),
            ChangeSet.merge(b.changes for b in batches),
            followup,
            min(b.first for b in batches) if known else 0,
            max(b.last for b in batches) if known else 0,
        )


@dataclass(frozen=True, slots=True)
class ProjectionReport:
    projected: int  # inputs applied
    failed: int  # inputs recorded as projection errors
    position: int  # the store's log position afterwards
    #: the premapped batch given was not reached: inputs logged before it went first
    deferred: bool = False


class Projector:
    """Moves a store forward through the log."""

    def __init__(self, log_: EventLog, store: GraphStore, *, batch: int = 500, name: str = "store"):
        self.log = log_
        self.store = store
        self.batch = batch
        self.name = name
        self._lock = threading.Lock()

    def run_once(
        self,
        batch: int | None = None,
        premapped: Premapped | None = None,
        upto: int | None = None,
    ) -> ProjectionReport:
        """Project the next batch after the store's position (at most ``batch`` inputs,
        by default the projector's, none past ``upto``); ``premapped``: see
        :class:`Premapped`."""
        with self._lock, gc_paused():
            position = self.store.log_position()
            limit = batch or self.batch
            if premapped is not None and premapped.first and position < premapped.first - 1:
                # inputs logged before the batch (if any: rejected ones hold positions
                # too) come first, mapped; the batch is kept for its turn
                before = premapped.first - 1 if upto is None else min(upto, premapped.first - 1)
                events = self.log.read(position, self.batch, before)
                if events:
                    report = self._project(events)
                    return ProjectionReport(report.projected, report.failed, report.position, True)
            if premapped is not None:
                # which inputs come next is enough to know whether they are premapped's
                heads = self.log.read_heads(position, limit, upto)
                if not heads:
                    return ProjectionReport(0, 0, position)
                if _covers(premapped, heads):
                    return self._project_premapped(position, heads, premapped)
            events = self.log.read(position, limit, upto)
            if not events:
                return ProjectionReport(0, 0, position)
            return self._project(events)

    def catch_up(
        self, batch: int | None = None, premapped: Premapped | None = None
    ) -> ProjectionReport:
        """Project until the store has applied everything in the log (``batch`` inputs
        at a time, by default the projector's); ``premapped``: see :class:`Premapped`."""
        projected = failed = 0
        limit = batch or self.batch
        while True:
            report = self.run_once(batch, premapped)
            if not report.deferred:
                premapped = None
            projected += report.projected
            failed += report.failed
            if report.projected + report.failed < limit and not report.deferred:
                # a short batch was the end of the log when it was read: caught up (what
                # was logged since is projected by its own submitter, or the worker)
                return ProjectionReport(projected, failed, report.position)

    def lag(self) -> int:
        """How many log positions the store is behind (rejected inputs count too)."""
        return max(0, self.log.head() - self.store.log_position())

    def _project(self, events: list[LoggedEvent]) -> ProjectionReport:
        mapped: list[tuple[LoggedEvent, ChangeSet | None]] = []
        failed = 0
        for ev in events:
            try:
                mapped.append((ev, mapper_for(ev.source)(ev)))
            except InvalidInput as exc:
                self._fail(ev.seq, ev.source, exc)
                mapped.append((ev, None))
                failed += 1
        last = events[-1].seq
        # Sources with a reconciler get a second step that reads the store after the
        # batch. The batch is then applied without moving the log position, and the
        # position moves with the reconciler's changes: a crash in between projects the
        # batch again (idempotent) instead of skipping the reconciliation.
        followups = self._followups(mapped)
        # one ChangeSet for the batch, each repeated fact folded once (ChangeSet.coalesce)
        merged = ChangeSet.coalesce(cs for _, cs in mapped if cs is not None)
        try:
            self.store.apply(merged, log_position=None if followups else last)
            if followups:
                self._reconcile(followups, last)
            return ProjectionReport(len(events) - failed, failed, last)
        except InvalidInput:
            pass  # isolate the offending input below
        projected = 0
        for ev, cs in mapped:
            position = None if followups else ev.seq
            if cs is None:
                if position is not None:
                    self.store.apply(ChangeSet(), log_position=position)
                continue
            try:
                self.store.apply(cs, log_position=position)
                projected += 1
            except InvalidInput as exc:
                self._fail(ev.seq, ev.source, exc)
                if position is not None:
                    self.store.apply(ChangeSet(), log_position=position)
                failed += 1
        if followups:
            self._reconcile(followups, last)
        return ProjectionReport(projected, failed, last)

    def _project_premapped(
        self, position: int, heads: list[tuple[int, str, str]], premapped: Premapped
    ) -> ProjectionReport:
        last = heads[-1][0]
        followup = premapped.followup
        if followup is None:
            reconcile = reconciler_for(premapped.source)
            if reconcile is not None:
                followup = _bind(reconcile, self.log.read(position, len(heads)))
        try:
            self.store.apply(premapped.changes, log_position=None if followup else last)
        except InvalidInput:
            # map them here, and isolate the offending input
            return self._project(self.log.read(position, len(heads)))
        if followup is not None:
            self._reconcile([(premapped.source, followup, last)], last)
        return ProjectionReport(len(heads), 0, last)

    @staticmethod
    def _followups(mapped: list[tuple[LoggedEvent, ChangeSet | None]]) -> list[Followup]:
        """The reconciliation of the mapped inputs of each source that has a reconciler."""
        by_source: dict[str, tuple[Reconciler, list[LoggedEvent]]] = {}
        for ev, cs in mapped:
            if cs is None:
                continue
            if ev.source not in by_source:
                fn = reconciler_for(ev.source)
                if fn is None:
                    continue
                by_source[ev.source] = (fn, [])
            by_source[ev.source][1].append(ev)
        return [(src, _bind(fn, evs), evs[-1].seq) for src, (fn, evs) in by_source.items()]

    def _reconcile(self, followups: list[Followup], last: int) -> None:
        """Apply the reconciliations of a batch, moving the store to ``last``; one
        that fails is recorded against its source's last input of the batch."""
        changes = ChangeSet()
        for source, followup, seq in followups:
            try:
                changes.extend(followup(self.store))
            except InvalidInput as exc:
                self._fail(seq, source, InvalidInput(f"{source} reconciliation: {exc}"))
        try:
            self.store.apply(changes, log_position=last)
        except InvalidInput as exc:
            source, _, seq = followups[0]
            self._fail(seq, source, exc)
            self.store.apply(ChangeSet(), log_position=last)

    def _fail(self, seq: int, source: str, exc: Exception) -> None:
        log.warning("projection of input %s (%s) failed: %s", seq, source, exc)
        self.log.record_projection_error(seq, self.name, str(exc))


#: a source's reconciliation of a batch: (source, step, the input a failure is blamed on)
Followup = tuple[str, Callable[[GraphStore], ChangeSet], int]


def _bind(reconcile: Reconciler, events: list[LoggedEvent]) -> Callable[[GraphStore], ChangeSet]:
    """The reconciliation of ``events``, to run on the store once they are applied."""
    return lambda store: reconcile(store, events)


def _covers(premapped: Premapped, heads: list[tuple[int, str, str]]) -> bool:
    """Whether the inputs ``heads`` names are exactly those ``premapped`` was mapped from."""
    keys = premapped.keys
    source = premapped.source
    return len(heads) == len(keys) and all(s == source and k in keys for _, s, k in heads)


#: offered batches kept waiting for projection at most (see ProjectionWorker.offering)
MAX_OFFERS = 16


def wait_for_position(
    store: GraphStore,
    position: int,
    timeout: float = 10.0,
    poke: Callable[[], None] | None = None,
) -> bool:
    """Block until ``store`` has applied log ``position`` (True) or ``timeout`` passes,
    looking every 20 ms (and calling ``poke`` before each wait: wake the projector)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.log_position() >= position:
                return True
        except BackendUnavailable:
            pass
        if poke is not None:
            poke()
        time.sleep(0.02)
    return False


@dataclass(slots=True)
class _Offer:
    """A batch being logged by :meth:`ProjectionWorker.offering`, then its ChangeSet."""

    premapped: Premapped | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ProjectionWorker:
    """Runs a Projector in a background thread, with backoff while the store is down."""

    def __init__(
        self,
        projector: Projector,
        *,
        max_backoff: float = 30.0,
        linger: float = 0.0,
        poll: float = 1.0,
    ) -> None:
        self.projector = projector
        self.max_backoff = max_backoff
        #: seconds between looks at the log while nothing wakes the worker (inputs
        #: logged in this process do; another process's are found by looking,
        #: :meth:`EventLog.changed`)
        self.poll = poll
        #: seconds to wait after a batch smaller than the projector's, so that
        #: inputs arriving one by one are projected (and merged) together
        self.linger = linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        #: batches mapped before they were logged (:meth:`offer`), oldest first
        self._offered: deque[_Offer] = deque()
        self._offered_lock = threading.Lock()
        #: an offered batch waiting for the inputs logged before it
        self._held: Premapped | None = None
        self._thread: threading.Thread | None = None
        self.backend_down: str | None = None  # the last error while the store is unavailable

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="projection", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    @contextmanager
    def offering(self) -> Iterator[Callable[[Premapped], None]]:
        """Log a batch already mapped, and offer its ChangeSet, in this block: the
        batch is then projected from it instead of being mapped again (see
        :class:`Premapped`). The offer is queued before the batch is logged and
        completed after, so a worker that finds it open waits for it rather than
        reading the batch from the log first."""
        offer = _Offer()
        with self._offered_lock:
            queue = self._offered
            queue.append(offer)
            # bounded (the ChangeSets are big): while projection is behind, or the
            # store down, the oldest batches are mapped from the log again instead
            while len(queue) > MAX_OFFERS and queue[0].done.is_set():
                queue.popleft()

        def give(premapped: Premapped) -> None:
            offer.premapped = premapped

        try:
            yield give
        finally:
            offer.done.set()
            self._wake.set()

    def _next(self) -> tuple[Premapped | None, int]:
        """The completed offers at the front of the queue, merged up to the
        projector's batch size (at least one; None when there is none), and the log's
        head read after them: every batch logged by then whose offer is open is
        waited for. A batch the log does not have next is dropped by the
        projector's check, and mapped from the log instead."""
        while True:
            taken: list[Premapped] = []
            with self._offered_lock:
                queue = self._offered
                while queue and queue[0].done.is_set():
                    given = queue[0].premapped
                    if given is not None and taken:
                        size = sum(len(p.keys) for p in taken) + len(given.keys)
                        if given.source != taken[0].source or size > self.projector.batch:
                            break
                    queue.popleft()
                    if given is not None:
                        taken.append(given)
                pending = queue[0] if queue and not taken else None
            if taken:
                return Premapped.merged(taken), self.projector.log.head()
            if pending is None or self._stop.is_set():
                return None, self.projector.log.head()
            pending.done.wait(1.0)  # a batch is being logged: project it from its offer

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """Block until the store has applied ``position`` (True) or ``timeout`` passes."""
        return wait_for_position(self.projector.store, position, timeout, poke=self.notify)

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._held is None:
                    self._held, head = self._next()
                else:
                    head = self.projector.log.head()
                offered = self._held
                size = len(offered.keys) if offered is not None else None
                report = self.projector.run_once(size, offered, upto=head)
                if not report.deferred:
                    self._held = None  # applied, or not next in the log: mapped instead
                self.backend_down = None
                backoff = 0.5
                done = report.projected + report.failed
                if done:
                    if done < self.projector.batch and self.linger:
                        self._pause(self.linger)
                    continue  # more may be waiting
            except BackendUnavailable as exc:
                self.backend_down = str(exc)
                log.warning("graph store unavailable, retrying in %.1fs: %s", backoff, exc)
                self._wake.wait(backoff)
                self._wake.clear()
                backoff = min(backoff * 2, self.max_backoff)
                continue
            except Exception:  # keep the worker alive; the error is logged with its trace
                log.exception("projection failed")
            self._idle()

    def _idle(self) -> None:
        """Wait until woken, or until a look at the log (every ``poll`` seconds) finds
        that something was committed to it (inputs another process logged)."""
        changed = self.projector.log.changed
        while not self._wake.wait(self.poll) and not self._stop.is_set():
            try:
                if changed():
                    break
            except Exception:  # (the log is down: the next batch's read reports it)
                break
        self._wake.clear()
