"""The base install is the tracker alone: it serves, syncs and imports without the lab toolkit.

A fresh venv gets ``pip install <this project>`` without extras (pip's cache makes it ~15 s), then
runs the product's commands the way a deployment would. The toolkit's packages must be neither
installed nor imported, and a lab command says which extra to install instead of a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.legacy_synth import generate
from ailab.testing.servers import free_port, stop_process, wait_until_healthy
from ailab.testing.sync_harness import TEST_TOKEN, serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The toolkit (the `lab` extra) and what it drags in; none of it belongs in a tracker deployment.
TOOLKIT = ("pandas", "matplotlib", "pyinstrument", "locust", "gevent", "playwright", "pgserver", "psutil")
PRODUCT = ("ailab.web.app", "ailab.sync", "ailab.legacy", "ailab.db", "ailab.queries", "ailab.cli")


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with ``pip install .`` (no extras), built from a copy so the tree gets no build/ dir."""
    root = tmp_path_factory.mktemp("base-install")
    source = root / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)],
        check=True,
        capture_output=True,
    )
    return venv


def run(
    venv: Path, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``ailab ARGS`` from the base venv, in ``cwd`` (so this checkout's src/ is not importable)."""
    return subprocess.run(
        [str(venv / "bin" / "ailab"), *args],
        cwd=cwd,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AILAB_", "PYTHON", "VIRTUAL_ENV"))}
    env.pop("GITHUB_TOKEN", None)
    return {**env, "COLUMNS": "200", **(extra or {})}


def test_the_toolkit_is_neither_installed_nor_imported(base_venv: Path, tmp_path: Path) -> None:
    check = (
        "import importlib.util, sys\n"
        f"import {', '.join(PRODUCT)}\n"
        f"toolkit = {TOOLKIT!r}\n"
        "print('installed', [m for m in toolkit if importlib.util.find_spec(m)])\n"
        "print('imported', sorted({m.split('.')[0] for m in sys.modules} & set(toolkit)))\n"
    )
    out = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", check],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "installed []" in out and "imported []" in out, out


def test_serves_syncs_and_imports_without_the_toolkit(base_venv: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'tracker.db'}"
    assert run(base_venv, tmp_path, "db", "upgrade", "--database-url", db).returncode == 0
    seeded = run(base_venv, tmp_path, "db", "seed", "--items", "12", "--database-url", db)
    assert seeded.returncode == 0, seeded.stderr

    # ailab serve answers /healthz
    port = free_port()
    server = subprocess.Popen(
        [str(base_venv / "bin" / "ailab"), "serve", "--port", str(port), "--database-url", db],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server, timeout=60)
    finally:
        stop_process(server)

    # ailab sync --dry-run against the simulator (served here, over loopback)
    sim_config = SimulatorConfig(token=Secret(TEST_TOKEN))
    with serve(sim_config=sim_config, repository="octo/base") as gh:
        sync_env = {
            "GITHUB_TOKEN": TEST_TOKEN,
            "AILAB_GITHUB_API_URL": gh.url,
            "AILAB_GITHUB_REPO": "octo/base",
        }
        dry = run(base_venv, tmp_path, "sync", "--dry-run", "--database-url", db, env=sync_env)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "create 12" in dry.stdout and "dry run" in dry.stdout
        assert gh.sim.counters.writes == 0

    # ailab db import-legacy of an old JSON-column database
    legacy = generate(tmp_path / "legacy.db", items=30, generation=2, seed=5, messes=True)
    imported = run(
        base_venv,
        tmp_path,
        "db",
        "import-legacy",
        str(legacy.path),
        "--database-url",
        f"sqlite:///{tmp_path / 'imported.db'}",
        "--report",
        str(tmp_path / "import-report.json"),
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported generation 2" in imported.stdout


@pytest.mark.parametrize("command", [["report", "--quick"], ["compare"], ["loadtest"], ["fuzz"]])
def test_lab_commands_name_the_extra_to_install(base_venv: Path, tmp_path: Path, command: list[str]) -> None:
    result = run(base_venv, tmp_path, *command)
    assert result.returncode == 2
    assert "pip install 'ailab[lab]'" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before doing anything
