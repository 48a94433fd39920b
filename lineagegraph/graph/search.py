"""Search rules every store shares: argument checks and opaque cursors.

Pages are in ``(name, key)`` order; a cursor is the base64 of the last
``(name, key)`` of a page, and the next page starts strictly after it, so a
cursor from one store is read the same way by the other.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from lineagegraph.errors import InvalidInput
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
