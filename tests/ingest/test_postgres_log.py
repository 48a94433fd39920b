"""The event log on a real PostgreSQL server: the same SQLModel code as SQLite,
durable appends from concurrent writers, dead letters, and a schema upgrade
that keeps the data already logged."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lineagegraph.ingest.log import EventLog, LogInput, make_engine
from lineagegraph.ingest.migrations import config, current, upgrade
from tests.cypher.postgres_db import database_exists, postgres_database, postgres_url

__all__ = ["postgres_url"]

pytestmark = pytest.mark.integration


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(config()).get_current_head()
    assert head is not None
    return head


def test_append_read_and_dead_letters(postgres_url: str) -> None:
    log = EventLog(postgres_url)
    try:
        assert current(log.engine) == _head()
        first = log.append([LogInput("openlineage", {"run": 1}), LogInput("mlflow", {"run": 1})])
        again = log.append(
            [LogInput("openlineage", {"run": 1}), LogInput("openlineage", {"x": "é"})]
        )
        assert [a.duplicate for a in first] == [False, False]
        assert again[0] == type(again[0])(first[0].seq, True) and not again[1].duplicate
        seq = log.reject("openlineage", b"{broken", "body is not JSON")
        assert log.reject("openlineage", b"{broken", "again") == seq
        log.record_projection_error(first[1].seq, "falkordb://h:1/g", "edge to a missing node")

        events = log.read()
        assert [(e.source, e.payload) for e in events] == [
            ("openlineage", {"run": 1}),
            ("mlflow", {"run": 1}),
            ("openlineage", {"x": "é"}),
        ]
        assert all(e.received_at.tzinfo is not None for e in events)
        assert abs((datetime.now(UTC) - events[0].received_at).total_seconds()) < 300
        assert log.head() == seq and log.read(after=events[1].seq) == events[2:]
        assert [len(b) for b in log.iter_all(batch=2)] == [2, 1]
        assert log.counts() == {"accepted": 3, "rejected": 1, "projection_errors": 1}
        letters = {(d.reason, d.error) for d in log.dead_letters()}
        assert letters == {
            ("rejected", "body is not JSON"),
            ("projection", "edge to a missing node"),
        }
    finally:
        log.close()
    # durable: another engine (another process, as far as the server knows) reads it all
    reopened = EventLog(postgres_url)
    try:
        assert len(reopened.read()) == 3 and reopened.head() == seq
    finally:
        reopened.close()


def test_concurrent_appenders_lose_nothing(postgres_url: str) -> None:
    log = EventLog(postgres_url)
    source = "concurrency"
    acknowledged: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(25):
            # {"shared": i} comes from every writer at about the same time, as when a
            # producer retries against another API replica: logged once, no error.
            batch = [LogInput(source, {"w": w, "i": i}), LogInput(source, {"shared": i})]
            out = log.append(batch)
            with lock:
                acknowledged.extend(a.seq for a in out if not a.duplicate)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        logged = [e for batch in log.iter_all() for e in batch if e.source == source]
        # every acknowledged input is there, once
        assert sorted(e.seq for e in logged) == sorted(acknowledged)
        assert len(logged) == 4 * 25 + 25
        assert len({orjson_key(e.payload) for e in logged}) == len(logged)
    finally:
        log.close()


def orjson_key(payload: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(payload.items()))


def test_upgrade_from_the_first_revision_keeps_the_data() -> None:
    with postgres_database("lg_upgrade") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0001")
            assert current(engine) == "0001"
            now = datetime(2026, 3, 1, 12, tzinfo=UTC)
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO event (source, idempotency_key, received_at, status, payload,"
                        " error) VALUES (:source, :key, :at, :status, :payload, :error)"
                    ),
                    [
                        {
                            "source": "openlineage",
                            "key": "k1",
                            "at": now,
                            "status": "accepted",
                            "payload": '{"eventType":"START"}',
                            "error": None,
                        },
                        {
                            "source": "openlineage",
                            "key": "k2",
                            "at": now,
                            "status": "rejected",
                            "payload": "{bad",
                            "error": "not JSON",
                        },
                    ],
                )
            log = EventLog(url)  # opening migrates to the newest revision
            try:
                assert current(log.engine) == _head() != "0001"
                (event,) = log.read()
                assert (event.idempotency_key, event.payload) == ("k1", {"eventType": "START"})
                assert event.received_at == now
                assert [d.error for d in log.dead_letters()] == ["not JSON"]
                appended = log.append([LogInput("openlineage", {"eventType": "COMPLETE"})])
                assert appended[0].seq > event.seq
                assert log.append([LogInput("openlineage", {}, "k1")])[0].duplicate
            finally:
                log.close()
        finally:
            engine.dispose()
        assert database_exists(url)
    assert not database_exists(url)  # dropped after the block
