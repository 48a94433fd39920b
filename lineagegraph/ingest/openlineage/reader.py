"""Reading OpenLineage events from request bodies and files.

One event, a JSON array of events, or newline-delimited JSON (one event per
line), optionally gzip-compressed. Every event becomes a :class:`RawItem`
that says where it came from (``body[3]``, ``events.ndjson:12``), so errors
and dead letters point at the exact input; an item that is not even JSON is
kept with its bytes and the reason, never dropped.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.openlineage.validate import invalid

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One event as read: where it came from, its JSON value, or why it has none."""

    origin: str
    doc: Any = None
    #: the event's bytes as received, when they are its own (a body, a line)
    text: bytes | None = None
    error: ValidationFailed | None = None
    #: False: ``doc`` is not read yet from ``text`` (see :func:`parse_item`)
    parsed: bool = True

    def raw_text(self) -> bytes:
        """What to keep in the dead letters: the bytes as received, else the JSON."""
        if self.text is not None:
            return self.text
        return orjson.dumps(self.doc)


def split_documents(data: bytes, origin: str) -> list[RawItem]:
    """The events in one text: an object, an array of them, or NDJSON lines."""
    if not data.strip():
        return []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) > 1 and _parses(lines[0]):
            return list(_ndjson(lines, origin, start=1))
        return [RawItem(origin, text=data, error=_not_json(exc, origin))]
    if isinstance(value, list):
        return [RawItem(f"{origin}[{i}]", doc=v) for i, v in enumerate(value)]
    return [RawItem(origin, doc=value, text=data)]


def read_stream(stream: BinaryIO, origin: str) -> Iterator[RawItem]:
    """Events from a binary stream, NDJSON read line by line (any size); NDJSON lines
    come unparsed (``parsed=False``: see :func:`parse_item`)."""
    if _peek(stream, 2) == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    first, number = b"", 0
    while not first.strip():
        first = stream.readline()
        number += 1
        if not first:
            return
    if first.lstrip().startswith(b"[") or not _parses(first):
        yield from split_documents(first + stream.read(), origin)
        return
    # lines are parsed by their consumer (parse_item), maybe in another process
    yield from _ndjson([first], origin, start=number, parse=False)
    yield from _ndjson(stream, origin, start=number + 1, parse=False)


def read_paths(paths: Iterable[str]) -> Iterator[RawItem]:
    """Events from files (``-`` is standard input), in order."""
    for name in paths:
        if name == "-":
            yield from read_stream(sys.stdin.buffer, "<stdin>")
            continue
        with Path(name).open("rb") as fh:
            yield from read_stream(fh, name)


def _ndjson(
    lines: Iterable[bytes], origin: str, *, start: int, parse: bool = True
) -> Iterator[RawItem]:
    for number, line in enumerate(lines, start):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        if not parse:
            yield RawItem(where, text=line.rstrip(b"\r\n"), parsed=False)
            continue
        try:
            yield RawItem(where, doc=orjson.loads(line), text=line.rstrip(b"\r\n"))
        except orjson.JSONDecodeError as exc:
            yield RawItem(where, text=line.rstrip(b"\r\n"), error=_not_json(exc, where))


def parse_item(item: RawItem) -> RawItem:
    """The item with its document read from its bytes, unless that is done already."""
    if item.parsed or item.text is None:
        return item
    try:
        return RawItem(item.origin, doc=orjson.loads(item.text), text=item.text)
    except orjson.JSONDecodeError as exc:
        return RawItem(item.origin, text=item.text, error=_not_json(exc, item.origin))


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _peek(stream: BinaryIO, n: int) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return bytes(peek(n)[:n])
    if stream.seekable():
        pos = stream.tell()
        head = stream.read(n)
        stream.seek(pos)
        return head
    return b""  # a pipe without peek: read as plain text


def _not_json(exc: orjson.JSONDecodeError, origin: str) -> ValidationFailed:
    return invalid(f"{origin} is not JSON: {exc}", path="$", rule="json")


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past ``limit`` bytes.

    Raises ``ValueError`` for a corrupt stream and ``OverflowError`` past the limit.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise OverflowError(f"the body inflates beyond {limit} bytes")
    if not inflater.eof:
        raise ValueError("the body is not valid gzip: the stream is truncated")
    return out
