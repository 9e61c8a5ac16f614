#!/usr/bin/env python3
"""Check a deployment's settings offline, before ``cdk deploy``: ``python infra/deploy_check.py``.

What it checks (each problem is one line; exit 1 if there is any):

* the context values of ``cdk.json`` (and ``cdk.context.json``): ``jwtIssuer`` an https URL of your
  identity provider (not the example), ``jwtAudience`` one or more non-empty audiences,
  ``notifyFrom`` an email address (not the example), ``layerDir`` a built layer;
* the target region (``CDK_DEFAULT_REGION``, ``AWS_REGION`` or ``AWS_DEFAULT_REGION``) is set and
  looks like a region;
* the dependencies layer holds every runtime dependency of pyproject.toml (``make layer``);
* the synthesised template passes cdk-nag (synthesis fails on any finding) and cfn-lint.

Nothing here calls AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_INFRA_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _INFRA_DIR.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _INFRA_DIR]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator  # noqa: E402

from infra.application import DEFAULTS, audiences, layer_path  # noqa: E402

EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
# cfn-lint warnings accepted for the same reasons as in tests/infra/test_infra_cfn_lint.py.
IGNORED_CFN_LINT = {"W3005"}


def _is_example(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in EXAMPLE_DOMAINS)


class DeploySettings(BaseModel):
    """The values a deployment cannot do without, as the CDK app reads them."""

    model_config = ConfigDict(extra="ignore")

    jwtIssuer: str
    jwtAudience: list[str]
    notifyFrom: str
    layerDir: str
    region: str

    @field_validator("jwtIssuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(
                f"must be the https URL of your identity provider (the tokens' iss), got {value!r}"
            )
        if _is_example(parts.hostname):
            raise ValueError(f"{value!r} is the example value: set your identity provider's issuer URL")
        if parts.query or parts.fragment:
            raise ValueError(f"must be a plain URL (no query or fragment), got {value!r}")
        return value

    @field_validator("jwtAudience", mode="before")
    @classmethod
    def _audience(cls, value: Any) -> list[str]:
        found = audiences(value) if isinstance(value, str | list) else []
        if not found:
            raise ValueError("must name at least one audience (the tokens' aud, e.g. your app client id)")
        return found

    @field_validator("notifyFrom")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"must be an email address (an SES-verified sender), got {value!r}")
        if _is_example(value.rsplit("@", 1)[1].lower()):
            raise ValueError(f"{value!r} is the example value: set a sender of a domain you verified in SES")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not value:
            raise ValueError("is not set: export CDK_DEFAULT_REGION (or AWS_REGION), e.g. eu-west-1")
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (e.g. eu-west-1)")
        return value


def context_of(repo_root: Path = _REPO_ROOT, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context, then cdk.context.json's, then ``overrides`` (as the CDK CLI merges ``-c``)."""
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = repo_root / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    context.update(overrides or {})
    return context


def region_of(environ: Mapping[str, str]) -> str:
    for name in ("CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return environ[name]
    return ""


def check_settings(
    context: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[DeploySettings | None, list[str]]:
    values = {
        key: context.get(key) if context.get(key) not in (None, "") else DEFAULTS.get(key) for key in DEFAULTS
    }
    values["region"] = region_of(environ)
    try:
        return DeploySettings.model_validate(values), []
    except ValidationError as error:
        return None, [
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        ]


def runtime_requirements(pyproject: Path = _REPO_ROOT / "pyproject.toml") -> list[str]:
    with pyproject.open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    names = []
    for requirement in dependencies:
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            names.append(match.group(0))
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def check_layer(layer_dir: Path, requirements: Sequence[str]) -> list[str]:
    """Every runtime dependency has its ``*.dist-info`` in ``<layer>/python`` (what pip --target writes)."""
    python = layer_dir / "python"
    if not python.is_dir():
        return [f"layerDir: {layer_dir} is not built (no python/ directory): run `make layer`"]
    installed = {_normalise(path.name.split("-", 1)[0]) for path in python.glob("*.dist-info")}
    missing = [name for name in requirements if _normalise(name) not in installed]
    if missing:
        return [f"layerDir: {layer_dir} lacks {', '.join(missing)}: run `make layer` again"]
    return []


def check_template(context: Mapping[str, Any], outdir: Path) -> list[str]:
    """Synthesise (cdk-nag fails synthesis on any finding), then cfn-lint the template."""
    from cfnlint.api import ManualArgs, lint_file

    from infra.application import create_app

    try:
        app, stack = create_app(context=context, outdir=str(outdir))
        assembly = app.synth()
    except Exception as error:  # a synthesis or cdk-nag failure is the finding to report
        return [
            f"synth: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}"
        ]
    template = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
    regions = [str(context.get("region") or "us-east-1")]
    matches = lint_file(template, config=ManualArgs(regions=regions))
    return [
        f"cfn-lint {m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if not (m.rule.id.startswith("W") and m.rule.id in IGNORED_CFN_LINT) and not m.rule.id.startswith("I")
    ]


def run(
    repo_root: Path = _REPO_ROOT,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    synth: bool = True,
) -> list[str]:
    """Every problem found, one line each (empty: ready for ``cdk deploy``)."""
    environ = os.environ if environ is None else environ
    context = context_of(repo_root, overrides)
    settings, problems = check_settings(context, environ)
    layer = layer_path(str(context.get("layerDir") or DEFAULTS["layerDir"]))
    problems += check_layer(layer, runtime_requirements(repo_root / "pyproject.toml"))
    if synth and not problems and settings is not None:
        with tempfile.TemporaryDirectory(prefix="deploy-check-") as outdir:
            problems += check_template({**context, "region": settings.region}, Path(outdir))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as cdk -c")
    parser.add_argument("--no-synth", action="store_true", help="check the settings and the layer only")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.context if "=" in item)
    problems = run(overrides=overrides, synth=not args.no_synth)
    for problem in problems:
        print(f"deploy-check: {problem}", file=sys.stderr)
    if problems:
        print(f"deploy-check: {len(problems)} problem(s); nothing was deployed", file=sys.stderr)
        return 1
    print("deploy-check: settings, layer and template are ready for `make deploy`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
