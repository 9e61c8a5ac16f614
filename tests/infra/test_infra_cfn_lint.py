"""cfn-lint on the synthesised template: no errors, no unexplained warnings."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file
from infra_support import Synthesized

REGIONS = ["us-east-1", "eu-west-1"]

# Warnings accepted, each for a stated reason (errors are never accepted).
IGNORED_WARNINGS = {
    # W3005 "dependency already enforced by a GetAtt": aws_lambda.Function and StateMachine add an
    # explicit DependsOn on their execution role next to the Role GetAtt. Redundant but harmless, and
    # not controllable from the L2 constructs.
    "W3005",
}


def test_template_passes_cfn_lint(synthesized: Synthesized, tmp_path: Path) -> None:
    # Given the synthesised template written to a file
    template = tmp_path / "InstructorTasks.template.json"
    template.write_text(json.dumps(synthesized.template.to_json(), indent=1))
    # When linting it for the target regions (errors and warnings; informational checks excluded)
    matches = lint_file(template, config=ManualArgs(regions=REGIONS))
    # Then nothing is reported but the accepted warnings
    reported = [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if not (m.rule.id.startswith("W") and m.rule.id in IGNORED_WARNINGS)
    ]
    assert reported == []
