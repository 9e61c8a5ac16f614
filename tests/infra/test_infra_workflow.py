"""The task pipeline state machine: definition placeholders, configuration and role."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra_support import REPO_ROOT, Synthesized

from functions.catalog import ASL_FUNCTION_TOKENS
from infra.constructs.workflow import DefinitionError, token_functions

ASL = REPO_ROOT / "statemachines" / "instructor_task.asl.json"


def _state_machine(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resource(synthesized.stack.workflow.state_machine)["Properties"]


def _role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    role = synthesized.logical_id(synthesized.stack.workflow.state_machine.role)
    statements: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_every_placeholder_resolves_to_the_function_it_names(synthesized: Synthesized) -> None:
    # Given every ${Token} of the ASL file
    tokens = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert tokens, "the ASL file has no placeholders: is the regex still right?"
    # When reading the state machine's substitutions
    substitutions = _state_machine(synthesized)["DefinitionSubstitutions"]
    # Then each token is substituted by the Arn of the Lambda function ASL_FUNCTION_TOKENS names
    assert tokens <= set(substitutions)
    for token in tokens:
        function = synthesized.logical_id(synthesized.stack.functions[ASL_FUNCTION_TOKENS[token]])
        assert synthesized.resources[function]["Type"] == "AWS::Lambda::Function"
        assert substitutions[token] == {"Fn::GetAtt": [function, "Arn"]}, token


def test_deployed_definition_is_the_asl_file(synthesized: Synthesized) -> None:
    # Given the definition asset the state machine is created from
    key = _state_machine(synthesized)["DefinitionS3Location"]["Key"]
    staged = synthesized.assembly_dir / f"asset.{key}"
    # Then it is the repository's ASL file, placeholders included (CloudFormation substitutes them)
    assert json.loads(staged.read_text()) == json.loads(ASL.read_text())


def test_unknown_placeholder_fails_synthesis_clearly(tmp_path: Path) -> None:
    # Given a definition with a placeholder no function fills
    definition = tmp_path / "bad.asl.json"
    definition.write_text('{"StartAt": "X", "States": {"X": {"Type": "Task", "Resource": "${NoSuchArn}"}}}')
    # When resolving its placeholders, then synthesis stops naming the placeholder
    with pytest.raises(DefinitionError, match=r"\$\{NoSuchArn\}"):
        token_functions(definition, {})


def test_placeholder_of_a_missing_function_fails_clearly(tmp_path: Path) -> None:
    # Given a known placeholder whose function is not deployed
    token = next(iter(ASL_FUNCTION_TOKENS))
    definition = tmp_path / "partial.asl.json"
    definition.write_text(json.dumps({"Resource": f"${{{token}}}"}))
    # Then resolving it fails naming the missing function
    with pytest.raises(DefinitionError, match=ASL_FUNCTION_TOKENS[token]):
        token_functions(definition, {})


def test_standard_logged_and_traced(synthesized: Synthesized) -> None:
    # Given the state machine
    properties = _state_machine(synthesized)
    # Then it is a standard workflow logging every event (without execution data) and traced
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["StateMachineName"] == synthesized.stack.workflow.state_machine_name
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False
    log_group = properties["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert synthesized.resources[log_group["Fn::GetAtt"][0]]["Type"] == "AWS::Logs::LogGroup"
    assert properties["TracingConfiguration"] == {"Enabled": True}


def test_role_invokes_exactly_the_pipeline_functions(synthesized: Synthesized) -> None:
    # Given the state machine role's lambda:InvokeFunction statements
    invoked = {
        json.dumps(resource, sort_keys=True)
        for statement in _role_statements(synthesized)
        if "lambda:InvokeFunction" in _actions(statement)
        for resource in _resources(statement)
    }
    # Then they cover each function of the definition, its versions and aliases, and nothing else
    expected = set()
    for name in set(ASL_FUNCTION_TOKENS.values()):
        arn = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.functions[name]), "Arn"]}
        expected.add(json.dumps(arn, sort_keys=True))
        expected.add(json.dumps({"Fn::Join": ["", [arn, ":*"]]}, sort_keys=True))
    assert invoked == expected


def test_role_reads_chunk_lists_and_runs_map_children(synthesized: Synthesized) -> None:
    # Given the state machine role's statements, flattened to text
    statements = _role_statements(synthesized)

    def granted(action: str) -> str:
        return json.dumps([_resources(s) for s in statements if action in _actions(s)])

    name = synthesized.stack.workflow.state_machine_name
    bucket = synthesized.logical_id(synthesized.stack.reports.bucket)
    # Then the ItemReader may read objects under work/ of the reports bucket (only)
    assert f'[{{"Fn::GetAtt": ["{bucket}", "Arn"]}}, "/work/*"]' in granted("s3:GetObject")
    assert "s3:PutObject" not in json.dumps(statements)
    # And the Distributed Map may start, describe and stop child executions of this machine
    assert f":stateMachine:{name}" in granted("states:StartExecution")
    assert f":execution:{name}/*" in granted("states:DescribeExecution")
    assert f":execution:{name}/*" in granted("states:StopExecution")
