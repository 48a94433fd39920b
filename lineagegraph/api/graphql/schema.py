"""The schema, its extensions (limits, errors, metrics) and the FastAPI router.

``build_schema(settings)`` assembles the Query and Mutation roots, every node
type and the limits configured in Settings. ``graphql_router(schema, page)``
serves it at ``/graphql``: POST (and GET with ``?query=``) execute, a browser's
GET gets the GraphiQL page built into ``ui/dist`` (no CDN). Answers to queries
are kept in the response cache (``cache.py``) when the store reports a
revision: a POST whose answer is cached is answered by ``CachedPost`` before
FastAPI resolves the route's dependencies, anything else runs through
Strawberry's route (``execute_single`` below fills the cache). Answers are
encoded with orjson; the per-field shortcuts are in ``speedups.py``.
``export_sdl()`` is the SDL that ``schema.graphql`` at the repository root must
match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Annotated, Any, cast

import anyio
import orjson
import strawberry
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from graphql import GraphQLError
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from lineagegraph.api.graphql.cache import ResponseCache, Revisioned
from lineagegraph.api.graphql.context import STORE_CALLS, Context
from lineagegraph.api.graphql.errors import format_errors
from lineagegraph.api.graphql.limits import CostLimiter
from lineagegraph.api.graphql.mutation import Mutation
from lineagegraph.api.graphql.query import Query
from lineagegraph.api.graphql.speedups import FastExecutor, speed_up
from lineagegraph.api.graphql.types import data, models, runs
from lineagegraph.api.graphql.types.node import MAX_PAGE
from lineagegraph.api.security import caller, optional_principal
from lineagegraph.auth import Principal
from lineagegraph.errors import LineageGraphError
from lineagegraph.settings import Settings

#: Every node type, so the schema lists them even where only the interface is named.
NODE_TYPES: list[type] = [
    data.Dataset,
    data.DatasetVersion,
    data.DatasetField,
    runs.Job,
    runs.Run,
    runs.Experiment,
    models.Feature,
    models.Model,
    models.ModelVersion,
    models.Evaluation,
    models.Deployment,
    models.GateDecision,
]


def observe_operation(
    scope: Scope, name: str | None, op_type: str, failed: bool, started: float
) -> None:
    """Record an operation's latency in ``/metrics`` and name it in the request log."""
    metrics = scope["app"].state.metrics
    label = metrics.operation_label(name)
    metrics.graphql_latency.labels(label, op_type, "error" if failed else "ok").observe(
        time.perf_counter() - started
    )
    scope.setdefault("state", {})["graphql_operation"] = label


class OperationObserver(SchemaExtension):
    """Time each operation for ``/metrics`` and name it in the request log."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        request = getattr(ctx.context, "request", None)
        if not isinstance(request, Request):
            return
        try:
            op_type = ctx.operation_type.value
        except Exception:  # no operation could be read from the document
            op_type = "unknown"
        errors = getattr(ctx.result, "errors", None)
        observe_operation(request.scope, ctx.operation_name, op_type, bool(errors), started)


class LineageGraphSchema(strawberry.Schema):
    """Strawberry's schema, with every error formatted in one place (see ``errors.py``).

    Formatting here, around ``execute``, sees the errors of every stage (parse,
    validation, limits, resolvers), including those raised inside extensions.
    """

    async def execute(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        result = await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed_operation_types,
            operation_extensions=operation_extensions,
        )
        if result.errors:
            result.errors = format_errors(result.errors, context_value)
        return result

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with its trace here; format_errors logs the
        # unexpected ones (with the request id) and expected ones need no trace.
        return None


def build_schema(settings: Settings | None = None, *, fast: bool = True) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (defaults when None).

    ``fast``: with the per-field shortcuts of ``speedups.py`` (the same answers;
    tests compare the two).
    """
    s = settings or Settings()
    # Made once, not per request: the validation cache is keyed by the rule classes.
    limit_rules = [
        *QueryDepthLimiter(max_depth=s.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=s.max_query_aliases).validation_rules,
    ]
    schema = LineageGraphSchema(
        query=Query,
        mutation=Mutation,
        types=NODE_TYPES,
        config=StrawberryConfig(relay_max_results=MAX_PAGE),
        execution_context_class=FastExecutor if fast else None,
        # Factories, not instances: each request gets fresh extensions (they keep
        # per-request state in execution_context).
        extensions=[
            OperationObserver,
            # Clients send the same few documents again and again: parse and
            # validate each once (the limits below are checked on the first).
            partial(ParserCache, maxsize=256),
            partial(ValidationCache, maxsize=256),
            partial(MaxTokensLimiter, max_token_count=s.max_query_tokens),
            partial(AddValidationRules, limit_rules),
            partial(
                CostLimiter,
                max_cost=s.max_query_cost,
                page_size=MAX_PAGE,
                result_limit=s.max_lineage_nodes,
            ),
        ],
    )
    if fast:
        speed_up(schema)
    return schema


def export_sdl() -> str:
    """The schema's SDL, as kept in ``schema.graphql``."""
    return build_schema().as_str() + "\n"


