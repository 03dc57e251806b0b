"""``python -m ailab.web [--host H] [--port P] [--database-url URL]``: the server without the CLI."""

from __future__ import annotations

import argparse
import logging
import sys

from ailab.errors import AilabError
from ailab.web.server import serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and serve until stopped; returns the exit status (2 on an ``AilabError``, printed
    without a traceback)."""
    parser = argparse.ArgumentParser(prog="python -m ailab.web", description="Serve the ailab dashboard.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(
            host=args.host,
            port=args.port,
            database_url=args.database_url,
            log_level=args.log_level,
            access_log=args.access_log,
            workers=args.workers,
        )
    except AilabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
