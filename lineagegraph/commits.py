"""Learning cheaply whether another connection committed to a SQLite file.

:class:`CommitWatch` keeps a connection of its own to the file (autocommit,
read-only) and asks SQLite's ``PRAGMA data_version``, which changes when any
other connection commits: a few microseconds, so a reader can look before every
read (an embedded store following another process's writes) or a projector
every few milliseconds while idle (the event log).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class CommitWatch:
    """A read-only connection to a SQLite file and the data version it saw last."""

    def __init__(self, path: str | Path) -> None:
        """Watch ``path``; commits made from now on are :meth:`changed`'s news."""
        self.connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self.connection.execute("PRAGMA query_only = ON")
        #: held around :meth:`changed` and around any read a caller makes with
        #: :attr:`connection` (threads share it); reentrant
        self.lock = threading.RLock()
        self._seen = self._version()

    def _version(self) -> int:
        return int(self.connection.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """Whether another connection committed since the last call (or since the
        watch began)."""
        with self.lock:
            version = self._version()
            changed, self._seen = version != self._seen, version
            return changed

    def close(self) -> None:
        with self.lock:
            self.connection.close()
