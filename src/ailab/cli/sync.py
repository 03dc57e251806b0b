"""``ailab sync``: push work items to GitHub issues (and, with ``--pull``, bring changes back)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ailab.cli.steps import animated
from ailab.db.readonly import readonly_engine
from ailab.errors import AilabError, ConfigError
from ailab.settings import get_settings
from ailab.sync.audit import Audit, check
from ailab.sync.config import SyncConfig, parse_repo
from ailab.sync.engine import SyncOptions, sync
from ailab.sync.plan import Kind, Plan
from ailab.sync.summary import EXIT_CONFIG, SyncSummary

console = Console()
err_console = Console(stderr=True)
PLAN_ROWS = 25


class RichSyncProgress:
    """A progress bar over the items that need work, with an ETA from GitHub's write budget."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("[dim]budget ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not animated(console),  # no frames streamed into a pipe or a notebook
        )
        self._task: TaskID | None = None
        self._counts: dict[str, int] = {}
        self._eta = 0.0
        self._total = 0

    def __enter__(self) -> RichSyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def planned(self, repository: str, plan: Plan, eta_seconds: float) -> None:
        """Start a bar for ``repository`` of ``plan_steps(plan)`` steps, with ``eta_seconds`` as its ETA."""
        total = plan_steps(plan)
        self._counts = {}
        self._eta, self._total = eta_seconds, max(total, 1)
        self._task = self._progress.add_task(repository, total=total, counts="", eta=_duration(eta_seconds))

    def advance(self, kind: str, count: int) -> None:
        """Count ``count`` more steps of ``kind``, shrinking the ETA in step; ignored before ``planned``."""
        if self._task is None:
            return
        self._counts[kind] = self._counts.get(kind, 0) + count
        done = sum(self._counts.values())
        left = self._eta * max(0.0, 1 - min(done, self._total) / self._total)
        counts = " · ".join(f"{k} {v:,}" for k, v in sorted(self._counts.items()))
        completed = min(done, self._progress.tasks[self._task].total or done)
        self._progress.update(self._task, completed=completed, counts=counts, eta=_duration(left))


def plan_steps(plan: Plan) -> int:
    """Steps the progress bar counts: creates (and the edges new issues get), updates, relinks, pulls."""
    creates = plan.of(Kind.CREATE, Kind.RECOVER)
    return (
        len(creates)
        + sum(1 for p in creates if p.fields is not None and p.item.depends_on)
        + sum(1 for p in plan.items if p.push)
        + sum(1 for p in plan.items if p.relink)
        + len(plan.of(Kind.PULL))
    )


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def sync_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Read GitHub and print the plan; write nothing."),
    pull: bool = typer.Option(False, "--pull", help="Bring changes made on GitHub into the database first."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Act on at most N items (per repository)."),
    prefer_remote: bool = typer.Option(
        False, "--prefer-remote", help="In a conflict, GitHub's title/body/labels win (state always does)."
    ),
    full: bool = typer.Option(
        False, "--full", help="Reconcile: read every issue page without conditional headers."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a machine-readable summary on stdout (no progress bar, no table)."
    ),
    audit: bool = typer.Option(
        False,
        "--check",
        help="Read-only audit: list drift between items and GitHub, item by item; write nothing.",
    ),
    repo: str | None = typer.Option(None, "--repo", help="owner/name (default: AILAB_GITHUB_REPO)."),
    database_url: str | None = typer.Option(None, "--database-url", help="Default: AILAB_DATABASE_URL."),
    watch: bool = typer.Option(
        False, "--watch", help="Keep running: push local changes shortly after they happen, poll GitHub."
    ),
    poll_seconds: float | None = typer.Option(
        None,
        "--poll-seconds",
        min=1,
        help="With --watch: poll this often (default AILAB_GITHUB_POLL_SECONDS).",
    ),
    debounce: float | None = typer.Option(
        None,
        "--debounce",
        min=0,
        help="With --watch: quiet seconds before a push (AILAB_GITHUB_WATCH_DEBOUNCE).",
    ),
) -> None:
    """Sync work items with GitHub issues: batched, rate-limit-aware and safe to rerun.

    Conflicts: GitHub wins for open/closed; the database wins for title, body, labels.

    Without --pull, changes made on GitHub are never overwritten: they wait for a --pull run.

    Exit codes: 0 everything planned was done; 1 some items failed or were left behind (named);
    2 configuration or authentication error; 3 stopped at GitHub's rate limit with work left;
    4 --check found drift.
    """
    try:
        settings = get_settings()
        if repo is not None:
            parse_repo(repo, source="--repo")
            settings = settings.with_(github_repo=repo)
        if database_url is not None:
            settings = settings.with_(database_url=database_url)
        if watch:
            from ailab.cli.sync_watch import run_watch

            code = run_watch(settings, poll_seconds=poll_seconds, debounce=debounce)
            raise typer.Exit(code)
        config = SyncConfig.from_settings(settings)
        if audit:
            if dry_run or pull or full or limit is not None or prefer_remote:
                raise ConfigError(
                    "--check only reads; use it without --dry-run, --pull, --full, --limit, --prefer-remote."
                )
            report = check(readonly_engine(settings.database_url, settings), config)
            _print_audit(report, as_json)
            raise typer.Exit(report.exit_code)
        options = SyncOptions(dry_run=dry_run, pull=pull, prefer_remote=prefer_remote, limit=limit, full=full)
        from ailab.db import get_engine

        engine = get_engine(settings.database_url, settings)
        if dry_run or as_json:
            summary = sync(engine, config, options)
        else:
            with RichSyncProgress(console) as progress:
                summary = sync(engine, config, options, progress=progress)
    except AilabError as err:
        fail(err, as_json)
    if as_json:
        emit_json(summary.to_json())
    else:
        if dry_run:
            _print_plan(summary)
        _print_summary(summary)
        if not summary.ok:
            err_console.print(f"[bold red]sync incomplete[/] (exit {summary.exit_code}): {summary.verdict()}")
    raise typer.Exit(summary.exit_code)


