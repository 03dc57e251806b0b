"""Bringing GitHub's changes into the database (``ailab sync --pull``). Pure.

Which groups are pulled is the plan's decision (remote-only changes, and conflicts the remote
wins: always for open/closed state, for content only with ``--prefer-remote``). Here each pulled
group becomes local fields:

* title: ``[KEY] title`` without the key prefix;
* body: the description and the acceptance-criteria task list (the dependency list and the
  marker are ours and are re-rendered; dependencies themselves are not pulled);
* labels: tags (every label without a ``status:``/``priority:``/``type:`` prefix), priority and
  type, and the status when the issue's state allows it;
* state: closed/completed -> ``done``, closed/not_planned or duplicate -> ``cancelled``; reopened
  -> the status label's open status, else the item's own if open, else ``todo``.
"""

from __future__ import annotations

from ailab.sync.mapping import LocalItem, parse_body, parse_labels, parse_title, status_from_remote
from ailab.sync.remote import RemoteIssue
from ailab.sync.store import ItemChange
from ailab.vocab import OPEN_STATUSES


def item_change(item: LocalItem, remote: RemoteIssue, groups: frozenset[str]) -> ItemChange | None:
    """The local edit that takes ``groups`` from ``remote``; ``None`` when nothing differs."""
    values: dict[str, object] = {}
    if "title" in groups:
        title = parse_title(remote.title, item.key)
        if title != item.title:
            values["title"] = title
    if "body" in groups:
        parsed = parse_body(remote.body)
        if parsed.description != item.description.strip():
            values["description"] = parsed.description
        if parsed.criteria != item.criteria:
            values["criteria"] = parsed.criteria
    label_status = None
    if "labels" in groups:
        labels = parse_labels(remote.labels)
        if tuple(sorted(labels.tags)) != tuple(sorted(item.tags)):
            values["tags"] = labels.tags
        if labels.priority and labels.priority != item.priority:
            values["priority"] = labels.priority
        if labels.type and labels.type != item.type:
            values["type"] = labels.type
        label_status = labels.status
    candidate = label_status or item.status
    if "state" in groups or label_status:
        status = status_from_remote(
            remote.state, remote.state_reason, candidate if candidate in OPEN_STATUSES else None, candidate
        )
        if status != item.status:
            values["status"] = status
    if not values:
        return None
    return ItemChange(work_item_id=item.id, **values)  # type: ignore[arg-type]
