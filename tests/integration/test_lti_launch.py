"""The LTI 1.1 launch: OAuth 1.0a signatures, nonces, timestamps, outcome URL checks (spec §8.1, §8.4),
and the same URL checks again at send time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from functions.dal.lti_repo import LtiRepository
from functions.models.lti import PassbackStatus
from tests.helpers.lti_standins import Lti11Consumer
from tests.integration.conftest import Stack
from tests.integration.lti_support import (
    COURSE,
    delivering,
    key,
    launch_params,
    launch_url,
    lti_settings,
    override,
    post_launch,
    register_consumer,
    setup_course,
    signed_launch,
    start_stack,
    wait_status,
)

KEY, SECRET = "moodle-key", "moodle-shared-secret"
LEARNER = 7002
REFUSED = 7010  # launches of this learner are all refused: nothing may be recorded for it


@pytest.fixture(scope="module")
def lti_stack() -> Iterator[Stack]:
    """One stack for the module; each test launches as its own learner."""
    yield from start_stack(lti_settings())


@pytest.fixture
def consumer() -> Iterator[Lti11Consumer]:
    server = Lti11Consumer(KEY, SECRET).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def course(lti_stack: Stack) -> Stack:
    setup_course(lti_stack, range(7002, 7014))
    register_consumer(lti_stack, KEY, SECRET)
    return lti_stack


def params(outcome_url: str | None, learner: int = LEARNER, **extra: str) -> dict[str, str]:
    return launch_params(
        f"lms-user-{learner}",
        "sourced-1" if outcome_url else None,
        outcome_url,
        lis_person_contact_email_primary=f"learner{learner}@example.org",
        **extra,
    )


def test_a_signed_launch_records_the_assignment_and_redirects(course, consumer):
    url = launch_url(COURSE, key("problem", "q1"))
    response = post_launch(course, url, signed_launch(KEY, SECRET, url, params(consumer.outcome_url)))
    assert response.status == 302, response.body
    usage = quote(key("problem", "q1"), safe="")
    assert response.headers["Location"] == (
        f"https://content.example/courses/{quote(COURSE, safe='')}/jump_to/{usage}"
    )
    repo = LtiRepository(course.settings)
    [assignment] = repo.learner_assignments(COURSE, LEARNER)
    assert (
        assignment.usage_key,
        assignment.outcome_url,
        assignment.lis_result_sourcedid,
        assignment.version,
    ) == (
        key("problem", "q1"),
        consumer.outcome_url,
        "sourced-1",
        0,
    )
    # The LMS user is now linked: a later launch without an email finds the learner
    again = launch_params(f"lms-user-{LEARNER}", "sourced-2", consumer.outcome_url)
    url2 = launch_url(COURSE, key("sequential", "hw1"))
    assert post_launch(course, url2, signed_launch(KEY, SECRET, url2, again)).status == 302
    assert len(repo.learner_assignments(COURSE, LEARNER)) == 2
    assert repo.get_consumer(KEY)[0].instance_guid == "lms.example.edu"


def test_the_launched_score_reaches_the_consumer(course, consumer):
    url = launch_url(COURSE, key("problem", "q1"))
    assert (
        post_launch(course, url, signed_launch(KEY, SECRET, url, params(consumer.outcome_url, 7003))).status
        == 302
    )
    with delivering(course):
        override(course, 7003, "q1", 0)  # it was 1 of 1 (setup_course: odd learners scored 1)
        wait_status(course, 7003, 1, PassbackStatus.SENT)
    assert [(o.sourcedid, o.score_text, o.signature_ok, o.body_hash_ok) for o in consumer.received] == [
        ("sourced-1", "0.0", True, True)
    ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("forged", "Invalid OAuth signature"),
        ("other_url", "Invalid OAuth signature"),
        ("old_timestamp", "Invalid OAuth signature"),
        ("unknown_key", "Unknown LTI consumer"),
        ("unsigned", "oauth_consumer_key is missing"),
    ],
)
def test_launches_that_are_not_signed_by_the_consumer_are_refused(course, consumer, case, message):
    url = launch_url(COURSE, key("problem", "q1"))
    launch = params(consumer.outcome_url, REFUSED)
    body = {
        "forged": lambda: signed_launch(KEY, "not-the-secret", url, launch),
        "other_url": lambda: signed_launch(KEY, SECRET, launch_url(COURSE, key("problem", "q2")), launch),
        "old_timestamp": lambda: signed_launch(
            KEY, SECRET, url, launch, timestamp=str(int(time.time()) - 3600)
        ),
        "unknown_key": lambda: signed_launch("nobody", SECRET, url, launch),
        "unsigned": lambda: "&".join(f"{k}={quote(v)}" for k, v in launch.items()),
    }[case]()
    response = post_launch(course, url, body)
    assert response.status == 401, response.body
    assert message in response.body["error"]
    assert LtiRepository(course.settings).learner_assignments(COURSE, REFUSED) == []


def test_a_replayed_launch_is_refused(course, consumer):
    url = launch_url(COURSE, key("problem", "q1"))
    body = signed_launch(KEY, SECRET, url, params(consumer.outcome_url, 7011))
    assert post_launch(course, url, body).status == 302
    replay = post_launch(course, url, body)
    assert (replay.status, replay.body["error"]) == (401, "This launch was already used (replayed nonce)")


@pytest.mark.parametrize(
    ("outcome_url", "reason"),
    [
        ("https://10.1.2.3/outcomes", "private address (10.1.2.3)"),
        ("https://169.254.169.254/latest/meta-data", "private address (169.254.169.254)"),
        ("https://[::ffff:192.168.0.1]/x", "private address"),
        ("http://lms.example.edu/outcomes", "plain http is not allowed: use https"),
        ("ftp://lms.example.edu/outcomes", "scheme 'ftp' is not allowed"),
        ("https://user:pw@lms.example.edu/x", "credentials in the outcome service URL"),
        ("https:///nohost", "has no host"),
    ],
)
def test_a_private_or_non_https_outcome_url_is_refused_at_launch(course, outcome_url, reason):
    url = launch_url(COURSE, key("problem", "q1"))
    response = post_launch(course, url, signed_launch(KEY, SECRET, url, params(outcome_url, REFUSED)))
    assert response.status == 400, response.body
    assert response.body["error"].startswith("Outcome service URL refused: ")
    assert reason in response.body["error"]
    assert LtiRepository(course.settings).learner_assignments(COURSE, REFUSED) == []


def test_loopback_is_refused_unless_the_setting_allows_it(course, consumer, monkeypatch):
    monkeypatch.setenv("ITASK_LTI_OUTCOME_ALLOW_LOOPBACK", "false")
    url = launch_url(COURSE, key("problem", "q1"))
    response = post_launch(
        course, url, signed_launch(KEY, SECRET, url, params(consumer.outcome_url, REFUSED))
    )
    assert (response.status, response.body["error"]) == (
        400,
        "Outcome service URL refused: host 127.0.0.1 resolves to a loopback address (127.0.0.1)",
    )


def test_the_outcome_url_is_checked_again_at_send(course, consumer, monkeypatch):
    # Given assignments accepted under looser settings (loopback and http allowed)
    monkeypatch.setenv("ITASK_LTI_OUTCOME_ALLOW_HTTP", "true")
    plain = consumer.outcome_url.replace("https://", "http://")
    for problem, outcome_url in (("q1", consumer.outcome_url), ("q2", plain)):
        url = launch_url(COURSE, key("problem", problem))
        launch = {**params(outcome_url, 7012), "lis_result_sourcedid": f"s-{problem}"}
        assert post_launch(course, url, signed_launch(KEY, SECRET, url, launch)).status == 302
    # When the settings are tightened and both scores change
    monkeypatch.setenv("ITASK_LTI_OUTCOME_ALLOW_HTTP", "false")
    monkeypatch.setenv("ITASK_LTI_OUTCOME_ALLOW_LOOPBACK", "false")
    with delivering(course):
        override(course, 7012, "q1", 1)
        override(course, 7012, "q2", 1)
        records = {
            record.usage_key: record
            for record in (
                wait_status_of(course, 7012, "q1"),  # each by name: the two settle in either order
                wait_status_of(course, 7012, "q2"),
            )
        }
    # Then nothing was sent, and the ledger says why (not retried: a refused URL is final)
    assert consumer.requests == 0
    assert records[key("problem", "q1")].last_error == (
        "refused: host 127.0.0.1 resolves to a loopback address (127.0.0.1)"
    )
    assert records[key("problem", "q2")].last_error == "refused: plain http is not allowed: use https"
    assert {(r.status, r.attempts) for r in records.values()} == {(PassbackStatus.FAILED, 0)}


def wait_status_of(stack: Stack, learner: int, problem: str):
    from tests.integration.lti_support import ledger, wait_for

    return wait_for(
        lambda: next(
            (
                r
                for r in ledger(stack, COURSE, learner)
                if r.usage_key == key("problem", problem) and r.status != PassbackStatus.PENDING
            ),
            None,
        ),
        what=f"{problem} settled",
    )


def test_bad_launch_input_is_4xx(course, consumer):
    url = launch_url(COURSE, key("problem", "nope"))
    assert (
        post_launch(
            course, url, signed_launch(KEY, SECRET, url, params(consumer.outcome_url, REFUSED))
        ).status
        == 404
    )
    url = launch_url(COURSE, key("problem", "q1"))
    stranger = launch_params("lms-stranger", "s-9", consumer.outcome_url)
    response = post_launch(course, url, signed_launch(KEY, SECRET, url, stranger))
    assert (response.status, response.body["code"]) == (403, "forbidden")
    wrong_type = params(consumer.outcome_url, REFUSED, lti_message_type="ContentItemSelectionRequest")
    response = post_launch(course, url, signed_launch(KEY, SECRET, url, wrong_type))
    assert response.status == 400
    assert post_launch(course, url, "%%%not-a-form").status == 401
    assert LtiRepository(course.settings).learner_assignments(COURSE, REFUSED) == []
