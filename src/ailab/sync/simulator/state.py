"""The simulated remote: every change to repositories, issues, labels and their links.

Every change goes through ``World`` so ``updated_at``, cached JSON and per-repo versions stay
consistent. Both the REST and the GraphQL layer call the same methods, which raise ``SimError``
(mapped to 301/404/410/422 in REST and to ``errors[].type`` in GraphQL).

Remotes that change under a client, as GitHub documents them ("Get an issue"): a deleted issue
answers ``410 Gone``, a transferred one ``301 Moved Permanently`` to its new place; the GraphQL
node ids of both no longer resolve (``NOT_FOUND``, "Could not resolve to a node with the global
id of ..."). A transferred issue becomes a new issue (new number, id and node id) in the target
repository. Deleting a label removes it from its issues without touching their ``updated_at``.
IDs are never reused: a ``World`` made with another ``epoch`` (a restarted simulator) hands
out IDs from a range of its own, as a recreated repository on GitHub gets new IDs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ailab.clock import Clock
from ailab.sync.simulator.model import Issue, Label, Repo, SimError, parse_node_id

IssueListener = Callable[[str, Issue, "dict[str, Any] | None"], None]
MAX_BLOCKED_BY = 50
MAX_SUB_ISSUES = 100
MAX_SUB_ISSUE_DEPTH = 8
DEFAULT_LABEL_COLOR = "ededed"
EPOCH_SPAN = 10_000_000_000  # IDs of one World epoch; epochs below 100,000 keep IDs JSON-safe


def _owner_key(full_name: str) -> str:
    return full_name.lower()


class World:
    """All repositories of the simulated GitHub, indexed by name and by database ID."""

    def __init__(self, clock: Clock, epoch: int = 0) -> None:
        self.clock = clock
        self.epoch = epoch
        self.repos: dict[str, Repo] = {}
        self.issues_by_id: dict[int, Issue] = {}
        self.labels_by_id: dict[int, Label] = {}
        self.repos_by_id: dict[int, Repo] = {}
        # Distinct ranges so an issue's id never equals its number or a label's id (catches mix-ups).
        offset = epoch * EPOCH_SPAN
        self._issue_ids = itertools.count(offset + 100_000_001)
        self._label_ids = itertools.count(offset + 600_000_001)
        self._repo_ids = itertools.count(offset + 900_000_001)
        self.listener: IssueListener | None = None  # told of each issue change (the webhook)

    def _event(self, action: str, issue: Issue, extra: dict[str, Any] | None = None) -> None:
        if self.listener is not None:
            self.listener(action, issue, extra)

    def now(self) -> int:
        """The simulator clock's time in whole seconds (GitHub's timestamps have no fraction)."""
        return int(self.clock.time())

    # -- repositories ----------------------------------------------------------------------
    def repo(self, owner: str, name: str, *, create: bool = True, has_issues: bool = True) -> Repo:
        """The repository ``owner/name`` (case-insensitive), created on first use unless ``create`` is False."""
        key = _owner_key(f"{owner}/{name}")
        found = self.repos.get(key)
        if found is None:
            if not create:
                raise SimError("not_found", "Not Found", resource="Repository")
            found = Repo(next(self._repo_ids), owner, name, has_issues)
            self.repos[key] = found
            self.repos_by_id[found.id] = found
        return found

    def issues_enabled(self, repo: Repo) -> Repo:
        """``repo``, or the 410 GitHub answers when its issues are disabled."""
        if not repo.has_issues:
            raise SimError("gone", "Issues are disabled for this repo")
        return repo

    # -- lookups ---------------------------------------------------------------------------
    def issue(self, repo: Repo, number: int) -> Issue:
        """Issue ``number`` of ``repo``, or a 404."""
        found = repo.issues.get(number)
        if found is None:
            if number in repo.gone:
                raise SimError("gone", "This issue was deleted")
            moved = repo.moved.get(number)
            if moved is not None:
                target = self._current(moved)
                if target is None:
                    raise SimError("gone", "This issue was deleted")
                raise SimError(
                    "moved",
                    "Moved Permanently",
                    location=f"/repos/{target.repo.full_name}/issues/{target.number}",
                )
            raise SimError("not_found", "Not Found")
        return found

    def _current(self, issue: Issue) -> Issue | None:
        """Where a transferred issue is now (following later transfers); ``None`` if deleted."""
        seen = 0
        while issue.repo.issues.get(issue.number) is not issue:
            nxt = issue.repo.moved.get(issue.number)
            if nxt is None or seen > 100:
                return None
            issue, seen = nxt, seen + 1
        return issue

    def issue_by_id(self, db_id: Any, *, field: str = "issue_id") -> Issue:
        """The issue with database id ``db_id``, or the 422 naming ``field``."""
        found = self.issues_by_id.get(db_id) if isinstance(db_id, int) else None
        if found is None:
            raise SimError("invalid", f"Issue with id {db_id!r} does not exist.", field=field)
        return found

    def node(self, value: str) -> Issue | Label | Repo | None:
        """The issue, label or repository a GraphQL node id names, or None."""
        parsed = parse_node_id(value)
        if parsed is None:
            return None
        type_name, db_id = parsed
        if type_name == "Issue":
            return self.issues_by_id.get(db_id)
        if type_name == "Label":
            return self.labels_by_id.get(db_id)
        if type_name == "Repository":
            return self.repos_by_id.get(db_id)
        return None

    # -- labels ----------------------------------------------------------------------------
    def create_label(
        self, repo: Repo, name: str, color: str | None = None, description: str | None = None
    ) -> Label:
        """Create a label (name unique per repository, case-insensitive), or the 422 GitHub gives."""
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not name:
            raise SimError(
                "invalid", "Label name is missing.", resource="Label", field="name", code="missing_field"
            )
        if name.lower() in repo.labels:
            raise SimError(
                "invalid",
                f"Label {name!r} already exists.",
                resource="Label",
                field="name",
                code="already_exists",
            )
        color = (color or DEFAULT_LABEL_COLOR).lstrip("#").lower()
        if len(color) != 6 or any(c not in "0123456789abcdef" for c in color):
            raise SimError(
                "invalid", f"Color {color!r} is not 6 hex digits.", resource="Label", field="color"
            )
        if description is not None and (not isinstance(description, str) or len(description) > 100):
            raise SimError(
                "invalid",
                "Description must be a string of 100 characters or fewer.",
                resource="Label",
                field="description",
            )
        label = Label(repo, next(self._label_ids), name, color, description, self.now())
        repo.labels[name.lower()] = label
        self.labels_by_id[label.id] = label
        repo.changed()
        return label

    def labels_named(self, repo: Repo, names: Iterable[Any]) -> list[Label]:
        """Labels for REST name lists (strings or ``{"name": ...}``); missing ones are created."""
        out: list[Label] = []
        for item in names:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip():
                raise SimError("invalid", f"Label {item!r} has no name.", resource="Label", field="labels")
            found = repo.labels.get(name.strip().lower())
            out.append(found if found is not None else self.create_label(repo, name))
        return out

    def labels_by_node_ids(self, ids: Iterable[str]) -> list[Label]:
        """The labels of GraphQL node ids; an unknown id is a NOT_FOUND error."""
        out: list[Label] = []
        for value in ids:
            found = self.node(value)
            if not isinstance(found, Label):
                raise SimError("not_found", f"Could not resolve to a node with the global id of '{value}'.")
            out.append(found)
        return out

    # -- issues ----------------------------------------------------------------------------
    def _changed(self, issue: Issue, *, touch: bool = True) -> None:
        if touch:
            issue.updated_ts = self.now()
        issue.rest_bytes = None
        issue.repo.changed()

    def create_issue(
        self,
        repo: Repo,
        title: Any,
        body: Any = None,
        labels: Iterable[Label] = (),
        parent: Issue | None = None,
    ) -> Issue:
        """Create an issue with the next number of its repository; validates as GitHub does."""
        self.issues_enabled(repo)
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise SimError("invalid", "Title is missing.", field="title", code="missing_field")
        if body is not None and not isinstance(body, str):
            raise SimError("invalid", "Body must be a string.", field="body")
        labels = list(labels)
        issue = Issue(repo, next(self._issue_ids), repo.next_number, title, body, self.now())
        repo.next_number += 1
        for label in labels:
            issue.labels[label.id] = label
        repo.issues[issue.number] = issue
        self.issues_by_id[issue.id] = issue
        repo.changed()
        if parent is not None:
            self.add_sub_issue(parent, issue)
        self._event("opened", issue)
        return issue

    def edit(
        self, issue: Issue, *, title: Any = None, body: Any = ..., labels: list[Label] | None = None
    ) -> bool:
        """Change title/body/labels (``None``/``...`` = keep); touch only when something changed."""
        changed = False
        before_title, before_body, before_labels = issue.title, issue.body, dict(issue.labels)
        if title is not None:
            if isinstance(title, int) and not isinstance(title, bool):
                title = str(title)
            if not isinstance(title, str) or not title.strip():
                raise SimError("invalid", "Title must be a non-empty string.", field="title")
            if title != issue.title:
                issue.title, changed = title, True
        if body is not ...:
            if body is not None and not isinstance(body, str):
                raise SimError("invalid", "Body must be a string or null.", field="body")
            if body != issue.body:
                issue.body, changed = body, True
        if labels is not None:
            new = {label.id: label for label in labels}
            if list(new) != list(issue.labels):
                issue.labels, changed = new, True
        if changed:
            self._changed(issue)
            edits: dict[str, Any] = {}
            if issue.title != before_title:
                edits["title"] = {"from": before_title}
            if issue.body != before_body:
                edits["body"] = {"from": before_body}
            if edits:
                self._event("edited", issue, {"changes": edits})
            for label in issue.labels.values():
                if label.id not in before_labels:
                    self._event("labeled", issue, {"label": label})
            for label in before_labels.values():
                if label.id not in issue.labels:
                    self._event("unlabeled", issue, {"label": label})
        return changed

    def set_state(
        self, issue: Issue, state: str, reason: str | None = None, duplicate_of: Issue | None = None
    ) -> bool:
        """Open or close; ``reason`` applies only when the state changes (as the REST docs say)."""
        if state not in ("open", "closed"):
            raise SimError("invalid", f"State {state!r} is not open or closed.", field="state")
        if state == issue.state:
            return False
        now = self.now()
        if state == "closed":
            reason = reason or "completed"
            if reason not in ("completed", "not_planned", "duplicate"):
                raise SimError(
                    "invalid", f"State reason {reason!r} cannot close an issue.", field="state_reason"
                )
            issue.state, issue.state_reason, issue.closed_ts = "closed", reason, now
            issue.duplicate_of = duplicate_of if reason == "duplicate" else None
        else:
            issue.state, issue.state_reason, issue.closed_ts, issue.duplicate_of = (
                "open",
                "reopened",
                None,
                None,
            )
        self._changed(issue)
        # Summaries on related issues count open/closed ones: drop their cached JSON too.
        related = [*issue.blocked_by.values(), *issue.blocking.values()]
        if issue.parent is not None:
            related.append(issue.parent)
        for other in related:
            other.rest_bytes = None
        self._event("closed" if state == "closed" else "reopened", issue)
        return True

    def add_labels(self, issue: Issue, labels: Iterable[Label]) -> bool:
        """Add labels to an issue; True when any was new."""
        added = False
        for label in labels:
            if label.id not in issue.labels:
                issue.labels[label.id] = label
                added = True
                self._event("labeled", issue, {"label": label})
        if added:
            self._changed(issue)
        return added

    def remove_labels(self, issue: Issue, labels: Iterable[Label]) -> bool:
        """Remove labels from an issue; True when any was there."""
        removed = False
        for label in labels:
            if issue.labels.pop(label.id, None) is not None:
                removed = True
                self._event("unlabeled", issue, {"label": label})
        if removed:
            self._changed(issue)
        return removed

    # -- remotes changing under the client: deletes and transfers --------------------------------
    def _detach(self, issue: Issue) -> None:
        """Drop an issue's relations (dependencies, parent, sub-issues) from the issues around it."""
        for blocker in list(issue.blocked_by.values()):
            blocker.blocking.pop(issue.id, None)
            self._changed(blocker, touch=False)
        for blocked in list(issue.blocking.values()):
            blocked.blocked_by.pop(issue.id, None)
            self._changed(blocked, touch=False)
        issue.blocked_by, issue.blocking = {}, {}
        if issue.parent is not None:
            issue.parent.sub_issues.remove(issue)
            self._changed(issue.parent, touch=False)
            issue.parent = None
        for child in issue.sub_issues:
            child.parent = None
            self._changed(child, touch=False)
        issue.sub_issues = []

    def delete_issue(self, issue: Issue) -> None:
        """Delete an issue: its number answers 410 from now on, its node id resolves to nothing."""
        self._detach(issue)
        repo = issue.repo
        del repo.issues[issue.number]
        self.issues_by_id.pop(issue.id, None)
        repo.gone.add(issue.number)
        repo.changed()
        self._event("deleted", issue)

    def transfer_issue(self, issue: Issue, target: Repo) -> Issue:
        """Move an issue to ``target``: a new issue there; the old number answers 301 to it."""
        if target is issue.repo:
            raise SimError("invalid", "The issue is already in that repository.", field="repository_id")
        self.issues_enabled(target)
        self._detach(issue)
        labels = self.labels_named(target, [label.name for label in issue.labels.values()])
        moved = self.create_issue(target, issue.title, issue.body, labels)
        moved.created_ts = issue.created_ts
        if issue.state == "closed":
            moved.state, moved.state_reason, moved.closed_ts = "closed", issue.state_reason, issue.closed_ts
        source = issue.repo
        del source.issues[issue.number]
        self.issues_by_id.pop(issue.id, None)
        source.moved[issue.number] = moved
        source.changed()
        self._event("transferred", issue, {"changes": {"new_issue": moved, "new_repository": target}})
        return moved

    def delete_label(self, repo: Repo, name: str) -> Label:
        """Delete a label and take it off every issue (their ``updated_at`` stays as it was)."""
        label = repo.labels.pop(name.strip().lower(), None)
        if label is None:
            raise SimError("not_found", "Not Found", resource="Label")
        self.labels_by_id.pop(label.id, None)
        for issue in repo.issues.values():
            if issue.labels.pop(label.id, None) is not None:
                self._changed(issue, touch=False)
        repo.changed()
        return label

    # -- dependencies ----------------------------------------------------------------------
    def add_blocked_by(self, issue: Issue, blocker: Issue) -> None:
        """Make ``issue`` blocked by ``blocker`` (no self-edges, no duplicates, GitHub's limit)."""
        if blocker is issue:
            raise SimError("invalid", "An issue cannot be blocked by itself.", field="issue_id")
        if blocker.id in issue.blocked_by:
            raise SimError(
                "invalid", "The dependency already exists.", field="issue_id", code="already_exists"
            )
        if len(issue.blocked_by) >= MAX_BLOCKED_BY:
            raise SimError("invalid", f"An issue can be blocked by at most {MAX_BLOCKED_BY} issues.")
        issue.blocked_by[blocker.id] = blocker
        blocker.blocking[issue.id] = issue
        self._changed(issue)
        self._changed(blocker, touch=False)

    def remove_blocked_by(self, issue: Issue, blocker_id: int) -> Issue:
        """Remove the blocked-by edge to ``blocker_id``, or a 404. Returns the blocker."""
        blocker = issue.blocked_by.pop(blocker_id, None)
        if blocker is None:
            raise SimError("not_found", "Not Found")
        blocker.blocking.pop(issue.id, None)
        self._changed(issue)
        self._changed(blocker, touch=False)
        return blocker

    # -- sub-issues ------------------------------------------------------------------------
    def add_sub_issue(self, parent: Issue, child: Issue, replace_parent: bool = False) -> None:
        """Make ``child`` a sub-issue of ``parent`` (same owner; moving it needs ``replace_parent``)."""
        if child is parent:
            raise SimError("invalid", "An issue cannot be its own sub-issue.", field="sub_issue_id")
        if child.repo.owner.lower() != parent.repo.owner.lower():
            raise SimError("invalid", "A sub-issue must belong to the parent's repository owner.")
        if child.parent is parent:
            raise SimError(
                "invalid", "The issue is already a sub-issue of this parent.", code="already_exists"
            )
        if child.parent is not None and not replace_parent:
            raise SimError("invalid", "The issue already has a parent; pass replace_parent to move it.")
        if len(parent.sub_issues) >= MAX_SUB_ISSUES:
            raise SimError("invalid", f"A parent can have at most {MAX_SUB_ISSUES} sub-issues.")
        depth = 1
        up_: Issue | None = parent
        while up_ is not None:
            if up_ is child:
                raise SimError("invalid", "Adding this sub-issue would create a cycle.", field="sub_issue_id")
            depth, up_ = depth + 1, up_.parent
        if depth > MAX_SUB_ISSUE_DEPTH:
            raise SimError("invalid", f"Sub-issues nest at most {MAX_SUB_ISSUE_DEPTH} levels.")
        if child.parent is not None:
            self.remove_sub_issue(child.parent, child)
        parent.sub_issues.append(child)
        child.parent = parent
        self._changed(parent)
        self._changed(child, touch=False)

    def remove_sub_issue(self, parent: Issue, child: Issue) -> None:
        """Detach ``child`` from ``parent``, or a 404."""
        if child.parent is not parent:
            raise SimError("not_found", "Not Found")
        parent.sub_issues.remove(child)
        child.parent = None
        self._changed(parent)
        self._changed(child, touch=False)

    def reprioritize(self, parent: Issue, child_id: Any, after_id: Any, before_id: Any) -> None:
        """Move sub-issue ``child_id`` right after ``after_id`` or right before ``before_id``."""
        ids = [c.id for c in parent.sub_issues]
        if child_id not in ids:
            raise SimError("invalid_simple", f"Issue {child_id!r} is not a sub-issue of this issue.")
        if (after_id is None) == (before_id is None):
            raise SimError("invalid_simple", "Give exactly one of after_id or before_id.")
        anchor = after_id if after_id is not None else before_id
        if anchor not in ids or anchor == child_id:
            raise SimError("invalid_simple", f"Issue {anchor!r} is not another sub-issue of this issue.")
        child = parent.sub_issues.pop(ids.index(child_id))
        position = [c.id for c in parent.sub_issues].index(anchor)
        parent.sub_issues.insert(position + 1 if after_id is not None else position, child)
        self._changed(parent)
