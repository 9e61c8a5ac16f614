"""The entry points: infra/app.py's guard for a missing layer, cdk.json, and the layer build command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_support import REPO_ROOT

from infra import build_layer
from infra.application import LayerNotBuilt, audiences, create_app


def test_cdk_json_runs_the_python_app_with_the_context_defaults() -> None:
    # Given cdk.json
    config = json.loads((REPO_ROOT / "cdk.json").read_text())
    # Then the CDK CLI runs infra/app.py, and the app's settings have values
    assert config["app"] == "python3 infra/app.py"
    for key in ("jwtIssuer", "jwtAudience", "layerDir", "notifyFrom"):
        assert config["context"].get(key), key


def test_missing_layer_stops_with_a_make_layer_hint(tmp_path: Path) -> None:
    # Given a layer directory that was never built
    missing = tmp_path / "no-layer"
    # When creating the app, then it refuses, telling how to build the layer
    with pytest.raises(LayerNotBuilt, match="make layer"):
        create_app(context={"layerDir": str(missing)}, outdir=str(tmp_path / "out"))


def test_app_script_reports_a_missing_layer_without_traceback(tmp_path: Path) -> None:
    # Given the CLI launching infra/app.py with a layerDir that does not exist
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"layerDir": str(tmp_path / "no-layer")}),
        "CDK_OUTDIR": str(tmp_path / "out"),
    }
    # When running the script
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "infra" / "app.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it exits non-zero with the hint, not a traceback, and writes no template
    assert result.returncode == 2
    assert "make layer" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "InstructorTasks.template.json").exists()


def test_jwt_audience_accepts_a_list_or_comma_separated_text() -> None:
    # Given the two ways to pass audiences (-c jwtAudience=a,b or a JSON list in cdk.json)
    # Then both give the same list
    assert audiences("a, b") == ["a", "b"] == audiences(["a", "b"])


def test_layer_build_installs_the_runtime_dependencies_for_lambda(tmp_path: Path) -> None:
    # Given the project's runtime dependencies
    requirements = build_layer.runtime_dependencies()
    assert any(r.startswith("pynamodb") for r in requirements)
    # When planning the layer build (dry run: no network)
    command = build_layer.build(tmp_path / "layer", dry_run=True)
    # Then pip installs exactly them, as linux arm64 CPython 3.11 wheels, into <layer>/python
    assert command[command.index("--target") + 1] == str(tmp_path / "layer" / "python")
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--implementation") + 1] == "cp"
    assert command[command.index("--python-version") + 1] == "3.11"
    assert "--only-binary=:all:" in command
    assert command[-len(requirements) :] == requirements
    assert not (tmp_path / "layer").exists()
