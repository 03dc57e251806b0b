"""``ailab ab BASE [HEAD]``: the same benchmarks on two commits, alternating, in one job.

Each side is a checkout with a Python to run it: BASE goes into a temporary ``git worktree``;
HEAD is the working tree as it is (or a second worktree when a ref is given). A worktree's venv
is cached by the hash of its ``pyproject.toml`` (the parts a venv depends on); when that hash
equals this project's, the current venv runs it with the worktree's ``src`` first on ``PYTHONPATH`` (no install at all).

Rounds alternate A B A B ...: each round runs ``ailab report --only GROUP`` once per side, so a
noisy neighbour hurts both sides alike, and ``ailab.perf.tools.ab_stats`` judges each metric.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ailab.errors import AilabError
from ailab.perf.tools.ab_stats import DEFAULT_MARGIN, MetricAB, Resolution, judge, resolution_of, suspects
from ailab.perf.tools.history import git_state, metric_key, project_root

DEFAULT_ROUNDS = 5
DEFAULT_ITEMS = 20_000
SMOKE = "smoke"  # run from this checkout's suite file against each side's code (bench_smoke)
# How a side runs `ailab report` (its own code, found first on PYTHONPATH).
_REPORT_MAIN = "import sys; sys.argv[0] = 'ailab'; from ailab.cli import main; main()"


class ABError(AilabError):
    """An A/B could not be run (unknown ref, a side's report failed, no git checkout)."""


@dataclass(frozen=True)
class Side:
    """One side of an A/B: which code, and how to run it."""

    label: str  # "base" or "head"
    ref: str  # as the user named it ("main", "HEAD~1", "working tree")
    commit: str
    dirty: bool = False
    root: Path | None = None  # the checkout (None: in-process runs of the code already imported)
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)  # extra environment (e.g. a planted regression)

    def describe(self) -> str:
        """The side for people: ref, short commit, uncommitted changes and extra environment."""
        extra = " ".join(f"{k}={v}" for k, v in self.env.items())
        dirty = " + uncommitted changes" if self.dirty else ""
        return f"{self.ref} ({self.commit[:10]}{dirty}){' with ' + extra if extra else ''}"

    def to_dict(self) -> dict[str, Any]:
        """The side for ``ab_*.json`` (without ``root`` and ``python``, which only hold on this machine)."""
        return {
            "label": self.label,
            "ref": self.ref,
            "commit": self.commit,
            "dirty": self.dirty,
            "env": self.env,
        }


@dataclass(frozen=True)
class RunRows:
    """What one report run of one side produced: its rows (report.json ``rows``) and failures."""

    rows: list[dict[str, Any]]
    failures: list[str] = field(default_factory=list)


Runner = Callable[[Side, int], RunRows]


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise ABError("git is not installed; ailab ab needs git to check out the commits.") from None
    except subprocess.CalledProcessError as err:
        raise ABError(f"git {' '.join(args)} failed: {err.stderr.strip()}") from None
    return done.stdout.strip()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full sha of the commit ``ref`` names in ``repo``; ``ABError`` if it names none."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ABError:
        raise ABError(
            f"{ref!r} is not a commit in {repo}; name a branch, tag, sha or HEAD~N (see `git log --oneline`)."
        ) from None


def pyproject_hash(root: Path) -> str:
    """The hash of what a venv to run ``root``'s benchmarks depends on in its ``pyproject.toml``:
    the build system, the Python version, the dependencies and the ``lab`` extra (a change to the
    test tools or to the linters' settings needs no new venv)."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = data.get("project", {})
    relevant = {
        "build-system": data.get("build-system"),
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies"),
        "lab": project.get("optional-dependencies", {}).get("lab"),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def venv_cache_dir() -> Path:
    """Where the venvs of other ``pyproject.toml`` versions are cached:
    ``$XDG_CACHE_HOME/ailab/ab-venvs`` (``~/.cache`` when unset or empty)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ailab" / "ab-venvs"


def python_for(worktree: Path, on_progress: Callable[[str], None] | None = None) -> str:
    """A Python that has ``worktree``'s dependencies: this venv when the ``pyproject.toml`` is the
    same, else a venv cached by that file's hash (built once, ~1-2 minutes)."""
    digest = pyproject_hash(worktree)
    if digest == pyproject_hash(project_root()):
        return sys.executable
    venv = venv_cache_dir() / digest
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per hash, however many A/Bs start at once
        if not (venv / ".ready").exists():
            _build_venv(worktree, venv, on_progress)
    return str(python)


