"""Projection in a process of its own (``projection_mode = "process"``).

In the other modes the server projects in its own interpreter, so answering
requests and projecting share one core's worth of Python (the GIL): single
event POSTs then top out where the two together fill that core. Here the
server only validates and logs (an event is acknowledged once durable, as in
``background`` mode), and :class:`ProjectorProcess` runs a
:class:`~lineagegraph.ingest.projection.ProjectionWorker` in a child process
with its own store, the store's only writer. The server reads the graph
through its own store: a server store (Neo4j, FalkorDB) is shared anyway, and
the embedded one is opened as a follower (``EmbeddedStore(follow=True)``),
which folds in each commit of the child before it answers.

The child is started with ``spawn`` (no state inherited from the server but
the Settings it is given) and polls the log for new inputs every
:data:`POLL_SECONDS`. It stops on SIGTERM after the batch it is projecting,
and on its own when the server that started it is gone (it never outlives it
as a second writer). When it dies otherwise, the server logs why and starts
another after a pause that doubles up to :data:`MAX_RESTART_PAUSE`; meanwhile
events are still acknowledged (they are durable in the log) and
``/readyz`` says projection is stopped.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from lineagegraph.settings import Settings

log = logging.getLogger(__name__)

#: how often the child looks for new inputs in the log while it has none (seconds)
POLL_SECONDS = 0.01
#: inputs the child projects at most in one batch, unless ``projection_batch`` is set:
#: more than in the server (where a batch competes with requests), since a bigger
#: batch costs less an input (a bulk load: 3,585-3,637 projected a second against
#: 2,423-2,674 at 500, on 2 cores, ``bench/README.md``)
PROCESS_BATCH = 2000
#: the longest pause before a projector process that died is started again (seconds)
MAX_RESTART_PAUSE = 30.0


class ProjectorProcess:
    """Starts, watches, restarts and stops the projector child (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: BaseProcess | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._started = 0.0
        #: why projection is stopped, while it is (the last exit of the child)
        self.down: str | None = None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="projector-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        process = mp.get_context("spawn").Process(
            target=run, args=(self.settings, os.getpid()), name="lineagegraph-projector"
        )
        process.start()
        self._process = process
        self._started = time.monotonic()
        log.info("projector process %d started", process.pid)

    def _watch(self) -> None:
        pause = 0.5
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            process.join(timeout=1.0)
            if process.exitcode is None or self._stopping.is_set():
                continue
            if time.monotonic() - self._started > 10 * MAX_RESTART_PAUSE:
                pause = 0.5  # it had been running well: not a crash loop
            self.down = f"the projector process exited with code {process.exitcode}"
            log.error("%s; starting another in %.1fs", self.down, pause)
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, MAX_RESTART_PAUSE)
            self._spawn()
            self.down = None

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop after its batch (SIGTERM); kill it past ``timeout``."""
        self._stopping.set()
        if self._watcher is not None:
            # first: a watcher about to replace a dead child may start one more
            self._watcher.join(timeout)
        process = self._process
        if process is not None and process.exitcode is None:
            process.terminate()
            process.join(timeout)
            if process.exitcode is None:
                log.warning("projector process %d did not stop: killed", process.pid)
                process.kill()
                process.join(timeout)


def batch_size(settings: Settings) -> int:
    """The child's batch: ``projection_batch`` when it is set, else :data:`PROCESS_BATCH`."""
    configured = "projection_batch" in settings.model_fields_set
    return settings.projection_batch if configured else PROCESS_BATCH


def run(settings: Settings, parent: int) -> None:
    """The child: project the log into the store until SIGTERM or ``parent`` is gone."""
    from lineagegraph.api.logs import configure_logging
    from lineagegraph.graph.registry import open_store
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.ingest.mappers import configure_mappers
    from lineagegraph.ingest.projection import ProjectionWorker, Projector

    configure_logging(settings.log_level, json=settings.log_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    configure_mappers(settings)
    store = open_store(settings.store_uri, **settings.store_credentials())
    events = EventLog(settings.log_url)
    projector = Projector(
        events, store, batch=batch_size(settings), name=settings.store_uri.split("@")[-1]
    )
    worker = ProjectionWorker(
        projector, linger=settings.projection_linger_ms / 1000, poll=POLL_SECONDS
    )
    worker.start()
    try:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                log.warning("the server (pid %d) is gone: the projector stops", parent)
                break
    finally:
        worker.stop()
        store.close()
        events.close()
