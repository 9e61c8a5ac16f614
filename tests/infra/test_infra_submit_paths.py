"""Every function that submits tasks runs the task types' checks (functions/logic/submit.py), which
read staff uploads (cohorts, batch enrollment), remove a refused one and store an inline list: the
dashboard (web) and the scheduler need those rights on uploads/ as the api does."""

from __future__ import annotations

import json
from typing import Any

from infra_support import Synthesized


def _upload_actions(synthesized: Synthesized, function: str) -> set[str]:
    role = synthesized.logical_id(synthesized.stack.functions[function].role)
    found: set[str] = set()
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources: Any = statement["Resource"]
            if "/uploads/*" in json.dumps(resources):
                action = statement["Action"]
                found |= set(action if isinstance(action, list) else [action])
    return found


def test_submitting_functions_may_use_uploads_as_the_checks_do(synthesized: Synthesized) -> None:
    # The dashboard's submit: read the named upload, remove a refused one, store an inline list
    assert {"s3:GetObject", "s3:DeleteObject", "s3:PutObject"} <= _upload_actions(synthesized, "web")
    # The scheduler's run-time checks: read the named upload, remove a refused one; it writes none
    scheduler = _upload_actions(synthesized, "scheduler")
    assert {"s3:GetObject", "s3:DeleteObject"} <= scheduler
    assert "s3:PutObject" not in scheduler
