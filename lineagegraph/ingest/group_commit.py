"""Group commit: many concurrent small submissions, one log transaction.

A durable commit costs a disk flush, whatever its size, so acknowledging
single events one transaction at a time caps throughput at the flush rate.
:class:`GroupCommitter` queues submissions from any number of threads (or
event-loop tasks, through the returned futures); one committer thread takes
everything queued so far, submits it as one batch (one transaction, and in
inline mode one projection), and resolves each caller's future with its own
slice of the result. Nobody waits for a timer: while one group commits, the
next one gathers, so groups grow exactly as fast as load does.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lineagegraph.ingest.service import SubmitResult

log = logging.getLogger(__name__)

SubmitFn = Callable[
    [str, Sequence[Any], Sequence[str | None], Sequence[bytes | None]], SubmitResult
]
T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    source: str
    payloads: Sequence[Any]
    keys: Sequence[str | None]
    texts: Sequence[bytes | None]
    future: Future[SubmitResult] = field(default_factory=Future)


@dataclass(slots=True)
class _Call:
    fn: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    """Coalesces concurrent submissions (see the module docstring)."""

    def __init__(self, submit: SubmitFn, *, max_group: int = 2000) -> None:
        self._submit = submit
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Pending | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()
        self._closed = False

    def submit(
        self,
        source: str,
        payloads: Sequence[Any],
        keys: Sequence[str | None] | None = None,
        texts: Sequence[bytes | None] | None = None,
    ) -> Future[SubmitResult]:
        """Queue inputs of one source (their keys and canonical JSON texts when the
        caller has them); the future resolves once they are durable."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        none = [None] * len(payloads)
        pending = _Pending(source, payloads, none if keys is None else keys, texts or none)
        self._queue.put(pending)
        return pending.future

    def call(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the committer thread, in order with the submissions: after
        those queued before it, before those queued after (e.g. a batch that is
        logged and projected by other means, which must not race the groups)."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        call = _Call(fn)
        self._queue.put(call)
        return call.future

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the committer thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout)

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Call):
                self._run(first)
                continue
            group, size = [first], len(first.payloads)
            after: _Call | None = None
            while size < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                if isinstance(item, _Call):
                    after = item  # the group gathered so far goes first
                    break
                group.append(item)
                size += len(item.payloads)
            self._commit(group)
            if after is not None:
                self._run(after)

    @staticmethod
    def _run(call: _Call) -> None:
        try:
            result = call.fn()
        except BaseException as exc:  # the caller learns why; the thread lives on
            call.future.set_exception(exc)
        else:
            call.future.set_result(result)

    def _commit(self, group: list[_Pending]) -> None:
        by_source: dict[str, list[_Pending]] = {}
        for p in group:
            by_source.setdefault(p.source, []).append(p)
        for source, pendings in by_source.items():
            payloads = [x for p in pendings for x in p.payloads]
            keys = [k for p in pendings for k in p.keys]
            texts = [t for p in pendings for t in p.texts]
            try:
                result = self._submit(source, payloads, keys, texts)
            except BaseException as exc:  # every waiter learns why; the thread lives on
                log.warning("group commit of %d %s inputs failed: %s", len(payloads), source, exc)
                for p in pendings:
                    p.future.set_exception(exc)
                continue
            start = 0
            for p in pendings:
                end = start + len(p.payloads)
                p.future.set_result(SubmitResult(result.appended[start:end], result.projected))
                start = end
