"""What makes a notebook cell's outputs unfit to keep: the checks the notebook tests apply.

* a terminal escape sequence anywhere in a text output (spinner frames, colour codes);
* a traceback (an ``error`` output, or one printed to a stream);
* a chart that did not render: matplotlib's ``<Figure size ... with N Axes>`` text without an
  image beside it, or a cell tagged ``chart`` with no image: an ``image/png`` / ``image/svg+xml``
  output, or a PNG/SVG embedded as a ``data:`` URI in an HTML output (the rich reprs of
  ``ailab.perf.report.reprs`` carry their charts that way, to stay one self-contained fragment).

Outputs are nbformat-shaped dicts (``output_type``, ``text`` or ``data``), as saved in an
``.ipynb`` file and as nbval collects them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CHART_TAG = "chart"  # cell metadata tag: this cell is meant to show a chart
IMAGE_TYPES = ("image/png", "image/svg+xml")
FIGURE_AS_TEXT = re.compile(r"<\w+ size [\d.]+x[\d.]+ with \d+ Axes>")
PRINTED_TRACEBACK = "Traceback (most recent call last)"


def _texts(output: Mapping[str, Any]) -> list[str]:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return ["".join(text) if isinstance(text, list) else str(text)]
    found = []
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("image/") and mime != "image/svg+xml":
            continue  # base64 pixels
        found.append("".join(value) if isinstance(value, list) else str(value))
    return found


EMBEDDED_IMAGE = re.compile(r"""<img\b[^>]*\bsrc=["']data:image/(?:png|svg\+xml)[;,]""", re.I)


def _images(output: Mapping[str, Any]) -> int:
    data = output.get("data") or {}
    if any(m in data for m in IMAGE_TYPES):
        return 1
    page = data.get("text/html", "")
    return len(EMBEDDED_IMAGE.findall("".join(page) if isinstance(page, list) else str(page)))


def image_count(outputs: Iterable[Mapping[str, Any]]) -> int:
    """How many images the outputs show (image outputs, and images embedded in HTML outputs)."""
    return sum(_images(o) for o in outputs)


def output_problems(outputs: Sequence[Mapping[str, Any]], tags: Iterable[str] = ()) -> list[str]:
    """Each reason the outputs are unfit, one line each (empty: clean)."""
    problems = []
    for i, output in enumerate(outputs):
        if output.get("output_type") == "error":
            problems.append(f"output {i}: a traceback ({output.get('ename')}: {output.get('evalue')})")
        has_image = _images(output) > 0
        for text in _texts(output):
            if "\x1b" in text:
                at = text.index("\x1b")
                problems.append(
                    f"output {i}: a terminal escape sequence: {text[max(0, at - 30) : at + 30]!r}"
                )
            if PRINTED_TRACEBACK in text:
                problems.append(f"output {i}: a printed traceback")
            figure = FIGURE_AS_TEXT.search(text)
            if figure and not has_image:
                problems.append(f"output {i}: a chart shown as text ({figure.group(0)})")
    if CHART_TAG in set(tags) and not image_count(outputs):
        problems.append("a cell tagged 'chart' shows no image (image/png or image/svg+xml)")
    return sorted(set(problems), key=problems.index)


def notebook_problems(notebook: Mapping[str, Any]) -> dict[int, list[str]]:
    """Problems per code cell (by index) of an executed notebook (nbformat JSON as a dict)."""
    found = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        problems = output_problems(cell.get("outputs", []), cell.get("metadata", {}).get("tags", []))
        if problems:
            found[index] = problems
    return found
