"""The ``github-sim`` command (``ailab github-sim`` and ``python -m ailab.sync.simulator``)."""

from __future__ import annotations

import os
import secrets

import typer

from ailab.errors import ConfigError
from ailab.settings import Secret
from ailab.sync.simulator.config import FaultConfig, SimulatorConfig
from ailab.sync.simulator.webhooks import WebhookConfig, WebhookFaults


def github_sim(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (keep it on loopback)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0, help="Latency added to every request."),
    rest_limit: int = typer.Option(5000, "--rest-limit", min=1, help="Primary REST limit, requests/hour."),
    graphql_limit: int = typer.Option(
        5000, "--graphql-limit", min=1, help="Primary GraphQL limit, points/hour."
    ),
    max_concurrent: int = typer.Option(100, "--max-concurrent", min=1, help="Secondary: requests in flight."),
    rest_points_per_minute: int = typer.Option(900, "--rest-points-per-minute", min=1),
    graphql_points_per_minute: int = typer.Option(2000, "--graphql-points-per-minute", min=1),
    content_per_minute: int = typer.Option(80, "--content-per-minute", min=1),
    content_per_hour: int = typer.Option(500, "--content-per-hour", min=1),
    primary_status: int = typer.Option(
        403, "--primary-status", help="403 or 429 when the primary limit is hit."
    ),
    secondary_status: int = typer.Option(403, "--secondary-status", help="403 or 429 for secondary limits."),
    rate_limit_type: str = typer.Option(
        "RATE_LIMITED", "--graphql-rate-limit-type", help="RATE_LIMITED|RATE_LIMIT"
    ),
    fault_5xx: float = typer.Option(0.0, "--fault-5xx", min=0, max=1, help="Probability of a 5xx."),
    fault_5xx_after_write: float = typer.Option(0.0, "--fault-5xx-after-write", min=0, max=1),
    fault_timeout: float = typer.Option(
        0.0, "--fault-timeout", min=0, max=1, help="Apply, then drop the reply."
    ),
    fault_reset: float = typer.Option(0.0, "--fault-reset", min=0, max=1, help="Drop the connection."),
    fault_seed: int = typer.Option(0, "--fault-seed", help="Seed of the fault RNG."),
    fault_writes_only: bool = typer.Option(
        False, "--fault-writes-only", help="Random faults only on writes."
    ),
    hang_seconds: float = typer.Option(0.0, "--hang-seconds", min=0, help="Wait before a timeout fault."),
    id_epoch: int | None = typer.Option(
        None,
        "--id-epoch",
        min=0,
        max=99_999,
        help="ID range (default: random, so a restart never reuses IDs).",
    ),
    webhook_url: str = typer.Option(
        "",
        "--webhook-url",
        help="Send signed issues deliveries here (e.g. http://127.0.0.1:8000/api/github/webhook).",
    ),
    webhook_secret: str = typer.Option(
        "", "--webhook-secret", help="The webhook secret (or --webhook-secret-env)."
    ),
    webhook_secret_env: str = typer.Option(
        "", "--webhook-secret-env", help="Name of an environment variable holding the webhook secret."
    ),
    webhook_drop: float = typer.Option(0.0, "--webhook-drop", min=0, max=1, help="Fault: never send."),
    webhook_duplicate: float = typer.Option(
        0.0, "--webhook-duplicate", min=0, max=1, help="Fault: send twice."
    ),
    webhook_delay: float = typer.Option(0.0, "--webhook-delay", min=0, max=1, help="Fault: send late."),
    webhook_delay_seconds: float = typer.Option(2.0, "--webhook-delay-seconds", min=0),
    webhook_reorder: float = typer.Option(
        0.0, "--webhook-reorder", min=0, max=1, help="Fault: hold back until the next one went."
    ),
    webhook_wrong_signature: float = typer.Option(
        0.0, "--webhook-wrong-signature", min=0, max=1, help="Fault: sign with another key."
    ),
    webhook_seed: int = typer.Option(0, "--webhook-seed", help="Seed of the webhook fault RNG."),
    token_env: str = typer.Option(
        "",
        "--token-env",
        help="Name of an environment variable holding the token to require (none: no auth).",
    ),
) -> None:
    """Run the GitHub simulator (REST + GraphQL) for the sync to talk to."""
    from ailab.sync.simulator.server import serve

    token = None
    if token_env:
        raw = os.environ.get(token_env)
        if not raw:
            raise ConfigError(
                f"--token-env {token_env}: that environment variable is empty or unset; set it."
            )
        token = Secret(raw)
    webhook = None
    if webhook_url:
        secret = webhook_secret
        if webhook_secret_env:
            secret = os.environ.get(webhook_secret_env, "")
            if not secret:
                raise ConfigError(
                    f"--webhook-secret-env {webhook_secret_env}: that variable is empty or unset; set it."
                )
        if not secret:
            raise ConfigError(
                "--webhook-url needs the secret: give --webhook-secret or --webhook-secret-env."
            )
        webhook = WebhookConfig(
            webhook_url,
            Secret(secret),
            WebhookFaults(
                drop=webhook_drop,
                duplicate=webhook_duplicate,
                delay=webhook_delay,
                delay_seconds=webhook_delay_seconds,
                reorder=webhook_reorder,
                wrong_signature=webhook_wrong_signature,
                seed=webhook_seed,
            ),
        )
    config = SimulatorConfig(
        rest_limit_per_hour=rest_limit,
        graphql_points_per_hour=graphql_limit,
        max_concurrent=max_concurrent,
        rest_points_per_minute=rest_points_per_minute,
        graphql_points_per_minute=graphql_points_per_minute,
        content_per_minute=content_per_minute,
        content_per_hour=content_per_hour,
        primary_limit_status=primary_status,
        secondary_limit_status=secondary_status,
        graphql_rate_limit_type=rate_limit_type,
        latency_seconds=latency_ms / 1000.0,
        faults=FaultConfig(
            server_error_rate=fault_5xx,
            server_error_after_write_rate=fault_5xx_after_write,
            timeout_after_write_rate=fault_timeout,
            reset_rate=fault_reset,
            seed=fault_seed,
            writes_only=fault_writes_only,
            hang_seconds=hang_seconds,
        ),
        token=token,
        id_epoch=id_epoch if id_epoch is not None else secrets.randbelow(99_999) + 1,
        webhook=webhook,
    )
    typer.echo(f"GitHub simulator on http://{host}:{port} (REST, and GraphQL at /graphql); Ctrl+C stops it.")
    if webhook is not None:
        typer.echo(f"Webhook: signed issues deliveries to {webhook.url} (hook id {webhook.hook_id}).")
    serve(host, port, config)
