"""Names and paths shared by the constructs, the app and the infra tests.

The prefixes and names here must agree with ``functions/settings.py`` (read through ``ITASK_*`` env vars),
so the constructs pass them to every function instead of relying on the settings' defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
STATE_MACHINE_DEFINITION: Final = REPO_ROOT / "statemachines" / "instructor_task.asl.json"

STACK_NAME: Final = "InstructorTasks"
SERVICE_NAME: Final = "instructor-tasks"
METRICS_NAMESPACE: Final = "InstructorTasks"
EVENT_BUS_NAME: Final = "itask"

# Bucket layout: finished reports, and per-task pipeline scratch (expired by a lifecycle rule).
REPORTS_PREFIX: Final = "reports"
WORK_PREFIX: Final = "work"
# Journals of bulk loads being applied (deleted when a load commits; never expired: a pending load
# is completed from its journal).
LOADS_PREFIX: Final = "loads"
ATTACHMENTS_PREFIX: Final = "attachments"  # ORA submission files (loaded by admins, read by the ORA reports)
WORK_EXPIRATION_DAYS: Final = 7
# Files staff upload for a task (pre-signed POSTs; expired like scratch) and rendered certificates.
UPLOADS_PREFIX: Final = "uploads"
UPLOADS_EXPIRATION_DAYS: Final = 7
CERTIFICATES_PREFIX: Final = "certificates"

# Environment variable names read by functions/settings.py (prefix ITASK_).
ENV_TASKS_TABLE: Final = "ITASK_TASKS_TABLE"
ENV_COURSES_TABLE: Final = "ITASK_COURSES_TABLE"
ENV_ACCESS_TABLE: Final = "ITASK_ACCESS_TABLE"
ENV_EMAIL_TABLE: Final = "ITASK_EMAIL_TABLE"
ENV_EMAIL_FROM: Final = "ITASK_EMAIL_FROM"
ENV_EMAIL_PUBLIC_BASE_URL: Final = "ITASK_EMAIL_PUBLIC_BASE_URL"
ENV_EMAIL_CONFIGURATION_SET: Final = "ITASK_EMAIL_CONFIGURATION_SET"
ENV_BUCKET: Final = "ITASK_BUCKET"
ENV_REPORTS_PREFIX: Final = "ITASK_REPORTS_PREFIX"
ENV_WORK_PREFIX: Final = "ITASK_WORK_PREFIX"
ENV_LOADS_PREFIX: Final = "ITASK_LOADS_PREFIX"
ENV_UPLOADS_PREFIX: Final = "ITASK_UPLOADS_PREFIX"
ENV_CERTIFICATES_PREFIX: Final = "ITASK_CERTIFICATES_PREFIX"
ENV_STATE_MACHINE_ARN: Final = "ITASK_STATE_MACHINE_ARN"
ENV_EVENT_BUS_NAME: Final = "ITASK_EVENT_BUS_NAME"
ENV_NOTIFY_FROM: Final = "ITASK_NOTIFY_FROM"
ENV_OPENEDX_JWT_ISSUER: Final = "ITASK_OPENEDX_JWT_ISSUER"
ENV_OPENEDX_JWT_AUDIENCE: Final = "ITASK_OPENEDX_JWT_AUDIENCE"
ENV_OPENEDX_JWKS_URL: Final = "ITASK_OPENEDX_JWKS_URL"
ENV_OPENEDX_JWKS: Final = "ITASK_OPENEDX_JWKS"
ENV_OPENEDX_CSRF_TRUSTED_ORIGINS: Final = "ITASK_OPENEDX_CSRF_TRUSTED_ORIGINS"
ENV_WEB_JWT_ISSUER: Final = "ITASK_WEB_JWT_ISSUER"
ENV_WEB_JWT_AUDIENCE: Final = "ITASK_WEB_JWT_AUDIENCE"
ENV_GRADER_FUNCTION: Final = "ITASK_GRADER_FUNCTION"
# What learners and staff see the platform called, and where LTI launches point (functions/settings.py).
ENV_SITE_NAME: Final = "ITASK_SITE_NAME"
ENV_PLATFORM_NAME: Final = "ITASK_PLATFORM_NAME"
ENV_EMAIL_PLATFORM_NAME: Final = "ITASK_EMAIL_PLATFORM_NAME"
ENV_LTI_CONTENT_URL: Final = "ITASK_LTI_CONTENT_URL"
ENV_LEARNER_SHARDS: Final = "ITASK_LEARNER_SHARDS"

# New courses' learner items are spread over this many partitions (see functions/dal/course_repo.py
# and BENCHMARKS.md for the arithmetic: a million-learner report reads about 800 MB in seconds, and a
# course-wide rescore writes two items per learner; a partition serves 3,000 RCU / 1,000 WCU a second).
LEARNER_SHARDS: Final = 8