def _build_venv(worktree: Path, venv: Path, on_progress: Callable[[str], None] | None) -> None:
    if on_progress:
        on_progress(f"building a venv for {worktree.name}'s pyproject.toml (cached in {venv})")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        # The package comes from the worktree's src on PYTHONPATH; this installs its deps (with the
        # toolkit extra where the commit has one; pip only warns where it has not).
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{worktree}[lab]"],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        shutil.rmtree(venv, ignore_errors=True)
        tail = (err.stderr or "")[-1500:] if isinstance(err.stderr, str) else ""
        raise ABError(
            f"Could not build a venv for {worktree} (pip failed):\n{tail}\nCheck the network or pip."
        ) from None
    (venv / ".ready").touch()


@contextmanager
def checked_out_sides(
    base_ref: str,
    head_ref: str | None,
    *,
    head_env: dict[str, str] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[tuple[Side, Side]]:
    """BASE (and HEAD, when named) in temporary worktrees; removed again on the way out."""
    repo = project_root()
    if not (repo / ".git").exists():
        raise ABError(f"{repo} is not a git checkout; run ailab ab from a clone of the ailab repository.")
    base_commit = resolve_commit(repo, base_ref)
    head_commit = resolve_commit(repo, head_ref) if head_ref else None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ailab-ab-")))
        trees: dict[str, Path] = {}

        def worktree(commit: str) -> Path:
            if commit not in trees:
                path = tmp / f"tree-{commit[:12]}"
                if on_progress:
                    on_progress(f"checking out {commit[:10]} into {path}")
                _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
                stack.callback(_git, repo, "worktree", "remove", "--force", str(path))
                trees[commit] = path
            return trees[commit]

        base_root = worktree(base_commit)
        base = Side("base", base_ref, base_commit, root=base_root, python=python_for(base_root, on_progress))
        if head_commit is None:
            commit, dirty = git_state(repo)
            head = Side("head", "working tree", commit, dirty, root=repo, env=dict(head_env or {}))
        else:
            head_root = worktree(head_commit)
            head = Side(
                "head", head_ref or "", head_commit, root=head_root,
                python=python_for(head_root, on_progress), env=dict(head_env or {}),
            )  # fmt: skip
        yield base, head


class ReportProcess:
    """Runs ``ailab report --only GROUP ...`` of a side's own code in a subprocess (the ``smoke``
    group: this checkout's suite file, against the side's code)."""

    def __init__(
        self, groups: list[str], items: int, *, quick: bool = False, database_url: str | None = None
    ) -> None:
        self.groups, self.items, self.quick, self.database_url = groups, items, quick, database_url
        self.workdir = Path(tempfile.mkdtemp(prefix="ailab-ab-runs-"))

    def close(self) -> None:
        """Delete the working directory the runs' results were written to."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __call__(self, side: Side, round_no: int) -> RunRows:
        if side.root is None:
            raise ABError(f"side {side.label} has no checkout to run")
        env = {**os.environ, **side.env, "PYTHONPATH": str(side.root / "src"), "COLUMNS": "200"}
        got = RunRows([])
        if SMOKE in self.groups:
            got = self._smoke(side, round_no, env)
        others = [g for g in self.groups if g != SMOKE]
        if others:
            report = self._report(side, round_no, env, others)
            got = RunRows(got.rows + report.rows, got.failures + report.failures)
        return got

    def _smoke(self, side: Side, round_no: int, env: dict[str, str]) -> RunRows:
        """This checkout's smoke suite, run against the side's code (see ``bench.smoke``)."""
        from ailab.perf.bench import smoke as bench_smoke

        out = self.workdir / f"{side.label}-{round_no}-smoke.json"
        code = f"import runpy; runpy.run_path({bench_smoke.__file__!r}, run_name='__main__')"
        args = [side.python, "-c", code, str(self.items), "1" if self.quick else "0", str(out)]
        done = subprocess.run(args, cwd=side.root, env=env, capture_output=True, text=True)
        return self._read(side, out, done)

    def _report(self, side: Side, round_no: int, env: dict[str, str], groups: list[str]) -> RunRows:
        out = self.workdir / f"{side.label}-{round_no}"
        args = [side.python, "-c", _REPORT_MAIN, "report", "--items", str(self.items), "--out", str(out)]
        for group in groups:
            args += ["--only", group]
        if self.quick:
            args.append("--quick")
        if self.database_url:
            args += ["--database-url", self.database_url]
        done = subprocess.run(args, cwd=side.root, env=env, capture_output=True, text=True)
        try:
            return self._read(side, out / "report.json", done)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    @staticmethod
    def _read(side: Side, path: Path, done: subprocess.CompletedProcess[str]) -> RunRows:
        if not path.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise ABError(
                f"The {side.label} side ({side.describe()}) wrote no results (exit {done.returncode}):\n{tail}"
            )
        data = json.loads(path.read_text())
        path.unlink()
        return RunRows(list(data.get("rows", [])), list(data.get("failures", [])))


@dataclass
class ABResult:
    """An A/B between two commits: the options, both sides, and each metric's conclusion."""

    base: Side
    head: Side
    options: dict[str, Any]
    metrics: list[MetricAB]
    seconds: float
    failures: list[str] = field(default_factory=list)

    @property
    def rounds(self) -> int:
        """The rounds run, extra rounds included."""
        return int(self.options.get("rounds", 0))

    @property
    def margin(self) -> float:
        """The margin the verdicts were judged with (``DEFAULT_MARGIN`` if not recorded)."""
        return float(self.options.get("margin", DEFAULT_MARGIN))

    @property
    def regressions(self) -> list[MetricAB]:
        """The metrics judged slower (any makes ``exit_code`` 1)."""
        return [m for m in self.metrics if m.verdict == "slower"]

    @property
    def resolution(self) -> Resolution | None:
        """The gate's resolution over the metrics; None when no metric has one."""
        return resolution_of(self.metrics)

    def verdicts(self) -> dict[str, str]:
        """Each metric's verdict, by metric key."""
        return {m.key: m.verdict for m in self.metrics}

    @property
    def suspects(self) -> list[MetricAB]:
        """Metrics slower than the margin by their medians but not clear of the noise."""
        return suspects(self.metrics)

    def exit_code(self) -> int:
        """0: no regression; 1: at least one metric slower beyond the margin and the noise;
        2: a benchmark failed on a side (not everything asked for was measured); 3: no metric
        is clearly slower, but some looked slower and the noise kept the gate from telling,
        even after the extra rounds (inconclusive: rerun on a quieter machine or with more rounds)."""
        if self.regressions:
            return 1
        if self.failures:
            return 2
        return 3 if self.suspects else 0

    def summary(self) -> str:
        """One line: head vs base, how many metrics got each verdict, the rounds and the time taken."""
        counts = {
            v: sum(1 for m in self.metrics if m.verdict == v) for v in dict.fromkeys(self.verdicts().values())
        }
        told = ", ".join(f"{n} {v}" for v, n in counts.items())
        return (
            f"{self.head.describe()} vs {self.base.describe()}: {told};"
            f" {self.rounds} rounds in {self.seconds:.0f} s"
        )

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (the ``ab_*.json`` file), with the resolution and the regressions' keys."""
        res = self.resolution
        return {
            "base": self.base.to_dict(),
            "head": self.head.to_dict(),
            "options": self.options,
            "seconds": round(self.seconds, 1),
            "resolution": res.to_dict() if res else None,
            "regressions": [m.key for m in self.regressions],
            "failures": self.failures,
            "metrics": [m.to_dict() for m in self.metrics],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ABResult:
        """A result read back from ``to_json``'s output (its sides have no checkout: for reading only)."""

        def side(d: dict[str, Any]) -> Side:
            return Side(d["label"], d["ref"], d["commit"], bool(d.get("dirty")), env=dict(d.get("env", {})))

        return cls(
            side(data["base"]),
            side(data["head"]),
            dict(data.get("options", {})),
            [MetricAB.from_dict(m) for m in data.get("metrics", [])],
            float(data.get("seconds", 0.0)),
            list(data.get("failures", [])),
        )

    def _repr_html_(self) -> str:
        from ailab.perf.tools.ab_render import result_html

        return result_html(self, charts="summary")


def run_ab(
    base: Side,
    head: Side,
    runner: Runner,
    *,
    rounds: int = DEFAULT_ROUNDS,
    max_rounds: int | None = None,
    margin: float = DEFAULT_MARGIN,
    options: dict[str, Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ABResult:
    """Run ``runner`` for base and head alternately for ``rounds`` rounds and judge every metric.

    Up to ``max_rounds`` (default: no more than ``rounds``), it then adds a round at a time while
    a metric is a *suspect* (slower than the margin by its medians but not clear of the noise) and
    none is already clearly slower.
    One disturbed run on a shared machine can hide a real slowdown at 5 rounds (the interval of a
    median over 5 pairs spans the outlier); more rounds let the medians shed it, and a metric
    that is only noise settles back within it."""
    started = time.perf_counter()
    figures: dict[str, dict[str, list[float]]] = {}
    shape: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    limit = max(rounds, max_rounds or rounds)
    metrics: list[MetricAB] = []
    round_no = 0
    while round_no < limit:
        round_no += 1
        extra = "" if round_no <= rounds else f" (extra round: {len(suspects(metrics))} suspect metric(s))"
        for side in (base, head):
            if on_progress:
                on_progress(f"round {round_no}/{rounds}{extra}: {side.label} ({side.ref})")
            got = runner(side, round_no)
            failures += [f"{side.label} round {round_no}: {f}" for f in got.failures]
            for row in got.rows:
                if row.get("p50") is None:
                    continue
                key = metric_key(row)
                figures.setdefault(key, {"base": [], "head": []})[side.label].append(float(row["p50"]))
                shape.setdefault(key, row)
        if round_no < rounds:
            continue
        metrics = [
            judge(
                key, sides["base"], sides["head"], margin=margin,
                unit=str(shape[key].get("unit", "")), higher_is_better=bool(shape[key].get("higher_is_better")),
            )
            for key, sides in figures.items()
        ]  # fmt: skip
        if not suspects(metrics) or any(m.verdict == "slower" for m in metrics):
            break  # settled: nothing hidden in the noise, or a regression already clear of it
    opts = {
        **(options or {}),
        "rounds": round_no,
        "planned_rounds": rounds,
        "max_rounds": limit,
        "margin": margin,
    }
    return ABResult(base, head, opts, metrics, time.perf_counter() - started, failures)


def write_ab_outputs(result: ABResult, out: Path, html: bool = True) -> dict[str, Path]:
    """``ab_<base>_vs_<head>.json`` (and ``.html``) under ``out``; returns the paths."""
    from ailab.perf.tools.ab_render import result_html

    out.mkdir(parents=True, exist_ok=True)
    stem = f"ab_{result.base.commit[:10]}_vs_{result.head.commit[:10]}{'-dirty' if result.head.dirty else ''}"
    paths = {"json": out / f"{stem}.json"}
    paths["json"].write_text(json.dumps(result.to_json(), indent=1))
    if html:
        paths["html"] = out / f"{stem}.html"
        paths["html"].write_text(result_html(result, charts="all", page=True))
    return paths


class InProcessBench:
    """Runs the chosen groups' benchmarks in this process, on one scratch database seeded once, for
    both sides: one code base, so only a side's planted regression (``AILAB_TEST_TAG_FILTER_SLOWDOWN``
    in ``side.env``) sets them apart. The gate's own tests and notebook check it this way, at small
    size, without checkouts or subprocesses. Use it as a context manager (it owns the database)."""

    def __init__(self, groups: list[str], items: int, *, quick: bool = True) -> None:
        self.groups, self.items, self.quick = groups, items, quick
        self._stack = ExitStack()
        self.url = ""

    def __enter__(self) -> InProcessBench:
        from ailab.db.engine import get_engine
        from ailab.db.migrate import upgrade
        from ailab.db.seed import seed_database
        from ailab.testing.scratch import scratch_sqlite

        self.url = self._stack.enter_context(scratch_sqlite("ab.db"))
        self.reports_dir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="ailab-ab-")))
        engine = get_engine(self.url)
        upgrade(engine)
        seed_database(engine, items=self.items, seed=42)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def __call__(self, side: Side, round_no: int) -> RunRows:
        from ailab.perf.harness.registry import BenchContext, nan_to_none, registered
        from ailab.planted import planted_tag_filter_slowdown
        from ailab.settings import Settings

        slowdown = float(side.env.get("AILAB_TEST_TAG_FILTER_SLOWDOWN", "0") or 0)
        ctx = BenchContext(Settings.from_env(), self.url, self.items, self.reports_dir, quick=self.quick)
        rows: list[dict[str, Any]] = []
        with planted_tag_filter_slowdown(slowdown):
            for bench in registered(set(self.groups)):
                rows += [nan_to_none(m.to_dict()) for m in bench.fn(ctx)]
        return RunRows(rows)
