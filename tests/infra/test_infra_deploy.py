"""The first deployment path: the stack's outputs, `make deploy`'s printout and `make deploy-check`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_support import REPO_ROOT, Synthesized

from infra import deploy_check, show_outputs

GOOD_ENV = {"CDK_DEFAULT_REGION": "eu-west-1"}
GOOD = {
    "jwtIssuer": "https://login.university.edu/realms/openedx",
    "jwtAudience": "itask-api",
    "notifyFrom": "reports@university.edu",
}


def test_the_stack_declares_what_an_operator_needs_as_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    assert set(outputs) >= {
        "ApiUrl",
        "EventBusName",
        "ReportsBucketName",
        "StateMachineArn",
        "AccessTableName",
    }
    resources = synthesized.resources
    stack = synthesized.stack
    # each points at the resource it names
    assert outputs["EventBusName"]["Value"] == {
        "Ref": stack.get_logical_id(stack.schedules.event_bus.node.default_child)
    }
    assert outputs["ReportsBucketName"]["Value"] == {"Ref": synthesized.logical_id(stack.reports.bucket)}
    assert outputs["AccessTableName"]["Value"] == {"Ref": synthesized.logical_id(stack.data.access)}
    assert outputs["StateMachineArn"]["Value"] == {
        "Ref": synthesized.logical_id(stack.workflow.state_machine)
    }
    api_url = json.dumps(outputs["ApiUrl"]["Value"])
    assert any(resources[name]["Type"] == "AWS::ApiGatewayV2::Api" and name in api_url for name in resources)
    assert all(output.get("Description") for output in outputs.values())


def test_make_deploy_prints_the_outputs_in_order(tmp_path: Path) -> None:
    # Given the file `cdk deploy --outputs-file` writes
    outputs = {
        "InstructorTasks": {
            "StateMachineArn": "arn:aws:states:eu-west-1:111122223333:stateMachine:itask",
            "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/",
            "AccessTableName": "InstructorTasks-AccessTable-1",
            "EventBusName": "itask",
            "ReportsBucketName": "instructortasks-reports-1",
        }
    }
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps(outputs))
    printed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "infra" / "show_outputs.py"), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.split()[0] for line in printed.splitlines()] == [
        "ApiUrl",
        "EventBusName",
        "ReportsBucketName",
        "StateMachineArn",
        "AccessTableName",
    ]
    assert "https://abc.execute-api.eu-west-1.amazonaws.com/" in printed
    with pytest.raises(SystemExit, match="no outputs of InstructorTasks"):
        show_outputs.render({})


def _repo(tmp_path: Path, context: dict[str, Any], layer: Path | None) -> Path:
    """A stand-in repository root: cdk.json with this context, the real pyproject.toml."""
    root = tmp_path / "repo"
    root.mkdir()
    # the repository's context (its feature flags) with these values in place of the examples
    full = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"], **context}
    if layer is not None:
        full["layerDir"] = str(layer)
    (root / "cdk.json").write_text(json.dumps({"app": "python3 infra/app.py", "context": full}))
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _built_layer(tmp_path: Path, leave_out: str | None = None) -> Path:
    """A layer directory as `pip install --target` leaves it: one dist-info per requirement."""
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    for name in deploy_check.runtime_requirements(REPO_ROOT / "pyproject.toml"):
        if name != leave_out:
            (layer / "python" / f"{name.replace('-', '_')}-1.0.dist-info").mkdir()
    return layer


@pytest.mark.parametrize(
    ("change", "env", "message"),
    [
        ({"jwtIssuer": "http://login.university.edu/"}, GOOD_ENV, "jwtIssuer: must be the https URL"),
        (
            {"jwtIssuer": "https://auth.example.com/"},
            GOOD_ENV,
            "jwtIssuer: 'https://auth.example.com/' is the example",
        ),
        ({"jwtIssuer": "login.university.edu"}, GOOD_ENV, "jwtIssuer: must be the https URL"),
        ({"jwtAudience": " , "}, GOOD_ENV, "jwtAudience: must name at least one audience"),
        ({"jwtAudience": []}, GOOD_ENV, "jwtAudience: must name at least one audience"),
        ({"notifyFrom": "reports"}, GOOD_ENV, "notifyFrom: must be an email address"),
        (
            {"notifyFrom": "no-reply@example.com"},
            GOOD_ENV,
            "notifyFrom: 'no-reply@example.com' is the example",
        ),
        ({}, {}, "region: is not set"),
        ({}, {"AWS_REGION": "Ireland"}, "region: 'Ireland' is not an AWS region name"),
    ],
)
def test_deploy_check_refuses_bad_settings(tmp_path: Path, change: dict, env: dict, message: str) -> None:
    root = _repo(tmp_path, {**GOOD, **change}, _built_layer(tmp_path))
    problems = deploy_check.run(root, environ=env, synth=False)
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_deploy_check_refuses_the_example_settings_of_a_fresh_clone() -> None:
    # The repository's cdk.json holds example values: they must be replaced before a deployment
    problems = deploy_check.run(REPO_ROOT, environ={}, synth=False, overrides={"layerDir": "/nonexistent"})
    assert [p.split(":", 1)[0] for p in problems] == ["jwtIssuer", "notifyFrom", "region", "layerDir"]


def test_deploy_check_refuses_a_missing_or_incomplete_layer(tmp_path: Path) -> None:
    root = _repo(tmp_path, GOOD, tmp_path / "never-built")
    assert deploy_check.run(root, environ=GOOD_ENV, synth=False) == [
        f"layerDir: {tmp_path / 'never-built'} is not built (no python/ directory): run `make layer`"
    ]
    root2 = _repo(tmp_path / "b", GOOD, _built_layer(tmp_path / "b", leave_out="edx-opaque-keys"))
    problems = deploy_check.run(root2, environ=GOOD_ENV, synth=False)
    assert len(problems) == 1 and "lacks edx-opaque-keys" in problems[0]


def test_deploy_check_passes_good_settings_and_synthesises_a_clean_template(tmp_path: Path) -> None:
    # Given good settings and a built layer
    root = _repo(tmp_path, GOOD, _built_layer(tmp_path))
    # Then the settings, the layer, cdk-nag and cfn-lint all pass
    assert deploy_check.run(root, environ=GOOD_ENV, synth=True) == []


def test_deploy_check_script_exits_1_with_one_line_per_problem(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "infra" / "deploy_check.py"),
            "--no-synth",
            "-c",
            "layerDir=/nonexistent",
        ],
        capture_output=True,
        text=True,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "deploy-check: 4 problem(s); nothing was deployed"
    assert all(line.startswith("deploy-check: ") for line in lines)
