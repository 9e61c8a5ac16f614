"""LTI pieces without AWS: outcome URL rules, the replaceResult document, answers, backoff, composite
scores (against the hand-worked course), and the signature a consumer verifies."""

from __future__ import annotations

import base64
import hashlib
import random
import xml.etree.ElementTree as ET

import pytest
from oauthlib.oauth1 import SignatureOnlyEndpoint

from functions.logic.lti import outcomes, scores, sender
from functions.logic.lti.ags import scores_url
from functions.logic.lti.passback import execution_name
from functions.logic.lti.urls import UrlRefused, check_url
from functions.settings import Settings
from tests.helpers.course import TIE, hand_course, score
from tests.helpers.lti_standins import _ConsumerValidator

NS = "{http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0}"


def settings(**values) -> Settings:
    return Settings(**values)


# ---- outcome URLs (spec §8.4) ----
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/x",
        "https://172.16.5.4/x",
        "https://192.168.1.1/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://169.254.169.254/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://100.64.0.1/x",
        "https://[::1]/x",
        "https://[fd00::1]/x",
        "https://[::ffff:10.0.0.1]/x",
        "http://8.8.8.8/x",
        "gopher://8.8.8.8/x",
        "file:///etc/passwd",
        "https://",
        "",
    ],
)
def test_outcome_urls_that_are_refused(url):
    with pytest.raises(UrlRefused):
        check_url(settings(), url)


def test_a_public_address_passes_and_is_the_address_connected_to():
    resolved = check_url(settings(), "https://8.8.8.8:8443/outcomes?x=1")
    assert (resolved.scheme, resolved.host, resolved.port, resolved.target, resolved.addresses) == (
        "https",
        "8.8.8.8",
        8443,
        "/outcomes?x=1",
        ("8.8.8.8",),
    )
    assert resolved.host_header == "8.8.8.8:8443"


def test_settings_open_http_loopback_and_close_hosts():
    assert check_url(settings(lti_outcome_allow_http=True), "http://8.8.8.8/x").scheme == "http"
    assert check_url(settings(lti_outcome_allow_loopback=True), "https://localhost/x").addresses[0] in (
        "127.0.0.1",
        "::1",
    )
    # loopback allowed does not open private ranges
    with pytest.raises(UrlRefused, match="private"):
        check_url(settings(lti_outcome_allow_loopback=True), "https://10.0.0.1/x")
    only = settings(lti_outcome_allowed_hosts="lms.example.edu, example.org")
    assert check_url(only, "https://grades.lms.example.edu/x", resolve=False).host == "grades.lms.example.edu"
    assert check_url(only, "https://example.org/x", resolve=False).host == "example.org"
    for refused in (
        "https://evil.example.com/x",
        "https://notlms.example.edu/x",
        "https://example.org.evil.com/x",
    ):
        with pytest.raises(UrlRefused, match="not in the allowed"):
            check_url(only, refused, resolve=False)


# ---- the replaceResult document (spec §8.3) ----
def test_replace_result_document():
    body = outcomes.replace_result_xml("sourced/1", "0.5", message_id="m-1")
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(body)
    assert root.tag == f"{NS}imsx_POXEnvelopeRequest"
    header = root.find(f"{NS}imsx_POXHeader/{NS}imsx_POXRequestHeaderInfo")
    assert [(child.tag.removeprefix(NS), child.text) for child in header] == [
        ("imsx_version", "V1.0"),
        ("imsx_messageIdentifier", "m-1"),
    ]
    record = root.find(f"{NS}imsx_POXBody/{NS}replaceResultRequest/{NS}resultRecord")
    assert record.findtext(f"{NS}sourcedGUID/{NS}sourcedId") == "sourced/1"
    result = record.find(f"{NS}result/{NS}resultScore")
    assert [(child.tag.removeprefix(NS), child.text) for child in result] == [
        ("language", "en"),
        ("textString", "0.5"),
    ]
    assert outcomes.replace_result_xml("s", "1.0") != outcomes.replace_result_xml("s", "1.0")  # new uuid


