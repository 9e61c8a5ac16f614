"""HTTP calls of the learner retirement routes (GDPR erasure)."""

from __future__ import annotations

from itask.client import ApiClient, ApiResponse


def retire(client: ApiClient, learner: str) -> ApiResponse:
    """A number is a user id; an address with "@" an email; anything else a username."""
    body: dict[str, object]
    if learner.isdigit():
        body = {"user_id": int(learner)}
    elif "@" in learner:
        body = {"email": learner}
    else:
        body = {"username": learner}
    return client.request("POST", "/admin/retirements", body)


def retirement(client: ApiClient, user_id: int) -> ApiResponse:
    return client.request("GET", f"/admin/retirements/{user_id}")
