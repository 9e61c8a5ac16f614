"""LTI on the local stack, over HTTP: a signed launch through the public route (no bearer token), a
score change over the API, the pass-back reaching an LMS stand-in; the ledger through the API and CLI."""

from __future__ import annotations

import http.client
import time
from urllib.parse import quote, urlsplit

from oauthlib.oauth1 import SIGNATURE_TYPE_BODY, Client

from functions.dal.course_repo import CourseRepository
from itask.cli import main as itask
from itask.client import ApiClient
from itask.seed import DEMO_COURSE
from tests.helpers.lti_standins import Lti11Consumer, tls_files


def _post_form(url: str, body: str) -> tuple[int, dict[str, str], bytes]:
    """POST without following redirects (urllib would follow the 302)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "POST",
            parts.path,
            body=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_launch_then_a_score_change_reaches_the_lms(local_stack, monkeypatch, capsys):
    monkeypatch.setenv("ITASK_LTI_OUTCOME_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ITASK_LTI_CA_BUNDLE", tls_files().ca)
    consumer = Lti11Consumer("e2e-key", "e2e-shared-secret").start()
    try:
        admin = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("admin"))
        created = admin.request(
            "POST", "/lti/consumers", {"key": consumer.key, "name": "E2E LMS", "secret": consumer.secret}
        )
        assert created.status == 201, created.body
        assert "secret" not in created.body
        # A learner of the demo course and a problem with a score
        courses = CourseRepository(local_stack.settings)
        course = courses.get_course(DEMO_COURSE)
        problem = next(b for b in course.blocks.values() if b.category == "problem" and b.max_score)
        user_id = next(iter(courses.iter_enrollment_keys(DEMO_COURSE))).user_id
        learner = courses.get_enrollments(DEMO_COURSE, [user_id])[user_id]
        usage = f"block-v1:DemoX+Grading101+2026_T1+type@problem+block@{problem.id}"
        # When the LMS launches it (form POST signed with the consumer's secret, no bearer token)
        url = f"{local_stack.info.api_url}/lti/launch/{quote(DEMO_COURSE, safe='')}/{quote(usage, safe='')}"
        signer = Client(consumer.key, client_secret=consumer.secret, signature_type=SIGNATURE_TYPE_BODY)
        _, _, body = signer.sign(
            url,
            http_method="POST",
            body={
                "lti_message_type": "basic-lti-launch-request",
                "lti_version": "LTI-1p0",
                "resource_link_id": "r1",
                "user_id": "lms-42",
                "lis_person_contact_email_primary": learner.email,
                "lis_result_sourcedid": "e2e-sourced",
                "lis_outcome_service_url": consumer.outcome_url,
            },
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        status, headers, _ = _post_form(url, body)
        assert status == 302, headers
        assert headers["Location"].endswith(quote(usage, safe=""))
        # And the same body again is a replay
        assert _post_form(url, body)[0] == 401
        # When the instructor overrides the learner's score over the API
        instructor = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("instructor"))
        full = problem.weight or problem.max_score  # the problem's whole (weighted) score
        submitted = instructor.submit(
            DEMO_COURSE,
            "override_problem_score",
            {"problem_url": usage, "student": learner.username, "score": full},
        )
        assert submitted.status == 202, submitted.body
        # Then the LMS receives the full score, signed
        deadline = time.monotonic() + 120
        while not consumer.accepted() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [(o.sourcedid, o.score_text) for o in consumer.accepted()] == [("e2e-sourced", "1.0")]
        staff = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("staff"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ledger = staff.request(
                "GET",
                f"/courses/{quote(DEMO_COURSE, safe='')}/lti/passbacks",
                query={"user_id": str(user_id), "status": "all"},
            )
            if ledger.body["passbacks"] and ledger.body["passbacks"][0]["status"] == "sent":
                break
            time.sleep(0.1)
        assert [(p["status"], p["attempts"], p["score"]) for p in ledger.body["passbacks"]] == [
            ("sent", 1, 1.0)
        ]
        # And the CLI shows no failed pass-backs for the course
        capsys.readouterr()
        assert itask(["--home", str(local_stack.home), "lti", "failed", DEMO_COURSE]) == 0
        assert capsys.readouterr().out.strip() == "no pass-backs"
    finally:
        consumer.stop()
