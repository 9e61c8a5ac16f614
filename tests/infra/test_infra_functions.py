"""The Lambda functions: one per catalog entry, their runtime, layer, code asset and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from infra_support import Synthesized

from functions.catalog import FUNCTIONS

POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "instructor-tasks",
    "POWERTOOLS_METRICS_NAMESPACE": "InstructorTasks",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def _function(synthesized: Synthesized, name: str) -> dict[str, Any]:
    return synthesized.resource(synthesized.stack.functions[name])["Properties"]


def test_one_function_per_catalog_entry(synthesized: Synthesized) -> None:
    # Given the synthesised Lambda functions
    functions = synthesized.of_type("AWS::Lambda::Function")
    # Then there is exactly one per FUNCTIONS entry, each with that entry's handler
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == sorted(
        spec.handler for spec in FUNCTIONS.values()
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_runtime_sizing_and_tracing(synthesized: Synthesized, name: str) -> None:
    # Given the function of a catalog entry
    spec = FUNCTIONS[name]
    properties = _function(synthesized, name)
    # Then it runs the spec's handler on Python 3.11 / arm64 with the spec's memory and timeout, traced
    assert properties["Handler"] == spec.handler
    assert properties["Runtime"] == "python3.11"
    assert properties["Architectures"] == ["arm64"]
    assert properties["MemorySize"] == spec.memory_mb
    assert properties["Timeout"] == spec.timeout_s
    assert properties["TracingConfig"] == {"Mode": "Active"}


def test_every_function_uses_the_one_shared_layer(synthesized: Synthesized) -> None:
    # Given the single dependencies layer
    layers = synthesized.of_type("AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer_id,) = layers
    assert layers[layer_id]["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layers[layer_id]["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # Then every function references it, and only it
    for name in FUNCTIONS:
        assert _function(synthesized, name)["Layers"] == [{"Ref": layer_id}], name


def test_functions_log_to_their_own_log_group_kept_one_month(synthesized: Synthesized) -> None:
    for name in FUNCTIONS:
        # Given a function's logging configuration
        log_group = _function(synthesized, name)["LoggingConfig"]["LogGroup"]
        # Then it points at a log group of this stack with a one-month retention
        (logical_id,) = log_group.values()
        assert synthesized.resources[logical_id]["Type"] == "AWS::Logs::LogGroup"
        assert synthesized.resources[logical_id]["Properties"]["RetentionInDays"] == 30


def test_code_asset_holds_only_the_functions_package(synthesized: Synthesized) -> None:
    # Given the staged code asset of the functions (S3Key is "<asset hash>.zip")
    keys = {_function(synthesized, name)["Code"]["S3Key"] for name in FUNCTIONS}
    assert len(keys) == 1, "all functions share one code asset"
    asset_dir = synthesized.assembly_dir / f"asset.{Path(keys.pop()).stem}"
    files = [path.relative_to(asset_dir) for path in asset_dir.rglob("*") if path.is_file()]
    # Then it contains the functions package's Python files and nothing else
    assert files, "the code asset is empty"
    outside = [str(path) for path in files if path.parts[0] != "functions" or path.suffix != ".py"]
    assert outside == []
    assert Path("functions/catalog.py") in files
    for spec in FUNCTIONS.values():
        module = Path(*spec.handler.split(".")[:-1]).with_suffix(".py")
        assert module in files, f"{spec.name}: {module} is not in the asset"


def test_every_function_gets_the_settings_it_reads(
    synthesized: Synthesized, settings_env_vars: set[str]
) -> None:
    # Given the settings every function needs to find its resources
    stack = synthesized.stack
    expected = {
        "ITASK_TASKS_TABLE": {"Ref": synthesized.logical_id(stack.data.tasks)},
        "ITASK_COURSES_TABLE": {"Ref": synthesized.logical_id(stack.data.courses)},
        "ITASK_ACCESS_TABLE": {"Ref": synthesized.logical_id(stack.data.access)},
        "ITASK_BUCKET": {"Ref": synthesized.logical_id(stack.reports.bucket)},
        "ITASK_REPORTS_PREFIX": "reports",
        "ITASK_WORK_PREFIX": "work",
        "ITASK_EVENT_BUS_NAME": {"Ref": synthesized.logical_id(stack.schedules.event_bus)},
        "ITASK_NOTIFY_FROM": synthesized.context["notifyFrom"],
        **POWERTOOLS,
    }
    for name in FUNCTIONS:
        variables = _function(synthesized, name)["Environment"]["Variables"]
        # Then each is set, to the resource of this stack
        for key, value in expected.items():
            assert variables.get(key) == value, f"{name}: {key}"
        # And the state machine ARN is that of the pipeline, by name (no Ref: no dependency cycle)
        assert stack.workflow.state_machine_name in str(variables["ITASK_STATE_MACHINE_ARN"])
        # And every ITASK_ variable is one functions/settings.py actually reads
        unknown = {key for key in variables if key.startswith("ITASK_")} - settings_env_vars
        assert unknown == set(), f"{name}: settings.py reads no {sorted(unknown)}"
