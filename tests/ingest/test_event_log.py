"""The event log on SQLite: durable appends, idempotency keys, dead letters, reopen."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from lineagegraph.ingest.log import EventLog, LogInput
from lineagegraph.ingest.migrations import current


def test_append_is_idempotent_per_source_and_key(tmp_path: Path) -> None:
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    first = log.append([LogInput("openlineage", {"a": 1}), LogInput("mlflow", {"a": 1})])
    again = log.append([LogInput("openlineage", {"a": 1}), LogInput("openlineage", {"a": 2})])
    assert [a.duplicate for a in first] == [False, False]
    assert again[0].duplicate and again[0].seq == first[0].seq
    assert not again[1].duplicate
    assert [e.payload for e in log.read()] == [{"a": 1}, {"a": 1}, {"a": 2}]
    # an explicit key wins over the payload hash
    a = log.append(
        [LogInput("mlflow", {"v": 1}, "run:1@5"), LogInput("mlflow", {"v": 2}, "run:1@5")]
    )
    assert a[1].duplicate and a[1].seq == a[0].seq


def test_rejected_inputs_are_kept_as_dead_letters_and_not_read(tmp_path: Path) -> None:
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    log.append([LogInput("openlineage", {"ok": True})])
    seq = log.reject("openlineage", b"{not json", "body is not JSON: line 1 column 2")
    assert log.reject("openlineage", b"{not json", "again") == seq  # same bytes, one letter
    log.record_projection_error(1, "sqlite:///g.db", "edge to missing node")
    letters = log.dead_letters()
    assert {(d.reason, d.error) for d in letters} == {
        ("rejected", "body is not JSON: line 1 column 2"),
        ("projection", "edge to missing node"),
    }
    assert [e.payload for e in log.read()] == [{"ok": True}]
    assert log.counts() == {"accepted": 1, "rejected": 1, "projection_errors": 1}


def test_log_survives_reopen_and_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    log = EventLog(url)
    log.append([LogInput("changeset", {"nodes": []}, "k1")])
    log.close()
    again = EventLog(url)
    assert again.head() == 1
    assert current(again.engine) is not None
    with again.engine.connect() as conn:
        mode = conn.execute(sa.text("PRAGMA journal_mode")).scalar()
    assert mode == "wal"


def test_changed_says_whether_anyone_committed_since_the_last_look(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    log, other = EventLog(url), EventLog(url)
    try:
        log.changed()  # the first look
        assert not log.changed()
        other.append([LogInput("openlineage", {"a": 1})])
        assert log.changed() and not log.changed()
        log.append([LogInput("openlineage", {"a": 2})])  # its own appends count too
        assert log.changed()
    finally:
        log.close()
        other.close()
    assert EventLog("sqlite://").changed()  # in memory: nobody else can write; always look
