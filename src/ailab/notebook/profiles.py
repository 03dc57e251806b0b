"""A pyinstrument profile as a notebook display: its interactive HTML, with a plain-text fallback.

pyinstrument's own ``%%pyinstrument`` magic profiles a whole cell; ``profile_view`` shows a
``Profiler`` run around part of a cell (for example only the second of two syncs). The HTML page
is pyinstrument's self-contained one, embedded in an ``<iframe srcdoc>`` as its magic does, so it
needs no server and no file; the text fallback has no colour codes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProfileView:
    """``display(profile_view(profiler))`` shows the call tree as pyinstrument's interactive page."""

    page: str  # pyinstrument's HTML page
    text: str  # the same tree as plain text
    height: int = 420

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.page)}" width="100%" height="{self.height}" '
            'style="border:1px solid #d9e2ec;resize:vertical"></iframe>'
        )

    def __repr__(self) -> str:
        return self.text


def profile_view(profiler: Any, *, height: int = 420, text_limit: int = 5000) -> ProfileView:
    """The finished ``pyinstrument.Profiler``'s session as a ``ProfileView``."""
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    if len(text) > text_limit:
        text = text[:text_limit] + "\n... (cut; the HTML view has the whole tree)"
    return ProfileView(page=profiler.output_html(), text=text, height=height)
