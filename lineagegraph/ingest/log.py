"""The durable, append-only event log: every input lands here before it is acknowledged.

One SQL table (``event``) holds every input ever received, accepted or
rejected, with its source, idempotency key, receive time, payload, status and
error. Rejected inputs are the dead letters (``dead_letter`` is a view over
them plus the accepted inputs whose projection failed). Nothing here is ever
updated or deleted; projection progress is kept by each store (its
``log_position``), so any store can be rebuilt from position 0.

SQLite (default) and PostgreSQL run the same SQLModel code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, SQLModel

from lineagegraph.commits import CommitWatch
from lineagegraph.errors import BackendUnavailable

ACCEPTED = "accepted"
REJECTED = "rejected"


class EventRecord(SQLModel, table=True):
    """One input, as received (table ``event``)."""

    __tablename__ = "event"
    __table_args__ = (sa.UniqueConstraint("source", "idempotency_key", name="uq_event_source_key"),)

    seq: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    idempotency_key: str = Field(max_length=200)
    received_at: datetime
    status: str = Field(max_length=16, index=True)
    payload: str  # the input's text (JSON), exactly as accepted or as received when rejected
    error: str | None = None


class ProjectionErrorRecord(SQLModel, table=True):
    """An accepted input that a store could not project (table ``projection_error``)."""

    __tablename__ = "projection_error"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(index=True)
    store: str = Field(max_length=300)
    failed_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class LogInput:
    """An input to append: its source, its JSON payload and an optional idempotency key.

    Without a key the SHA-256 of the payload's canonical JSON is used, so the
    same document sent twice is logged once.
    """

    source: str
    payload: Any
    idempotency_key: str | None = None
    #: the payload's canonical JSON (:func:`canonical_json`) when the caller has it already
    text: bytes | None = None

    def key(self) -> str:
        if self.idempotency_key:
            return self.idempotency_key
        text = self.text if self.text is not None else canonical_json(self.payload)
        return hashlib.sha256(text).hexdigest()


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    duplicate: bool  # True when (source, key) was already logged: nothing new was written


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    source: str
    idempotency_key: str
    received_at: datetime
    status: str
    payload: Any
    error: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int
    source: str
    received_at: datetime
    reason: str  # "rejected" at ingest, or "projection" when a store could not apply it
    error: str
    payload: str


_INSERT_SQLITE = (
    "INSERT INTO event (source, idempotency_key, received_at, status, payload, error)"
    " VALUES (?, ?, ?, ?, ?, NULL)"
)


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def make_engine(url: str) -> Engine:
    """An engine for the log database; SQLite gets WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before we acknowledge (durable before ack).
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class EventLog:
    """Append inputs durably; read them back in order; list the dead letters."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._table = t = EventRecord.__table__  # type: ignore[attr-defined]
        self._errors = ProjectionErrorRecord.__table__  # type: ignore[attr-defined]
        # the statements of every append and projection, built once
        window = (
            t.c.seq > sa.bindparam("after"),
            t.c.seq <= sa.bindparam("upto"),
            t.c.status == ACCEPTED,
        )
        self._read = sa.select(t).where(*window).order_by(t.c.seq).limit(sa.bindparam("limit"))
        self._heads = (
            sa.select(t.c.seq, t.c.source, t.c.idempotency_key)
            .where(*window)
            .order_by(t.c.seq)
            .limit(sa.bindparam("limit"))
        )
        self._known = sa.select(t.c.source, t.c.idempotency_key, t.c.seq).where(
            t.c.source == sa.bindparam("source"),
            t.c.idempotency_key.in_(sa.bindparam("keys", expanding=True)),
        )
        self._insert = t.insert().returning(t.c.seq, sort_by_parameter_order=True)
        self._sqlite = self.engine.dialect.name == "sqlite"
        # the last position the log can hold: ``seq`` is a 64-bit rowid on SQLite, a
        # 32-bit INTEGER on PostgreSQL (the end of a read without one)
        self._end = 2**63 - 1 if self._sqlite else 2**31 - 1
        # received_at as the dialect writes it (the raw SQLite insert binds text)
        bind = t.c.received_at.type.dialect_impl(self.engine.dialect).bind_processor(
            self.engine.dialect
        )
        self._time_text: Any = bind or (lambda value: value)
        self.migrate()
        database = self.engine.url.database if self._sqlite else None
        # :meth:`changed`'s look, from before anyone reads the log through this object
        self._watch = CommitWatch(database) if database and database != ":memory:" else None

    def migrate(self) -> None:
        """Create or upgrade the log's tables (see ``lineagegraph/ingest/migrations``)."""
        from lineagegraph.ingest.migrations import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:  # pragma: no cover - depends on the server
            raise BackendUnavailable(f"event log database unreachable: {exc.orig}") from exc

    # ---- writing ----------------------------------------------------------
    def append(self, inputs: Sequence[LogInput]) -> list[Appended]:
        """Append accepted inputs in one transaction; returns their positions.

        When this returns, the inputs are committed (durable). An input whose
        (source, idempotency key) is already logged is not written again; its
        first position is returned with ``duplicate=True``.
        """
        for attempt in range(3):
            try:
                return self._append(inputs)
            except IntegrityError:
                # Another writer (an API replica) logged one of these inputs between
                # our read and our insert: read again, and it is a duplicate now.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _append(self, inputs: Sequence[LogInput]) -> list[Appended]:
        if not inputs:
            return []
        now = datetime.now(UTC)
        keyed: list[tuple[LogInput, str, bytes]] = []
        for inp in inputs:
            # once: it is both the payload and the hash
            text = inp.text if inp.text is not None else canonical_json(inp.payload)
            key = inp.idempotency_key or hashlib.sha256(text).hexdigest()
            keyed.append((inp, key, text))
        # each result: (position already logged, None) or (None, index of the row written)
        plan: list[tuple[int | None, int | None]] = []
        rows: list[dict[str, Any]] = []
        try:
            with self.engine.begin() as conn:
                existing = self._existing(conn, [(inp, key) for inp, key, _ in keyed])
                seen_in_batch: dict[tuple[str, str], int] = {}
                for inp, key, text in keyed:
                    ident = (inp.source, key)
                    if ident in existing:
                        plan.append((existing[ident], None))
                    elif ident in seen_in_batch:
                        plan.append((None, seen_in_batch[ident]))
                    else:
                        seen_in_batch[ident] = len(rows)
                        plan.append((None, len(rows)))
                        rows.append(
                            {
                                "source": inp.source,
                                "idempotency_key": key,
                                "received_at": now,
                                "status": ACCEPTED,
                                "payload": text.decode(),
                                "error": None,
                            }
                        )
                seqs = self._insert_rows(conn, rows) if rows else []
        except OperationalError as exc:
            raise BackendUnavailable(f"event log database unavailable: {exc.orig}") from exc
        results: list[Appended] = []
        written: set[int] = set()
        for known, row in plan:
            if known is not None:
                results.append(Appended(known, True))
            else:
                assert row is not None
                # the first mention of a row is the write; a repeat in the batch is a duplicate
                results.append(Appended(seqs[row], row in written))
                written.add(row)
        return results

    def _insert_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Write ``rows`` in ``conn``'s transaction; their positions, in order."""
        if not self._sqlite:
            # one statement for the batch (executemany with RETURNING, in order)
            return [int(seq) for seq in conn.execute(self._insert, rows).scalars()]
        # SQLite: one executemany on the driver, then the last position. A row gets
        # max(seq) + 1 (``seq`` is the rowid), and this transaction holds the
        # database's only write lock from its first insert until it commits, so the
        # batch holds exactly the last len(rows) positions. (RETURNING here costs a
        # statement per row: a third of the time of an append.)
        at = self._time_text(rows[0]["received_at"])
        conn.exec_driver_sql(
            _INSERT_SQLITE,
            [(r["source"], r["idempotency_key"], at, r["status"], r["payload"]) for r in rows],
        )
        last = int(conn.exec_driver_sql("SELECT max(seq) FROM event").scalar_one())
        return list(range(last - len(rows) + 1, last + 1))

    def _existing(
        self, conn: sa.Connection, keyed: list[tuple[LogInput, str]]
    ) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        by_source: dict[str, list[str]] = {}
        for inp, key in keyed:
            by_source.setdefault(inp.source, []).append(key)
        for source, keys in by_source.items():
            for i in range(0, len(keys), 500):
                rows = conn.execute(self._known, {"source": source, "keys": keys[i : i + 500]})
                out.update({(src, key): seq for src, key, seq in rows})
        return out

    def reject(self, source: str, raw: str | bytes, error: str) -> int:
        """Keep a rejected input in the dead letters, with the reason; returns its position."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        key = "rejected:" + hashlib.sha256(text.encode()).hexdigest()
        try:
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(self._table.c.seq).where(
                        self._table.c.source == source, self._table.c.idempotency_key == key
                    )
                ).first()
                if row is not None:
                    return int(row.seq)
                seq = conn.execute(
                    self._table.insert().values(
                        source=source,
                        idempotency_key=key,
                        received_at=datetime.now(UTC),
                        status=REJECTED,
                        payload=text,
                        error=error,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
        except OperationalError as exc:
            raise BackendUnavailable(f"event log database unavailable: {exc.orig}") from exc
        return int(seq)

    def record_projection_error(self, seq: int, store: str, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self._errors.insert().values(
                    seq=seq, store=store, failed_at=datetime.now(UTC), error=error
                )
            )

    # ---- reading ----------------------------------------------------------
    def head(self) -> int:
        """The highest position in the log (0 when empty)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(self._table.c.seq))).scalar()
        return int(value or 0)

    def read(self, after: int = 0, limit: int = 500, upto: int | None = None) -> list[LoggedEvent]:
        """Accepted inputs after position ``after`` (up to ``upto``), in log order."""
        params = {"after": after, "limit": limit, "upto": self._end if upto is None else upto}
        with self.engine.connect() as conn:
            rows = conn.execute(self._read, params).all()
        return [
            LoggedEvent(
                seq=r.seq,
                source=r.source,
                idempotency_key=r.idempotency_key,
                received_at=_utc(r.received_at),
                status=r.status,
                payload=orjson.loads(r.payload),
                error=r.error,
            )
            for r in rows
        ]

    def read_heads(
        self, after: int = 0, limit: int = 500, upto: int | None = None
    ) -> list[tuple[int, str, str]]:
        """``(seq, source, idempotency key)`` of what :meth:`read` would return: enough
        to recognise a batch without reading (and parsing) its payloads."""
        params = {"after": after, "limit": limit, "upto": self._end if upto is None else upto}
        with self.engine.connect() as conn:
            rows = conn.execute(self._heads, params).all()
        return [(int(seq), source, key) for seq, source, key in rows]

    def iter_all(self, after: int = 0, batch: int = 1000) -> Iterator[list[LoggedEvent]]:
        while True:
            events = self.read(after, batch)
            if not events:
                return
            yield events
            after = events[-1].seq

    def counts(self) -> dict[str, int]:
        """Inputs by status, and projection errors."""
        t = self._table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
            errors = conn.execute(sa.select(sa.func.count()).select_from(self._errors)).scalar()
        out = {status: int(n) for status, n in rows}
        out["projection_errors"] = int(errors or 0)
        return out

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Rejected inputs and inputs a store failed to project, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT seq, source, received_at, reason, error, payload FROM dead_letter "
                    "ORDER BY received_at DESC, seq DESC LIMIT :limit OFFSET :offset"
                ),
                {"limit": limit, "offset": offset},
            ).all()
        return [
            DeadLetter(
                seq=r.seq,
                source=r.source,
                received_at=_utc(r.received_at),
                reason=r.reason,
                error=r.error,
                payload=r.payload,
            )
            for r in rows
        ]

    def changed(self) -> bool:
        """Whether anything may have been committed to the log since the last call.

        On a SQLite file a few microseconds (:class:`~lineagegraph.commits.CommitWatch`),
        so that a projector can look often while idle. Elsewhere (and for a private
        in-memory database) always True: the caller reads."""
        return self._watch is None or self._watch.changed()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self.engine.dispose()


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
