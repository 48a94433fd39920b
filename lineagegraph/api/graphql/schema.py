"""The schema, its extensions (limits, errors, metrics) and the FastAPI router.

``build_schema(settings)`` assembles the Query and Mutation roots, every node
type and the limits configured in Settings. ``graphql_router(schema, page)``
serves it at ``/graphql``: POST (and GET with ``?query=``) execute, a browser's
GET gets the GraphiQL page built into ``ui/dist`` (no CDN). ``export_sdl()``
is the SDL that ``schema.graphql`` at the repository root must match.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Annotated, Any

import strawberry
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from graphql import GraphQLError
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
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from lineagegraph.api.graphql.context import Context
from lineagegraph.api.graphql.errors import format_errors
from lineagegraph.api.graphql.limits import CostLimiter
from lineagegraph.api.graphql.mutation import Mutation
from lineagegraph.api.graphql.query import Query
from lineagegraph.api.graphql.types import data, models, runs
from lineagegraph.api.graphql.types.node import MAX_PAGE
from lineagegraph.api.security import optional_principal
from lineagegraph.auth import Principal
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


class OperationObserver(SchemaExtension):
    """Time each operation for ``/metrics`` and name it in the request log."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        request = getattr(ctx.context, "request", None)
        if not isinstance(request, Request):
            return
        metrics = request.app.state.metrics
        try:
            op_type = ctx.operation_type.value
        except Exception:  # no operation could be read from the document
            op_type = "unknown"
        errors = getattr(ctx.result, "errors", None)
        label = metrics.operation_label(ctx.operation_name)
        metrics.graphql_latency.labels(label, op_type, "error" if errors else "ok").observe(
            time.perf_counter() - started
        )
        request.scope.setdefault("state", {})["graphql_operation"] = label


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


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (defaults when None)."""
    s = settings or Settings()
    # Made once, not per request: the validation cache is keyed by the rule classes.
    limit_rules = [
        *QueryDepthLimiter(max_depth=s.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=s.max_query_aliases).validation_rules,
    ]
    return LineageGraphSchema(
        query=Query,
        mutation=Mutation,
        types=NODE_TYPES,
        config=StrawberryConfig(relay_max_results=MAX_PAGE),
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


def export_sdl() -> str:
    """The schema's SDL, as kept in ``schema.graphql``."""
    return build_schema().as_str() + "\n"


async def get_context(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Context:
    return Context(request.app.state.services, principal, request.app.state.metrics)


class LineageGraphRouter(GraphQLRouter[Context, None]):
    """Strawberry's router, with our GraphiQL page instead of its CDN-loading one."""

    def __init__(self, schema: strawberry.Schema, page: str, **kwargs: Any) -> None:
        super().__init__(schema, context_getter=get_context, graphql_ide="graphiql", **kwargs)
        self._page = page

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._page)


def graphql_router(schema: strawberry.Schema, page: str) -> GraphQLRouter[Context, None]:
    return LineageGraphRouter(schema, page, path="/graphql", include_in_schema=False)
