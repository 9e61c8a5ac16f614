"""One validated settings model, read at invocation time (never at import time)."""

from __future__ import annotations

import os

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of every function; CDK sets these as environment variables."""

    model_config = SettingsConfigDict(env_prefix="ITASK_", extra="ignore", frozen=True)

    region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("ITASK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    tasks_table: str = "itask-tasks"
    courses_table: str = "itask-courses"
    access_table: str = "itask-access"
    bucket: str = "itask-reports"
    # Reports live under <reports_prefix>/<sha1(course_id)>/; pipeline scratch under <work_prefix>/<task_id>/.
    reports_prefix: str = "reports"
    work_prefix: str = "work"
    # Journals of bulk loads being applied: <loads_prefix>/<sha1(course_id)>/<load_id>/ (never expired:
    # a pending load is completed from it).
    loads_prefix: str = "loads"
    # A pending load not refreshed for this long is taken over by the recovery (its process died).
    load_lease_seconds: int = Field(default=120, ge=0)
    # Rows per journal object of a load (and per apply step between two refreshes of its lease).
    load_journal_rows: int = Field(default=1000, ge=1, le=100_000)
    state_machine_arn: str = ""
    event_bus_name: str = "itask"
    # Learners per chunk (a CSV part, a ledger entry, a unit of resume); Map children at once. A
    # child runs ceil(chunks / max_concurrency) consecutive chunks (one read per shard for them all),
    # at most max_chunks_per_item, so a run is one wave of children up to that size.
    chunk_size: int = Field(default=5000, ge=1, le=50_000)
    max_concurrency: int = Field(default=200, ge=1, le=10000)
    max_chunks_per_item: int = Field(default=16, ge=1, le=1000)
    # Partitions a new course's learner items are spread over (kept on the course once created).
    # One (the default) suits courses up to some 100,000 learners; the deployed stack sets 8, which
    # keeps a million-learner course's reads and writes under each partition's limits.
    learner_shards: int = Field(default=1, ge=1, le=64)
    # A range-planned population of at most this many learners is scanned by Plan itself (one range
    # read per shard, no scan functions, no Cut state): the fixed cost of the parallel scan (a function,
    # a summary object and a read of the run's snapshot per shard) is most of a small report's
    # requests. Plan gives up past it, so its work stays bounded; 0 always scans in parallel.
    plan_inline_learners: int = Field(default=20_000, ge=0, le=200_000)
    report_url_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    # A running task whose execution has ended for this long is failed by the sweeper.
    sweeper_grace_seconds: int = Field(default=120, ge=0)
    # Who report-ready emails come from, and how long their links work.
    notify_from: str = "no-reply@example.com"
    email_link_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Where secrets live (Secrets Manager ARNs; the stack creates them, the local stack creates
    # them on moto). Never a value, never a default: a function that needs one refuses to start
    # without it. The anonymization secret keys anonymized learner ids (ids change if it does).
    anonymization_secret_arn: str = ""
    # How long a function keeps a secret it has read before asking Secrets Manager again.
    secrets_max_age_seconds: int = Field(default=300, ge=0, le=3600)
    # ---- Scheduled runs (functions/logic/schedules) ----
    # A due run whose running slot is held (the same task runs) is tried again at every tick of the
    # scheduler rule for this long after its due time, then ends FAILURE with the duplicate message.
    schedule_max_delay_seconds: int = Field(default=3600, ge=0, le=7 * 24 * 3600)
    # Recurring schedules: the shortest gap between two runs a cron expression may give.
    schedule_min_interval_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    # Recurring reports mailed to at most this many addresses.
    schedule_notify_max: int = Field(default=20, ge=0, le=100)
    # Local stack and tests only (never set on AWS): how far the scheduling clock runs ahead of the
    # real one, so a schedule can come due without waiting. Moves forward only (itask clock advance).
    local_clock_offset_seconds: int = Field(default=0, ge=0, le=10 * 366 * 24 * 3600)
    # Problem responses report: at most this many rows in all (upstream's MAX_PROBLEM_RESPONSES_COUNT).
    problem_responses_max: int = Field(default=5000, ge=1)
    # Learner profile report: fields never exported, comma separated.
    profile_private_fields: str = "year_of_birth"
    # Bearer tokens living longer than this (exp - iat), or without exp, are refused (401).
    max_token_lifetime_seconds: int = Field(default=12 * 3600, ge=60, le=7 * 24 * 3600)
    # Local stack only (never set on AWS): report links point at the local stack's download route,
    # which checks their HMAC signature and expiry (moto checks neither on S3 links). The key is a
    # Secrets Manager secret the local stack creates.
    local_download_url: str = ""
    local_download_key_arn: str = ""
    # ---- the course staff dashboard (functions/web; its own function, no JWT authorizer) ----
    # The pages take the API's bearer token from a cookie and verify it themselves, as the JWT
    # authorizer does: this issuer and audience (comma separated), keys from this JWKS URL (empty:
    # the issuer's OpenID configuration names it). Empty issuer: the pages refuse every sign-in.
    web_jwt_issuer: str = ""
    web_jwt_audience: str = ""
    web_jwks_url: str = ""
    # Optional JSON overriding the permission rules, e.g. {"research": ["global_staff", "instructor"]}.
    permission_overrides: str = ""
    # The sandbox grader function (name or ARN) that runs problems' Python; empty: such problems
    # cannot be rescored. Its limits per learner: wall clock, CPU, memory of the child process.
    grader_function: str = ""
    grader_job_timeout_s: float = Field(default=3.0, gt=0, le=60)
    grader_cpu_s: int = Field(default=2, ge=1, le=60)
    grader_memory_mb: int = Field(default=256, ge=64, le=4096)
    # Learners per grader call, and grader calls a chunk makes at once.
    grader_batch_size: int = Field(default=100, ge=1, le=1000)
    grader_concurrency: int = Field(default=4, ge=1, le=32)

    # ---- staff uploads, certificates, batch enrollment (spec §7) ----
    # Files staff upload (pre-signed POSTs) live under <uploads_prefix>/<sha1(course_id)>/<purpose>/.
    uploads_prefix: str = "uploads"
    upload_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # Rendered certificates: <certificates_prefix>/<verification id>.html.
    certificates_prefix: str = "certificates"
    # Where the public certificate routes are reached (printed on certificates); empty: paths only.
    public_base_url: str = ""
    # Named in learners' and requesters' emails (upstream's PLATFORM_NAME and SITE_NAME).
    platform_name: str = "Open edX"
    site_name: str = "courses.example.com"
    # ---- Open edX identities (issue #17; functions/logic/openedx_auth.py) ----
    # The LMS whose JWTs the /api/instructor/v2/ routes accept: its JWT_ISSUER and JWT_AUDIENCE, and
    # its public signing keys, from a URL serving a JWK set or inline (the LMS's
    # JWT_PUBLIC_SIGNING_JWK_SET, JSON). No issuer: those routes refuse every caller (401).
    openedx_jwt_issuer: str = ""
    openedx_jwt_audience: str = ""
    openedx_jwks_url: str = ""
    openedx_jwks: str = ""
    # How long a fetched key set is kept (a token signed by a key not in it fetches it again).
    openedx_jwks_cache_seconds: int = Field(default=300, ge=0, le=86_400)
    # The split JWT cookies (edx-drf-extensions' JWT_AUTH_COOKIE_HEADER_PAYLOAD / _SIGNATURE) and
    # Django's CSRF cookie; origins other than the API's own allowed to POST with cookies.
    openedx_jwt_cookie_header_payload: str = "edx-jwt-cookie-header-payload"
    openedx_jwt_cookie_signature: str = "edx-jwt-cookie-signature"
    openedx_csrf_cookie: str = "csrftoken"
    openedx_csrf_trusted_origins: str = ""  # comma separated, e.g. https://apps.lms.example.com
    # Access-table subject of an Open edX user: this prefix and the token's preferred_username.
    openedx_subject_prefix: str = "openedx:"

    # ---- Open edX events in (issue #15.4; functions/logic/openedx_inbound.py) ----
    # Event ids already applied (idempotency) and the version of each learner's enrollment, cohort
    # and course roles last applied (out-of-order safety). Event ids expire after the retention.
    openedx_events_table: str = "itask-openedx-events"
    openedx_event_retention_days: int = Field(default=14, ge=1, le=365)
    # Who the audit trail names for a course role synced from an event (followed by the event's source).
    openedx_event_actor: str = "openedx-events"

    # ---- LTI grade pass-back (spec §8; functions/logic/lti) ----
    lti_table: str = "itask-lti"
    # KMS key (id, ARN or alias) that encrypts consumer secrets and tool private keys.
    lti_kms_key_id: str = "alias/itask-lti"
    lti_state_machine_arn: str = ""
    # Where a verified launch redirects; {course_id} and {usage_id} are filled in (URL-quoted).
    lti_content_url: str = "https://courses.example.com/courses/{course_id}/jump_to/{usage_id}"
    # The public base URL consumers sign launches against (behind a proxy or custom domain);
    # empty: scheme and host of the request as API Gateway received it.
    lti_launch_base_url: str = ""
    # How long an OAuth 1.0a timestamp is accepted, either side of now (nonces are kept twice as long).
    lti_timestamp_lifetime_seconds: int = Field(default=600, ge=30, le=3600)
    # Composite (unit / subsection / course) scores wait this long, collapsing bursts (upstream: 900 s).
    lti_composite_delay_seconds: int = Field(default=900, ge=0, le=86_400)
    # Outcome service requests (upstream's LTI_OUTCOME_SERVICE_TIMEOUT).
    lti_request_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Transient failures (5xx, 408, 429, timeouts, connection errors) are retried with exponential
    # backoff and full jitter: base * 2^(attempt-1), capped, until this many attempts in all.
    lti_max_attempts: int = Field(default=8, ge=1, le=50)
    lti_retry_base_seconds: float = Field(default=30.0, ge=0, le=3600)
    lti_retry_max_seconds: float = Field(default=3600.0, ge=0, le=86_400)
    # Outcome URL checks (spec §8.4): http only if allowed; hosts (and their subdomains) if listed.
    lti_outcome_allow_http: bool = False
    lti_outcome_allowed_hosts: str = ""  # comma separated; empty: any public host
    # Local stack and tests only: accept loopback addresses (the LMS stand-ins listen on 127.0.0.1).
    lti_outcome_allow_loopback: bool = False
    # Extra CA certificates (PEM file) trusted for outcome services, e.g. a test CA; empty: system CAs.
    lti_ca_bundle: str = ""

    # ---- Bulk course email (spec §6; functions/logic/email) ----
    email_table: str = "itask-email"
    # Upstream's BULK_EMAIL_DEFAULT_FROM_EMAIL: an address of an SES-verified domain.
    email_from: str = "no-reply@example.com"
    # Upstream's "use course id in from address" toggle: '"<Course title>" Course Staff <NUMBER-from>'.
    email_from_course: bool = True
    # Recipients per chunk (upstream's BULK_EMAIL_EMAILS_PER_TASK); Plan cuts smaller chunks when the
    # send rate would not finish one within a chunk function's run.
    email_recipients_per_chunk: int = Field(default=500, ge=1, le=5000)
    # Recipients claimed in the ledger per DynamoDB transaction (at most 98: a transaction holds 100
    # actions, one checks the task is still running and one records the previous batch). It bounds
    # what a process killed outright leaves "in doubt".
    email_claim_batch: int = Field(default=98, ge=1, le=98)
    # A claim older than this, not recorded as sent or failed, belongs to a run that died: in doubt.
    email_claim_lease_seconds: float = Field(default=900.0, gt=0, le=86_400)
    # SES throttling: wait and try the same message again, for at most this long in all per chunk run.
    email_throttle_max_wait_seconds: float = Field(default=600.0, ge=0, le=3600)
    email_throttle_base_seconds: float = Field(default=1.0, ge=0, le=60)
    # Share of the account's maximum send rate all chunks together may use (others share the account).
    email_send_rate_share: float = Field(default=0.9, gt=0, le=1)
    # Messages per second one chunk can push (SES call latency); with the account's rate it sets the
    # Map concurrency: ceil(rate * share / this), at most max_concurrency.
    email_chunk_send_capacity: float = Field(default=10.0, gt=0, le=1000)
    # A lower ceiling than SES's MaxSendRate for this service (0: the account's rate).
    email_max_send_rate: float = Field(default=0.0, ge=0)
    # The packaged template used when an email names none.
    email_template: str = "default"
    # SES configuration set whose event destination reports bounces and complaints (empty: none).
    email_configuration_set: str = ""
    # Public base URL of the HTTP API (unsubscribe links point at it), e.g. https://api.example.org
    email_public_base_url: str = "http://127.0.0.1:8080"
    # ARN of the Secrets Manager secret keying the unsubscribe links' HMAC (the stack creates it).
    email_unsubscribe_secret_arn: str = ""
    # Upstream's BULK_COURSE_EMAIL_LAST_LOGIN_ELIGIBILITY_PERIOD: learners whose last login is older
    # than this many months are skipped (no login at all: kept). 0: off.
    email_last_login_months: int = Field(default=0, ge=0, le=1200)
    # Shown in the message footer.
    email_platform_name: str = "Your Platform Name Here"


# Settings read per environment: a function's environment does not change between invocations, so
# each invocation after the first gets the same (frozen) object instead of reading ~70 fields again.
_ENVIRONMENT_NAMES = ("AWS_REGION", "AWS_DEFAULT_REGION")
_read: dict[tuple[tuple[str, str], ...], Settings] = {}


def get_settings() -> Settings:
    """The settings the environment holds now (called at the start of each invocation)."""
    key = tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.upper().startswith("ITASK_") or name.upper() in _ENVIRONMENT_NAMES
        )
    )
    found = _read.get(key)
    if found is None:
        found = Settings()
        if len(_read) >= 32:  # tests change the environment between stacks; a function never does
            _read.clear()
        _read[key] = found
    return found
