"""Course email's resources: who may touch the email table, who may send through SES and from which
identities, who may read the account's quota. Expectations come from what the code calls
(functions/logic/email, functions/dal/email_repo.py, functions/dal/ses_mail.py)."""

from __future__ import annotations

import json
from typing import Any

from infra_support import Synthesized

WRITE = "dynamodb:PutItem"
READ = "dynamodb:GetItem"


def _statements_of(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    role = synthesized.logical_id(synthesized.stack.functions[function].role)
    found: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions_on(statements: list[dict[str, Any]], needle: str) -> set[str]:
    """Actions of the statements whose resources mention ``needle`` (a logical id or an ARN part)."""
    found: set[str] = set()
    for statement in statements:
        if needle in json.dumps(statement["Resource"]):
            found |= set(_listify(statement["Action"]))
    return found


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in _listify(statement["Action"])}


def test_who_reads_and_writes_the_email_table(synthesized: Synthesized) -> None:
    table = synthesized.logical_id(synthesized.stack.data.email)
    access = {
        name: _actions_on(_statements_of(synthesized, name), table)
        for name in synthesized.stack.functions.functions()
    }
    # Writers: the api (emails), the pipeline's claims and summaries, bounces, opt-outs
    writers = {name for name, actions in access.items() if WRITE in actions}
    assert writers == {"api", "process-chunk", "finalize", "email-events", "email-unsubscribe"}
    # Readers only: submitting a send (dashboard, scheduler) checks the email; plan reads it
    readers = {name for name, actions in access.items() if READ in actions} - writers
    assert readers == {"web", "scheduler", "plan"}
    for name in readers:
        assert WRITE not in access[name], name


def test_the_plan_reads_the_course_staff_and_the_send_quota(synthesized: Synthesized) -> None:
    statements = _statements_of(synthesized, "plan")
    access_table = synthesized.logical_id(synthesized.stack.data.access)
    # The "staff" target: the course's grants through the access table's scope-grants index
    assert "dynamodb:Query" in _actions_on(statements, access_table)
    assert WRITE not in _actions_on(statements, access_table)
    # The account's sending rate: GetSendQuota exists on "*" only, and nothing else rides along
    quota = [s for s in statements if "ses:GetSendQuota" in _listify(s["Action"])]
    # (IAM merges it with the role's X-Ray statement, the other "*"-only actions)
    assert [s["Resource"] for s in quota] == ["*"]
    assert set(_listify(quota[0]["Action"])) <= {
        "ses:GetSendQuota",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    # Only the plan asks for it
    askers = {
        name
        for name in synthesized.stack.functions.functions()
        if "ses:GetSendQuota" in _actions(_statements_of(synthesized, name))
    }
    assert askers == {"plan"}


def test_course_email_is_sent_only_by_process_chunk_from_the_configured_identity(
    synthesized: Synthesized,
) -> None:
    sender = synthesized.context.get("emailFrom") or synthesized.context["notifyFrom"]
    domain = sender.rpartition("@")[2]
    statements = _statements_of(synthesized, "process-chunk")
    sends = [s for s in statements if "ses:SendRawEmail" in _listify(s["Action"])]
    assert len(sends) == 1
    assert set(_listify(sends[0]["Action"])) == {"ses:SendEmail", "ses:SendRawEmail"}
    resources = json.dumps(sends[0]["Resource"])
    # The sender's address and its domain (course addresses <number>-<sender> are under it), nothing else
    assert f"identity/{sender}" in resources and f'identity/{domain}"' in resources
    assert "*" not in resources
    senders = {
        name
        for name in synthesized.stack.functions.functions()
        if "ses:SendRawEmail" in _actions(_statements_of(synthesized, name))
    }
    assert senders == {"process-chunk"}


def test_the_public_unsubscribe_function_only_reads_courses_and_writes_opt_outs(
    synthesized: Synthesized,
) -> None:
    data = synthesized.stack.data
    statements = _statements_of(synthesized, "email-unsubscribe")
    tables = {synthesized.logical_id(t) for t in (data.tasks, data.courses, data.access, data.email)}
    touched = {table for table in tables if _actions_on(statements, table)}
    assert touched == {synthesized.logical_id(data.courses), synthesized.logical_id(data.email)}
    assert WRITE not in _actions_on(statements, synthesized.logical_id(data.courses))
    # No task, report, state machine, bus or SES rights
    prefixes = {action.split(":")[0] for action in _actions(statements)}
    assert prefixes <= {"dynamodb", "secretsmanager", "logs", "xray"}, prefixes


def test_ses_events_reach_email_events_from_the_default_bus(synthesized: Synthesized) -> None:
    queue = synthesized.logical_id(synthesized.stack.lti.queues["email-ses-events"])
    rules = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [queue, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert len(rules) == 1
    assert "EventBusName" not in rules[0]  # the account's default bus, where SES publishes
    assert rules[0]["EventPattern"]["source"] == ["aws.ses"]
    assert set(rules[0]["EventPattern"]["detail-type"]) == {"Email Bounced", "Email Complaint Received"}
    # email-events touches only the email table among the data tables
    statements = _statements_of(synthesized, "email-events")
    data = synthesized.stack.data
    for table in (data.tasks, data.courses, data.access):
        assert not _actions_on(statements, synthesized.logical_id(table)), table
    assert WRITE in _actions_on(statements, synthesized.logical_id(data.email))
