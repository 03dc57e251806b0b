"""ailab: a fast, measured work-item tracker core and the toolkit that measures it."""

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ailab``: the ``%%sqltrace`` magic (see ``ailab.notebook``).

    Imported here on demand, so ``import ailab`` never imports IPython, pandas or matplotlib.
    """
    from ailab.notebook import load_ipython_extension as load

    load(ipython)
