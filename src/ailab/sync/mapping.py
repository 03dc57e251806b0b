"""One work item <-> one GitHub issue: the fields, the body, the marker and the content hash.

* title ``[KEY] title``;
* body: the description, the acceptance criteria as a task list, the dependencies as links to
  their issues, and the hidden marker ``<!-- ailab:item=KEY -->`` that lets a later run find
  the issue again when a create's answer was lost;
* labels: the item's tags, plus ``status:<s>``, ``priority:<p>`` and ``type:<t>``;
* state: ``done`` -> closed/completed, ``cancelled`` -> closed/not_planned, anything else open;
* blocked-by edges: the item's dependencies that have issues (GitHub's native relation).

The content hash is five 12-hex-digit hashes, one per field group (title, body, labels, state,
edges), so a three-way comparison (local vs remote vs last synced) can tell *which* side changed
*which* group. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ailab.vocab import PRIORITIES, STATUSES

GROUPS = ("title", "body", "labels", "state", "edges")
PUSHABLE = ("title", "body", "labels", "state")  # edges go through the relink phase
_H = 12  # hex digits per group (48 bits: plenty for change detection)
MARKER_RE = re.compile(r"<!--\s*ailab:item=([^\s>]+)\s*-->")
TITLE_RE = re.compile(r"^\[([^\]]+)\]\s?(.*)$", re.S)
STATUS_PREFIX = "status:"
PRIORITY_PREFIX = "priority:"
TYPE_PREFIX = "type:"
LABEL_MAX = 50  # GitHub's limit on label names
CRITERIA_HEADING = "### Acceptance criteria"
DEPENDENCIES_HEADING = "### Depends on"
_TASK_RE = re.compile(r"^\s*[-*]\s+\[([ xX])\]\s?(.*)$")
STATUS_COLORS = {
    "todo": "c5def5", "in_progress": "fbca04", "review": "d4c5f9", "blocked": "b60205",
    "done": "0e8a16", "cancelled": "cccccc",
}  # fmt: skip


@dataclass(frozen=True)
class LocalItem:
    """What the sync reads of a work item (loaded in bulk by ``store.load_items``)."""

    id: int
    key: str
    title: str
    description: str
    status: str
    priority: str
    type: str
    tags: tuple[str, ...] = ()
    criteria: tuple[tuple[str, bool], ...] = ()
    depends_on: tuple[str, ...] = ()  # keys of the items this one is blocked by
    repository: str = ""


@dataclass(frozen=True)
class IssueRef:
    """Where an item's issue is: enough to link to it and to name it in a mutation."""

    repository: str
    number: int
    node_id: str | None = None


@dataclass(frozen=True)
class IssueFields:
    """The synced part of an issue, the same shape whether rendered locally or read remotely."""

    title: str
    body: str
    labels: frozenset[str]
    state: str  # "open" | "closed"
    state_reason: str | None  # only meaningful when closed: "completed" | "not_planned" | ...
    edges: frozenset[str] | None = None  # keys of blocking items; None when not read

    def group_values(self) -> dict[str, str]:
        """The comparable text of each field group (normalized, so cosmetic differences hash the same)."""
        return {
            "title": self.title,
            "body": _normalize_body(self.body),
            "labels": "\n".join(sorted(name.lower() for name in self.labels)),
            "state": f"closed:{self.state_reason or 'completed'}" if self.state == "closed" else "open",
            "edges": "\n".join(sorted(self.edges)) if self.edges is not None else "",
        }


