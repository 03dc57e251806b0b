"""``ailab fuzz``: schemathesis against a served, seeded scratch instance, with a report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(width=None if Console().is_terminal else 200)


def fuzz_cmd(
    db: str = typer.Option("sqlite", "--db", help="sqlite or postgres (a scratch database, seeded)."),
    postgres_url: str = typer.Option(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "--postgres-url",
        help="With --db postgres: the server to make (and drop) a scratch schema in.",
    ),
    items: int = typer.Option(500, "--items", min=1, help="Work items seeded before the run."),
    examples: int = typer.Option(100, "--examples", min=1, help="Generated cases per operation and phase."),
    seeds: str = typer.Option("1,2", "--seeds", help="Comma-separated seeds: one schemathesis run each."),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for results (fuzz/<run>/)."),
) -> None:
    """Serve a seeded scratch database with writes enabled and run schemathesis against it.

    Default checks and phases (examples, coverage, fuzzing, stateful), once per seed. Exit code 0
    when every run found no failure and the server logged nothing unexpected; 1 otherwise.
    """
    from ailab.errors import ConfigError
    from ailab.extras import require_extra, require_lab

    require_lab("ailab fuzz")
    require_extra("ailab fuzz", "dev", ("schemathesis",), "schemathesis (the test tools)")
    from ailab.perf.tools.fuzz import FuzzConfig, run_fuzz

    if db not in ("sqlite", "postgres"):
        raise ConfigError(f"--db {db!r} is not supported; use sqlite or postgres.")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r} is not a comma-separated list of integers, e.g. 1,2.") from None
    cfg = FuzzConfig(
        db=db,  # type: ignore[arg-type]
        postgres_url=postgres_url,
        items=items,
        examples=examples,
        seeds=seed_list or (1,),
        out=out,
    )
    result = run_fuzz(cfg, on_progress=lambda text: console.print(f"[dim]{text}[/]"))
    for run in result.runs:
        verdict = (
            "[green]0 failures[/]"
            if run.failures == 0 and run.exit_code == 0
            else f"[red]{run.failures} failures[/]"
        )
        console.print(
            f"seed {run.seed}: {run.generated} cases, {verdict} (schemathesis exit {run.exit_code}, {run.seconds:.0f} s)"
        )
        for title in run.failure_titles:
            console.print(f"  - {title}")
    console.print(
        f"server log: {len(result.unexpected_log)} unexpected lines, "
        f"{result.expected_log} expected (uvicorn refusing malformed HTTP)"
    )
    for line in result.unexpected_log[:20]:
        console.print(f"  {line}", highlight=False)
    console.print(f"report: {result.run_dir / 'fuzz.json'}")
    if not result.passed:
        console.print(
            "[red]The API broke its contract:[/] see the failures above and the seed-*.txt files "
            f"in {result.run_dir} (each failure has a curl command that reproduces it)."
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``ailab fuzz`` to ``app``."""
    app.command("fuzz")(fuzz_cmd)
