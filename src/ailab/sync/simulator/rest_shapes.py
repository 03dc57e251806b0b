"""REST JSON shapes of issues, labels and users, as in GitHub's OpenAPI ``issue``/``label`` schemas.

Issue JSON is serialized once per change and cached as bytes on the issue, so a list page is
a join of cached byte strings (the simulator is driven at thousands of requests per run).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from ailab.sync.simulator.model import Issue, Label, iso, node_id

USER_ID = 1


class Shapes:
    """Builds REST bodies with the configured public URLs and user."""

    def __init__(self, api_url: str, html_url: str, login: str) -> None:
        self.api = api_url
        self.html = html_url
        self.user = self._user(login)

    def _user(self, login: str) -> dict[str, Any]:
        api = f"{self.api}/users/{login}"
        return {
            "login": login,
            "id": USER_ID,
            "node_id": node_id("User", USER_ID),
            "avatar_url": f"{self.html}/images/error/octocat_happy.gif",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.html}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "User",
            "site_admin": False,
        }

    def label(self, label: Label) -> dict[str, Any]:
        """A label's REST JSON (cached on the label)."""
        if label.json is None:
            label.json = {
                "id": label.id,
                "node_id": label.node_id,
                "url": f"{self.api}/repos/{label.repo.full_name}/labels/{quote(label.name, safe='')}",
                "name": label.name,
                "description": label.description,
                "color": label.color,
                "default": False,
            }
        return label.json

    def issue_dict(self, issue: Issue) -> dict[str, Any]:
        """An issue's REST JSON, with every URL field GitHub sends."""
        repo_api = f"{self.api}/repos/{issue.repo.full_name}"
        api = f"{repo_api}/issues/{issue.number}"
        closed = sum(1 for c in issue.sub_issues if c.state == "closed")
        total = len(issue.sub_issues)
        return {
            "id": issue.id,
            "node_id": issue.node_id,
            "url": api,
            "repository_url": repo_api,
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.html}/{issue.repo.full_name}/issues/{issue.number}",
            "timeline_url": f"{api}/timeline",
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.user,
            "labels": [self.label(label) for label in issue.labels.values()],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "closed_at": iso(issue.closed_ts),
            "created_at": iso(issue.created_ts),
            "updated_at": iso(issue.updated_ts),
            "closed_by": self.user if issue.state == "closed" else None,
            "author_association": "OWNER",
            "type": None,
            "performed_via_github_app": None,
            "parent_issue_url": (
                None
                if issue.parent is None
                else f"{self.api}/repos/{issue.parent.repo.full_name}/issues/{issue.parent.number}"
            ),
            "sub_issues_summary": {
                "total": total,
                "completed": closed,
                "percent_completed": (closed * 100 // total) if total else 0,
            },
            "issue_dependencies_summary": {
                "blocked_by": sum(1 for b in issue.blocked_by.values() if b.state == "open"),
                "blocking": sum(1 for b in issue.blocking.values() if b.state == "open"),
                "total_blocked_by": len(issue.blocked_by),
                "total_blocking": len(issue.blocking),
            },
        }

    def issue_bytes(self, issue: Issue) -> bytes:
        """An issue's REST JSON bytes (cached on the issue until it changes)."""
        if issue.rest_bytes is None:
            issue.rest_bytes = orjson.dumps(self.issue_dict(issue))
        return issue.rest_bytes

    def issue_list_bytes(self, issues: list[Issue]) -> bytes:
        """A JSON array of issues, joined from their cached bytes."""
        return b"[" + b",".join(self.issue_bytes(i) for i in issues) + b"]"

    def label_list_bytes(self, labels: list[Label]) -> bytes:
        """A JSON array of labels."""
        return orjson.dumps([self.label(label) for label in labels])
