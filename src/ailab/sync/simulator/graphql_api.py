"""GraphQL at ``POST /graphql``: GitHub's shapes for the subset in ``schema.graphql``.

Pipeline per request: auth, concurrency, parse + validate (cached per query text), query limits
and cost (``graphql_cost``), the primary ``graphql`` budget (an exhausted budget answers 200
with ``errors[].type`` = ``RATE_LIMITED``, or ``RATE_LIMIT`` if so configured), secondary limits
(403/429), an optional injected fault, then execution. Aliased mutations run in order; one that
fails yields an error whose ``path`` names its alias while the others keep their data.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeGuard

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.types import Receive, Scope, Send

from ailab.sync.simulator import graphql_resolvers
from ailab.sync.simulator.config import FaultKind
from ailab.sync.simulator.graphql_cost import QueryShape, analyze
from ailab.sync.simulator.model import iso
from ailab.sync.simulator.simulator import DOCS, read_body

if TYPE_CHECKING:
    from ailab.sync.simulator.simulator import GitHubSimulator

ROUTE_KEY = "POST /graphql"
# Mutations that create content, for the 80/min and 500/h secondary budgets.
CONTENT_MUTATIONS = frozenset({"createIssue", "createLabel", "addBlockedBy", "addSubIssue"})
MAX_CACHED_DOCUMENTS = 512


@functools.cache
def schema() -> GraphQLSchema:
    """The simulator's schema, built once from the SDL shipped in this package."""
    sdl = resources.files("ailab.sync.simulator").joinpath("schema.graphql").read_text(encoding="utf-8")
    built = build_schema(sdl)
    graphql_resolvers.attach(built)
    return built


@dataclass
class Context:
    """Per-request state the resolvers can reach as ``info.context``."""

    sim: GitHubSimulator
    shape: QueryShape
    now: float

    def rate_limit(self) -> dict[str, Any]:
        """The ``rateLimit`` object: this query's cost and the budget after it."""
        budget = self.sim.limits.graphql
        return {
            "cost": self.shape.cost,
            "limit": budget.limit,
            "nodeCount": self.shape.node_count,
            "remaining": budget.remaining,
            "resetAt": iso(budget.reset_epoch(self.now)),
            "used": budget.used,
        }


@dataclass(frozen=True)
class Prepared:
    """A parsed and validated query document (or its errors), cached by query text."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    fragments: dict[str, FragmentDefinitionNode]


_documents: dict[str, Prepared] = {}


def prepare(query: str) -> Prepared:
    """Parse and validate a query, cached by its text (clients resend the same few queries)."""
    found = _documents.get(query)
    if found is not None:
        return found
    try:
        document = parse(query)
    except GraphQLError as err:
        return Prepared(None, (err,), {})
    errors = tuple(validate(schema(), document))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    prepared = Prepared(None if errors else document, errors, fragments)
    if len(_documents) >= MAX_CACHED_DOCUMENTS:
        _documents.clear()
    _documents[query] = prepared
    return prepared


def format_error(err: GraphQLError) -> dict[str, Any]:
    """graphql-core's error dict, with GitHub's top-level ``type`` taken out of ``extensions``."""
    out: dict[str, Any] = {}
    extensions = dict(err.extensions or {})
    if "type" in extensions:
        out["type"] = extensions.pop("type")
    if err.path is not None:
        out["path"] = list(err.path)
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if extensions:
        out["extensions"] = extensions
    out["message"] = err.message
    return out


def _errors_body(errors: list[dict[str, Any]] | tuple[GraphQLError, ...] | list[GraphQLError]) -> bytes:
    return orjson.dumps({"errors": [e if isinstance(e, dict) else format_error(e) for e in errors]})


async def handle_graphql(sim: GitHubSimulator, scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /graphql``: admit, parse, cost, execute, and answer as GitHub does."""
    counters = sim.counters
    budget = sim.limits.graphql
    admitted = await sim.admit(ROUTE_KEY, budget, scope, send)
    if admitted is None:
        return
    request_id, now = admitted
    try:
        config = sim.config

        async def answer(status: int, body: bytes) -> None:
            await sim.reply(send, status, body, budget.headers(now), request_id)

        try:
            payload = orjson.loads(await read_body(receive))
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            body = {"message": "Problems parsing JSON", "documentation_url": DOCS}
            await answer(400, orjson.dumps(body))
            return
        query, variables = payload.get("query"), payload.get("variables") or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            message = "A query attribute must be specified and must be a string."
            await answer(200, _errors_body([{"message": message}]))
            return
        prepared = prepare(query)
        if prepared.document is None:
            await answer(200, _errors_body(prepared.errors))
            return
        operation = get_operation_ast(prepared.document, payload.get("operationName"))
        if operation is None:
            message = "Must provide operation name if query contains multiple operations."
            await answer(200, _errors_body([{"message": message}]))
            return
        shape = analyze(schema(), operation, prepared.fragments, variables)
        if shape.errors:
            await answer(200, _errors_body(shape.errors))
            return
        if not shape.dry_run and shape.cost > budget.remaining:
            counters.rate_limited["graphql_primary"] += 1
            error: dict[str, Any] = {"type": config.graphql_rate_limit_type}
            if config.graphql_rate_limit_type == "RATE_LIMIT":
                error["code"] = "graphql_rate_limit"
            error["message"] = "API rate limit exceeded for user ID 1."
            await answer(200, _errors_body([error]))
            return
        is_mutation = shape.operation == "mutation"
        points = config.graphql_mutation_points if is_mutation else config.graphql_query_points
        content = sum(1 for name in shape.root_fields if name in CONTENT_MUTATIONS) if is_mutation else 0
        refusal = sim.limits.secondary(now, sim.limits.graphql_points, points, content)
        if refusal is not None:
            await sim.refuse(send, refusal, budget, request_id)
            return
        counters.graphql_operations[shape.operation] += 1
        op_name = payload.get("operationName") or (operation.name.value if operation.name else None)
        if isinstance(op_name, str):
            counters.graphql_operation_names[op_name] += 1
        for name in shape.root_fields:
            counters.graphql_fields[f"{shape.operation}.{name}"] += 1
        counters.content_created += content
        if not shape.dry_run:
            budget.used += shape.cost
        fault = None
        if sim.faults.active:
            fault = sim.faults.pick("POST", "/graphql", shape.root_fields, is_mutation)
        if fault is not None:
            counters.faults[fault.kind.value] += 1
            if fault.kind is FaultKind.RESET:
                await sim.abort(send, timeout=False)
            if fault.kind is FaultKind.SERVER_ERROR:
                await _server_error(answer, fault.status)
                return
        result = execute(
            schema(),
            prepared.document,
            context_value=Context(sim, shape, now),
            variable_values=variables,
            operation_name=payload.get("operationName"),
            is_awaitable=_never_awaitable,  # every resolver is synchronous: skip the per-field check
        )
        assert isinstance(result, ExecutionResult)  # every resolver is synchronous
        if fault is not None:  # the *_AFTER_WRITE kinds: applied, now fail
            if fault.kind is FaultKind.TIMEOUT_AFTER_WRITE:
                await sim.abort(send, timeout=True)
            await _server_error(answer, fault.status)
            return
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]
        out["data"] = result.data
        await answer(200, orjson.dumps(out))
    finally:
        sim.leave()


def _never_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return False


async def _server_error(answer: Callable[[int, bytes], Awaitable[None]], status: int) -> None:
    await answer(status, orjson.dumps({"message": "Server Error", "documentation_url": DOCS}))
