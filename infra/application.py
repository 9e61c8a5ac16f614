"""Build the CDK app from its context (``cdk.json``), with the cdk-nag AwsSolutions checks registered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.constructs.openedx_events import KafkaSource
from infra.stack import InstructorTasksStack

CDK_JSON = constants.REPO_ROOT / "cdk.json"
DEFAULTS: dict[str, Any] = {
    "jwtIssuer": "https://auth.example.com/",
    "jwtAudience": "itask",
    "layerDir": "build/layer",
    "notifyFrom": "no-reply@example.com",
    # Course email: sender (empty: notifyFrom), SES configuration set (empty: none), and the public
    # base URL of unsubscribe links (empty: the HTTP API's own URL).
    "emailFrom": "",
    "emailConfigurationSet": "",
    "emailPublicBaseUrl": "",
    # Open edX's instructor dashboard API (/api/instructor/v2/): the LMS whose JWTs it trusts.
    "openedxJwtIssuer": "",
    "openedxJwtAudience": "",
    "openedxJwksUrl": "",
    "openedxJwks": "",
    "openedxCsrfTrustedOrigins": "",
    # The platform as learners know it (report and email texts) and where LTI results point; empty:
    # the functions' defaults (functions/settings.py).
    "siteName": "",
    "platformName": "",
    "emailPlatformName": "",
    "ltiContentUrl": "",
    # Browser origins (comma-separated) allowed to fetch reports and post pre-signed uploads to the
    # bucket directly, e.g. the LMS's micro-frontend domain; empty: no CORS rule (links still work
    # when followed, which needs none).
    "reportsCorsOrigins": "",
    # Open edX events in over Kafka (README "Open edX events in"): an object naming the MSK cluster
    # (mskClusterArn) or a self-managed one (bootstrapServers, secretArn), topicPrefix, topics...;
    # empty: no Kafka mapping (the EventBridge JSON form is always on).
    "openedxEvents": "",
}


class LayerNotBuilt(RuntimeError):
    """The dependencies layer directory is missing: the functions would deploy without their libraries."""


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` of cdk.json (what the CDK CLI would pass to the app)."""
    context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return context


def layer_path(value: str) -> Path:
    """A ``layerDir`` context value; relative paths are relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else constants.REPO_ROOT / path


def audiences(value: str | list[str]) -> list[str]:
    """``jwtAudience`` as a list: a JSON list or a comma-separated string (``-c jwtAudience=a,b``)."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [item.strip() for item in items if item.strip()]


def origins(value: str | list[str]) -> list[str]:
    """A comma-separated (or JSON list) context value of browser origins, without empty entries."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [item.strip().rstrip("/") for item in items if item.strip()]


def create_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None
) -> tuple[App, InstructorTasksStack]:
    """The app and its stack; raises ``LayerNotBuilt`` when the layer directory does not exist."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)

    def setting(key: str) -> Any:
        value = app.node.try_get_context(key)
        return DEFAULTS[key] if value in (None, "") else value

    layer_dir = layer_path(str(setting("layerDir")))
    if not (layer_dir / "python").is_dir():  # Lambda puts <layer>/python on sys.path
        raise LayerNotBuilt(
            f"The dependencies layer {layer_dir} is not built (no python/ directory). Run `make layer` "
            "(python infra/build_layer.py), or point the layerDir context at a built layer."
        )
    stack = InstructorTasksStack(
        app,
        constants.STACK_NAME,
        description="Instructor tasks (Open edX) on Lambda and Step Functions",
        layer_dir=layer_dir,
        jwt_issuer=str(setting("jwtIssuer")),
        jwt_audience=audiences(setting("jwtAudience")),
        notify_from=str(setting("notifyFrom")),
        email_from=str(setting("emailFrom")),
        email_configuration_set=str(setting("emailConfigurationSet")),
        email_public_base_url=str(setting("emailPublicBaseUrl")),
        openedx={
            constants.ENV_OPENEDX_JWT_ISSUER: str(setting("openedxJwtIssuer")),
            constants.ENV_OPENEDX_JWT_AUDIENCE: str(setting("openedxJwtAudience")),
            constants.ENV_OPENEDX_JWKS_URL: str(setting("openedxJwksUrl")),
            constants.ENV_OPENEDX_JWKS: str(setting("openedxJwks")),
            constants.ENV_OPENEDX_CSRF_TRUSTED_ORIGINS: str(setting("openedxCsrfTrustedOrigins")),
        },
        platform={
            constants.ENV_SITE_NAME: str(setting("siteName")),
            constants.ENV_PLATFORM_NAME: str(setting("platformName")),
            constants.ENV_EMAIL_PLATFORM_NAME: str(setting("emailPlatformName")),
            constants.ENV_LTI_CONTENT_URL: str(setting("ltiContentUrl")),
        },
        reports_cors_origins=origins(setting("reportsCorsOrigins")),
        # The CSRF-trusted origins are the Open edX front ends that call the API (functions/cors.py).
        api_cors_origins=origins(setting("openedxCsrfTrustedOrigins")),
        openedx_events=KafkaSource.from_context(setting("openedxEvents")),
    )
    # cdk-nag 3 is a policy-validation plugin: synthesis fails while any finding is unacknowledged.
    # The acknowledgements (with reasons) are also written into the template's Metadata as an audit trail.
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return app, stack
