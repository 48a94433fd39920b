"""Worker processes that prepare the server's request bodies of events.

The server runs in one interpreter. Parsing, validating, keying and mapping
events (:func:`~lineagegraph.ingest.openlineage.ingest.prepare`) is about
half of the CPU time an event costs, and would otherwise share that one core
with HTTP, logging and projection. With a :class:`PreparePool`, the event
loop only reads a large body (:data:`MIN_BODY_BYTES`) and hands it over:

1. bodies that arrive together are gathered, as group commit gathers its transactions: while a
   worker prepares one group, the next one gathers, so groups grow exactly as
   fast as load does (at most :data:`MAX_GROUP_EVENTS` events);
2. a worker process splits the group's bodies into events and prepares them
   all as one batch (one coalesced ChangeSet);
3. the batch is logged (durably) and projected on the group committer's
   thread, in order with any other submission, and each request gets the
   results of its own events: the same answers, log, dead letters and graph
   as without workers.

The workers are *spawned* (a fresh interpreter each, never a fork of the
multithreaded server) and configured with the server's identity rules.
``lineagegraph serve`` starts them with the server (other apps: with the
first large body), and the pool reports itself ready only once a worker has
answered, so no request waits for an interpreter to start: until then the
server prepares events itself.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from lineagegraph.ingest.openlineage.ingest import IngestReport, Prepared, ingest_prepared, prepare
from lineagegraph.ingest.openlineage.reader import RawItem, split_documents
from lineagegraph.ingest.service import IngestService

log = logging.getLogger(__name__)

#: bodies at least this large go to the workers (about a dozen fixture-sized events).
#: Smaller ones, single events above all, are prepared in the server: with a few
#: producers each waiting for its answer, the trip to a worker and back costs
#: more in latency, so in throughput, than the worker saves (measured in bench/).
MIN_BODY_BYTES = 32 * 1024
#: the most events gathered into one group (a single larger body is a group of its own)
MAX_GROUP_EVENTS = 5000
#: groups handed to the workers and not yet logged: one being prepared, one waiting
#: (so a worker never idles between groups), more only with more workers
IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class BodyResult:
    """What became of one request body.

    ``count`` is the number of events in the body; ``report`` holds their
    results, or is None when there were none or more than the limit (nothing
    was logged).
    """

    count: int
    single: bool  # one event, sent as a JSON object (not a batch)
    report: IngestReport | None


@dataclass(frozen=True, slots=True)
class PreparedGroup:
    """A group of bodies after a worker read them: each body's ``(count, single,
    taken)`` and the events of the taken ones, in order, prepared as one batch."""

    bodies: list[tuple[int, bool, bool]]
    prepared: Prepared | None


def prepare_group(
    bodies: list[bytes], origin: str, max_batch: int, mapping: bool = True
) -> PreparedGroup:
    """Split each body into events and prepare those of every body within the
    limits as one batch (runs in a worker process; ``mapping``: see ``prepare``)."""
    shape: list[tuple[int, bool, bool]] = []
    items: list[RawItem] = []
    for body in bodies:
        events = split_documents(body, origin)
        taken = 0 < len(events) <= max_batch
        single = len(events) == 1 and events[0].origin == origin
        shape.append((len(events), single, taken))
        if taken:
            items.extend(events)
    return PreparedGroup(shape, prepare(items, mapping=mapping) if items else None)


def _start_worker(aliases: Any) -> None:
    """Configure a fresh worker like the server's mappers, and keep its imports
    out of the collector's sight (they live as long as the process)."""
    from lineagegraph.ingest.mappers import configure_mappers
    from lineagegraph.settings import Settings

    configure_mappers(Settings(dataset_aliases=aliases))
    gc.collect()
    gc.freeze()


def _ready() -> bool:
    return True


@dataclass(slots=True)
class _Body:
    body: bytes
    max_batch: int
    future: Future[BodyResult]


