"""Errors in GraphQL: expected ones as typed results, the rest mapped once, never leaked.

* Mutations return union results: the success type or a ``UserError`` type
  (``InvalidInputError``, ``NotFoundError``, ``ConflictError``,
  ``UnavailableError``) that the client can select on.
* Anything else becomes an entry of ``errors`` here, in one place:
  our own :class:`~lineagegraph.errors.LineageGraphError` keeps its message and
  gets ``extensions.code`` (and ``path``/``details``); GraphQL's own
  validation errors get ``invalid_query`` or, for the limits, ``limit_exceeded``;
  an unexpected exception is logged with its trace and shown only as
  ``internal error`` with the request id to quote.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import GraphQLError

from lineagegraph.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LimitExceeded,
    LineageGraphError,
    NotFound,
)

log = logging.getLogger("lineagegraph.api")


@strawberry.interface(description="An expected failure, returned as a result.")
class UserError:
    code: str = strawberry.field(description="Machine-readable: invalid_input, not_found, ...")
    message: str
    path: str | None = strawberry.field(description="Which input was wrong, when one was.")


@strawberry.type(description="The input was wrong; `path` says which part.")
class InvalidInputError(UserError):
    pass


@strawberry.type(description="Something the input names does not exist.")
class NotFoundError(UserError):
    pass


@strawberry.type(description="The request conflicts with what is stored.")
class ConflictError(UserError):
    pass


@strawberry.type(description="A store, the event log or an upstream service is down; retry later.")
class UnavailableError(UserError):
    pass


def user_error(exc: LineageGraphError) -> UserError:
    """The result type for an expected failure; others are re-raised by the caller."""
    cls: type[UserError]
    if isinstance(exc, NotFound):
        cls = NotFoundError
    elif isinstance(exc, Conflict):
        cls = ConflictError
    elif isinstance(exc, BackendUnavailable):
        cls = UnavailableError
    elif isinstance(exc, InvalidInput | LimitExceeded):
        cls = InvalidInputError
    else:
        raise exc
    return cls(code=exc.code, message=exc.message, path=exc.path)


# graphql-core's and Strawberry's limit errors carry no code; name them here.
_LIMIT_MESSAGES = (
    (re.compile(r"exceeds maximum operation depth of (\d+)"), "max_query_depth"),
    (re.compile(r"(\d+) aliases found\. Allowed: (\d+)"), "max_query_aliases"),
    (re.compile(r"Document contains more than (\d+) tokens"), "max_query_tokens"),
)


def _limit_setting(message: str) -> str | None:
    for pattern, setting in _LIMIT_MESSAGES:
        if pattern.search(message):
            return setting
    return None


def format_errors(errors: list[GraphQLError], context: Any) -> list[GraphQLError]:
    """Every error with a code; unexpected ones logged and reduced to the request id."""
    return [_format(e, context) for e in errors]


def _request_id(context: Any) -> str | None:
    request = getattr(context, "request", None)
    state = getattr(request, "state", None)
    return getattr(state, "request_id", None)


def _format(error: GraphQLError, context: Any) -> GraphQLError:
    original = error.original_error
    # A resolver error wraps ours; errors in argument parsing may wrap it twice.
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    extensions: dict[str, Any]
    if isinstance(original, LineageGraphError):
        extensions = {"code": original.code}
        if original.path is not None:
            extensions["path"] = original.path
        if original.details:
            extensions["details"] = original.details
        return _rebuild(error, str(original.message), extensions)
    if original is None or isinstance(original, GraphQLError):
        setting = _limit_setting(error.message)
        if setting:
            extensions = {"code": LimitExceeded.code, "setting": setting}
            return _rebuild(error, f"query refused: {error.message}", extensions)
        extensions = {**(error.extensions or {}), "code": "invalid_query"}
        return _rebuild(error, error.message, extensions)
    request_id = _request_id(context)
    log.error(
        "unexpected error in GraphQL resolver",
        exc_info=original,
        extra={"fields": {"request_id": request_id, "path": error.path}},
    )
    ref = f" (request {request_id})" if request_id else ""
    return _rebuild(error, f"internal error{ref}", {"code": "internal"})


def _rebuild(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
