"""``GitHubClient``: GitHub's REST and GraphQL APIs over one ``httpx.AsyncClient``.

Every request goes through the ``RateLimiter`` lanes (reads concurrent and bounded, writes
serial and paced), then through one retry loop that applies GitHub's documented rules:

* 403/429 that is a rate limit, and GraphQL ``RATE_LIMITED``/``RATE_LIMIT``: wait as told
  (``ratelimit.rate_limit_wait``) and resend; the request was refused, so resending is safe.
  After ``max_rate_limit_tries`` refusals in a row: ``RateLimitedError``.
* 5xx, timeouts and dropped connections: idempotent requests are retried with a short
  exponential backoff; a non-idempotent one (issue creation) raises ``AmbiguousWriteError`` at
  once, because it may have been applied and GitHub has no idempotency key. The caller looks for
  the item's marker before it ever sends that create again.
* 401/403/404/410/422: an ``ailab.errors`` exception whose message says what to fix.

The token is revealed only into the ``Authorization`` header; every message built from a
response passes through ``scrub`` so an echoed token cannot leak into an exception or log.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Generator
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.errors import (
    AmbiguousWriteError,
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubUnavailableError,
    GitHubValidationError,
    RateLimitedError,
)
from ailab.settings import Secret
from ailab.sync.config import SyncConfig
from ailab.sync.ratelimit import (
    GRAPHQL,
    REST,
    RateLimiter,
    graphql_rate_limited,
    is_rate_limit_refusal,
    rate_limit_wait,
)

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "ailab-sync/0.1"
READ_POINTS = 1
WRITE_POINTS = 5
# Transport errors raised before the request left: resending cannot duplicate anything.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REPO_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)")


@dataclass(frozen=True)
class ApiResponse:
    """A finished REST answer (2xx or 304)."""

    status: int
    headers: httpx.Headers
    data: Any
    links: dict[str, str]

    @property
    def not_modified(self) -> bool:
        """True for a 304: the conditional request's ETag still matches (and cost no rate limit)."""
        return self.status == 304

    @property
    def etag(self) -> str | None:
        """The response's ETag, for the next conditional request."""
        etag: str | None = self.headers.get("etag")
        return etag


@dataclass(frozen=True)
class GraphQLResponse:
    """``data`` (``{}`` when null) and ``errors`` of a GraphQL answer."""

    data: dict[str, Any]
    errors: list[dict[str, Any]]

    def error_for(self, alias: str) -> dict[str, Any] | None:
        """The first error whose ``path`` starts at ``alias`` (a failed aliased mutation)."""
        for error in self.errors:
            path = error.get("path")
            if isinstance(path, list) and path and path[0] == alias:
                return error
        return None

    def top_level_errors(self) -> list[dict[str, Any]]:
        """Errors about the whole request, not one aliased field (those have a ``path``)."""
        return [e for e in self.errors if not e.get("path")]


@dataclass
class RequestStats:
    """Requests this client sent (retries included), by kind."""

    requests: int = 0
    reads: int = 0
    writes: int = 0
    not_modified: int = 0
    graphql: int = 0
    transient_retries: int = 0
    ambiguous: int = 0
    by_route: Counter[str] = field(default_factory=Counter)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on each request; the token stays a ``Secret`` until sent."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header on ``request``; the token is revealed only here, as it goes out."""
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(Secret('**********'))"


