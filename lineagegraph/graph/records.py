"""The merge rules of a ChangeSet, applied to one stored node or edge.

A :class:`Record` is the mutable state of one row while a ChangeSet is
applied. Every rule is a commutative fold (max, min, per-property max of
``(event time, canonical JSON)``), so any order of the same upserts and
tombstones ends in the same state: that is what makes projection idempotent
and order-tolerant (see ``lineagegraph/graph/changeset.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact)."""
    return (t - _EPOCH) // _US


@lru_cache(maxsize=65_536)
def from_us(us: int) -> datetime:
    """The datetime (UTC) of an integer time. Cached: rows read together share
    few distinct event times, and datetimes are immutable."""
    return _EPOCH + timedelta(microseconds=us)


def loads(text: str) -> dict[str, Any]:
    """A stored JSON object; most are empty."""
    return {} if text == "{}" else orjson.loads(text)  # type: ignore[no-any-return]


def canonical(value: Any) -> bytes:
    """The canonical JSON of a value: the tie-break between equal event times."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def dumps(value: dict[str, Any]) -> str:
    if not value:
        return "{}"
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(slots=True)
class Record:
    """One node or edge row: its merged state and whether it changed."""

    id: int
    props: dict[str, Any]
    clock: dict[str, int]
    first_seen: int
    last_seen: int
    tomb_at: int | None
    source: str
    event_id: str
    new: bool = False
    dirty: bool = False
    #: alive before this ChangeSet (False for new records)
    was_alive: bool = False

    @classmethod
    def create(
        cls, id_: int, t: int, source: str, event_id: str, props: Mapping[str, Any]
    ) -> Record:
        # merge_props into nothing: every property is set, a None one removed
        values = {name: value for name, value in props.items() if value is not None}
        clock = dict.fromkeys(props, t)
        return cls(id_, values, clock, t, t, None, source, event_id, new=True, dirty=True)

    @classmethod
    def from_row(cls, row: Any) -> Record:
        """From ``(id, props, clock, first_seen, last_seen, tomb_at, source, event_id, ...)``.

        Rows are unpacked by position: attribute access on a SQLAlchemy row
        costs ten times more, and a big ChangeSet reads thousands of them.
        """
        id_, props, clock, first_seen, last_seen, tomb_at, source, event_id = row[:8]
        rec = cls(
            id_,
            loads(props),
            loads(clock),
            first_seen,
            last_seen,
            tomb_at,
            source,
            event_id,
        )
        rec.was_alive = rec.deleted_at is None
        return rec

    @property
    def deleted_at(self) -> int | None:
        """The tombstone time while no upsert is newer (a tie keeps it deleted)."""
        if self.tomb_at is not None and self.tomb_at >= self.last_seen:
            return self.tomb_at
        return None

    def upsert(self, t: int, source: str, event_id: str, props: Mapping[str, Any]) -> None:
        if t < self.first_seen:
            self.first_seen = t
            self.dirty = True
        if t > self.last_seen or (
            t == self.last_seen and (source, event_id) > (self.source, self.event_id)
        ):
            # provenance is the latest upsert's; ties go to the greater (source, id)
            self.last_seen = t
            self.source = source
            self.event_id = event_id
            self.dirty = True
        self.merge_props(t, props)

    def merge_props(self, t: int, props: Mapping[str, Any]) -> None:
        current, clock = self.props, self.clock
        for name, value in props.items():
            seen = clock.get(name)
            if seen is not None and (
                t < seen or (t == seen and canonical(value) <= canonical(current.get(name)))
            ):
                continue
            clock[name] = t
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
            self.dirty = True

    def tombstone(self, t: int) -> bool:
        """Record a tombstone; True when it moved the tombstone time."""
        if self.tomb_at is None or t > self.tomb_at:
            self.tomb_at = t
            self.dirty = True
            return True
        return False

    def row(self) -> dict[str, Any]:
        """The columns this record writes (identity columns are added by the caller)."""
        return {
            "props": dumps(self.props),
            "clock": dumps(self.clock),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "tomb_at": self.tomb_at,
            "deleted_at": self.deleted_at,
            "source": self.source,
            "event_id": self.event_id,
        }
