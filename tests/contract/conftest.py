"""The contract suite: the local stack over HTTP (real waitress adapter, real JWTs), seeded with a
small course, principals of every role of the authorization matrix, and finished tasks to act on.

Its own pytest process (`make contract`, part of `make test`): it runs a real local server, like
the end-to-end suite, and must not share a process with the in-process (mock_aws) integration tests.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from itask.local.stack import LocalStack, prepare_process

prepare_process()  # fake credentials and quiet Powertools before any function module is imported

from functions.dal.access_repo import AccessRepository  # noqa: E402
from functions.dal.cohort_repo import CohortRepository  # noqa: E402
from functions.dal.course_repo import CourseRepository  # noqa: E402
from functions.dal.people_repo import PeopleRepository  # noqa: E402
from functions.logic import uploads  # noqa: E402
from functions.logic.registry import RunContext  # noqa: E402
from functions.logic.usage_keys import usage_key  # noqa: E402
from functions.models.access import Principal, Role, RoleGrant  # noqa: E402
from functions.models.cohorts import Cohort  # noqa: E402
from functions.settings import Settings  # noqa: E402
from itask.client import ApiClient  # noqa: E402
from itask.seed import DEMO_COURSE, seed_course  # noqa: E402
from tests.helpers.lms_standin import StandInLms  # noqa: E402
from tests.helpers.olx import tar_gz  # noqa: E402

OTHER_COURSE = "course-v1:OtherX+Elsewhere+2026_T1"
LEARNERS = 40

# Token subjects of the matrix roles (the unknown subject is in no table; the expired token is the
# global staff's, minted already expired).
SUBJECTS = {
    "global_staff": "m-admin",
    "instructor": "m-instructor",
    "staff": "m-staff",
    "data_researcher": "m-researcher",
    "learner": "m-learner",
    "unknown": "m-nobody",
    "other_instructor": "m-outsider",
    "expired": "m-admin",
}
ROLES = tuple(SUBJECTS)


def _principals() -> list[Principal]:
    def grants(course_id: str, *roles: Role) -> list[RoleGrant]:
        return [RoleGrant(scope=course_id, role=role) for role in roles]

    return [
        Principal(subject="m-admin", user_id=91, username="m-admin", global_staff=True),
        Principal(
            subject="m-instructor",
            user_id=92,
            username="m-instructor",
            grants=grants(DEMO_COURSE, Role.INSTRUCTOR),
        ),
        Principal(subject="m-staff", user_id=93, username="m-staff", grants=grants(DEMO_COURSE, Role.STAFF)),
        Principal(
            subject="m-researcher",
            user_id=94,
            username="m-researcher",
            grants=grants(DEMO_COURSE, Role.DATA_RESEARCHER),
        ),
        Principal(subject="m-learner", user_id=95, username="m-learner"),
        Principal(
            subject="m-outsider",
            user_id=96,
            username="m-outsider",
            grants=grants(OTHER_COURSE, Role.INSTRUCTOR, Role.DATA_RESEARCHER),
        ),
    ]


def olx_archive() -> bytes:
    """The smallest OLX export the importer takes: a course with one chapter."""
    files = {
        "course.xml": '<course url_name="2026" org="MatrixX" course="M101"/>',
        "course/2026.xml": '<course display_name="Matrix course"><chapter url_name="ch"/></course>',
        "chapter/ch.xml": '<chapter display_name="Week 1"/>',
    }
    return tar_gz(files)


@dataclass
class ContractStack:
    stack: LocalStack
    url: str
    problem_url: str  # a problem of the demo course
    learner: str  # an enrolled learner's username
    grade_task: str  # a finished grade report
    reset_task: str  # a finished all-learner reset
    consumer: str  # a registered LTI consumer
    verify_id: str  # a valid certificate's verification id (public route)
    cohort_upload: str  # an uploaded cohort CSV (for cohort_students)
    email_id: str  # a course email of the demo course (sent to its writer)
    lms: StandInLms  # the Open edX LMS whose JWTs the /api/instructor/v2/ routes trust
    _clients: dict[str, ApiClient] = field(default_factory=dict)

    def token(self, role: str) -> str:
        return self.stack.issuer.mint(SUBJECTS[role], ttl_seconds=-60 if role == "expired" else 3600)

    def client(self, role: str) -> ApiClient:
        if role not in self._clients:
            self._clients[role] = ApiClient(self.url, self.token(role), timeout_s=120)
        return self._clients[role]

    def openedx_token(self, role: str) -> str:
        """The same person's LMS JWT: global staff is the token's administrator flag; course roles
        are the access table's, under openedx:<username>."""
        expiry = {"exp": int(time.time()) - 60} if role == "expired" else {}
        return self.lms.mint(SUBJECTS[role], administrator=role in ("global_staff", "expired"), **expiry)

    def openedx_client(self, role: str) -> ApiClient:
        if f"openedx:{role}" not in self._clients:
            self._clients[f"openedx:{role}"] = ApiClient(self.url, JwtHeader(self.openedx_token(role)), 120)
        return self._clients[f"openedx:{role}"]


