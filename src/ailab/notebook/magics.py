"""The IPython magics ``%load_ext ailab`` registers."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class

from ailab.errors import ConfigError
from ailab.notebook.sqltrace import SqlTrace, run_traced


@magics_class
class AilabMagics(Magics):
    """ailab's cell magics; currently ``%%sqltrace``."""

    @cell_magic
    def sqltrace(self, line: str, cell: str) -> SqlTrace | None:
        """Run the cell under the statement tracer: statements by shape, N+1 flags, plans, budget.

        %%sqltrace [--explain] [--budget N] [--budget-ms MS] [--threshold N] [--out NAME]
        """
        try:
            run_traced(self.shell, line, cell)
        except ConfigError as err:  # a wrong option: one line, no traceback
            raise UsageError(str(err)) from None
        return None  # displayed already; returning it would display it twice
