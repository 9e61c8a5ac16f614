"""Users and roles administered with the CLI over the real HTTP adapter (issue #15.6): locally (a token
minted for ``--as``) and addressed by URL and token only (``--api``, ``ITASK_TOKEN``), as against any
deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from itask.seed import DEMO_COURSE

ROOT = Path(__file__).resolve().parents[2]


def itask(stack, *args: str, token_of: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI: on the local stack by its home, or (``token_of``) by URL with that user's token."""
    env = dict(os.environ)
    env.pop("ITASK_API_URL", None)
    env.pop("ITASK_TOKEN", None)
    target = ["--home", str(stack.info.home)]
    if token_of is not None:
        env["ITASK_TOKEN"] = stack.issuer.mint(token_of)
        env["ITASK_CONFIG_DIR"] = str(stack.info.home)  # no stored sign-in of the machine's user
        target = ["--api", stack.info.api_url]
    return subprocess.run(
        [sys.executable, "-m", "itask.cli", *target, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def ok(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_roles_are_granted_revoked_and_audited_from_the_cli(local_stack):
    # The administrator records a new teaching assistant (a token subject of the IdP)
    user = ok(itask(local_stack, "users", "set", "ta-7", "--user-id", "7007", "--username", "ta7",
                    "--email", "ta7@example.org"))  # fmt: skip
    assert user["subject"] == "ta-7" and user["grants"] == []
    # Without a role the assistant sees nothing of the course (by URL and token only)
    refused = itask(local_stack, "tasks", DEMO_COURSE, token_of="ta-7")
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    # The course's instructor grants staff, by email, against the stack addressed by URL
    granted = ok(
        itask(local_stack, "roles", "grant", DEMO_COURSE, "ta7@example.org", "staff", token_of="instructor")
    )
    assert (granted["subject"], granted["role"], granted["changed"]) == ("ta-7", "staff", True)
    assert itask(local_stack, "tasks", DEMO_COURSE, token_of="ta-7").returncode == 0
    members = ok(itask(local_stack, "roles", "list", DEMO_COURSE, "--as", "instructor"))["members"]
    assert {"subject": "ta-7", "scope": DEMO_COURSE, "roles": ["staff"]}.items() <= next(
        m for m in members if m["subject"] == "ta-7"
    ).items()
    # Course staff may not grant; the instructor may not remove their own instructor role
    assert (
        "HTTP 403" in itask(local_stack, "roles", "grant", DEMO_COURSE, "ta-7", "beta", "--as", "ta-7").stderr
    )
    own = itask(
        local_stack, "roles", "revoke", DEMO_COURSE, "instructor", "instructor", token_of="instructor"
    )
    assert own.returncode == 1 and "An instructor cannot remove their own instructor access." in own.stderr
    # Nor the administrator their own global staff flag
    own = itask(local_stack, "admins", "revoke", "admin", token_of="admin")
    assert own.returncode == 1 and "You cannot remove your own global staff access." in own.stderr
    assert "admin" in [u["subject"] for u in ok(itask(local_stack, "admins", "list"))["global_staff"]]
    # Revoked: the right is gone at once
    ok(itask(local_stack, "roles", "revoke", DEMO_COURSE, "ta-7", "staff", "--as", "instructor"))
    assert itask(local_stack, "tasks", DEMO_COURSE, token_of="ta-7").returncode == 1
    # Every change is audited: who, what, when
    audit = ok(itask(local_stack, "roles", "audit", DEMO_COURSE))["changes"]
    assert [(c["action"], c["subject"], c["role"], c["by"]) for c in audit[:2]] == [
        ("revoke", "ta-7", "staff", "instructor"),
        ("grant", "ta-7", "staff", "instructor"),
    ]
    changes = ok(itask(local_stack, "admins", "audit", token_of="admin"))["changes"]
    assert ("set_user", "ta-7", "admin") in [(c["action"], c["subject"], c["by"]) for c in changes]


def test_a_learner_is_retired_from_the_cli_locally_and_by_url(local_stack):
    """Issue #15.2: `itask retire` (global staff) against the local stack and by URL and token only.
    A user id with no data here (the shared stack's learners stay for the other tests): recorded,
    nothing removed; again, first_time is false; course staff are refused."""
    first = ok(itask(local_stack, "retire", "888888001"))
    assert (first["user_id"], first["first_time"], first["requester"]) == (888888001, True, "admin")
    again = ok(itask(local_stack, "retire", "888888001", token_of="admin"))
    assert (again["first_time"], set(again["removed"].values())) == (False, {0})
    record = ok(itask(local_stack, "retirement", "888888001", token_of="admin"))
    assert (record["requester"], record["source"], record["complete"]) == ("admin", "api", True)
    refused = itask(local_stack, "retire", "nobody@example.org", token_of="instructor")
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    unknown = itask(local_stack, "retire", "nobody@example.org")
    assert unknown.returncode == 1 and "HTTP 404" in unknown.stderr
