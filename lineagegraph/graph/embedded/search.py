"""Search over the ``node`` table: the statement and its opaque cursors.

Matching is case-insensitive (Unicode case folding, done in Python on both
sides, so SQLite needs no collation): "prefix" matches the start of the
display name, "substring" any part of the display name or the namespace.
Pages are in ``(name, key)`` order; a cursor is the base64 of the last
``(name, key)`` of a page, and the next page starts strictly after it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
import sqlalchemy as sa

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.embedded.tables import NODE
from lineagegraph.graph.store import SearchQuery

MODES = ("prefix", "substring")
MAX_FIRST = 1000


def encode_cursor(name: str, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([name, key])).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        value = None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            "not a cursor of this search: pass the end_cursor of the previous page",
            path="after",
        )
    return value[0], value[1]


def check_query(query: SearchQuery) -> None:
    """Raise InvalidInput naming the argument that is wrong."""
    if query.mode not in MODES:
        raise InvalidInput(
            f"mode must be one of {', '.join(MODES)}, got {query.mode!r}", path="mode"
        )
    if not 1 <= query.first <= MAX_FIRST:
        raise InvalidInput(
            f"first must be between 1 and {MAX_FIRST}, got {query.first}", path="first"
        )
    if query.after is not None:
        decode_cursor(query.after)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``
    (code point order, which is SQLite's UTF-8 byte order); None if unbounded."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:  # surrogates cannot be stored: skip them
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def search_statement(query: SearchQuery) -> sa.Select[Any]:
    """Row ids of one page (plus one row, to tell whether a next page exists)."""
    n = NODE.c
    stmt = sa.select(n.id)
    text = query.text.casefold()
    if text and query.mode == "prefix":
        stmt = stmt.where(n.name_fold >= text)
        upper = _prefix_upper_bound(text)
        if upper is not None:
            stmt = stmt.where(n.name_fold < upper)
    elif text:
        stmt = stmt.where(
            sa.or_(sa.func.instr(n.name_fold, text) > 0, sa.func.instr(n.ns_fold, text) > 0)
        )
    if query.kinds is not None:
        stmt = stmt.where(n.kind.in_(sorted(k.value for k in query.kinds)))
    if query.namespace is not None:
        stmt = stmt.where(n.namespace == query.namespace)
    if not query.include_deleted:
        stmt = stmt.where(n.deleted_at.is_(None))
    if query.after is not None:
        name, key = decode_cursor(query.after)
        stmt = stmt.where(sa.tuple_(n.name, n.key) > sa.tuple_(sa.literal(name), sa.literal(key)))
    return stmt.order_by(n.name, n.key).limit(query.first + 1)
