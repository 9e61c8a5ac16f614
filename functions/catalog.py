"""Every Lambda function of the service: the one list CDK and the local stack both read.

Kept free of imports so ``infra/`` can read it without pulling the runtime dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SecretSpec:
    """A secret the stack creates in Secrets Manager; functions get its ARN, never its value."""

    name: str
    setting: str  # the Settings field holding its ARN (env var ITASK_<SETTING>)
    description: str
    # Rotating changes what the secret keys: only where old values need not stay valid.
    rotate: bool = False

    @property
    def env(self) -> str:
        return f"ITASK_{self.setting.upper()}"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # dotted path inside the asset, "module.function"
    description: str
    memory_mb: int = 512
    timeout_s: int = 60
    # Runs untrusted course code: no permissions but logs, no network path, no service settings.
    sandboxed: bool = False
    secrets: tuple[str, ...] = ()  # SECRETS it reads: it gets their ARNs and read access, and
    # refuses to start without them


SECRETS: dict[str, SecretSpec] = {
    spec.name: spec
    for spec in (
        SecretSpec(
            "anonymization",
            "anonymization_secret_arn",
            "Key of the anonymized learner ids in reports (HMAC-SHA256). Not rotated: every id would change.",
        ),
        SecretSpec(
            "email-unsubscribe",
            "email_unsubscribe_secret_arn",
            "Signs the unsubscribe links of course email (HMAC-SHA256). Not rotated: links in mail already "
            "sent would stop working.",
        ),
    )
}


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge schedule rule invoking a function."""

    name: str
    target: str  # FunctionSpec.name
    rate_minutes: int
    description: str


@dataclass(frozen=True)
class EventRuleSpec:
    """Events of the service's bus delivered to a function in batches, through an SQS queue.

    On AWS: rule -> queue (with a dead-letter queue) -> event source mapping with partial batch
    failures. Locally: the same rule and queue on moto, polled by ``itask/local/event_delivery.py``.
    """

    name: str
    target: str  # FunctionSpec.name
    detail_types: tuple[str, ...]
    description: str
    batch_size: int = 10
    # The events' source (None: any) and bus: "service" (the itask bus) or "default" (the account's
    # default bus, where AWS services such as SES publish).
    source: str | None = None
    bus: str = "service"


@dataclass(frozen=True)
class PublicRouteSpec:
    """An HTTP route without the JWT authorizer, served by its own function."""

    method: str
    path: str  # API Gateway route path, e.g. /lti/launch/{course_id}/{usage_id}
    target: str  # FunctionSpec.name
    # Why no bearer token is needed (what authenticates the request instead).
    reason: str = (
        "LTI 1.1 launches come from an LMS as OAuth 1.0a signed form posts: the function "
        "verifies the consumer's signature, timestamp and nonce; there is no bearer token."
    )

    @property
    def prefix(self) -> str:
        """The literal part before the first path parameter (the local adapter matches on it)."""
        return self.path.split("{", 1)[0]

    def matches(self, method: str, path: str) -> bool:
        """As API Gateway routes: ANY takes every method; a path without parameters is exact."""
        if self.method not in ("ANY", method):
            return False
        if "{" not in self.path:
            return path == self.path
        return path.startswith(self.prefix) and len(path) > len(self.prefix)


