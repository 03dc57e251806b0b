"""The REST request pipeline: what happens around every endpoint handler, in GitHub's order.

Auth (401), concurrency, the primary limit (``core``), the secondary limits (points/min,
content creation), an optional injected fault, the handler, then ETag/304 for GETs. Refused
requests are not charged; a 304 is not charged to the primary limit (GitHub's docs).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from ailab.sync.simulator.config import FaultKind
from ailab.sync.simulator.limits import HourlyBudget, Refusal
from ailab.sync.simulator.model import SimError
from ailab.sync.simulator.rest import Call, RestRoute, Result, error_result
from ailab.sync.simulator.simulator import DOCS, base_url, header, read_body

if TYPE_CHECKING:
    from ailab.sync.simulator.simulator import GitHubSimulator


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (weak or strong, any in a list, or ``*``)."""
    if not if_none_match:
        return False
    wanted = etag.strip(b'"')
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag.strip(b'"') == wanted:
            return True
    return False


async def handle_rest(
    sim: GitHubSimulator, route: RestRoute, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one REST request as GitHub does: admit it, inject a fault, run the handler, 304 on a matching ETag."""
    counters = sim.counters
    budget = sim.limits.core
    admitted = await sim.admit(route.key, budget, scope, send)
    if admitted is None:
        return
    request_id, now = admitted
    try:
        config = sim.config
        if route.counts_primary and budget.used >= budget.limit:
            await sim.refuse(send, Refusal("primary", None), budget, request_id, primary=True)
            return
        is_write = route.is_write
        points = config.rest_write_points if is_write else config.rest_read_points
        refusal = sim.limits.secondary(now, sim.limits.rest_points, points, 1 if route.content else 0)
        if refusal is not None:
            await sim.refuse(send, refusal, budget, request_id)
            return
        if route.content:
            counters.content_created += 1
        fault = sim.faults.pick(route.method, route.template, (), is_write) if sim.faults.active else None
        if fault is not None:
            counters.faults[fault.kind.value] += 1
            if fault.kind is FaultKind.RESET:
                await sim.abort(send, timeout=False)
            if fault.kind is FaultKind.SERVER_ERROR:
                if route.counts_primary:
                    budget.used += 1
                await _server_error(sim, send, fault.status, budget, now, request_id)
                return
        result = await _run(sim, route, scope, receive)
        if is_write and result.status < 400:
            counters.writes += 1
        if fault is not None:  # the *_AFTER_WRITE kinds: applied, now fail
            if route.counts_primary:
                budget.used += 1
            if fault.kind is FaultKind.TIMEOUT_AFTER_WRITE:
                await sim.abort(send, timeout=True)
            await _server_error(sim, send, fault.status, budget, now, request_id)
            return
        headers = result.headers
        if route.method == "GET" and result.status == 200:
            etag = b'"' + hashlib.blake2b(result.body, digest_size=16).hexdigest().encode() + b'"'
            headers.append((b"etag", etag))
            if etag_matches(header(scope, b"if-none-match"), etag):
                counters.not_modified += 1  # a 304 is free: not charged to the primary limit
                await sim.reply(send, 304, b"", [*budget.headers(now), *headers], request_id)
                return
        if route.counts_primary:
            budget.used += 1
        await sim.reply(send, result.status, result.body, [*budget.headers(now), *headers], request_id)
    finally:
        sim.leave()


async def _run(sim: GitHubSimulator, route: RestRoute, scope: Scope, receive: Receive) -> Result:
    try:
        body: Any = None
        if route.is_write:
            raw = await read_body(receive)
            if raw.strip():
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise SimError("bad_request", "Problems parsing JSON") from None
        query_pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        call = Call(
            sim, scope["path_params"], dict(query_pairs), query_pairs, body, base_url(scope), scope["path"]
        )
        return route.handler(call)
    except SimError as err:
        return error_result(err, base_url(scope))


async def _server_error(
    sim: GitHubSimulator, send: Send, status: int, budget: HourlyBudget, now: float, request_id: bytes
) -> None:
    body = orjson.dumps({"message": "Server Error", "documentation_url": DOCS, "status": str(status)})
    await sim.reply(send, status, body, budget.headers(now), request_id)
