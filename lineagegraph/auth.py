"""API tokens and roles: who may read, ingest, promote and administer.

A token is shown once, when it is created, and stored only as a hash::

    lgt_<id>_<secret>

``id`` (12 hex digits) is public: it names the token in listings and
revocations and finds its row. ``secret`` holds 256 random bits, so a plain
SHA-256 of it is as strong as a slow password hash would be (nobody can
enumerate 2**256 candidates) and costs microseconds per request. Hashes are
compared in constant time.

Roles are ordered: ``reader < ingester < promoter < admin``; a token may do
what its role and every lower role may do. Tokens live in the ``api_token``
table of the event log database (migration ``0003_api_tokens``), so every API
replica sees the same tokens.

The API server keeps tokens it has verified in a :class:`TokenCache` (keyed
by the SHA-256 of the presented token, never the token itself; bounded; each
entry lives ``token_cache_ttl_seconds``), so a request with a known token
costs a hash and a dictionary look-up instead of a database query. A
revocation through any :class:`TokenStore` of the same process empties the
caches of that database at once; one from another process (the CLI, another
replica) takes effect when the entry expires, within the TTL. A TTL of 0
turns the cache off. Failed checks are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from lineagegraph.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    Unauthenticated,
)

TOKEN_PREFIX = "lgt"
_TOKEN_RE = re.compile(
    rf"^{TOKEN_PREFIX}_(?P<id>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{20,128}})$"
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:/-]{0,99}$")


class Role(StrEnum):
    """What a caller may do; each role includes the ones before it."""

    READER = "reader"  # queries
    INGESTER = "ingester"  # + ingest inputs, trigger syncs
    PROMOTER = "promoter"  # + deployments, approvals, promotions
    ADMIN = "admin"  # + everything

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed``."""
        return self.rank >= needed.rank


_RANK = {role: i for i, role in enumerate(Role)}


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's public record (never its secret)."""

    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and role, or the anonymous reader."""

    name: str
    role: Role
    token_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.token_id is None


ANONYMOUS = Principal("anonymous", Role.READER)

metadata = sa.MetaData()
#: The table (created by migration 0003); kept off SQLModel's metadata so that
#: no other database ever creates it by accident.
api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


def parse_role(value: str) -> Role:
    """A Role from its name; the error lists the roles."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r} (roles: {known})", path="role") from None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: Most tokens a cache holds; the least recently used one goes first beyond that.
TOKEN_CACHE_MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    expires: float


class TokenCache:
    """Verified tokens of one process (see the module docstring); thread-safe.

    Keys are SHA-256 digests of the whole presented token: the look-up needs no
    constant-time comparison, since its timing could only tell an attacker about
    a hash, which no chosen input can steer. ``clock`` is injectable (monotonic
    seconds) so that expiry can be tested without sleeping.
    """

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = TOKEN_CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("a token cache needs a positive TTL and size")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, _Cached] = OrderedDict()
        self._lock = threading.Lock()
        #: bumped by every invalidation, so that a check that read the database
        #: before a revocation cannot cache its (now stale) answer after it
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> Principal | None:
        """The principal of a verified, unexpired token; None otherwise."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if self._clock() >= entry.expires:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry.principal

    def put(self, digest: bytes, principal: Principal, generation: int) -> None:
        """Remember a verified token, unless the cache was invalidated since ``generation``."""
        with self._lock:
            if generation != self.generation:
                return
            self._entries[digest] = _Cached(principal, self._clock() + self.ttl)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, token_id: str | None = None) -> None:
        """Forget one token (by id), or every token."""
        with self._lock:
            self.generation += 1
            if token_id is None:
                self._entries.clear()
                return
            for digest in [d for d, e in self._entries.items() if e.principal.token_id == token_id]:
                del self._entries[digest]


#: the caches of this process, by database: a revocation reaches all of them
_caches: dict[str, weakref.WeakSet[TokenCache]] = {}
_caches_lock = threading.Lock()


def _database_key(engine: Engine) -> str:
    """One name per database, whatever the spelling of its URL (no password)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            database = os.path.realpath(database)
        return f"sqlite:{database}"
    return url.render_as_string(hide_password=True)


def _register(engine: Engine, cache: TokenCache) -> None:
    with _caches_lock:
        _caches.setdefault(_database_key(engine), weakref.WeakSet()).add(cache)


def _invalidate(engine: Engine, token_id: str) -> None:
    with _caches_lock:
        caches = list(_caches.get(_database_key(engine), ()))
    for cache in caches:
        cache.invalidate(token_id)


