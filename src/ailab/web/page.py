"""The dashboard page: one HTML response with its CSS, JavaScript and the summary inlined.

The files in ``static/`` are read and assembled once at startup. Inlining saves the round trips
of separate asset requests, and the summary JSON embedded in the page lets the charts paint as
soon as the script runs, before (and without waiting for) the work-item table's request.
Nothing comes from a CDN. A Content-Security-Policy with the hashes of the inline script and
style allows exactly that code and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

SUMMARY_PLACEHOLDER = "__SUMMARY_JSON__"


def _static(name: str) -> str:
    return (resources.files("ailab.web") / "static" / name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


class DashboardPage:
    """``render(summary_json)`` -> the page bytes; ``headers`` -> its security headers."""

    def __init__(self) -> None:
        css, js = _static("dashboard.css"), _static("dashboard.js")
        html = _static("dashboard.html").replace("/*__CSS__*/", css).replace("/*__JS__*/", js)
        # The hashes must cover the exact text between the tags as sent.
        scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
        styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
        prefix, _, suffix = html.partition(SUMMARY_PLACEHOLDER)
        if not suffix:
            raise RuntimeError(f"dashboard.html lacks the {SUMMARY_PLACEHOLDER} placeholder")
        self._prefix = prefix.encode("utf-8")
        self._suffix = suffix.encode("utf-8")
        csp = (
            "default-src 'none'; "
            f"script-src {' '.join(_csp_hash(s) for s in scripts)}; "
            f"style-src {' '.join(_csp_hash(s) for s in styles)}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        self.headers = {
            "Content-Security-Policy": csp,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }

    def render(self, summary_json: bytes) -> bytes:
        """The page with ``summary_json`` inlined, escaped so it cannot end its ``<script>`` early."""
        # Inside <script type="application/json"> only "</" could end the element early.
        return self._prefix + summary_json.replace(b"</", b"<\\/") + self._suffix