class GroupHashes(NamedTuple):
    """Per-group hashes; ``str()`` packs them into the 60-character ``content_hash`` column."""

    title: str
    body: str
    labels: str
    state: str
    edges: str

    def get(self, group: str) -> str:
        """The hash of one field group by name."""
        return self[_INDEX[group]]

    def __str__(self) -> str:
        return "".join(self)

    @classmethod
    def parse(cls, packed: str | None) -> GroupHashes | None:
        """The hashes packed in ``github_links.content_hash``; None for a missing or old-format value."""
        if not packed or len(packed) != _H * len(GROUPS):
            return None
        return cls(*(packed[i * _H : (i + 1) * _H] for i in range(len(GROUPS))))

    def with_groups(self, other: GroupHashes, groups: Iterable[str]) -> GroupHashes:
        """These hashes with ``groups`` taken from ``other``."""
        chosen = {_INDEX[g] for g in groups}
        if not chosen:
            return self
        return GroupHashes(*(other[i] if i in chosen else self[i] for i in range(len(GROUPS))))

    def differing(self, other: GroupHashes, groups: Iterable[str] = GROUPS) -> set[str]:
        """The groups (of ``groups``) whose hashes differ from ``other``'s."""
        return {g for g in groups if self[_INDEX[g]] != other[_INDEX[g]]}


_INDEX = {group: n for n, group in enumerate(GROUPS)}


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=_H // 2).hexdigest()


def group_hashes(fields: IssueFields) -> GroupHashes:
    """A short hash per field group of what an issue shows (title, body, labels, state, edges)."""
    values = fields.group_values()
    return GroupHashes(*[_digest(values[g]) for g in GROUPS])


def _normalize_body(body: str) -> str:
    # GitHub stores what it is given, but editors add \r\n and trailing spaces.
    return "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").strip().split("\n"))


# -- local -> remote ---------------------------------------------------------------------------
def render_title(item: LocalItem) -> str:
    """The issue title: ``[KEY] title``, so the key is visible on GitHub."""
    return f"[{item.key}] {item.title}"


def marker(key: str) -> str:
    """The hidden HTML comment in an issue body that ties it to its work item (found again after a crash)."""
    return f"<!-- ailab:item={key} -->"


def issue_link(ref: IssueRef, from_repository: str) -> str:
    """``#N`` within the same repository, ``owner/name#N`` across repositories."""
    return f"#{ref.number}" if ref.repository == from_repository else f"{ref.repository}#{ref.number}"


def render_body(item: LocalItem, refs: Mapping[str, IssueRef]) -> str:
    """The issue body: description, acceptance criteria as a task list, dependencies as issue links, and the
    marker.
    """
    parts: list[str] = []
    if item.description.strip():
        parts.append(item.description.strip())
    if item.criteria:
        tasks = "\n".join(f"- [{'x' if done else ' '}] {text}" for text, done in item.criteria)
        parts.append(f"{CRITERIA_HEADING}\n\n{tasks}")
    if item.depends_on:
        lines = []
        for key in item.depends_on:
            ref = refs.get(key)
            lines.append(f"- {issue_link(ref, item.repository)} {key}" if ref else f"- {key} (no issue yet)")
        parts.append(f"{DEPENDENCIES_HEADING}\n\n" + "\n".join(lines))
    parts.append(marker(item.key))
    return "\n\n".join(parts)


def label_name(text: str) -> str:
    """A tag as a GitHub label name (trimmed, cut to GitHub's 50-character limit)."""
    return text.strip()[:LABEL_MAX]


def render_labels(item: LocalItem) -> frozenset[str]:
    """The issue's labels: the item's tags plus ``status:``, ``priority:`` and ``type:`` labels."""
    names = {label_name(t) for t in item.tags if t.strip()}
    names.add(label_name(STATUS_PREFIX + item.status))
    names.add(label_name(PRIORITY_PREFIX + item.priority))
    if item.type:
        names.add(label_name(TYPE_PREFIX + item.type))
    return frozenset(names)


def render_state(status: str) -> tuple[str, str | None]:
    """GitHub's (state, state_reason) for a status: done is closed as completed, cancelled as not planned."""
    if status == "done":
        return "closed", "completed"
    if status == "cancelled":
        return "closed", "not_planned"
    return "open", None