def _digest(presented: str) -> bytes:
    return hashlib.sha256(presented.encode()).digest()


_ROW = sa.select(
    api_token.c.name, api_token.c.role, api_token.c.secret_hash, api_token.c.revoked_at
).where(api_token.c.id == sa.bindparam("id"))


class TokenStore:
    """Create, list, revoke and check API tokens in the log database.

    ``cache_ttl`` > 0 gives this store a :class:`TokenCache` (the API server's);
    stores without one (the CLI's) still invalidate the caches of their process
    when they revoke.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        cache_ttl: float = 0.0,
        cache_size: int = TOKEN_CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache: TokenCache | None = None
        if cache_ttl > 0:
            self.cache = TokenCache(cache_ttl, max_entries=cache_size, clock=clock)
            _register(engine, self.cache)

    def create(self, name: str, role: Role | str) -> tuple[ApiToken, str]:
        """Create a token; returns its record and the token text (shown once, never stored)."""
        role = role if isinstance(role, Role) else parse_role(role)
        name = name.strip()
        if not _NAME_RE.match(name):
            raise InvalidInput(
                "a token name is 1-100 characters: letters, digits, space and . _ @ : / -, "
                "starting with a letter or digit",
                path="name",
            )
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiToken(token_id, name, role, datetime.now(UTC), None)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    api_token.insert().values(
                        id=token_id,
                        name=name,
                        role=role.value,
                        secret_hash=_hash(secret),
                        created_at=record.created_at,
                        revoked_at=None,
                    )
                )
        except IntegrityError:
            raise Conflict(
                f"an active token named {name!r} exists; revoke it or choose another name",
                path="name",
            ) from None
        except OperationalError as exc:
            raise BackendUnavailable("token database unavailable") from exc
        return record, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        """Tokens by creation time (active ones only unless asked)."""
        query = sa.select(api_token).order_by(api_token.c.created_at, api_token.c.id)
        if not include_revoked:
            query = query.where(api_token.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def revoke(self, id_or_name: str) -> ApiToken:
        """Revoke the active token with this id or name; returns its record."""
        t = api_token
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t).where(
                    sa.or_(t.c.id == id_or_name, t.c.name == id_or_name), t.c.revoked_at.is_(None)
                )
            ).all()
            if not rows:
                raise NotFound(f"no active token with id or name {id_or_name!r}", path="token")
            if len(rows) > 1:  # a name that equals another token's id: make the caller pick
                ids = ", ".join(r.id for r in rows)
                raise Conflict(f"{id_or_name!r} names several tokens ({ids}); give the id")
            conn.execute(t.update().where(t.c.id == rows[0].id).values(revoked_at=now))
        _invalidate(self.engine, rows[0].id)
        old = _record(rows[0])
        return ApiToken(old.id, old.name, old.role, old.created_at, now)

    def cached(self, presented: str) -> Principal | None:
        """The principal of a token verified within the TTL (no I/O); None otherwise."""
        if self.cache is None:
            return None
        return self.cache.get(_digest(presented.strip()))

    def authenticate(self, presented: str) -> Principal:
        """The principal a token stands for; ``Unauthenticated`` when it is not valid.

        The error says what is wrong with the token's form, but never whether
        an id exists unless the secret matches too.
        """
        presented = presented.strip()
        cache = self.cache
        digest, generation = b"", 0
        if cache is not None:
            digest = _digest(presented)
            principal = cache.get(digest)
            if principal is not None:
                return principal
            generation = cache.generation
        match = _TOKEN_RE.match(presented)
        if not match:
            raise Unauthenticated(
                f"malformed API token: expected {TOKEN_PREFIX}_<id>_<secret> "
                "(from `lineagegraph token create`)"
            )
        try:
            with self.engine.connect() as conn:
                row = conn.execute(_ROW, {"id": match["id"]}).first()
        except OperationalError as exc:
            raise BackendUnavailable("token database unavailable") from exc
        # Compare against a dummy hash when the id is unknown, so timing tells nothing.
        stored = row.secret_hash if row is not None else "0" * 64
        if not hmac.compare_digest(stored, _hash(match["secret"])) or row is None:
            raise Unauthenticated("unknown or invalid API token")
        if row.revoked_at is not None:
            raise Unauthenticated(f"API token {match['id']} was revoked")
        principal = Principal(row.name, Role(row.role), match["id"])
        if cache is not None:
            cache.put(digest, principal, generation)
        return principal


def _record(row: sa.Row[tuple[object, ...]]) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=_utc(row.created_at),
        revoked_at=_utc(row.revoked_at) if row.revoked_at is not None else None,
    )


def _utc(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