class PreparePool:
    """Worker processes preparing the server's request bodies (see the module docstring)."""

    def __init__(self, service: IngestService, workers: int, aliases: Any) -> None:
        self.service = service
        self.workers = workers
        self._aliases = aliases
        self._executor: ProcessPoolExecutor | None = None
        self._ready = False
        self._closed = False
        self._cond = threading.Condition()
        self._queue: list[_Body] = []
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self.groups = 0  # groups the workers prepared
        self.bodies = 0  # bodies in them

    @staticmethod
    def default_workers() -> int:
        """One worker when this machine has a second core, else none."""
        return 1 if (os.cpu_count() or 1) > 1 else 0

    @property
    def ready(self) -> bool:
        """Whether the workers take bodies now (the first call starts them)."""
        if self._executor is None:
            self.start()
        return self._ready and not self._closed

    def submit(self, body: bytes, max_batch: int) -> Future[BodyResult]:
        """Log and project the events of a request body, prepared by a worker with
        the bodies that arrive with it (only when :attr:`ready`)."""
        item = _Body(body, max_batch, Future())
        with self._cond:
            if self._closed:
                raise RuntimeError("the prepare pool is closed")
            self._queue.append(item)
            self._cond.notify()
        return item.future

    def close(self) -> None:
        """Finish what was submitted, then stop the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def start(self) -> None:
        """Start the workers now (else the first large body does); ready once one
        has answered."""
        with self._cond:
            if self._executor is not None or self._closed:
                return
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._aliases,),
            )
            self._thread = threading.Thread(target=self._dispatch, name="prepare", daemon=True)
            self._thread.start()
        try:
            self._executor.submit(_ready).add_done_callback(self._started)
        except Exception as exc:  # e.g. spawning from a script without a main guard
            log.warning("ingest workers unavailable, events are prepared in the server: %s", exc)
            self._closed = True

    # ---- inside ------------------------------------------------------------------------
    def _started(self, future: Future[bool]) -> None:
        if future.exception() is not None:
            log.warning("the ingest worker did not start: %s", future.exception())
            return
        self._ready = True

    def _dispatch(self) -> None:
        """Hand gathered bodies to the workers, as many groups at a time as they take."""
        limit = IN_FLIGHT_PER_WORKER * self.workers
        while True:
            with self._cond:
                while not (self._queue and self._in_flight < limit) and not (
                    self._closed and not self._queue
                ):
                    self._cond.wait()
                if not self._queue:
                    return  # closed, and everything submitted is handed over
                group = self._take()
                self._in_flight += 1
            self._send(group)

    def _take(self) -> list[_Body]:
        """The queued bodies up to :data:`MAX_GROUP_EVENTS` (judged by size: a body
        is about 3 KB an event), at least one."""
        budget = MAX_GROUP_EVENTS * 3000
        taken = 0
        size = 0
        for item in self._queue:
            if taken and size + len(item.body) > budget:
                break
            size += len(item.body)
            taken += 1
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _send(self, group: list[_Body]) -> None:
        assert self._executor is not None
        self.groups += 1
        self.bodies += len(group)
        bodies = [b.body for b in group]
        max_batch = min(b.max_batch for b in group)
        try:
            # a projector process maps what it projects: mapping here would be wasted
            mapping = self.service.process is None
            future = self._executor.submit(prepare_group, bodies, "body", max_batch, mapping)
        except BaseException as exc:  # a broken pool: every waiter learns why
            self._done(group, exc)
            return
        future.add_done_callback(lambda f: self._prepared(group, f))

    def _prepared(self, group: list[_Body], future: Future[PreparedGroup]) -> None:
        """A worker is done with a group: log and project it in order with the others."""
        exc = future.exception()
        if exc is not None:
            self._done(group, exc)
            return
        done = future.result()
        service = self.service

        def land() -> IngestReport | None:
            return ingest_prepared(service, done.prepared) if done.prepared else None

        def landed(f: Future[IngestReport | None]) -> None:
            failure = f.exception()
            if failure is not None:
                self._done(group, failure)
            else:
                self._answer(group, done, f.result())

        try:
            service.in_order(land).add_done_callback(landed)
        except BaseException as failure:  # the committer is closed: the server is stopping
            self._done(group, failure)

    def _answer(self, group: list[_Body], done: PreparedGroup, report: IngestReport | None) -> None:
        start = 0
        for item, (count, single, taken) in zip(group, done.bodies, strict=True):
            mine = None
            if taken and report is not None:
                mine = report.slice(start, start + count)
                start += count
            item.future.set_result(BodyResult(count, single, mine))
        self._release()

    def _done(self, group: list[_Body], exc: BaseException) -> None:
        log.warning("preparing %d request bodies failed: %s", len(group), exc)
        for item in group:
            if not item.future.done():
                item.future.set_exception(exc)
        self._release()

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()
