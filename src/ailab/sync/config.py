"""``SyncConfig``: everything the sync needs to know, checked once, built from ``Settings``.

The token stays a ``Secret`` the whole way; only ``GitHubClient`` reveals it, into the
``Authorization`` header. Repository names are checked here so a typo fails before any request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ailab.errors import ConfigError
from ailab.settings import Secret, Settings

# GitHub's rules for owner and repository names (letters, digits, '-', '_', '.').
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_.-])?"
_REPO_RE = re.compile(rf"^({_NAME})/({_NAME})$")
_URL_RE = re.compile(
    rf"^(?:https?://|git@|ssh://git@)?(?:www\.)?github\.com[/:]({_NAME})/({_NAME}?)(?:\.git)?/?$"
)


@dataclass(frozen=True, order=True)
class RepoName:
    """An ``owner/name`` repository, checked when parsed."""

    owner: str
    name: str

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return self.full_name


def parse_repo(raw: str, *, source: str = "AILAB_GITHUB_REPO") -> RepoName:
    """``owner/name`` -> ``RepoName``; a ``ConfigError`` naming ``source`` when malformed."""
    match = _REPO_RE.match(raw.strip())
    if match is None or match.group(2).endswith(".git"):
        raise ConfigError(
            f"{source}={raw!r} is not a GitHub repository name; use 'owner/name' (for example 'octo-org/tracker')."
        )
    return RepoName(match.group(1), match.group(2))


def repo_from_url(url: str, *, source: str = "project repository_url") -> RepoName:
    """A project's ``repository_url`` (https, ssh or bare ``owner/name``) -> ``RepoName``."""
    text = url.strip()
    text = text[: -len(".git")] if text.endswith(".git") else text
    match = _URL_RE.match(text)
    if match is not None and match.group(2):
        return RepoName(match.group(1), match.group(2))
    return parse_repo(text, source=source)


@dataclass(frozen=True)
class SyncConfig:
    """How to reach GitHub and how politely. Defaults are GitHub's documented limits."""

    api_url: str = "https://api.github.com"
    token: Secret = field(default_factory=lambda: Secret(""), repr=False)
    default_repo: RepoName | None = None
    write_interval: float = 1.0  # GitHub: "wait at least one second between each request" (writes)
    creates_per_minute: int = 80
    creates_per_hour: int = 500
    read_concurrency: int = 8
    batch_size: int = 20  # items per aliased GraphQL mutation
    max_rate_limit_tries: int = 6  # refusals in a row before giving up (RateLimitedError)
    secondary_wait: float = 60.0  # "otherwise, wait for at least one minute before retrying"
    max_backoff: float = 900.0
    transient_tries: int = 8  # 5xx / timeouts on idempotent requests (waits 1+2+4+8+8+8+8 s at most)
    transient_backoff: float = 1.0
    transient_backoff_max: float = 8.0
    timeout: float = 30.0
    rest_points_per_minute: int = 900
    graphql_points_per_minute: int = 2000
    window_margin: float = 1.0  # seconds added to sliding windows: our send time vs GitHub's receive time
    ambiguous_settle: float = 2.0  # wait before looking for an ambiguous create's marker
    marker_scan_pages: int = 20  # recent-issue pages searched for markers after an ambiguous create
    edges_count_as_content: bool = True  # "add blocked-by ... may result in secondary rate limiting"

    def __post_init__(self) -> None:
        if self.write_interval < 0:
            raise ConfigError(f"write interval {self.write_interval} s must be >= 0.")
        for name in ("creates_per_minute", "creates_per_hour", "read_concurrency", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sync setting {name}={getattr(self, name)} must be >= 1.")
        object.__setattr__(self, "api_url", self.api_url.rstrip("/"))

    @property
    def graphql_url(self) -> str:
        """The GraphQL endpoint for ``api_url`` (github.com, or GitHub Enterprise Server's /api/graphql)."""
        # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
        if self.api_url.endswith("/api/v3"):
            return self.api_url[: -len("/v3")] + "/graphql"
        return self.api_url + "/graphql"

    @classmethod
    def from_settings(cls, settings: Settings, *, require_token: bool = True, **overrides: Any) -> SyncConfig:
        """Build from ``Settings``; ``ConfigError`` naming the variable to set when one is missing."""
        token = settings.github_token
        if require_token and not token:
            raise ConfigError(
                "No GitHub token: set GITHUB_TOKEN (or AILAB_GITHUB_TOKEN) to a token that may read and "
                "write issues in the target repository."
            )
        repo = parse_repo(settings.github_repo) if settings.github_repo else None
        if not settings.github_api_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"AILAB_GITHUB_API_URL={settings.github_api_url!r} is not an http(s) URL; "
                "use e.g. https://api.github.com."
            )
        config = cls(
            api_url=settings.github_api_url,
            token=token or Secret(""),
            default_repo=repo,
            write_interval=settings.github_write_interval,
            creates_per_minute=settings.github_creates_per_minute,
            creates_per_hour=settings.github_creates_per_hour,
            read_concurrency=settings.github_read_concurrency,
            batch_size=settings.github_batch_size,
        )
        return replace(config, **overrides) if overrides else config

    def with_(self, **changes: Any) -> SyncConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def repository_for(self, project_repository_url: str | None, project_key: str | None = None) -> RepoName:
        """Where an item syncs: its project's own repository if it names one, else the default."""
        if project_repository_url:
            return repo_from_url(project_repository_url, source=f"repository_url of project {project_key}")
        if self.default_repo is None:
            raise ConfigError(
                "No GitHub repository: set AILAB_GITHUB_REPO=owner/name (items whose project has a "
                "repository_url sync there instead)."
            )
        return self.default_repo
