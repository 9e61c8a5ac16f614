"""The LTI pass-back's resources: table, KMS key, ScoreChanged delivery, state machine, launch route,
alarms, and what each LTI function may do."""

from __future__ import annotations

import json
import re
from typing import Any

from infra_support import REPO_ROOT, Synthesized

from functions.catalog import EVENT_RULES, LTI_ASL_FUNCTION_TOKENS
from itask.local.lti_resources import event_pattern

ASL = REPO_ROOT / "statemachines" / "lti_passback.asl.json"


def _statements_of(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    role = synthesized.logical_id(synthesized.stack.functions[function].role)
    found: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found |= set(action if isinstance(action, list) else [action])
    return found


def test_the_lti_table_matches_the_models(synthesized: Synthesized) -> None:
    table = synthesized.resource(synthesized.stack.lti.table)
    properties = table["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in properties["GlobalSecondaryIndexes"]
    }
    # The sparse indexes of functions/dal/lti_repo.py
    from functions.dal.lti_repo import LedgerItem

    assert indexes == {
        LedgerItem.failed_by_course.Meta.index_name: ["failed_course", "failed_key"],
        LedgerItem.failed_by_consumer.Meta.index_name: ["failed_consumer", "failed_key"],
    }


def test_secrets_key_rotates(synthesized: Synthesized) -> None:
    key = synthesized.resource(synthesized.stack.lti.key)
    assert key["Properties"]["EnableKeyRotation"] is True


def test_score_changed_goes_from_the_bus_to_an_encrypted_queue_with_dead_letters(
    synthesized: Synthesized,
) -> None:
    for rule in EVENT_RULES:
        queue = synthesized.stack.lti.queues[rule.name]
        queue_id = synthesized.logical_id(queue)
        rules = [
            r["Properties"]
            for r in synthesized.of_type("AWS::Events::Rule").values()
            if any(t["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for t in r["Properties"].get("Targets", []))
        ]
        assert len(rules) == 1
        # The same pattern the local stack gives its rule
        assert rules[0]["EventPattern"] == json.loads(event_pattern(rule))
        if rule.bus == "service":
            assert rules[0]["EventBusName"] == {
                "Ref": synthesized.logical_id(synthesized.stack.schedules.event_bus)
            }
        else:
            # AWS services (SES) publish on the account's default bus: no bus named
            assert rule.bus == "default" and "EventBusName" not in rules[0]
        properties = synthesized.resource(queue)["Properties"]
        assert properties["SqsManagedSseEnabled"] is True
        dead = synthesized.logical_id(synthesized.stack.lti.dead_letters[rule.name])
        assert properties["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead, "Arn"]}
        mappings = [
            m["Properties"]
            for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        ]
        function = synthesized.logical_id(synthesized.stack.functions[rule.target])
        assert [(m["FunctionName"], m["FunctionResponseTypes"], m["BatchSize"]) for m in mappings] == [
            ({"Ref": function}, ["ReportBatchItemFailures"], rule.batch_size)
        ]


def test_the_passback_state_machine_is_the_asl_file_with_its_send_function(synthesized: Synthesized) -> None:
    machine = synthesized.resource(synthesized.stack.lti.state_machine)["Properties"]
    tokens = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert tokens == set(LTI_ASL_FUNCTION_TOKENS)
    for token in tokens:
        function = synthesized.logical_id(synthesized.stack.functions[LTI_ASL_FUNCTION_TOKENS[token]])
        assert machine["DefinitionSubstitutions"][token] == {"Fn::GetAtt": [function, "Arn"]}
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    # The delay and the backoff are Wait states (durable), not sleeping functions
    states = json.loads(ASL.read_text())["States"]
    assert states["Delay"] == {"Type": "Wait", "SecondsPath": "$.delay_seconds", "Next": "Send"}
    assert states["Backoff"] == {"Type": "Wait", "SecondsPath": "$.retry_in", "Next": "Send"}


def test_the_launch_route_has_no_jwt_authorizer_and_its_own_function(synthesized: Synthesized) -> None:
    [route] = [
        r["Properties"]
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == "POST /lti/launch/{course_id}/{usage_id}"
    ]
    assert route.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in route
    integration = synthesized.resources[route["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
    launch = synthesized.logical_id(synthesized.stack.functions["lti-launch"])
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [launch, "Arn"]}


def test_what_each_lti_function_may_do(synthesized: Synthesized) -> None:
    lti = synthesized.stack.lti
    key_arn = {"Fn::GetAtt": [synthesized.logical_id(lti.key), "Arn"]}
    for name, kms in (("lti-launch", "kms:Decrypt"), ("lti-send", "kms:Decrypt"), ("api", "kms:Encrypt")):
        statements = _statements_of(synthesized, name)
        kms_statements = [s for s in statements if any(a.startswith("kms:") for a in _actions([s]))]
        assert [(s["Action"], s["Resource"]) for s in kms_statements] == [(kms, key_arn)], name
    # Only the functions that start pass-backs may start the pass-back state machine
    starters = {
        name
        for name in synthesized.stack.functions.functions()
        if any(
            "states:StartExecution" in _actions([s]) and lti.state_machine_name in json.dumps(s["Resource"])
            for s in _statements_of(synthesized, name)
        )
    }
    assert starters == {"api", "lti-score-changed"}
    # The public launch function touches no task, report or state machine
    launch = _actions(_statements_of(synthesized, "lti-launch"))
    assert not {a for a in launch if a.startswith(("states:", "s3:", "events:", "ses:"))}


def test_failed_passbacks_and_dead_letters_alarm(synthesized: Synthesized) -> None:
    alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    failed = [a for a in alarms if a.get("MetricName") == "LtiPassbacksFailed"]
    assert len(failed) == 1
    assert (failed[0]["Namespace"], failed[0]["Threshold"], failed[0]["Statistic"]) == (
        "InstructorTasks",
        1,
        "Sum",
    )
    assert failed[0]["Dimensions"] == [{"Name": "service", "Value": "instructor-tasks"}]
    topic = {"Ref": synthesized.logical_id(synthesized.stack.monitoring.topic)}
    assert failed[0]["AlarmActions"] == [topic]
    dead = [a for a in alarms if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert len(dead) == len(EVENT_RULES) and all(a["AlarmActions"] == [topic] for a in dead)


def test_the_certificate_routes_have_no_authorizer_and_a_read_only_function(synthesized: Synthesized) -> None:
    verify = synthesized.logical_id(synthesized.stack.functions["certificate-verify"])
    routes = [
        r["Properties"]
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"].startswith("GET /certificates/")
    ]
    assert len(routes) == 2
    for route in routes:
        assert route.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in route
        integration = synthesized.resources[route["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [verify, "Arn"]}
    # It reads: no writes to any table or object, no task, no state machine, no email, no events
    actions = _actions(_statements_of(synthesized, "certificate-verify"))
    assert not {a for a in actions if a.startswith(("states:", "events:", "ses:", "kms:"))}
    assert not {a for a in actions if a.startswith(("dynamodb:Put", "dynamodb:Update", "dynamodb:Delete"))}
    assert not {a for a in actions if a in ("s3:PutObject", "s3:DeleteObject", "dynamodb:BatchWriteItem")}
