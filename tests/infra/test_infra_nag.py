"""cdk-nag (AwsSolutions): no unacknowledged finding, and every acknowledgement says why.

cdk-nag 3 is a CDK policy-validation plugin (not an Aspect emitting annotations any more): findings
come back in a validation report, and ``app.synth()`` raises while any is unacknowledged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from infra_support import Synthesized

from infra.application import create_app

MIN_REASON_LENGTH = 20
# aws-cdk-lib acknowledges some of its own template validation rules, with its own reason (a VPC
# reading the stack's availability zones, for instance): those are CDK's, not ours.
CDK_OWN_RULES = ("CloudFormation-Validate::",)


def _acknowledgements(synthesized: Synthesized) -> dict[str, dict[str, str]]:
    """Construct path -> {rule id: reason} of every ``Validations.acknowledge`` in the stack."""
    found: dict[str, dict[str, str]] = {}
    for construct in synthesized.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY and entry.data:
                for rule, reason in dict(entry.data).items():
                    # aws-cdk-lib keys them "Annotation::<rule>" (cdk-nag strips that prefix too)
                    rule_id = rule.split("::", 1)[1] if rule.lower().startswith("annotation::") else rule
                    found.setdefault(construct.node.path, {})[rule_id] = str(reason)
    return found


def test_no_unacknowledged_aws_solutions_findings(synthesized: Synthesized) -> None:
    # Given the stack checked against the AwsSolutions pack
    report = AwsSolutionsChecks(verbose=True).validate_scope(synthesized.stack)
    # Then no error or warning finding is left unacknowledged
    findings = [
        f"{v.severity} {v.rule_name}: {[r.construct_path for r in v.violating_resources]}"
        for v in report.violations
    ]
    assert findings == []
    assert report.success


def test_no_error_or_nag_annotations(synthesized: Synthesized) -> None:
    # Given the annotations left on the stack by the CDK (and by any Aspect-style nag pack)
    annotations = Annotations.from_stack(synthesized.stack)
    # Then there is no error at all, and no AwsSolutions error or warning
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []


def test_every_acknowledgement_carries_a_reason(synthesized: Synthesized) -> None:
    # Given every acknowledged rule in the stack
    acknowledgements = _acknowledgements(synthesized)
    assert acknowledgements, "no acknowledgements found: is the metadata key still right?"
    for path, rules in acknowledgements.items():
        for rule, reason in rules.items():
            # Then it is an AwsSolutions rule (or CDK's own) and the reason is an actual explanation
            assert rule.startswith(("AwsSolutions-", *CDK_OWN_RULES)), f"{path}: {rule}"
            assert len(reason.strip()) >= MIN_REASON_LENGTH, f"{path}: {rule} has no real reason"


def test_acknowledgements_reach_the_template_as_an_audit_trail(synthesized: Synthesized) -> None:
    # Given the resources whose findings were acknowledged
    with_metadata = {
        logical_id: resource["Metadata"]["cdk_nag"]["rules_to_suppress"]
        for logical_id, resource in synthesized.resources.items()
        if "cdk_nag" in resource.get("Metadata", {})
    }
    # Then the template records each rule with its reason
    assert with_metadata
    for rules in with_metadata.values():
        ours_or_cdks = ("AwsSolutions-", *CDK_OWN_RULES)
        assert all(rule["id"].startswith(ours_or_cdks) and rule["reason"] for rule in rules)


def test_synthesis_fails_on_an_unacknowledged_finding(
    synthesized: Synthesized, layer_dir: Path, tmp_path: Path
) -> None:
    # Given the app as infra/app.py builds it, plus a bucket breaking AwsSolutions rules
    context = {**synthesized.context, "layerDir": str(layer_dir)}
    app, stack = create_app(context=context, outdir=str(tmp_path))
    s3.Bucket(stack, "NonCompliantBucket")
    # When synthesising, then cdk-nag stops it
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S1\b"):
        app.synth()