class JwtHeader(httpx.Auth):
    """``Authorization: JWT <token>``, as Open edX's services send an LMS token."""

    def __init__(self, token: str):
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"JWT {self.token}"
        yield request


def _finished(api: ApiClient, task_type: str, task_input: dict) -> str:
    response = api.submit(DEMO_COURSE, task_type, task_input)
    assert response.status == 202, response.body
    task_id = str(response.body["task_id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not api.status(task_id).body["in_progress"]:
            return task_id
        time.sleep(0.1)
    raise AssertionError(f"{task_type} did not finish")


@pytest.fixture(scope="session")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractStack]:
    home: Path = tmp_path_factory.mktemp("itask-contract")
    lms = StandInLms().__enter__()
    settings = Settings(
        chunk_size=100,
        max_concurrency=4,
        openedx_jwt_issuer=lms.issuer,
        openedx_jwt_audience=lms.audience,
        openedx_jwks_url=lms.jwks_url,
    )
    stack = LocalStack(home, settings=settings, rule_interval_s=3600, request_timeout_s=10)
    info = stack.start()
    assert stack.settings is not None
    seed_course(stack.settings, DEMO_COURSE, learners=LEARNERS, seed=5)
    seed_course(stack.settings, OTHER_COURSE, learners=3, seed=6)
    access = AccessRepository(stack.settings)
    for principal in _principals():
        access.put_principal(principal)
        # The same people signed in at the LMS: their course roles under the Open edX subject.
        access.put_principal(principal.model_copy(update={"subject": f"openedx:{principal.username}"}))
    course = CourseRepository(stack.settings).get_course(DEMO_COURSE)
    assert course is not None
    problem = next(block.id for block in course.blocks.values() if block.category == "problem")
    admin = ApiClient(info.api_url, stack.issuer.mint("m-admin"), timeout_s=120)
    problem_url = usage_key(DEMO_COURSE, "problem", problem)
    contract = ContractStack(
        stack=stack,
        url=info.api_url,
        problem_url=problem_url,
        learner=_a_learner(stack.settings),
        grade_task=_finished(admin, "grade_course", {}),
        reset_task=_finished(admin, "reset_problem_attempts", {"problem_url": problem_url}),
        consumer=_consumer(admin),
        verify_id=_a_certificate(admin, stack.settings),
        cohort_upload=_a_cohort_csv(stack.settings),
        email_id=_email(admin),
        lms=lms,
    )
    try:
        yield contract
    finally:
        stack.wait_for_executions(timeout_s=120)
        stack.stop()
        lms.__exit__()


def _consumer(admin: ApiClient) -> str:
    registered = admin.request(
        "POST", "/lti/consumers", {"key": "m-lms", "name": "An LMS", "secret": "s3cret-key"}
    )
    assert registered.status == 201, registered.body
    return "m-lms"


def _a_certificate(admin: ApiClient, settings: Settings) -> str:
    """Generate the course's certificates; the verification id of one that was issued."""
    _finished(admin, "generate_certificates_all_student", {})
    people = PeopleRepository(settings)
    ids = [ref.user_id for ref in people.iter_enrollment_refs(DEMO_COURSE)]
    for enrollment in CourseRepository(settings).get_enrollments(DEMO_COURSE, ids).values():
        certificate = enrollment.certificate
        if certificate is not None and certificate.status == "downloadable" and certificate.verify_uuid:
            return certificate.verify_uuid
    raise AssertionError("no certificate was generated in the demo course")


def _a_cohort_csv(settings: Settings) -> str:
    """A cohort CSV stored as an upload of the demo course (as the pre-signed POST would)."""
    ctx = RunContext.create(settings)
    CohortRepository(settings).create(DEMO_COURSE, Cohort(name="Matrix cohort"))
    learner = _a_learner(settings)
    return uploads.store_upload(
        ctx, DEMO_COURSE, uploads.Purpose.COHORTS, f"username,cohort\n{learner},Matrix cohort\n".encode()
    )


def _email(admin: ApiClient) -> str:
    body = {"send_to": ["myself"], "subject": "Matrix", "message": "<p>Hello %%USER_FULLNAME%%</p>"}
    written = admin.request("POST", course_path(DEMO_COURSE, "emails"), body)
    assert written.status == 202, written.body
    return str(written.body["email_id"])


def _a_learner(settings: Settings) -> str:
    for ref in PeopleRepository(settings).iter_enrollment_refs(DEMO_COURSE):
        return str(ref.username)
    raise AssertionError("the demo course has no learner")


def course_path(course_id: str, suffix: str) -> str:
    return f"/courses/{quote(course_id, safe='')}/{suffix}"
