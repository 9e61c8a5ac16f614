"""Create the service's AWS resources on moto: the same ASL file, tables from the same models."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from functions.catalog import ASL_FUNCTION_TOKENS, SECRETS
from functions.dal.clients import client
from functions.dal.course_repo import forget_shard_counts
from functions.dal.tables import create_tables
from functions.settings import Settings
from itask.local.lambda_router import LOCAL_ACCOUNT, LambdaRouter

ROOT = Path(__file__).resolve().parents[2]
ASL_FILE = ROOT / "statemachines" / "instructor_task.asl.json"
STATE_MACHINE_NAME = "itask-instructor-task"
_TOKEN = re.compile(r"\$\{(\w+)\}")


def asl_tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text))


def render_asl(router: LambdaRouter) -> str:
    """The ASL with every ``${Token}`` replaced by a local function ARN (as CDK does with real ones)."""
    text = ASL_FILE.read_text()
    missing = asl_tokens(text) - set(ASL_FUNCTION_TOKENS)
    if missing:
        raise ValueError(f"ASL placeholders with no value: {sorted(missing)}")
    for token, function in ASL_FUNCTION_TOKENS.items():
        text = text.replace("${" + token + "}", router.arn(function))
    return text


def local_secret(home: Path, name: str) -> str:
    """A secret generated for this local stack home once (kept, owner-only), never a fixed value."""
    path = home / f"{name}-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def provision(settings: Settings, router: LambdaRouter, secret_values: Mapping[str, str]) -> Settings:
    """Tables, bucket, event bus, secrets and the state machine; returns settings naming the state
    machine and the secrets (as the stack's environment does on AWS)."""
    missing = set(SECRETS) - set(secret_values)
    if missing:
        raise ValueError(f"no local value for secrets {sorted(missing)}")
    create_tables(settings)
    forget_shard_counts()  # new tables: a course remembered from an earlier stack is not in them
    s3 = client("s3", settings.region)
    if settings.region == "us-east-1":
        s3.create_bucket(Bucket=settings.bucket)
    else:
        s3.create_bucket(
            Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": settings.region}
        )
    client("events", settings.region).create_event_bus(Name=settings.event_bus_name)
    # SES sends only from verified identities (on AWS: verify the domain once, see the README).
    client("ses", settings.region).verify_email_identity(EmailAddress=settings.notify_from)
    manager = client("secretsmanager", settings.region)
    secret_arns = {
        spec.setting: manager.create_secret(
            Name=f"itask/{spec.name}", SecretString=secret_values[spec.name], Description=spec.description
        )["ARN"]
        for spec in SECRETS.values()
    }
    sfn = client("stepfunctions", settings.region)
    arn = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=render_asl(router),
        roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/itask-state-machine",
    )["stateMachineArn"]
    # Python-graded problems go to the grader function, routed in-process like every function here.
    grader = settings.grader_function or router.arn("grader")
    settings = settings.model_copy(
        update={"state_machine_arn": arn, "grader_function": grader, **secret_arns}
    )
    from functions.dal.openedx_events_repo import create_table as create_openedx_events_table
    from itask.local.email_resources import provision_email
    from itask.local.lti_resources import provision_lti

    create_openedx_events_table(settings)

    return provision_email(provision_lti(settings, router))


def provision_local_downloads(settings: Settings, download_url: str, key: str) -> Settings:
    """Local stack only: report links point at ``download_url`` (the adapter), HMAC-signed with
    ``key``, which lives in Secrets Manager like any secret; moto serves no unchecked links then."""
    arn = client("secretsmanager", settings.region).create_secret(
        Name="itask/local-download", SecretString=key, Description="Signs the local stack's report links"
    )["ARN"]
    return settings.model_copy(update={"local_download_url": download_url, "local_download_key_arn": arn})


def export_settings(settings: Settings) -> None:
    """Put settings in the environment, where every handler reads them at invocation time."""
    for name, value in settings.model_dump().items():
        os.environ[f"ITASK_{name.upper()}"] = str(value)
