"""The server's cache of verified tokens: what it keeps, how long, and how revocation reaches it.

The clock is injected (no sleeping); "another process" is a write to the
token table that no ``TokenStore`` of this process makes (plain SQL on an
engine of its own), which is all a revocation by the CLI elsewhere looks like.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lineagegraph.api.app import create_app
from lineagegraph.auth import Principal, Role, TokenCache, TokenStore, api_token
from lineagegraph.errors import BackendUnavailable, Unauthenticated
from lineagegraph.ingest.log import EventLog
from lineagegraph.settings import Settings
from tests.api.server import LiveServer, live_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    log = EventLog(Settings(data_dir=tmp_path).log_url)
    yield log
    log.close()


def _revoke_elsewhere(log: EventLog, token_id: str) -> None:
    """Revoke as another process would: straight in the database."""
    engine = sa.create_engine(log.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                api_token.update()
                .where(api_token.c.id == token_id)
                .values(revoked_at=sa.func.current_timestamp())
            )
    finally:
        engine.dispose()


def test_a_cached_token_keeps_its_role_and_needs_no_database(log: EventLog, tmp_path: Path) -> None:
    clock = Clock()
    server = TokenStore(log.engine, cache_ttl=10, clock=clock)
    record, token = TokenStore(log.engine).create("reader-bot", Role.READER)
    assert server.cached(token) is None  # not verified yet
    first = server.authenticate(token)
    assert first == Principal("reader-bot", Role.READER, record.id)
    cached = server.cached(token)
    assert cached == first and cached is not None and cached.role is Role.READER
    assert not cached.role.allows(Role.INGESTER)
    # the database is out of reach now: only the cache can answer, with the role
    server.engine = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir/events.db")
    assert server.authenticate(token) == first
    with pytest.raises(BackendUnavailable):
        TokenStore(server.engine).authenticate(token)


def test_a_revocation_in_this_process_applies_at_once(log: EventLog) -> None:
    server = TokenStore(log.engine, cache_ttl=3600, clock=Clock())
    record, token = TokenStore(log.engine).create("ingest-bot", Role.INGESTER)
    assert server.authenticate(token).role is Role.INGESTER
    # revoked through another store on another engine of the same database, as the
    # CLI run in this process does: the server's cache forgets the token at once
    other = EventLog(log.url)
    try:
        TokenStore(other.engine).revoke("ingest-bot")
    finally:
        other.close()
    assert server.cached(token) is None
    with pytest.raises(Unauthenticated, match=f"API token {record.id} was revoked"):
        server.authenticate(token)


def test_a_revocation_elsewhere_applies_when_the_entry_expires(log: EventLog) -> None:
    clock = Clock()
    server = TokenStore(log.engine, cache_ttl=10, clock=clock)
    record, token = TokenStore(log.engine).create("remote-bot", Role.INGESTER)
    server.authenticate(token)
    _revoke_elsewhere(log, record.id)
    clock.now += 9.9
    assert server.authenticate(token).name == "remote-bot"  # within the TTL: still cached
    clock.now += 0.1
    assert server.cached(token) is None  # expired
    with pytest.raises(Unauthenticated, match="revoked"):
        server.authenticate(token)


def test_without_a_ttl_every_check_reads_the_database(log: EventLog) -> None:
    server = TokenStore(log.engine)  # cache_ttl 0
    record, token = TokenStore(log.engine).create("uncached", Role.READER)
    assert server.cache is None
    server.authenticate(token)
    assert server.cached(token) is None
    _revoke_elsewhere(log, record.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        server.authenticate(token)


def test_failures_are_never_cached_and_keys_are_hashes(log: EventLog) -> None:
    server = TokenStore(log.engine, cache_ttl=10, clock=Clock())
    _, token = TokenStore(log.engine).create("hashed", Role.READER)
    for wrong in (token[:-4] + "AAAA", "lgt_nope", "lgt_000000000000_" + "x" * 43):
        with pytest.raises(Unauthenticated):
            server.authenticate(wrong)
    assert server.cache is not None and len(server.cache) == 0
    server.authenticate(token)
    assert len(server.cache) == 1
    secret = token.rsplit("_", 1)[1]
    for key in server.cache._entries:
        assert isinstance(key, bytes) and len(key) == 32
        assert token.encode() not in key and secret.encode() not in key


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    cache = TokenCache(60, max_entries=2, clock=clock)
    a, b, c = (Principal(n, Role.READER, n) for n in ("a", "b", "c"))
    for digest, principal in ((b"a", a), (b"b", b)):
        cache.put(digest, principal, cache.generation)
    assert cache.get(b"a") == a  # a is now the most recently used
    cache.put(b"c", c, cache.generation)
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == (a, None, c)
    assert len(cache) == 2


def test_a_check_that_raced_a_revocation_is_not_cached() -> None:
    cache = TokenCache(60, clock=Clock())
    principal = Principal("racer", Role.INGESTER, "0123456789ab")
    generation = cache.generation  # a check reads the database...
    cache.invalidate("0123456789ab")  # ...the token is revoked meanwhile...
    cache.put(b"k", principal, generation)  # ...so its answer is dropped
    assert cache.get(b"k") is None
    cache.put(b"k", principal, cache.generation)
    assert cache.get(b"k") == principal
    cache.invalidate()
    assert cache.get(b"k") is None


def test_bad_cache_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenCache(0)
    with pytest.raises(ValueError):
        TokenCache(10, max_entries=0)
    with pytest.raises(ValueError):
        Settings(token_cache_ttl_seconds=-1)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(create_app(Settings(data_dir=tmp_path, token_cache_ttl_seconds=3600))) as s:
        yield s


def test_the_server_caches_tokens_and_a_revocation_reaches_it(live: LiveServer) -> None:
    tokens: TokenStore = live.app.state.tokens
    assert tokens.cache is not None and tokens.cache.ttl == 3600
    admin = TokenStore(live.app.state.services.log.engine)
    _, reader = admin.create("http-reader", Role.READER)
    _, ingester = admin.create("http-ingester", Role.INGESTER)
    with live.client(reader) as r, live.client(ingester) as i:
        for _ in range(2):  # the second time from the cache: still a reader
            refused = r.post("/api/v1/lineage", json={"eventType": "START"})
            assert refused.status_code == 403
            assert refused.json()["error"]["details"] == {"needed": "ingester", "role": "reader"}
        assert tokens.cached(reader) is not None
        assert i.post("/api/v1/lineage", json={"eventType": "START"}).status_code == 400
        assert tokens.cached(ingester) is not None
        admin.revoke("http-ingester")
        gone = i.post("/api/v1/lineage", json={"eventType": "START"})
        assert gone.status_code == 401 and "revoked" in gone.json()["error"]["message"]
        assert gone.headers["www-authenticate"] == "Bearer"
