"""A cache of serialized GraphQL answers that cannot serve a stale one.

An answer is kept as the exact bytes sent, under a key made of everything it
depends on:

* the document, normalized (parsed and printed back, so whitespace and
  comments do not matter) and hashed, the operation name, the variables and
  the request's ``extensions``;
* the caller's role (every query field needs a role, nothing else about the
  caller shows in an answer; callers without one get errors, never cached);
* the store's revision: a counter the store bumps on every write
  (:meth:`~lineagegraph.graph.embedded.EmbeddedStore.revision`). A write makes
  every older entry unreachable, so none is ever served after it (they are
  dropped at once, too, to free the memory).

Only query operations whose root fields read nothing but the store are
cached (``CACHEABLE_ROOT_FIELDS``: ``stats`` also reads the event log, which
the revision does not cover; fields added later stay uncached until listed),
never mutations, and only answers without errors (error messages may name
the request). A store without a revision (the Cypher stores, which other
processes write to) is never cached. The answer of a query that raced a
write is sent but not kept.

Bounded by bytes (LRU). Identical queries that miss at the same time run
once: the others wait for that answer (after a write, every hot query misses
at once). Counted in ``/metrics``: ``lineagegraph_graphql_cache_requests_total``
by outcome (hit, miss, bypass: not cacheable), evictions, and the bytes held.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    print_ast,
)
from prometheus_client import CollectorRegistry, Counter, Gauge

from lineagegraph.auth import Principal

#: Root query fields whose answers depend on the store (and the settings) only.
CACHEABLE_ROOT_FIELDS = frozenset(
    {"node", "nodes", "search", "lineage", "impact", "modelVersion", "__typename"}
)
#: Documents remembered (their normalized hash and which operations may be cached).
MAX_DOCUMENTS = 512
#: Bookkeeping bytes counted per entry on top of the answer and the variables.
ENTRY_OVERHEAD = 256

Key = tuple[bytes, str | None, bytes, bytes, str, int]


@runtime_checkable
class Revisioned(Protocol):
    """A store that can say when anything in it changed (see the module docstring)."""

    def revision(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Document:
    digest: bytes
    #: names of the operations that may be cached; None: the only one, asked without a name
    cacheable: frozenset[str | None]


def analyse(query: str, max_tokens: int) -> Document | None:
    """The normalized hash and the cacheable operations of a document (None: unparsable)."""
    try:
        doc = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    cacheable: set[str | None] = set()
    for op in operations:
        if op.operation is OperationType.QUERY and (
            root_fields(op.selection_set, fragments, frozenset()) <= CACHEABLE_ROOT_FIELDS
        ):
            cacheable.add(op.name.value if op.name else None)
            if len(operations) == 1:
                cacheable.add(None)
    digest = hashlib.sha256(print_ast(doc).encode()).digest()
    return Document(digest, frozenset(cacheable))


def root_fields(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> set[str]:
    """The names of the fields an operation selects at its root, through fragments."""
    names: set[str] = set()
    for sel in selections.selections:
        if isinstance(sel, FieldNode):
            names.add(sel.name.value)
        elif isinstance(sel, InlineFragmentNode):
            names |= root_fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is None or sel.name.value in seen:
                names.add("?")  # invalid: validation refuses it, never cached
            else:
                names |= root_fields(frag.selection_set, fragments, seen | {sel.name.value})
    return names


def canonical_json(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


class ResponseCache:
    """Serialized answers by key (see the module docstring). Used from the event loop only."""

    def __init__(self, max_bytes: int, registry: CollectorRegistry, *, max_tokens: int) -> None:
        self.max_bytes = max_bytes
        self.max_tokens = max_tokens
        self._entries: OrderedDict[Key, tuple[bytes, int]] = OrderedDict()
        self._bytes = 0
        self._revision: int | None = None
        self._documents: OrderedDict[str, Document | None] = OrderedDict()
        self._inflight: dict[Key, asyncio.Future[bytes | None]] = {}
        self.requests = Counter(
            "lineagegraph_graphql_cache_requests",
            "GraphQL operations by response cache outcome (hit, miss; bypass: not cacheable)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("hit", "miss", "bypass"):
            self.requests.labels(outcome)
        self.evictions = Counter(
            "lineagegraph_graphql_cache_evictions",
            "Answers dropped from the GraphQL response cache to stay within its bytes",
            registry=registry,
        )
        self.size = Gauge(
            "lineagegraph_graphql_cache_bytes",
            "Bytes held by the GraphQL response cache",
            registry=registry,
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    # ---- keys ---------------------------------------------------------------------
    def document(self, query: str) -> Document | None:
        found = self._documents.get(query)
        if found is not None or query in self._documents:
            self._documents.move_to_end(query)
            return found
        doc = analyse(query, self.max_tokens)
        self._documents[query] = doc
        if len(self._documents) > MAX_DOCUMENTS:
            self._documents.popitem(last=False)
        return doc

    def key(
        self,
        query: object,
        operation_name: object,
        variables: object,
        extensions: object,
        principal: Principal | None,
        revision: int,
    ) -> Key | None:
        """The key of a request, or None when its answer must not be cached."""
        if principal is None or not isinstance(query, str):
            return None
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        doc = self.document(query)
        if doc is None or operation_name not in doc.cacheable:
            return None
        variables_json = canonical_json(variables or {})
        extensions_json = canonical_json(extensions or {})
        if variables_json is None or extensions_json is None:
            return None
        if revision != self._revision:
            self.clear()  # every entry is of an older revision: unreachable
            self._revision = revision
        return (
            doc.digest,
            operation_name,
            variables_json,
            extensions_json,
            principal.role.value,
            revision,
        )

    # ---- entries ------------------------------------------------------------------
    def get(self, key: Key) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Key, body: bytes) -> None:
        if key[5] != self._revision:
            return  # a write came in between: this answer may be stale already
        size = len(body) + len(key[2]) + len(key[3]) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (body, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped
            self.evictions.inc()
        self.size.set(self._bytes)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
        self.size.set(0)

    # ---- identical misses at the same time --------------------------------------
    def waiting_for(self, key: Key) -> asyncio.Future[bytes | None] | None:
        """The answer an identical request already computing will share (None: none is)."""
        return self._inflight.get(key)

    def start(self, key: Key) -> asyncio.Future[bytes | None]:
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        return future

    def finish(self, key: Key, future: asyncio.Future[bytes | None], body: bytes | None) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if not future.done():
            future.set_result(body)
