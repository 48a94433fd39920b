"""What the MLflow harvester remembers between syncs, kept in the event log database.

One small table, ``mlflow_sync_state`` (migration ``0002_mlflow_cursor``),
holds JSON items per *scope* (a harvest namespace and a tracking server):

* ``cursor``: where incremental run syncs start (``runs_since``, epoch ms) and
  when the last sync and the last full sync ran;
* ``model:<name>``: per registered model, its creation time, the versions seen
  (creation time, source, and a fingerprint of the fields a snapshot is built
  from) and the deployments it served. MLflow keeps no time for alias or tag
  changes and forgets deleted versions, so this is how the harvester knows
  when a deployment started or ended and which versions disappeared.

The state is only a memory of what was already logged: losing it costs a
full re-read (the event log's idempotency keys keep that from logging twice),
and deployment start times then restart at the next observation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from lineagegraph.errors import BackendUnavailable

_METADATA = sa.MetaData()

#: The table (created by the event log's migration ``0002_mlflow_cursor``).
SYNC_STATE = sa.Table(
    "mlflow_sync_state",
    _METADATA,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("item", sa.String(700), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

CURSOR = "cursor"
MODEL_PREFIX = "model:"


def scope_of(namespace: str, tracking_uri: str) -> str:
    """The state scope of a harvest: its namespace and server (hashed when very long)."""
    scope = f"{namespace}|{tracking_uri}"
    if len(scope) > 300:
        scope = f"{namespace[:200]}|sha256:{hashlib.sha256(scope.encode()).hexdigest()}"
    return scope


class SyncState:
    """JSON items of one scope in the ``mlflow_sync_state`` table."""

    def __init__(self, engine: Engine, scope: str) -> None:
        self.engine = engine
        self.scope = scope

    def load(self, prefix: str = "") -> dict[str, Any]:
        """Every item whose name starts with ``prefix``."""
        t = SYNC_STATE
        query = sa.select(t.c.item, t.c.value).where(t.c.scope == self.scope)
        if prefix:
            query = query.where(t.c.item.startswith(prefix, autoescape=True))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except OperationalError as exc:
            raise BackendUnavailable(f"harvester state unavailable: {exc.orig}") from exc
        return {r.item: orjson.loads(r.value) for r in rows}

    def get(self, item: str) -> Any | None:
        return self.load_items([item]).get(item)

    def load_items(self, items: list[str]) -> dict[str, Any]:
        t = SYNC_STATE
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(t.c.item, t.c.value).where(
                        t.c.scope == self.scope, t.c.item.in_(items)
                    )
                ).all()
        except OperationalError as exc:
            raise BackendUnavailable(f"harvester state unavailable: {exc.orig}") from exc
        return {r.item: orjson.loads(r.value) for r in rows}

    def save(self, changes: Mapping[str, Any | None]) -> None:
        """Write items (``None`` deletes one) in one transaction."""
        if not changes:
            return
        t = SYNC_STATE
        now = datetime.now(UTC)
        names = list(changes)
        rows = [
            {
                "scope": self.scope,
                "item": name,
                "value": orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode(),
                "updated_at": now,
            }
            for name, value in changes.items()
            if value is not None
        ]
        try:
            with self.engine.begin() as conn:
                # delete + insert: one portable upsert for SQLite and PostgreSQL
                for i in range(0, len(names), 500):
                    conn.execute(
                        t.delete().where(t.c.scope == self.scope, t.c.item.in_(names[i : i + 500]))
                    )
                if rows:
                    conn.execute(t.insert(), rows)
        except OperationalError as exc:
            raise BackendUnavailable(f"harvester state unavailable: {exc.orig}") from exc
