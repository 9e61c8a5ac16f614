"""Synthesise the CDK app once per session, offline, with a stand-in dependencies layer.

Needs the ``infra`` extra (aws-cdk-lib, cdk-nag, cfn-lint) and Node.js (the CDK runs on jsii);
without the extra the whole directory is skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ITASK_REQUIRE_INFRA") == "1":
    # `make test` installs the extra: here a missing library is an error, never a silent skip.
    import aws_cdk  # noqa: F401
    import cdk_nag  # noqa: F401
else:
    pytest.importorskip("aws_cdk", reason="the infra extra is not installed: pip install -e '.[infra]'")
    pytest.importorskip("cdk_nag", reason="the infra extra is not installed: pip install -e '.[infra]'")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# The repository root for `infra`, and this directory for `infra_support` (whatever the import mode).
for entry in (str(REPO_ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from aws_cdk.assertions import Template  # noqa: E402
from infra_support import (  # noqa: E402
    DeclaredTable,
    Synthesized,
    parse_settings_fields,
    parse_tables,
)

from infra.application import cdk_json_context, create_app  # noqa: E402


@pytest.fixture(scope="session")
def layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for build/layer: synthesis only stages the directory, it never imports from it."""
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    (layer / "python" / "README.txt").write_text("stand-in dependencies layer for the infra tests\n")
    return layer


@pytest.fixture(scope="session")
def synthesized(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as ``infra/app.py`` builds it (cdk-nag registered), with the cdk.json context."""
    context = cdk_json_context()
    context["layerDir"] = str(layer_dir)
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = create_app(context=context, outdir=str(outdir))
    assembly = app.synth()  # raises if cdk-nag (or CloudFormation validation) reports anything
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template_file = Path(artifact.template_full_path)
    template_json: dict[str, Any] = json.loads(template_file.read_text())
    return Synthesized(
        app=app,
        stack=stack,
        template=Template.from_json(template_json),
        resources=template_json["Resources"],
        template_file=template_file,
        assembly_dir=Path(assembly.directory),
        context=context,
    )


@pytest.fixture(scope="session")
def declared_tables() -> dict[str, DeclaredTable]:
    """Settings field -> table, as the PynamoDB models declare it."""
    return {
        **parse_tables(REPO_ROOT / "functions" / "dal" / "tables.py"),
        **parse_tables(REPO_ROOT / "functions" / "dal" / "email_repo.py", ("email_table", "EmailItem")),
    }


@pytest.fixture(scope="session")
def settings_env_vars() -> set[str]:
    """Every environment variable ``functions/settings.py`` reads (prefix ITASK_)."""
    fields = parse_settings_fields(REPO_ROOT / "functions" / "settings.py")
    return {f"ITASK_{field.upper()}" for field in fields}
