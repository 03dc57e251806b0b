"""Self-contained HTML for notebook displays (``_repr_html_``): tables, notes and embedded images.

Standard library only, so every layer (the statement tracer in ``ailab.db`` too) can display itself
without pulling in pandas or matplotlib. Styles are inline: a ``<style>`` block in a notebook output
would restyle the whole notebook page, and an external stylesheet would not survive saving.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

_TABLE = "border-collapse:collapse;margin:.3rem 0 .8rem;font-size:12px"
_CELL = "border:1px solid #d9e2ec;padding:2px 6px;text-align:left;vertical-align:top"
_HEAD = _CELL + ";background:#f0f4f8;font-weight:600"
_NUMERIC = _CELL + ";text-align:right;font-variant-numeric:tabular-nums"
VERDICT_COLORS = {
    "met": "#0a7d32",
    "holds": "#0a7d32",
    "ok": "#0a7d32",
    "passed": "#0a7d32",
    "missed": "#c62828",
    "does not hold": "#c62828",
    "failed": "#c62828",
    "n+1": "#c62828",
    "over budget": "#c62828",
    "partly": "#b7791f",
    "not measured": "#7b8794",
}


def esc(value: object) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe inside attributes)."""
    return html.escape(str(value))


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").replace("x", "").replace(" ms", "").strip()
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def verdict(text: str) -> str:
    """A verdict word, coloured by meaning (green met/holds, red missed/does not hold, ...)."""
    color = VERDICT_COLORS.get(text.strip().lower())
    if color is None:
        return esc(text)
    return f'<span style="color:{color};font-weight:600">{esc(text)}</span>'


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    caption: str = "",
    verdict_columns: Iterable[int] = (),
    code_columns: Iterable[int] = (),
) -> str:
    """An HTML table; numbers align right, ``verdict_columns`` are coloured, ``code_columns`` monospace."""
    verdicts, codes = set(verdict_columns), set(code_columns)
    head = "".join(f'<th style="{_HEAD}">{esc(c)}</th>' for c in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = "" if value is None else str(value)
            if i in verdicts:
                cells.append(f'<td style="{_CELL}">{verdict(text)}</td>')
            elif i in codes:
                cells.append(
                    f'<td style="{_CELL}"><code style="white-space:pre-wrap;font-size:11px">{esc(text)}</code></td>'
                )
            else:
                style = _NUMERIC if _looks_numeric(text) else _CELL
                cells.append(f'<td style="{style}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = (
        f'<caption style="caption-side:top;text-align:left;font-weight:600">{esc(caption)}</caption>'
        if caption
        else ""
    )
    return (
        f'<table style="{_TABLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def heading(text: str) -> str:
    """A bold, escaped one-line heading ``<div>``."""
    return f'<div style="font-weight:600;font-size:14px;margin:.4rem 0 .2rem">{esc(text)}</div>'


def note(text: str) -> str:
    """A small, grey, escaped note ``<div>``."""
    return f'<div style="color:#52606d;font-size:12px;margin:.2rem 0">{esc(text)}</div>'


def pre(text: str) -> str:
    """Escaped preformatted text in a small-font ``<pre>`` that wraps long lines."""
    return f'<pre style="font-size:11px;margin:.2rem 0 .6rem;white-space:pre-wrap">{esc(text)}</pre>'


def png(data: bytes, alt: str) -> str:
    """A PNG embedded as a ``data:`` URI (no file, no network)."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="{uri}" style="max-width:100%">'


def block(*parts: str) -> str:
    """Parts stacked in one ``<div>`` (one display output)."""
    return '<div style="font-family:system-ui,sans-serif;color:#1f2933">' + "".join(parts) + "</div>"
