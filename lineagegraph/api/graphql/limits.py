"""Query limits: depth, aliases and tokens (Strawberry's), and an estimated cost (ours).

Depth and aliases are checked while the document is validated, tokens while
it is parsed. The cost is estimated before execution, with the variables
known, as the number of objects the query can make the server resolve (scalar
fields are free; every object field costs one per time it is resolved). How
many times a field is resolved grows with each list on the way down:

* a connection field is as long as its ``first``/``last`` (or the page size
  Strawberry uses without them, ``relay_max_results``), whatever a ``limit``
  above it says;
* a field with a ``limit`` argument (lineage, impact) returns at most that
  many nodes (``max_lineage_nodes`` without one), however they are grouped:
  lists inside its result multiply up to that bound and no further;
* any other list is assumed to hold ``DEFAULT_LIST`` items.

So ``lineage(limit: 200) { nodes { node { id } } }`` costs about 400, and
asking every node of it for a page of 100 runs costs 20,000 more. A query
whose estimate exceeds ``max_query_cost`` is refused with ``limit_exceeded``
before anything is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from lineagegraph.errors import LimitExceeded

DEFAULT_LIST = 10


def _unwrap(t: GraphQLType) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(t, GraphQLNonNull | GraphQLList):
        if isinstance(t, GraphQLList):
            is_list = True
        t = t.of_type
    assert isinstance(t, GraphQLNamedType)
    return t, is_list


class CostEstimator:
    """Walks one operation and adds up the estimated cost (see the module docstring)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        *,
        page_size: int,
        result_limit: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.page_size = page_size
        self.result_limit = result_limit

    def _int_arg(self, node: FieldNode, name: str) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value != name:
                continue
            value = arg.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            if isinstance(value, VariableNode):
                v = self.variables.get(value.name.value)
                return max(v, 0) if isinstance(v, int) and not isinstance(v, bool) else None
        return None

    def selection_cost(
        self,
        parent: GraphQLNamedType,
        selections: SelectionSetNode,
        times: int,
        cap: int | None,
        seen: frozenset[str] = frozenset(),
    ) -> int:
        total = 0
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                total += self.field_cost(parent, sel, times, cap, seen)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                target = self.schema.get_type(cond.name.value) if cond else parent
                if target is not None:
                    total += self.selection_cost(target, sel.selection_set, times, cap, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:  # cycles are refused by validation anyway
                    continue
                target = self.schema.get_type(frag.type_condition.name.value)
                if target is not None:
                    total += self.selection_cost(
                        target, frag.selection_set, times, cap, seen | {name}
                    )
        return total

    def field_cost(
        self,
        parent: GraphQLNamedType,
        node: FieldNode,
        times: int,
        cap: int | None,
        seen: frozenset[str],
    ) -> int:
        """The cost of one field resolved ``times`` times; ``cap``: the most times
        anything below a ``limit`` field can be resolved."""
        name = node.name.value
        if node.selection_set is None or name.startswith("__"):
            return 0  # scalars are free; introspection is bounded by the schema
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        field = parent.fields.get(name)
        if field is None:
            return 0
        target, is_list = _unwrap(field.type)
        args = set(field.args)
        inner = times
        if "limit" in args:
            limit = self._int_arg(node, "limit")
            bound = min(limit, self.result_limit) if limit else self.result_limit
            cap = times * bound
        if "first" in args and "last" in args:  # a connection: pages are not bounded by a limit
            size = self._int_arg(node, "first") or self._int_arg(node, "last") or self.page_size
            inner = times * min(size, self.page_size)
            cap = inner  # its `edges` list holds the page, no more
        elif is_list:
            inner = times * (cap if cap is not None else DEFAULT_LIST)
            if cap is not None:
                inner = min(inner, cap)
        return inner + self.selection_cost(target, node.selection_set, inner, cap, seen)


def estimate_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    *,
    page_size: int,
    result_limit: int,
) -> int:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    estimator = CostEstimator(
        schema, fragments, variables, page_size=page_size, result_limit=result_limit
    )
    return estimator.selection_cost(root, operation.selection_set, 1, None)


class CostLimiter(SchemaExtension):
    """Refuse an operation whose estimated cost exceeds ``max_cost``."""

    def __init__(self, *, max_cost: int, page_size: int, result_limit: int) -> None:
        self.max_cost = max_cost
        self.page_size = page_size
        self.result_limit = result_limit

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        cost = self.cost()
        if cost > self.max_cost:
            error = LimitExceeded(
                f"query refused: its estimated cost is {cost}, above the limit of "
                f"{self.max_cost} (max_query_cost); ask for smaller pages (first:), "
                "a lower limit: or fewer nested lists",
                path="query",
                cost=cost,
                max_cost=self.max_cost,
            )
            # A result set here skips execution; the error formatter gives it its code.
            ctx.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)]
            )
        yield

    def cost(self) -> int:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is None:
            return 0
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for op in document.definitions:
            if not isinstance(op, OperationDefinitionNode):
                continue
            if ctx.operation_name is None or (op.name and op.name.value == ctx.operation_name):
                return estimate_cost(
                    ctx.schema._schema,
                    op,
                    fragments,
                    ctx.variables or {},
                    page_size=self.page_size,
                    result_limit=self.result_limit,
                )
        return 0
