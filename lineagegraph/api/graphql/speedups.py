"""Cheaper per-field work in the built schema, with the same answers.

A lineage answer of 200 nodes resolves about 1,500 fields, so what runs per
field counts. Strawberry's general machinery does more per field than this
schema needs; ``speed_up(schema)`` replaces three pieces of it after the
schema is built:

* plain attribute fields (no resolver, no permission, no extension): a
  ``getattr`` of the Python attribute instead of Strawberry's generic
  wrapper (``field.get_result`` via the configured default resolver, which is
  ``getattr`` here);
* enum output: a dict lookup from member to GraphQL name instead of a scan
  of every value of the enum (Strawberry compares ``.value`` of each);
* the ``Node`` interface's type resolution: the object's class to its GraphQL
  type name, computed once, instead of a search through the possible types.

And ``FastExecutor`` (the schema's execution context class) completes a plain
attribute field of a scalar or enum type in one step: read the attribute,
serialize it. graphql-core's general path builds a resolve-info tuple, looks
up middleware, checks for awaitables and dispatches on the return type for
each of them, about two thirds of the work of a lineage answer's fields. A
null, a value that does not serialize or any error takes the general path,
so errors are reported exactly as before; so does everything when an
extension resolves fields (middleware).

Anything not recognised keeps Strawberry's own code (tests/api run every
query through the sped-up schema).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
)
from graphql.pyutils import Path as GraphQLPath
from graphql.pyutils import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
#: the mark ``_plain_fields`` leaves on a field ``FastExecutor`` may complete itself:
#: (attribute name, leaf type, non-null)
LEAF = "_lineagegraph_plain_leaf"


_GENERAL = object()  # a leaf the general path must complete


def _leaf(source: Any, leaf: tuple[str, GraphQLLeafType, bool]) -> Any:
    """A plain leaf field's value, or ``_GENERAL`` (null in a non-null field, errors)."""
    name, leaf_type, non_null = leaf
    try:
        value = getattr(source, name)
        if value is None:
            return _GENERAL if non_null else None
        coerced = leaf_type.coerce_output_value(value)
    except Exception:  # the general path raises it again and reports it
        return _GENERAL
    return _GENERAL if coerced is None or coerced is Undefined else coerced


class FastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with plain leaf fields done in one step.

    ``execute_fields`` is graphql-core's (3.3), with the leaf shortcut inside the
    loop (no ``Path`` or resolve info is made for a leaf that completes).
    """

    def _plain(self) -> bool:
        middleware = self.middleware_manager
        return middleware is None or not middleware.middlewares

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        leaf = getattr(parent_type.fields.get(field_details_list[0].node.name.value), LEAF, None)
        if leaf is not None and self._plain():
            value = _leaf(source, leaf)
            if value is not _GENERAL:
                return value
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if not self._plain():
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        fields = parent_type.fields
        general = super().execute_field
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                leaf = getattr(fields.get(field_details_list[0].node.name.value), LEAF, None)
                if leaf is not None:
                    value = _leaf(source_value, leaf)
                    if value is not _GENERAL:
                        results[response_name] = value
                        continue
                result = general(
                    parent_type,
                    source_value,
                    field_details_list,
                    GraphQLPath(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # settle the other fields' awaitables: they may fail too
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def speed_up(schema: strawberry.Schema) -> None:
    gql = schema._schema
    type_names: dict[type, str] = {}
    for gtype in gql.type_map.values():
        if isinstance(gtype, GraphQLObjectType):
            definition = (gtype.extensions or {}).get(BACKREF)
            if isinstance(definition, StrawberryObjectDefinition) and not (
                definition.is_graphql_generic or definition.concrete_of
            ):
                type_names[definition.origin] = gtype.name
            _plain_fields(gtype, schema.config.default_resolver)
        elif isinstance(gtype, GraphQLEnumType):
            _fast_enum(gtype)
    for gtype in gql.type_map.values():
        if isinstance(gtype, GraphQLInterfaceType) and gtype.resolve_type is not None:
            _fast_resolve_type(gtype, type_names)


def _plain_fields(gtype: GraphQLObjectType, default_resolver: Callable[..., Any]) -> None:
    if default_resolver is not getattr:
        return
    for field in gtype.fields.values():
        sfield = (field.extensions or {}).get(BACKREF)
        if not isinstance(sfield, StrawberryField) or field.resolve is None:
            continue
        if not getattr(field.resolve, "_is_default", False) or not sfield.is_basic_field:
            continue
        if sfield.permission_classes or sfield.base_resolver is not None:
            continue
        field.resolve = _attribute(sfield.python_name)
        _mark_leaf(field, sfield.python_name)


def _mark_leaf(field: GraphQLField, name: str) -> None:
    field_type: Any = field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    if non_null:
        field_type = field_type.of_type
    if isinstance(field_type, GraphQLLeafType) and not field.args:
        setattr(field, LEAF, (name, field_type, non_null))


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, info: Any, **kwargs: Any) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined]  # as Strawberry marks it
    return resolve


def _fast_enum(gtype: GraphQLEnumType) -> None:
    wrapped = getattr(gtype, "wrapped_cls", None)
    if not (isinstance(wrapped, type) and issubclass(wrapped, Enum)):
        return
    names: dict[Any, str] = {}
    for name, value in gtype.values.items():
        for member in wrapped:
            if member.value == value.value:
                names.setdefault(member, name)
    slow = gtype.coerce_output_value

    def coerce_output_value(output_value: Any) -> Any:
        try:
            return names[output_value]
        except (KeyError, TypeError):  # not a member (or unhashable): Strawberry decides
            return slow(output_value)

    # instance attributes: graphql-core and Strawberry call both names
    gtype.coerce_output_value = coerce_output_value  # type: ignore[method-assign]
    gtype.serialize = coerce_output_value  # type: ignore[method-assign]


def _fast_resolve_type(gtype: GraphQLInterfaceType, type_names: dict[type, str]) -> None:
    slow = gtype.resolve_type
    assert slow is not None

    def resolve_type(obj: Any, info: Any, abstract_type: Any) -> Any:
        name = type_names.get(type(obj))
        if name is None:
            return slow(obj, info, abstract_type)
        return name

    gtype.resolve_type = resolve_type
