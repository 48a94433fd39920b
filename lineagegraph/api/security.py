"""Who is calling: bearer tokens, anonymous reads, and the ``require_role`` dependency.

Clients send ``Authorization: Bearer <token>`` (the OpenLineage HTTP
transport does so with its ``api_key``). A request without credentials is
the anonymous reader when ``settings.anonymous_read`` is on, and nobody
otherwise; credentials that are present but wrong are always refused with
401, never downgraded to anonymous. Routers protect themselves with::

    @router.post("/api/v1/lineage")
    def ingest(principal: Principal = Depends(require_role(Role.INGESTER))): ...
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from lineagegraph.auth import ANONYMOUS, Principal, Role, TokenStore
from lineagegraph.errors import Forbidden, Unauthenticated


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return credentials.strip()


def optional_principal(request: Request) -> Principal | None:
    """The caller, the anonymous reader, or None (no credentials, anonymous reads off).

    A FastAPI dependency (sync: the token lookup runs in the thread pool).
    """
    token = _bearer(request)
    if token is None:
        principal = ANONYMOUS if request.app.state.settings.anonymous_read else None
    else:
        tokens: TokenStore = request.app.state.tokens
        principal = tokens.authenticate(token)
    if principal is not None:
        request.scope.setdefault("state", {})["principal"] = principal.name
    return principal


def require_role(role: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency that admits callers with ``role`` or a higher one."""

    def dependency(request: Request) -> Principal:
        principal = optional_principal(request)
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

    dependency.__name__ = f"require_{role.value}"
    return dependency