@dataclass(frozen=True)
class AuthorizedPrefixSpec:
    """Routes under a path prefix that a Lambda authorizer guards instead of the JWT authorizer
    (callers hold another issuer's tokens), served by ``target``."""

    prefix: str  # e.g. /api/instructor/v2/
    authorizer: str  # FunctionSpec.name of the Lambda authorizer
    target: str  # FunctionSpec.name serving the routes

    @property
    def path(self) -> str:
        """The API Gateway route path covering every route under the prefix."""
        return self.prefix + "{proxy+}"


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec(
            "api",
            "functions.handlers.api.lambda_handler",
            "HTTP API: submit, status, reports",
            512,
            29,
            # Email previews render a message as sent: its %%USER_ID%% and unsubscribe link.
            secrets=("anonymization", "email-unsubscribe"),
        ),
        FunctionSpec(
            "plan",
            "functions.handlers.pipeline.plan_handler",
            "Enumerate the population into chunks",
            1024,
            900,
        ),
        FunctionSpec(
            "scan-shard",
            "functions.handlers.pipeline.scan_shard_handler",
            "Count and sample one shard of a task's population",
            1024,
            900,
        ),
        # A full vCPU (1,769 MB): grading a chunk is CPU-bound.
        FunctionSpec(
            "process-chunk",
            "functions.handlers.pipeline.process_chunk_handler",
            "Do a group of chunks of a task's work",
            1769,
            900,
            secrets=("anonymization", "email-unsubscribe"),
        ),
        FunctionSpec(
            "finalize",
            "functions.handlers.pipeline.finalize_handler",
            "Open the report's merge, then complete it and finish the task",
            1024,
            900,
        ),
        FunctionSpec(
            "merge-part",
            "functions.handlers.pipeline.merge_part_handler",
            "Fill one part of a report from chunk parts (or copy one server side)",
            1024,
            300,
        ),
        FunctionSpec(
            "mark-failed",
            "functions.handlers.pipeline.mark_failed_handler",
            "Record a failed task and free its slot",
            256,
            60,
        ),
        FunctionSpec(
            "grader",
            "functions.handlers.grader.lambda_handler",
            "Sandbox: run problems' Python for a batch of learners' answers",
            512,
            300,
            sandboxed=True,
        ),
        FunctionSpec(
            "sweeper",
            "functions.handlers.sweeper.lambda_handler",
            "Fail tasks whose execution has gone; complete interrupted bulk loads",
            # Rolling a load forward reads its journal a chunk at a time and writes like the api did.
            1024,
            900,
        ),
        FunctionSpec(
            "scheduler",
            "functions.handlers.scheduler.lambda_handler",
            "Submit the scheduled runs that are due",
            512,
            120,
        ),
        FunctionSpec(
            "openedx-authorizer",
            "functions.handlers.openedx_authorizer.lambda_handler",
            "Lambda authorizer: Open edX LMS JWTs (header or split cookies) for /api/instructor/v2/",
            256,
            10,
        ),
        FunctionSpec(
            "lti-launch",
            "functions.handlers.lti_launch.lambda_handler",
            "LTI 1.1 launches (OAuth 1.0a signed, no bearer token)",
            256,
            29,
        ),
        FunctionSpec(
            "certificate-verify",
            "functions.handlers.certificate_verify.lambda_handler",
            "Public certificate verification (no bearer token)",
            256,
            29,
        ),
        FunctionSpec(
            "web",
            "functions.handlers.web.lambda_handler",
            "Course staff dashboard: HTML pages (session cookie holding the API's bearer token)",
            512,
            29,
        ),
        FunctionSpec(
            "lti-score-changed",
            "functions.handlers.lti_events.lambda_handler",
            "ScoreChanged events -> LTI pass-backs queued",
            256,
            60,
        ),
        FunctionSpec(
            "email-unsubscribe",
            "functions.handlers.email_unsubscribe.lambda_handler",
            "Course email unsubscribe links (signed token, no bearer token)",
            256,
            29,
            secrets=("email-unsubscribe",),
        ),
        FunctionSpec(
            "email-events",
            "functions.handlers.email_events.lambda_handler",
            "SES bounces and complaints -> suppressed addresses, counted per send",
            256,
            60,
        ),
        FunctionSpec(
            "openedx-events",
            "functions.handlers.openedx_events.lambda_handler",
            "Open edX events in (Kafka via MSK/self-managed mapping, or the EventBridge JSON form)",
            256,
            60,
        ),
        FunctionSpec(
            "lti-send",
            "functions.handlers.lti_send.lambda_handler",
            "Send one LTI pass-back (replaceResult or AGS score) and keep its ledger",
            256,
            60,
        ),
    )
}

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "sweeper",
        "sweeper",
        5,
        "Fail QUEUING/PROGRESS tasks whose execution no longer runs; complete interrupted bulk loads",
    ),
    RuleSpec("scheduler", "scheduler", 1, "Submit scheduled runs that are due"),
)

