"""The dashboard server (issue 4): FastAPI on uvicorn over ``ailab.queries``.

Kept lean on purpose: nothing here (or imported from here) may import pandas or matplotlib.
"""

from ailab.web.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