@pytest.mark.parametrize(
    ("earned", "possible", "text"), [(1, 2, "0.5"), (2, 2, "1.0"), (0, 5, "0.0"), (0, 0, "0"), (3, 0, "0")]
)
def test_score_text_as_upstream_prints_it(earned, possible, text):
    assert outcomes.score_text(earned, possible) == text


@pytest.mark.parametrize(
    ("status", "body", "ok", "transient"),
    [
        (200, b"<r xmlns='%s'><imsx_codeMajor>success</imsx_codeMajor></r>", True, False),
        (200, b"<r xmlns='%s'><imsx_codeMajor>failure</imsx_codeMajor></r>", False, False),
        (
            200,
            b"<r xmlns='%s'><a><imsx_codeMajor>success</imsx_codeMajor></a>"
            b"<imsx_codeMajor>success</imsx_codeMajor></r>",
            False,
            False,
        ),
        (200, b"<r><imsx_codeMajor>success</imsx_codeMajor></r>", False, False),  # no namespace
        (200, b"not xml", False, False),
        (201, b"<r xmlns='%s'><imsx_codeMajor>success</imsx_codeMajor></r>", False, False),
        (500, b"", False, True),
        (503, b"", False, True),
        (429, b"", False, True),
        (408, b"", False, True),
        (404, b"", False, False),
        (302, b"", False, False),
    ],
)
def test_only_200_with_exactly_one_success_code_is_success(status, body, ok, transient):
    body = body.replace(b"%s", outcomes.NAMESPACE.encode())
    delivery = outcomes.judge(status, body)
    assert (delivery.ok, delivery.transient, delivery.http_status) == (ok, transient, status)


def test_the_signature_verifies_with_oauthlib_and_carries_the_body_hash():
    body = outcomes.replace_result_xml("s-1", "0.25")
    url = "https://lms.example.edu/outcomes?course=7"
    headers = outcomes.signed_headers(url, body, "key-1", "secret-1")
    assert headers["Authorization"].startswith("OAuth ")
    assert 'oauth_signature_method="HMAC-SHA1"' in headers["Authorization"]
    endpoint = SignatureOnlyEndpoint(_ConsumerValidator("key-1", "secret-1"))
    valid, request = endpoint.validate_request(url, "POST", body.decode(), headers)
    assert valid
    expected = base64.b64encode(hashlib.sha1(body).digest()).decode()
    assert dict(request.oauth_params)["oauth_body_hash"] == expected
    forged = SignatureOnlyEndpoint(_ConsumerValidator("key-1", "another-secret"))
    assert not forged.validate_request(url, "POST", body.decode(), headers)[0]


