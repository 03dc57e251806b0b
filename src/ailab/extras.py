"""The optional parts of the install, and a clear error when a command needs one that is missing.

``pip install ailab`` is the tracker (data layer, queries, web, sync, legacy import, CLI).
``pip install 'ailab[lab]'`` adds the toolkit that measures it (``ailab report``, ``compare``,
``loadtest``, the notebooks); ``[dev]`` adds the test tools. The lists are in pyproject.toml.
"""

from __future__ import annotations

import importlib.util

from ailab.errors import MissingExtraError

# Import names of the toolkit's packages (pyproject's ``lab`` extra) that the lab commands use.
LAB_MODULES = ("pandas", "matplotlib", "psutil", "aiosqlite", "pgserver", "playwright", "locust")


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of ``modules`` that cannot be imported here (checked without importing them)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def require_lab(command: str) -> None:
    """Raise ``MissingExtraError`` naming the install command when the ``lab`` extra is missing."""
    require_extra(command, "lab", LAB_MODULES, "the lab toolkit")


def require_extra(command: str, extra: str, modules: tuple[str, ...], what: str) -> None:
    """Raise ``MissingExtraError`` naming ``pip install 'ailab[extra]'`` when any of ``modules`` is missing."""
    missing = missing_modules(modules)
    if missing:
        raise MissingExtraError(
            f"`{command}` needs {what}, which is not installed (missing: {', '.join(missing)}). "
            f"Install it with: pip install 'ailab[{extra}]' (from a clone: pip install -e '.[{extra}]', or run make)."
        )