async def get_context(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Context:
    state = request.app.state
    limiter = getattr(state, "graphql_store_calls", None)
    if limiter is None:  # made here: it needs the running event loop
        limiter = state.graphql_store_calls = anyio.CapacityLimiter(STORE_CALLS)
    return Context(state.services, principal, state.metrics, limiter)


@dataclasses.dataclass
class SerializedResult(ExecutionResult):
    """An answer already encoded: from the response cache, or just put into it."""

    body: bytes = b""


def encode_json(data: object) -> bytes:
    """orjson, or the standard library for what orjson refuses (ints beyond 64 bits)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


class LineageGraphRouter(GraphQLRouter[Context, None]):
    """Strawberry's router, with our GraphiQL page instead of its CDN-loading one,
    the response cache, and orjson."""

    def __init__(self, schema: strawberry.Schema, page: str, **kwargs: Any) -> None:
        super().__init__(schema, context_getter=get_context, graphql_ide="graphiql", **kwargs)
        self._page = page
        self._cache: ResponseCache | None = None
        self._cache_made = False
        # POST /graphql: cache hits are answered before FastAPI solves the route's
        # dependencies (a third of a hit's cost); the rest goes to Strawberry's route.
        for i, route in enumerate(self.routes):
            if isinstance(route, APIRoute) and route.methods == {"POST"}:
                self.routes[i] = Route(
                    route.path,
                    endpoint=CachedPost(self, route),
                    methods=["POST"],
                    name=route.name,
                    include_in_schema=False,
                )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._page)

    def encode_json(self, data: object) -> bytes:
        return encode_json(data)

    def response_cache(self, app: Any) -> ResponseCache | None:
        """The app's response cache (made on first use: the router has no app before);
        None when turned off, or when the store reports no revision (see ``cache.py``)."""
        if not self._cache_made:
            settings: Settings = app.state.settings
            revisioned = callable(getattr(app.state.services.store, "revision", None))
            if settings.graphql_cache_bytes > 0 and revisioned:
                self._cache = ResponseCache(
                    settings.graphql_cache_bytes,
                    app.state.metrics.registry,
                    max_tokens=settings.max_query_tokens,
                )
            self._cache_made = True
        return self._cache

    async def cached_answer(self, scope: Scope, body: bytes) -> bytes | None:
        """The cached answer to a POST, or None: then Strawberry's route runs it.

        Reads the request as that route would (JSON body, the caller from the
        same ``caller``), computes the same key; anything unusual is left to it.
        """
        app = scope["app"]
        cache = self.response_cache(app)
        store: Revisioned = app.state.services.store  # (has a revision: see response_cache)
        if cache is None:
            return None
        content_type = authorization = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        if content_type is None or "application/json" not in content_type:
            return None
        try:
            principal = await caller(scope, authorization)
            data = orjson.loads(body)
        except (LineageGraphError, orjson.JSONDecodeError):
            return None  # the route answers with the error
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
            return None
        started = time.perf_counter()
        key = cache.key(query, operation_name, variables, extensions, principal, store.revision())
        answer = cache.get(key) if key is not None else None
        if answer is not None:
            cache.requests.labels("hit").inc()
            name = operation_name if isinstance(operation_name, str) else None
            observe_operation(scope, name, "query", False, started)
        return answer  # a miss is counted (and run) by the route

    async def execute_single(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        execute = partial(
            super().execute_single,
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        cache = self.response_cache(request.app)
        store: Revisioned | Any = context.services.store  # (has a revision: see response_cache)
        if cache is None:
            return await execute()
        revision = store.revision()
        key = cache.key(
            request_data.query,
            request_data.operation_name,
            request_data.variables,
            request_data.extensions,
            context.principal,
            revision,
        )
        if key is None:
            cache.requests.labels("bypass").inc()
            return await execute()
        started = time.perf_counter()
        body = cache.get(key)
        if body is None and (pending := cache.waiting_for(key)) is not None:
            body = await asyncio.shield(pending)
        if body is not None:
            cache.requests.labels("hit").inc()
            observe_operation(request.scope, request_data.operation_name, "query", False, started)
            return SerializedResult(data=None, errors=None, body=body)
        cache.requests.labels("miss").inc()
        future = cache.start(key)
        shared: bytes | None = None
        try:
            result = await execute()
            if result.errors or type(result) is not ExecutionResult:
                return result
            body = encode_json(process_result(result))
            if store.revision() == revision:  # else a write raced it: send, do not keep
                cache.put(key, body)
                shared = body
            return SerializedResult(data=None, errors=None, body=body)
        finally:
            cache.finish(key, future, shared)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if isinstance(result, SerializedResult):
            # orjson writes a Fragment's bytes as they are
            return cast(GraphQLHTTPResponse, orjson.Fragment(result.body))
        return await super().process_result(request, result)


class CachedPost:
    """The ASGI endpoint of POST /graphql (see ``LineageGraphRouter.cached_answer``)."""

    def __init__(self, router: LineageGraphRouter, route: APIRoute) -> None:
        self.router = router
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route  # the request log and metrics label by its path
        body = await Request(scope, receive).body()
        answer = await self.router.cached_answer(scope, body)
        if answer is not None:
            await Response(answer, media_type="application/json")(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.route.handle(scope, replay, send)


def graphql_router(schema: strawberry.Schema, page: str) -> GraphQLRouter[Context, None]:
    return LineageGraphRouter(schema, page, path="/graphql", include_in_schema=False)
