"""The one error root of lineagegraph.

Every failure the project raises on purpose is a :class:`LineageGraphError`.
Third-party errors are translated once, at the boundary where they occur
(store drivers, HTTP clients), into one of these. The API maps each class to
an HTTP status and a GraphQL error code through :data:`HTTP_STATUS` only.

    LineageGraphError
    ├── InvalidInput                 bad input from a caller (400)
    │   ├── InvalidKey               a node key string or its parts are malformed
    │   ├── InvalidChangeSet         a ChangeSet breaks the graph model
    │   └── ValidationFailed         an ingested document breaks its schema
    ├── NotFound                     a named thing does not exist (404)
    ├── Unauthenticated              no or unknown credentials (401)
    ├── Forbidden                    credentials lack the role (403)
    ├── LimitExceeded                a query is too deep, wide or costly (400)
    ├── Conflict                     the request conflicts with stored state (409)
    └── BackendUnavailable           a store, log or upstream service is down (503)
"""

from __future__ import annotations

from typing import Any


class LineageGraphError(Exception):
    """Root of every error lineagegraph raises on purpose."""

    code = "internal"

    def __init__(self, message: str, *, path: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        #: where in the input the problem is (a JSON path, a key part, an argument name)
        self.path = path
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            out["path"] = self.path
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidInput(LineageGraphError):
    code = "invalid_input"


class InvalidKey(InvalidInput):
    code = "invalid_key"


class InvalidChangeSet(InvalidInput):
    code = "invalid_changeset"


class ValidationFailed(InvalidInput):
    code = "validation_failed"


class NotFound(LineageGraphError):
    code = "not_found"


class Unauthenticated(LineageGraphError):
    code = "unauthenticated"


class Forbidden(LineageGraphError):
    code = "forbidden"


class LimitExceeded(LineageGraphError):
    code = "limit_exceeded"


class Conflict(LineageGraphError):
    code = "conflict"


class BackendUnavailable(LineageGraphError):
    code = "backend_unavailable"


#: The one table from error class to HTTP status (most specific class first wins).
HTTP_STATUS: dict[type[LineageGraphError], int] = {
    InvalidInput: 400,
    LimitExceeded: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    BackendUnavailable: 503,
    LineageGraphError: 500,
}


def http_status(error: LineageGraphError) -> int:
    """HTTP status for an error, by walking its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500
