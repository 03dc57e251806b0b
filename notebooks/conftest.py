"""Small sizes for the notebooks when the test suite runs them (nbval); humans get full sizes.

Each cell's outputs are also checked as nbval collects them (the notebooks run once): no terminal
escape sequence, no traceback, and every cell tagged ``chart`` shows an image
(``ailab.notebook.outputs``).
"""

import os
from collections.abc import Generator

import pytest

# Each notebook reads its size from these; an explicit value in the environment wins.
SMALL_SIZES = {
    "AILAB_NB_ITEMS": "3000",
    "AILAB_NB_QUICK": "1",
    # 06: an A/B of HEAD~1 and HEAD with the smoke suite, a few hundred items, 3 rounds.
    "AILAB_NB_AB_GROUP": "smoke",
    "AILAB_NB_AB_ITEMS": "300",
    "AILAB_NB_AB_ROUNDS": "3",
}
for name, value in SMALL_SIZES.items():
    os.environ.setdefault(name, value)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After nbval ran a cell: fail it if its outputs are unfit to keep (see the module docstring)."""
    from ailab.notebook.outputs import output_problems

    result = yield
    outputs = getattr(item, "test_outputs", None)
    cell = getattr(item, "cell", None)
    if outputs is not None and cell is not None:
        problems = output_problems(outputs, cell.get("metadata", {}).get("tags", []))
        if problems:
            pytest.fail("cell outputs unfit to keep:\n  " + "\n  ".join(problems), pytrace=False)
    return result
