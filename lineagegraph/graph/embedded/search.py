"""Search over the ``node`` table: the SQL statement (checks and cursors: graph/search.py).

Matching is case-insensitive (Unicode case folding, done in Python on both
sides, so SQLite needs no collation): "prefix" matches the start of the
display name, "substring" any part of the display name or the namespace.
Pages are in ``(name, key)`` order; a cursor is the base64 of the last
``(name, key)`` of a page, and the next page starts strictly after it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lineagegraph.graph.embedded.tables import NODE
from lineagegraph.graph.search import decode_cursor
from lineagegraph.graph.store import SearchQuery


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
