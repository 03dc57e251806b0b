"""``ailab ab BASE [HEAD]``: did this change make anything slower? An A/B gate between commits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ailab.errors import ConfigError

console = Console(width=None if Console().is_terminal else 200)


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(
                f"--head-env {pair!r} is not NAME=VALUE; e.g. --head-env AILAB_TEST_TAG_FILTER_SLOWDOWN=0.25"
            )
        env[name] = value
    return env


def ab_cmd(
    base: str = typer.Argument(..., help="The commit to compare against (branch, tag, sha, HEAD~1)."),
    head: str | None = typer.Argument(
        None, help="The commit under test (default: the working tree as it is)."
    ),
    only: list[str] = typer.Option(
        ["database"], "--only", help="Benchmark groups to run (as ailab report --only)."
    ),
    items: int = typer.Option(20_000, "--items", min=10, help="Work items in each run's scratch database."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Rounds; each runs base then head once."),
    max_rounds: int = typer.Option(
        10,
        "--max-rounds",
        min=1,
        help="Add rounds, one at a time up to this many, while a metric looks slower but is not clear of the noise.",
    ),
    margin: float = typer.Option(
        0.10, "--margin", min=0.0, help="Slowdown tolerated before failing (0.10 = 10%)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Small samples in each run (ailab report --quick)."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Measure on this server (Postgres)."
    ),
    head_env: list[str] = typer.Option(
        [],
        "--head-env",
        help="NAME=VALUE set for the head side only (e.g. the test-only planted regression).",
    ),
    out: Path = typer.Option(Path("reports/ab"), "--out", help="Folder for the A/B's JSON and HTML."),
    html: bool = typer.Option(True, "--html/--no-html", help="Also write a self-contained HTML page."),
) -> None:
    """Run the benchmarks of BASE and HEAD alternately and flag metrics that got slower.

    Exit 0: no regression. Exit 1: a metric is slower beyond --margin and clear of the noise.
    Exit 2: an error, or a benchmark failed on a side (the figures are incomplete).
    Exit 3: inconclusive: a metric looked slower, but even --max-rounds left it inside the noise.
    """
    from ailab.extras import require_lab

    require_lab("ailab ab")
    from ailab.perf.tools.ab import ReportProcess, checked_out_sides, run_ab, write_ab_outputs
    from ailab.perf.tools.ab_render import notes, rich_table

    extra_env = _env_pairs(head_env)
    runner = ReportProcess(list(only), items, quick=quick, database_url=database_url)
    try:
        with console.status("preparing...") as status:
            progress = status.update
            with checked_out_sides(base, head, head_env=extra_env, on_progress=progress) as (a, b):
                result = run_ab(
                    a, b, runner, rounds=rounds, max_rounds=max_rounds, margin=margin, on_progress=progress,
                    options={"groups": list(only), "items": items, "quick": quick, "backend": "postgresql" if database_url else "sqlite"},
                )  # fmt: skip
    finally:
        runner.close()
    console.print(rich_table(result))
    for line in notes(result):
        console.print(line, highlight=False)
    for kind, path in write_ab_outputs(result, out, html=html).items():
        console.print(f"{kind}: {path.resolve()}")
    code = result.exit_code()
    if code == 1:
        names = ", ".join(m.key for m in result.regressions)
        console.print(
            f"[bold red]regression:[/] {names}. Look at the HTML page; rerun with more --rounds to confirm."
        )
    elif code == 2:
        console.print("[bold red]incomplete:[/] a benchmark failed on a side (above); fix it and run again.")
    elif code == 3:
        console.print(
            "[bold yellow]inconclusive:[/] no metric is clearly slower, but the noise hides the ones named"
            " above; rerun on a quieter machine or with a larger --max-rounds."
        )
    else:
        console.print("[green]no regression[/] beyond the margin and the noise.")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``ailab ab`` to ``app``."""
    app.command("ab")(ab_cmd)