def fail(err: AilabError, as_json: bool) -> NoReturn:
    """A configuration, authentication or GitHub error that ended the command: exit 2."""
    if as_json:
        emit_json(
            {"ok": False, "exit_code": EXIT_CONFIG, "error": str(err), "error_type": type(err).__name__}
        )
    else:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
    raise typer.Exit(EXIT_CONFIG) from None


def emit_json(data: dict[str, Any]) -> None:
    """Write ``data`` to stdout as indented JSON with a trailing newline, and flush."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def _print_audit(report: Audit, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    table = Table("item", "drift", "detail", show_edge=False, title="sync --check (read-only)")
    for drift in report.drift:
        table.add_row(drift.item, drift.kind, drift.detail)
    if report.drift:
        console.print(table)
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in report.kinds().items())
    line = f"{report.items:,} items, {report.issues:,} issues read, {report.requests:,} requests: "
    if report.drift:
        err_console.print(
            f"[bold red]drift[/] (exit {report.exit_code}): {line}{len(report.drift):,} ({kinds}); "
            "`ailab sync` repairs what it can (add --pull to take GitHub's edits).",
            highlight=False,
        )
    else:
        console.print(f"[green]no drift[/]: {line}every item matches its issue.", highlight=False)


def _print_plan(summary: SyncSummary) -> None:
    for repository, plan in summary.plans.items():
        counts = plan.counts()
        console.print(
            f"[bold]plan for {repository}[/]: "
            + (", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items())) or "nothing")
        )
        table = Table("item", "action", "groups", show_edge=False)
        shown = [p for p in plan.items if p.is_action or p.waiting][:PLAN_ROWS]
        for item_plan in shown:
            groups = sorted(item_plan.push | item_plan.pull | item_plan.waiting)
            if item_plan.relink:
                groups.append("edges")
            table.add_row(
                item_plan.key, ", ".join(sorted(k.value for k in item_plan.kinds)), ", ".join(groups)
            )
        if shown:
            console.print(table)
        more = sum(1 for p in plan.items if p.is_action or p.waiting) - len(shown)
        if more > 0:
            console.print(f"... and {more:,} more")


def _print_summary(summary: SyncSummary) -> None:
    title = "sync plan (dry run: nothing written)" if summary.dry_run else "sync summary"
    table = Table(title=title, show_header=False, show_edge=False)
    for label, value in summary.rows():
        table.add_row(label, value)
    console.print(table)
    for conflict in summary.conflicts:
        console.print(f"[yellow]conflict[/] {conflict.describe()}")
    for key, why in sorted(summary.failed.items()):
        console.print(f"[red]failed[/] {key}: {why}", highlight=False)
    left = sorted(summary.left.items())
    for key, why in left[:PLAN_ROWS]:
        console.print(f"[yellow]not attempted[/] {key}: {why}", highlight=False)
    if len(left) > PLAN_ROWS:
        console.print(f"... and {len(left) - PLAN_ROWS:,} more not attempted (all listed by --json)")


def register(app: typer.Typer) -> None:
    """Add ``ailab sync`` to ``app``."""
    app.command("sync")(sync_cmd)
