"""GitHub links: an issue number means something only together with its repository.

The repository comes from the row's own repository URL, else from its project's. A number with
no repository anywhere is reported and kept in ``extra.github``, never guessed. Rows of the old
``github_sync`` table (issue URLs per local id) join their owner's link. Two rows claiming the
same issue of the same repository are reported; the first keeps the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ailab.legacy.plan import GitHubPlan, MapContext
from ailab.legacy.report import ImportReport
from ailab.legacy.rows import RowContext, is_blank
from ailab.legacy.source import SourceTable
from ailab.legacy.values import github_issue_url, github_repository, parse_datetime, parse_int


@dataclass
class SyncRow:
    """One ``github_sync`` row, waiting for its owner's mapping."""

    row: RowContext
    owner: tuple[str, str] | None  # (target table, legacy id)
    raw: tuple[Any, ...]
    link: tuple[str, int] | None  # (repository, number) from github_url


def _owner_table(local_type: Any) -> str | None:
    if not isinstance(local_type, str):
        return None
    lowered = local_type.strip().lower()
    if lowered.startswith("work"):
        return "work_items"
    if lowered.startswith("idea"):
        return "ideas"
    return None


def read_sync_rows(table: SourceTable, report: ImportReport) -> dict[tuple[str, str], list[SyncRow]]:
    """``github_sync`` rows by owner; rows naming no known kind of owner are reported now."""
    by_owner: dict[tuple[str, str], list[SyncRow]] = {}
    for raw in table.rows:
        values = dict(zip(table.columns, raw, strict=True))
        legacy_id = str(values.get("id"))
        owner_table = _owner_table(values.get("local_type"))
        local_id = values.get("local_id")
        row = RowContext("github_sync", "github_links", legacy_id, values, report)
        owner = (owner_table, str(local_id)) if owner_table and not is_blank(local_id) else None
        sync = SyncRow(row, owner, raw, github_issue_url(values.get("github_url")))
        if owner is None:
            report_orphan(sync, "names no work item or idea (local_type/local_id)")
        else:
            by_owner.setdefault(owner, []).append(sync)
    return by_owner


def report_orphan(sync: SyncRow, reason: str) -> None:
    """Report a ``github_sync`` row whose owner is missing or unusable; its values stay in the report."""
    for name, value in sync.row.values.items():
        if is_blank(value):
            sync.row.out(name, "empty")
        else:
            sync.row.out(name, "reported")
    sync.row.anomaly("*", "github_sync_orphan", sync.row.values, f"github_sync row {reason}", "reported only")


def _column_number(row: RowContext, name: str) -> int | None:
    raw = row.values.get(name)
    if is_blank(raw):
        if name in row.values:
            row.out(name, "empty")
        return None
    number, problem = parse_int(raw)
    if number is None or number <= 0:
        row.keep_unreadable(name, raw, "bad_issue_number", problem or "not a positive issue number")
        return None
    return number


def github_link(
    row: RowContext,
    ctx: MapContext,
    *,
    own_urls: list[str | None],
    project_key: str | None,
    syncs: list[SyncRow],
    number_field: str = "github_issue_id",
    synced_field: str = "github_synced_at",
) -> GitHubPlan | None:
    """Decide the row's GitHub link; account its number/synced fields and its github_sync rows."""
    number = _column_number(row, number_field)
    synced_raw = row.values.get(synced_field)
    synced, _problem = parse_datetime(synced_raw)
    repo = next((r for r in map(github_repository, own_urls) if r), None)
    repo = repo or github_repository(ctx.project_repository(project_key))
    link = GitHubPlan(repo, number, synced) if number is not None and repo is not None else None
    for sync in syncs:
        if link is None and sync.link is not None and (number is None or sync.link[1] == number):
            when, _ = parse_datetime(sync.row.values.get("last_sync_at"))
            link = GitHubPlan(sync.link[0], sync.link[1], when or synced)
    link, taken = _claim(row, ctx, link)
    if number is not None:
        if link is not None:
            row.out(number_field, "imported -> github_links.issue_number")
        else:
            dest = row.keep_extra(number_field, number, "issue_number", group="github")
            if not taken:
                row.anomaly(
                    number_field,
                    "github_number_without_repository",
                    number,
                    "an issue number means something only with its repository, and neither the row "
                    "nor its project has a GitHub repository URL",
                    f"not linked (not guessed); number kept in {dest}",
                )
    if synced_field in row.values:
        if is_blank(synced_raw):
            row.out(synced_field, "empty")
        elif link is not None and number is not None:
            row.out(synced_field, "imported -> github_links.synced_at")
        else:
            row.keep_extra(synced_field, synced_raw, "synced_at", group="github")
    for sync in syncs:
        _account_sync(row, sync, link)
    return link


def _claim(row: RowContext, ctx: MapContext, link: GitHubPlan | None) -> tuple[GitHubPlan | None, bool]:
    """``(link, taken)``: the link if this row may have it; ``taken`` when another row has it."""
    if link is None:
        return None, False
    holder = ctx.claim_github(link.repository, link.issue_number, (row.target, row.key))
    if holder is None:
        return link, False
    row.extra.setdefault("github", {})["repository"] = link.repository
    row.anomaly(
        "github_issue_id",
        "github_issue_taken",
        f"{link.repository}#{link.issue_number}",
        f"issue {link.repository}#{link.issue_number} is already linked to {holder[0]} {holder[1]}",
        "no link created; repository and number kept in extra.github",
    )
    return None, True


def _account_sync(owner_row: RowContext, sync: SyncRow, chosen: GitHubPlan | None) -> None:
    row = sync.row
    linked = chosen is not None and sync.link == (chosen.repository, chosen.issue_number)
    for name, value in row.values.items():
        if is_blank(value):
            row.out(name, "empty")
        elif name in ("id", "local_id", "local_type"):
            row.out(name, f"mapped -> github_links.{owner_row.target[:-1]}_id (owner {owner_row.key})")
        elif name == "github_url" and linked:
            row.out(name, "imported -> github_links.repository+issue_number")
        elif name == "last_sync_at" and linked:
            row.out(name, "imported -> github_links.synced_at")
        elif name == "github_issue_id" and chosen is not None and value == chosen.issue_number:
            row.out(name, "duplicate -> github_links.issue_number")
        else:
            owner_row.extra.setdefault("github_sync", {}).setdefault(row.key, {})[name] = value
            row.out(name, f"extra -> {owner_row.target}.extra.github_sync.{row.key}.{name}")
    number = row.values.get("github_issue_id")
    if sync.link is None and is_blank(row.values.get("github_url")) and not is_blank(number):
        row.anomaly(
            "github_issue_id",
            "github_number_without_repository",
            number,
            "an issue number means something only with its repository, and this github_sync row has no URL",
            f"not linked (not guessed); kept in {owner_row.target}.extra.github_sync.{row.key}",
        )
    if sync.link is not None and not linked:
        row.anomaly(
            "github_url",
            "github_conflict" if chosen is not None else "github_url_unlinked",
            row.values.get("github_url"),
            "the owner is linked to another issue" if chosen is not None else "no link could be made",
            f"kept in {owner_row.target}.extra.github_sync.{row.key}",
        )
    elif sync.link is None and not is_blank(row.values.get("github_url")):
        row.anomaly(
            "github_url",
            "bad_github_url",
            row.values.get("github_url"),
            "not a GitHub issue URL",
            f"kept in {owner_row.target}.extra.github_sync.{row.key}",
        )