def test_backoff_is_exponential_with_full_jitter_and_capped():
    values = settings(lti_retry_base_seconds=30, lti_retry_max_seconds=300)
    rng = random.Random(4)
    for attempt, ceiling in ((1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (9, 300)):
        draws = [sender.backoff_seconds(values, attempt, rng) for _ in range(200)]
        assert min(draws) >= 0 and max(draws) <= ceiling
        assert max(draws) > ceiling * 0.8 and min(draws) < ceiling * 0.2  # spread over the range
    assert sender.backoff_seconds(settings(lti_retry_base_seconds=0), 5) == 0


def test_ags_scores_url_keeps_the_query():
    assert (
        scores_url("https://p.example/li/7/lineitem?type=1")
        == "https://p.example/li/7/lineitem/scores?type=1"
    )
    assert scores_url("https://p.example/li/7/lineitem/") == "https://p.example/li/7/lineitem/scores"


def test_execution_names_fit_step_functions():
    name = execution_name("0" * 32, 1_234_567_890, resend=99)
    assert len(name) <= 80 and name == "0" * 32 + "-v1234567890-r99"


# ---- composite scores: what the grade report prints (tests/helpers/course.py worked by hand) ----
TIE_SCORES = {
    "p1": score(1, 2),
    "p2": score(1, 2),
    "p3": score(2, 4),
    "p4": score(1, 1),
    "l1": score(3, 4),
    "l2": score(5, 10),
    "f1": score(8, 10),
}


def test_composite_scores_of_the_hand_worked_learner():
    course = hand_course()
    assert TIE == 1005
    # Course: HW (0.5, 0.5, 1.0, drop the lowest -> 0.75) * 0.5 + Lab (0.75 + 0.5)/2 * 0.2 + Final 0.8 * 0.3
    #        = 0.375 + 0.125 + 0.24 = 0.74
    assert scores.composite_score(course, TIE_SCORES, course.root).fraction == 0.74
    # Graded subsection hw1: 2 of 4 points
    hw1 = scores.composite_score(course, TIE_SCORES, "hw1")
    assert (hw1.earned, hw1.possible, hw1.fraction) == (2.0, 4.0, 0.5)
    # Lab Two (weight 2 on a max of 10): 5 of 10 -> 1 of 2 weighted
    assert scores.composite_score(course, TIE_SCORES, "lab2").fraction == 0.5
    # Week 1 (a chapter): hw1 (2/4) + lab1 (3/4 weighted 1 -> 0.75/1) + practice x1 (0/1); hidden left out
    week1 = scores.composite_score(course, TIE_SCORES, "week1")
    assert (week1.earned, week1.possible) == (2.75, 6.0)
    # The ungraded practice subsection: 0 of 1
    assert scores.composite_score(course, TIE_SCORES, "practice").fraction == 0.0


def test_lineage_runs_from_the_problem_to_the_root():
    course = hand_course()
    assert scores.lineage(course, "p3") == ["p3", "hw2-unit", "hw2", "week2", "course"]
    assert scores.block_of(course, "block-v1:TestX+G101+2026+type@course+block@whatever") == "course"
    assert scores.block_of(course, "not a key") is None


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        ("not an object", "detail is not an object"),
        ({"user_id": 1, "usage_id": "x", "raw_earned": 1, "raw_possible": 1}, "no course_id"),
        (
            {
                "course_id": "course-v1:A+B+C",
                "usage_id": "block-v1:A+B+C+type@problem+block@p",
                "raw_earned": 1,
            },
            "missing user_id, possible",
        ),
        ({"course_id": "course-v1:A+B+C", "user_id": "seven"}, "malformed fields"),
        (
            {
                "course_id": "course-v1:A+B+C",
                "user_id": 1,
                "usage_id": "p1",
                "raw_earned": 1,
                "raw_possible": 1,
            },
            "usage_id is not a usage key of the course",
        ),
        (
            {
                "course_id": "course-v1:A+B+C",
                "user_id": 1,
                "usage_id": "block-v1:X+Y+Z+type@problem+block@p",
                "weighted_earned": 1,
                "weighted_possible": 2,
            },
            "usage_id is not a usage key of the course",
        ),
        ({"course_id": "library-v1:A+B", "user_id": 1}, "not a course context"),
    ],
)
def test_malformed_score_events_are_ignored_with_a_reason(detail, reason):
    from functions.logic.lti.context import LtiContext
    from functions.logic.lti.passback import on_score_changed

    outcome = on_score_changed(LtiContext.create(settings()), "event-1", detail)
    assert outcome.ignored is not None and outcome.ignored.startswith(reason)
    assert outcome.queued == []


def test_the_passback_asl_names_existing_functions_and_errors():
    import json

    from functions import errors
    from functions.catalog import FUNCTIONS, LTI_ASL_FILE, LTI_ASL_FUNCTION_TOKENS
    from itask.local.resources import ASL_FILE, asl_tokens

    text = (ASL_FILE.parent / LTI_ASL_FILE).read_text()
    assert asl_tokens(text) == set(LTI_ASL_FUNCTION_TOKENS)
    assert set(LTI_ASL_FUNCTION_TOKENS.values()) <= set(FUNCTIONS)
    names = {
        name
        for state in json.loads(text)["States"].values()
        for rule in state.get("Retry", []) + state.get("Catch", [])
        for name in rule["ErrorEquals"]
    }
    ours = {name for name in names if not name.startswith(("States.", "Lambda."))}
    assert ours == {"TransientTaskError"} and isinstance(errors.TransientTaskError, type)
