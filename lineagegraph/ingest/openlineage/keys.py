"""Node keys of OpenLineage ingestion, memoized.

A replay builds the same keys over and over (every event names its job, its
datasets and their columns again, and projection reads them back); a key is
immutable and validates its parts when built, so one shared instance of each
is handed out instead. The memo is bounded (cleared when full) and safe to
share between threads (a lost race builds an equal key twice).
"""

from __future__ import annotations

import re
import uuid

from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import NodeKind

_KEYS: dict[tuple[NodeKind, tuple[str, ...]], NodeKey] = {}
#: memo entries kept at most (keys, and canonical dataset names in the mapper)
MAX_KEYS = 100_000
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def node_key(kind: NodeKind, parts: tuple[str, ...]) -> NodeKey:
    """``NodeKey(kind, parts)``, one shared instance per key."""
    ident = (kind, parts)
    key = _KEYS.get(ident)
    if key is None:
        if len(_KEYS) >= MAX_KEYS:
            _KEYS.clear()
        key = _KEYS[ident] = NodeKey(kind, parts)
    return key


def job_key(namespace: str, name: str) -> NodeKey:
    return node_key(NodeKind.JOB, (namespace, name))


def run_key(run_id: str) -> NodeKey:
    return node_key(NodeKind.RUN, (run_id,))


def dataset_key(namespace: str, name: str) -> NodeKey:
    return node_key(NodeKind.DATASET, (namespace, name))


def version_key(namespace: str, name: str, version: str) -> NodeKey:
    return node_key(NodeKind.DATASET_VERSION, (namespace, name, version))


def field_key(namespace: str, name: str, *path: str) -> NodeKey:
    return node_key(NodeKind.FIELD, (namespace, name, *path))


def canonical_uuid(text: str) -> str:
    """A UUID in its canonical text form (lower case, hyphenated); ValueError if not one."""
    if _CANONICAL_UUID.fullmatch(text):
        return text
    return str(uuid.UUID(text))