EVENT_RULES: tuple[EventRuleSpec, ...] = (
    EventRuleSpec(
        "lti-score-changed",
        "lti-score-changed",
        ("ScoreChanged",),
        "Score changes (from our tasks or an LMS) to the LTI pass-back",
    ),
    EventRuleSpec(
        "openedx-events",
        "openedx-events",
        (
            "org.openedx.learning.course.enrollment.created.v1",
            "org.openedx.learning.course.enrollment.changed.v1",
            "org.openedx.learning.course.unenrollment.completed.v1",
            "org.openedx.learning.cohort_membership.changed.v1",
            "org.openedx.learning.user.course_access_role.added.v1",
            "org.openedx.learning.user.course_access_role.removed.v1",
            "org.openedx.learning.course.persistent_grade_summary.changed.v1",
        ),
        "Open edX events in their JSON form (source openedx.events, detail-type the event type)",
        source="openedx.events",
    ),
    EventRuleSpec(
        "email-ses-events",
        "email-events",
        ("Email Bounced", "Email Complaint Received"),
        "SES bounces and complaints of course email (the configuration set's EventBridge destination)",
        source="aws.ses",
        bus="default",
    ),
)

_UNSUBSCRIBE_REASON = (
    "Unsubscribe links are followed from a mailbox (and one-click POSTed by mail providers, RFC 8058): "
    "the HMAC-signed token in the path names the learner and course; there is no bearer token."
)
_WEB_REASON = (
    "The dashboard's pages come from a browser, which sends the API's bearer token in a Secure HttpOnly "
    "SameSite=Strict cookie, not an Authorization header: the function verifies it as the JWT authorizer "
    "does (issuer's keys, issuer, audience, expiry, lifetime)."
)
_CERTIFICATE_REASON = (
    "Certificates are verified by anyone holding one's verification id (128 random bits); the function "
    "only reads, and answers the same 404 for every id that is not valid."
)
PUBLIC_ROUTES: tuple[PublicRouteSpec, ...] = (
    PublicRouteSpec("POST", "/lti/launch/{course_id}/{usage_id}", "lti-launch"),
    PublicRouteSpec("GET", "/certificates/{verify_uuid}", "certificate-verify", _CERTIFICATE_REASON),
    PublicRouteSpec("GET", "/certificates/{verify_uuid}/view", "certificate-verify", _CERTIFICATE_REASON),
    PublicRouteSpec("GET", "/email/unsubscribe/{token}", "email-unsubscribe", _UNSUBSCRIBE_REASON),
    PublicRouteSpec("POST", "/email/unsubscribe/{token}", "email-unsubscribe", _UNSUBSCRIBE_REASON),
    # The dashboard's pages: a browser sends its session cookie, not an Authorization header, so the
    # function verifies the token itself (functions/web/session.py).
    PublicRouteSpec("GET", "/", "web", _WEB_REASON),
    PublicRouteSpec("GET", "/web", "web", _WEB_REASON),
    PublicRouteSpec("ANY", "/web/{proxy+}", "web", _WEB_REASON),
)

# Open edX's instructor dashboard API (issue #17): the LMS's own JWTs, checked by a Lambda authorizer.
OPENEDX_ROUTES = AuthorizedPrefixSpec("/api/instructor/v2/", "openedx-authorizer", "api")

# The LTI pass-back state machine (statemachines/lti_passback.asl.json) and its placeholders.
LTI_ASL_FILE = "lti_passback.asl.json"
LTI_ASL_FUNCTION_TOKENS: dict[str, str] = {"LtiSendFunctionArn": "lti-send"}

# Placeholders of statemachines/instructor_task.asl.json and the function each one names.
ASL_FUNCTION_TOKENS: dict[str, str] = {
    "PlanFunctionArn": "plan",
    "ScanShardFunctionArn": "scan-shard",
    "ProcessChunkFunctionArn": "process-chunk",
    "FinalizeFunctionArn": "finalize",
    "MergePartFunctionArn": "merge-part",
    "MarkFailedFunctionArn": "mark-failed",
}
