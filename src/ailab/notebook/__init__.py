"""The notebook side of the toolkit: ``%load_ext ailab``, progress lines and profile views.

* ``%%sqltrace`` (``ailab.notebook.sqltrace``): a cell's statements by shape, N+1 flags, plans
  and a budget that fails the cell.
* ``progress`` (``ailab.notebook.progress``): plain periodic lines for long steps, never
  terminal control codes.
* ``profile_view`` (``ailab.notebook.profiles``): a pyinstrument session as its interactive HTML.
* ``output_problems`` (``ailab.notebook.outputs``): what makes a saved cell output unfit
  (escape sequences, tracebacks, charts that did not render), as the tests check it.

Only the extension itself and these modules import IPython; ``import ailab`` does not.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%sqltrace`` (``%load_ext ailab`` calls this)."""
    from ailab.notebook.magics import AilabMagics

    ipython.register_magics(AilabMagics)
