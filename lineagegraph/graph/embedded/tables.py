"""The embedded store's SQLite tables (``node``, ``edge``, ``meta``).

SQLite is the durable copy; the in-memory index (``index.py``) is rebuilt
from it at start-up. Design choices, and why:

* Times are integer microseconds since the Unix epoch, UTC: exact, compact,
  and compared by plain integer order in SQL (as-of queries).
* ``node.id`` and ``edge.id`` are assigned by the store (max + 1) rather than
  by SQLite, so a whole ChangeSet is inserted with ``executemany`` without
  reading ids back; they are also the node ids of the in-memory graph.
* ``props`` holds the current property values as JSON; ``clock`` holds, per
  property, the event time of the write that won (removed properties
  included), which is what makes last-writer-wins order-insensitive.
* ``tomb_at`` is the latest tombstone time ever seen; ``deleted_at`` is
  ``tomb_at`` while no upsert is newer than it (NULL once revived). Keeping
  both makes tombstones order-insensitive too.
* ``name``/``namespace`` are the key's display name and namespace, with
  case-folded copies for case-insensitive search; search pages in
  ``(name, key)`` order, hence that index.
* ``rev`` is the store revision of the ``apply`` that last wrote the row (one
  more than the greatest before it): another process that reads the same file
  finds what changed since it last looked through its index (a follower,
  ``EmbeddedStore(follow=True)``).

The tables live in their own SQLModel registry, so they never mix with the
event log's tables (which may share a database file).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

#: Bumped when the layout changes; stored in ``meta`` and checked on open
#: (version 1 lacked ``rev``: ``sql.check_schema`` adds it).
SCHEMA_VERSION = 2


class GraphTable(SQLModel, registry=registry()):
    """Base of the embedded store's tables (a metadata of their own)."""


class NodeRow(GraphTable, table=True):
    __tablename__ = "node"
    __table_args__ = (
        sa.Index("ix_node_name_key", "name", "key"),
        sa.Index("ix_node_name_fold", "name_fold"),
    )

    id: int = Field(primary_key=True)
    key: str = Field(unique=True)  # the key's one string form (keys.py)
    kind: str
    namespace: str | None = None
    name: str
    ns_fold: str | None = None
    name_fold: str
    props: str = "{}"
    clock: str = "{}"
    first_seen: int
    last_seen: int
    tomb_at: int | None = None
    deleted_at: int | None = None
    source: str
    event_id: str
    rev: int = Field(default=0, index=True)


class EdgeRow(GraphTable, table=True):
    __tablename__ = "edge"
    __table_args__ = (
        sa.UniqueConstraint("src", "dst", "kind", name="uq_edge_src_dst_kind"),
        sa.Index("ix_edge_dst", "dst"),
    )

    id: int = Field(primary_key=True)
    src: int = Field(foreign_key="node.id")
    kind: str
    dst: int = Field(foreign_key="node.id")
    props: str = "{}"
    clock: str = "{}"
    first_seen: int
    last_seen: int
    tomb_at: int | None = None
    deleted_at: int | None = None
    source: str
    event_id: str
    rev: int = Field(default=0, index=True)


class MetaRow(GraphTable, table=True):
    """Store-wide values: ``schema_version``, ``log_position``."""

    __tablename__ = "meta"

    name: str = Field(primary_key=True)
    value: str


NODE: sa.Table = NodeRow.__table__  # type: ignore[attr-defined]
EDGE: sa.Table = EdgeRow.__table__  # type: ignore[attr-defined]
META: sa.Table = MetaRow.__table__  # type: ignore[attr-defined]
METADATA: sa.MetaData = GraphTable.metadata