class GitHubClient:
    """REST + GraphQL with lanes, retries and clean errors. Use as ``async with``."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.limiter = limiter or RateLimiter(config, clock)
        self.stats = RequestStats()
        self._secret = config.token.reveal()
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        self._token_pattern = (
            re.compile(rf"(?<![\w-]){re.escape(self._secret)}(?![\w-])") if self._secret else None
        )
        limits = httpx.Limits(max_connections=config.read_concurrency + 2, max_keepalive_connections=None)
        self._http = httpx.AsyncClient(
            base_url=config.api_url,
            headers=headers,
            # The token lives in the auth flow, not the client's default headers: it is set on each
            # request as it is sent and shows in no repr of the client or its headers.
            auth=BearerAuth(config.token) if self._secret else None,
            timeout=config.timeout,
            transport=transport,
            limits=limits,
        )

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.config.api_url!r}, token=Secret('**********'))"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    def same_host_path(self, url: str) -> str | None:
        """``url`` as a path under the API base when it is on the same host, else ``None``."""
        base, target = httpx.URL(self.config.api_url), httpx.URL(url)
        if target.is_relative_url:
            return str(target)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            return None
        prefix = base.path.rstrip("/")
        path = target.path[len(prefix) :] if prefix and target.path.startswith(prefix) else target.path
        return path + (f"?{target.query.decode()}" if target.query else "")

    def scrub(self, text: str) -> str:
        """``text`` from a response with an echoed token masked: only where the whole token
        stands as a word, so no other word is ever cut (a one-letter token used to garble
        "Bad credentials" into "Bad cr**********d**********ntials")."""
        if self._token_pattern is None:
            return text
        return self._token_pattern.sub("**********", text)

    # -- REST ----------------------------------------------------------------------------------
    async def rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        etag: str | None = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """One REST call; 2xx and 304 return, everything else raises a ``GitHubError``."""
        method = method.upper()
        write = method not in ("GET", "HEAD")
        headers = {"If-None-Match": etag} if etag else None
        content = orjson.dumps(json) if json is not None else None
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        request = self._http.build_request(method, path, params=params, content=content, headers=headers)
        response = await self._exchange(
            request,
            write=write,
            resource=REST,
            points=WRITE_POINTS if write else READ_POINTS,
            idempotent=(method != "POST") if idempotent is None else idempotent,
            what=f"{method} {path}",
        )
        links = {str(rel): str(link.get("url")) for rel, link in response.links.items()}
        if response.status_code == 304:
            self.stats.not_modified += 1
            return ApiResponse(304, response.headers, None, links)
        if response.status_code >= 400:
            raise self._error(response, method, path)
        data = orjson.loads(response.content) if response.content else None
        return ApiResponse(response.status_code, response.headers, data, links)

    # -- GraphQL -------------------------------------------------------------------------------
    async def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        mutation: bool = False,
        idempotent: bool = True,
    ) -> GraphQLResponse:
        """One GraphQL document. Per-alias errors come back in ``errors``; rate limits are retried."""
        body = orjson.dumps({"query": query, "variables": variables or {}})
        request = self._http.build_request(
            "POST", self.config.graphql_url, content=body, headers={"Content-Type": "application/json"}
        )
        self.stats.graphql += 1
        response = await self._exchange(
            request,
            write=mutation,
            resource=GRAPHQL,
            points=WRITE_POINTS if mutation else READ_POINTS,
            idempotent=idempotent,
            what="GraphQL mutation" if mutation else "GraphQL query",
            graphql=True,
        )
        if response.status_code >= 400:
            raise self._error(response, "POST", "/graphql")
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise GitHubError(
                f"GitHub's GraphQL endpoint answered {response.status_code} with a body that is not JSON."
            ) from None
        data = payload.get("data") or {}
        errors = payload.get("errors") or []
        answer = GraphQLResponse(
            data if isinstance(data, dict) else {}, errors if isinstance(errors, list) else []
        )
        if answer.errors and not any(v is not None for v in answer.data.values()):
            general = answer.top_level_errors()
            if general:  # the whole document was refused: not something a retry of one alias fixes
                raise self._graphql_error(general)
        return answer

    def _graphql_error(self, errors: list[dict[str, Any]]) -> GitHubError:
        messages = "; ".join(self.scrub(str(e.get("message", e))) for e in errors[:3])
        kinds = {str(e.get("type")) for e in errors}
        if kinds & {"FORBIDDEN", "INSUFFICIENT_SCOPES"}:
            return GitHubAuthError(
                f"GitHub refused the GraphQL request ({messages}). The token needs read and write access to "
                "issues (classic token: the 'repo' scope)."
            )
        return GitHubValidationError(f"GitHub rejected the GraphQL request: {messages}")

    # -- the retry loop ------------------------------------------------------------------------
    async def _exchange(
        self,
        request: httpx.Request,
        *,
        write: bool,
        resource: str,
        points: int,
        idempotent: bool,
        what: str,
        graphql: bool = False,
    ) -> httpx.Response:
        refusals = 0
        transient = 0
        turn: AbstractAsyncContextManager[None] = self.limiter.write_turn() if write else nullcontext()
        async with turn:
            while True:
                try:
                    response = await self._send_once(request, write=write, resource=resource, points=points)
                except httpx.TransportError as err:
                    if not idempotent and not isinstance(err, NOT_SENT):
                        self.stats.ambiguous += 1
                        raise AmbiguousWriteError(
                            f"{what} failed in transit ({type(err).__name__}); it may or may not have been "
                            "applied, so it is not resent blindly."
                        ) from None
                    transient += 1
                    if transient >= self.config.transient_tries:
                        raise GitHubUnavailableError(
                            f"{what} failed {transient} times in transit (last: {type(err).__name__}: "
                            f"{self.scrub(str(err))}). Check the network and AILAB_GITHUB_API_URL, then rerun; "
                            "the sync resumes where it stopped."
                        ) from None
                    await self._backoff(transient)
                    continue
                self.limiter.observe(resource, response.headers)
                status = response.status_code
                if status in (403, 429) and is_rate_limit_refusal(
                    status, response.headers, _message(response)
                ):
                    refusals = await self._refused(response, resource, refusals, what)
                    continue
                if graphql and status == 200 and _graphql_refused(response):
                    refusals = await self._refused(response, resource, refusals, what)
                    continue
                if status >= 500:
                    if not idempotent:
                        self.stats.ambiguous += 1
                        raise AmbiguousWriteError(
                            f"{what} answered {status}; it may or may not have been applied, so it is not "
                            "resent blindly."
                        )
                    transient += 1
                    if transient >= self.config.transient_tries:
                        raise GitHubUnavailableError(
                            f"{what} answered {status} {transient} times in a row. GitHub may be having an "
                            "outage (see githubstatus.com); rerun later, the sync resumes where it stopped."
                        )
                    await self._backoff(transient)
                    continue
                return response

    async def _send_once(
        self, request: httpx.Request, *, write: bool, resource: str, points: int
    ) -> httpx.Response:
        self.stats.requests += 1
        self.stats.by_route[f"{request.method} {_route(request.url.path)}"] += 1
        if write:
            self.stats.writes += 1
            await self.limiter.before_write(resource, points)
            try:
                return await self._http.send(request)
            finally:
                self.limiter.after_write()
        self.stats.reads += 1
        async with self.limiter.read_slot(resource, points):
            return await self._http.send(request)

    async def _refused(self, response: httpx.Response, resource: str, refusals: int, what: str) -> int:
        if refusals + 1 >= self.config.max_rate_limit_tries:
            err = RateLimitedError(
                f"GitHub kept rate-limiting {what} ({refusals + 1} refusals in a row, last "
                f"{response.status_code}). Wait for the limit to reset (x-ratelimit-reset), or lower "
                "AILAB_GITHUB_CREATES_PER_MINUTE / raise AILAB_GITHUB_WRITE_INTERVAL, then rerun."
            )
            wait = rate_limit_wait(response.headers, refusals, self.clock.time(), self.config)
            err.reset_at = self.clock.time() + wait
            raise err
        wait = rate_limit_wait(response.headers, refusals, self.clock.time(), self.config)
        log.info("rate limited (%s) on %s; waiting %.1f s", response.status_code, what, wait)
        await self.limiter.wait_after_refusal(resource, wait)
        return refusals + 1

    async def _backoff(self, attempt: int) -> None:
        self.stats.transient_retries += 1
        wait = self.config.transient_backoff * (2 ** (attempt - 1))
        await self.clock.sleep(min(wait, self.config.transient_backoff_max))

    # -- errors --------------------------------------------------------------------------------
    def _error(self, response: httpx.Response, method: str, path: str) -> GitHubError:
        status = response.status_code
        message = self.scrub(_message(response)) or response.reason_phrase
        repo = _repo_of(path)
        what = f"{method} {path}"
        err: GitHubError
        if status == 401:
            err = GitHubAuthError(
                f"GitHub rejected the token (401 {message}) on {what}. Set GITHUB_TOKEN (or "
                "AILAB_GITHUB_TOKEN) to a valid, unexpired token."
            )
        elif status == 403:
            err = GitHubAuthError(
                f"GitHub refused {what} (403 {message}). The token needs read and write access to issues"
                + (f" of {repo}" if repo else "")
                + "; grant it (fine-grained token: 'Issues: Read and write') or use another token."
            )
        elif status == 404:
            err = GitHubNotFoundError(
                f"GitHub answered 404 Not Found for {what}: "
                + (
                    f"the repository {repo} does not exist or the token cannot see it. Check "
                    "AILAB_GITHUB_REPO (or the project's repository_url) and the token's repository access."
                    if repo
                    else "check AILAB_GITHUB_API_URL."
                )
            )
        elif status == 410:
            err = GitHubError(
                f"GitHub answered 410 Gone for {what}: issues are disabled"
                + (f" in {repo}" if repo else "")
                + ". Enable Issues in the repository settings or sync to another repository."
            )
        elif status == 422:
            details = "; ".join(self.scrub(_describe(e)) for e in _errors(response))
            err = GitHubValidationError(
                f"GitHub rejected {what} as invalid (422 {message}{': ' + details if details else ''})."
            )
        else:
            err = GitHubError(f"GitHub answered {status} {message} for {what}.")
        err.status = status  # type: ignore[attr-defined]
        err.details = _errors(response)  # type: ignore[attr-defined]
        return err


def _route(path: str) -> str:
    return re.sub(r"/\d+", "/{n}", path)


def _repo_of(path: str) -> str | None:
    match = _REPO_PATH.match(path)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _message(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _describe(error: dict[str, Any]) -> str:
    parts = [str(error[k]) for k in ("resource", "field", "code", "message") if error.get(k)]
    return " ".join(parts)


def _graphql_refused(response: httpx.Response) -> bool:
    """A 200 GraphQL answer refused as a whole for a rate limit (nothing was applied)."""
    body = _json(response)
    if not isinstance(body, dict) or not graphql_rate_limited(body.get("errors")):
        return False
    data = body.get("data")
    # With some aliases answered the request ran partly: the caller retries only the failed ones.
    return not (isinstance(data, dict) and any(v is not None for v in data.values()))
