"""The package layout says what is product, what is toolkit and what is test support.

The product (the base install: ``db``, ``queries``, ``web``, ``sync``, ``legacy``, the CLI and the
shared modules) never imports ``ailab.testing`` (test support). It imports the toolkit
(``ailab.perf``, ``ailab.notebook``) only on demand: the CLI's lab commands inside the command,
after checking the ``lab`` extra, and ``%load_ext ailab``; the server's packages never do.
``perf/`` is a pipeline of sub-packages, each saying what it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ailab"
PERF_STAGES = ("harness", "baselines", "bench", "report", "tools")
TOOLKIT_AND_TEST_SUPPORT = ("ailab.testing", "ailab.perf", "ailab.notebook")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level) for every ``import``/``from ... import`` in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(m, id(node) in top) for m in modules]
    return found


SERVER_PACKAGES = ("db", "queries", "web", "sync", "legacy")


def _product_modules() -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).parts[0] not in ("testing", "perf", "notebook")
    ]


@pytest.mark.parametrize("path", _product_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_product_imports_no_test_support_and_the_toolkit_only_on_demand(path: Path) -> None:
    where = path.relative_to(PACKAGE)
    for module, top_level in _imports(path):
        if not module.startswith(TOOLKIT_AND_TEST_SUPPORT):
            continue
        assert not module.startswith("ailab.testing"), f"{where} imports test support: {module}"
        assert where.parts[0] not in SERVER_PACKAGES, f"{where} (server side) imports the toolkit: {module}"
        assert not top_level, (
            f"{where} imports the toolkit at import time: {module} (import it in the command)"
        )


def test_perf_is_a_pipeline_of_documented_sub_packages() -> None:
    perf = PACKAGE / "perf"
    assert sorted(p.name for p in perf.glob("*.py")) == ["__init__.py"], "perf/ holds sub-packages only"
    assert sorted(p.name for p in perf.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(
        PERF_STAGES
    )
    for stage in PERF_STAGES:
        doc = ast.get_docstring(ast.parse((perf / stage / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()) == 1, f"perf/{stage}/__init__.py needs a one-line docstring"
