"""Who is calling: bearer tokens, anonymous reads, and the ``require_role`` dependency.

Clients send ``Authorization: Bearer <token>`` (the OpenLineage HTTP
transport does so with its ``api_key``). A request without credentials is
the anonymous reader when ``settings.anonymous_read`` is on, and nobody
otherwise; credentials that are present but wrong are always refused with
401, never downgraded to anonymous. Routers protect themselves with::

    @router.post("/api/v1/lineage")
    def ingest(principal: Principal = Depends(require_role(Role.INGESTER))): ...

and raw ASGI endpoints (the OpenLineage hot path) with :func:`authorize`.

Everything here is ``async``: a token verified within the cache's TTL
(:class:`lineagegraph.auth.TokenCache`, ``settings.token_cache_ttl_seconds``)
is answered on the event loop with no I/O; any other token is checked
against the database in the thread pool. The caller's name (never the token)
is put in the request's state for the request log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from lineagegraph.auth import ANONYMOUS, Principal, Role, TokenStore
from lineagegraph.errors import Forbidden, Unauthenticated


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return credentials.strip()


async def authenticate(tokens: TokenStore, token: str) -> Principal:
    """The principal of ``token``: from the cache, else from the database (thread pool)."""
    principal = tokens.cached(token)
    if principal is None:
        principal = await run_in_threadpool(tokens.authenticate, token)
    return principal


async def caller(scope: Scope, authorization: str | None) -> Principal | None:
    """The principal of a request (its ASGI scope and ``Authorization`` header), the
    anonymous reader, or None (no credentials, anonymous reads off)."""
    token = _bearer(authorization)
    app = scope["app"]
    if token is None:
        principal = ANONYMOUS if app.state.settings.anonymous_read else None
    else:
        principal = await authenticate(app.state.tokens, token)
    if principal is not None:
        scope.setdefault("state", {})["principal"] = principal.name
    return principal


def admit(principal: Principal | None, role: Role) -> Principal:
    """``principal`` when it has ``role`` or a higher one; 401 or 403 otherwise."""
    if principal is None:
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(create one with `lineagegraph token create`)"
        )
    if not principal.role.allows(role):
        raise Forbidden(
            f"this needs the {role} role; '{principal.name}' has {principal.role}",
            needed=role.value,
            role=principal.role.value,
        )
    return principal


async def authorize(scope: Scope, authorization: str | None, role: Role) -> Principal:
    """:func:`require_role` for raw ASGI endpoints."""
    return admit(await caller(scope, authorization), role)


async def optional_principal(request: Request) -> Principal | None:
    """The caller, the anonymous reader, or None (a FastAPI dependency)."""
    return await caller(request.scope, request.headers.get("authorization"))


def require_role(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency that admits callers with ``role`` or a higher one."""

    async def dependency(request: Request) -> Principal:
        return admit(await optional_principal(request), role)

    dependency.__name__ = f"require_{role.value}"
    return dependency
