"""GraphQL query limits and cost, per GitHub's documented calculation.

From "Rate limits and query limits for the GraphQL API": every connection needs ``first`` or
``last`` (1..100); a call may request at most 500,000 nodes; the cost is the number of requests
needed to fulfil every connection (each one multiplied by the page sizes of the connections
around it) divided by 100, rounded to the nearest whole number, minimum 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)

MAX_PAGE = 100
MAX_NODES = 500_000


@dataclass
class QueryShape:
    """What one operation asks for: its root fields, cost and node count, or why it is refused."""

    operation: str  # "query" | "mutation"
    root_fields: list[str] = field(default_factory=list)  # field names, one per (aliased) selection
    requests: int = 0
    node_count: int = 0
    dry_run: bool = False
    errors: list[GraphQLError] = field(default_factory=list)

    @property
    def cost(self) -> int:
        """GitHub's point cost: the requests a query implies / 100, rounded, at least 1."""
        return max(1, math.floor(self.requests / 100 + 0.5))


def analyze(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any] | None,
) -> QueryShape:
    """Count the nodes and implied requests of a query from its connections' ``first``/``last`` arguments."""
    kind = operation.operation.value
    shape = QueryShape(kind)
    root = schema.mutation_type if kind == "mutation" else schema.query_type
    if root is None:
        return shape
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    values.update(variables or {})
    for selection in _flatten(operation.selection_set, fragments):
        if isinstance(selection, FieldNode) and not selection.name.value.startswith("__"):
            shape.root_fields.append(selection.name.value)
    _walk(schema, operation.selection_set, root, 1, shape, fragments, values)
    if shape.node_count > MAX_NODES:
        shape.errors.append(
            GraphQLError(
                f"This query requests up to {shape.node_count:,} possible nodes which exceeds the maximum "
                f"limit of {MAX_NODES:,}.",
                extensions={"type": "MAX_NODE_LIMIT_EXCEEDED"},
            )
        )
    return shape


def _flatten(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode | InlineFragmentNode | FragmentSpreadNode]:
    out: list[Any] = []
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            out.extend(_flatten(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                out.extend(_flatten(fragment.selection_set, fragments))
        else:
            out.append(selection)
    return out


def _walk(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode,
    parent: Any,
    multiplier: int,
    shape: QueryShape,
    fragments: dict[str, FragmentDefinitionNode],
    values: dict[str, Any],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            )
            _walk(schema, selection.selection_set, target, multiplier, shape, fragments, values)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                target = schema.get_type(fragment.type_condition.name.value)
                _walk(schema, fragment.selection_set, target, multiplier, shape, fragments, values)
            continue
        if not isinstance(selection, FieldNode) or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        definition = parent.fields.get(selection.name.value)
        if definition is None:
            continue  # validation reports unknown fields
        named = get_named_type(definition.type)
        args = {a.name.value: value_from_ast_untyped(a.value, values) for a in selection.arguments or ()}
        if selection.name.value == "rateLimit" and args.get("dryRun"):
            shape.dry_run = True
        child_multiplier = multiplier
        if named.name.endswith("Connection"):
            size = args.get("first", args.get("last"))
            name = selection.name.value
            if size is None:
                shape.errors.append(
                    GraphQLError(
                        f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.",
                        extensions={"type": "MISSING_PAGINATION_BOUNDARIES"},
                    )
                )
                size = MAX_PAGE
            elif not isinstance(size, int) or size < 1 or size > MAX_PAGE:
                shape.errors.append(
                    GraphQLError(
                        f"Requesting {size} records on the `{name}` connection exceeds the `first` limit of "
                        f"{MAX_PAGE} records."
                        if isinstance(size, int) and size > MAX_PAGE
                        else f"`first` on the `{name}` connection must be between 1 and {MAX_PAGE}.",
                        extensions={"type": "EXCESSIVE_PAGINATION"},
                    )
                )
                size = MAX_PAGE
            shape.requests += multiplier
            shape.node_count += multiplier * size
            child_multiplier = multiplier * size
        if selection.selection_set is not None:
            _walk(schema, selection.selection_set, named, child_multiplier, shape, fragments, values)