def render(item: LocalItem, refs: Mapping[str, IssueRef]) -> IssueFields:
    """The issue this item should be. ``refs``: key -> issue of every linked item."""
    state, reason = render_state(item.status)
    edges = frozenset(k for k in item.depends_on if k in refs)
    return IssueFields(
        title=render_title(item),
        body=render_body(item, refs),
        labels=render_labels(item),
        state=state,
        state_reason=reason,
        edges=edges,
    )


def label_color(name: str) -> str:
    """A label's color: fixed colors for status labels, a stable color from the name for the rest."""
    if name.startswith(STATUS_PREFIX):
        return STATUS_COLORS.get(name[len(STATUS_PREFIX) :], "ededed")
    return hashlib.blake2b(name.lower().encode(), digest_size=3).hexdigest()


# -- remote -> local ---------------------------------------------------------------------------
def find_marker(body: str | None) -> str | None:
    """The work item key in an issue body's marker, or None."""
    if not body:
        return None
    match = MARKER_RE.search(body)
    return match.group(1) if match else None


def parse_title(title: str, key: str) -> str:
    """The item title back from an issue title, without the ``[KEY]`` prefix when it is this item's."""
    match = TITLE_RE.match(title.strip())
    if match and match.group(1) == key:
        return match.group(2).strip() or title.strip()
    return title.strip()


@dataclass(frozen=True)
class ParsedBody:
    """An issue body read back: the description and the acceptance criteria's task list."""

    description: str
    criteria: tuple[tuple[str, bool], ...] = field(default_factory=tuple)


def parse_body(body: str | None) -> ParsedBody:
    """Description and criteria back out of a (possibly hand-edited) rendered body."""
    text = MARKER_RE.sub("", (body or "").replace("\r\n", "\n"))
    description: list[str] = []
    criteria: list[tuple[str, bool]] = []
    section = "description"
    for line in text.split("\n"):
        heading = line.strip().lower()
        if heading == CRITERIA_HEADING.lower():
            section = "criteria"
            continue
        if heading == DEPENDENCIES_HEADING.lower():
            section = "dependencies"
            continue
        if section == "description":
            description.append(line)
        elif section == "criteria":
            match = _TASK_RE.match(line)
            if match:
                criteria.append((match.group(2).strip(), match.group(1) in "xX"))
    return ParsedBody("\n".join(description).strip(), tuple(criteria))


@dataclass(frozen=True)
class ParsedLabels:
    """Issue labels read back: the plain tags and the status, priority and type labels (None: absent or unknown)."""

    tags: tuple[str, ...]
    status: str | None
    priority: str | None
    type: str | None


def parse_labels(labels: Iterable[str]) -> ParsedLabels:
    """Split an issue's labels into tags and the known ``status:``/``priority:``/``type:`` values.

    Unknown status or priority values are ignored rather than guessed, so a pull never writes a value the
    schema refuses.
    """
    tags: list[str] = []
    status = priority = kind = None
    for name in labels:
        lowered = name.lower()
        if lowered.startswith(STATUS_PREFIX):
            value = name[len(STATUS_PREFIX) :].strip()
            status = value if value in STATUSES else status
        elif lowered.startswith(PRIORITY_PREFIX):
            value = name[len(PRIORITY_PREFIX) :].strip()
            priority = value if value in PRIORITIES else priority
        elif lowered.startswith(TYPE_PREFIX):
            kind = name[len(TYPE_PREFIX) :].strip() or kind
        else:
            tags.append(name)
    return ParsedLabels(tuple(sorted(tags)), status, priority, kind)


def status_from_remote(state: str, reason: str | None, label_status: str | None, current: str) -> str:
    """The local status an issue's open/closed state implies (remote wins for state)."""
    if state == "closed":
        if reason in ("not_planned", "duplicate"):
            return "cancelled"
        return "done"
    if current not in ("done", "cancelled"):
        return current
    return label_status if label_status and label_status not in ("done", "cancelled") else "todo"
