"""Course email pieces without AWS: targets, keywords and rendering, the from address, the MIME and
its one-click headers, unsubscribe tokens, SES answer classes, SES event records."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from functions.dal.ses_mail import Answer, classify
from functions.errors import BadRequest
from functions.logic.email import events, render, targets, unsubscribe
from functions.models.email import EnrollmentView, Recipient, SuppressionReason, Target, TargetType

COURSE = "course-v1:TestX+G101+2026"
STAFF = frozenset({2, 3})


def view(uid: int, mode: str = "audit", cohort: str | None = None, active: bool = True, account: bool = True):
    return EnrollmentView(uid, mode, active, account, cohort)


# ---- targets ----
def test_targets_parse_dedupe_and_refuse_unknown_ones():
    parsed = targets.parse_targets(
        ["learners", "cohort:Group A", "cohort:Group A", "track:verified", "MYSELF"]
    )
    assert [t.request_string for t in parsed] == ["learners", "cohort:Group A", "track:verified", "myself"]
    assert targets.parse_targets('["staff"]') == [Target(type=TargetType.STAFF)]
    for bad, words in (
        (["everyone"], "unrecognized target"),
        (["cohort:"], "needs a name"),
        (["learners:x"], "takes no name"),
        ([], "non-empty"),
        ("learners", "send_to must be a list"),
        ([3], "Invalid target"),
    ):
        with pytest.raises(BadRequest, match=words):
            targets.parse_targets(bad)


def test_cohorts_and_tracks_must_be_the_courses():
    chosen = targets.parse_targets(["cohort:A", "track:verified"])
    targets.check_against_course(chosen, {"A", "B"}, {"audit", "verified"}, COURSE)
    with pytest.raises(BadRequest, match="cohort 'A' does not exist in course-v1:TestX"):
        targets.check_against_course(chosen, {"B"}, {"verified"}, COURSE)
    with pytest.raises(BadRequest, match=r"track 'verified' does not exist .* \(modes: audit\)"):
        targets.check_against_course(chosen, {"A"}, {"audit"}, COURSE)


@pytest.mark.parametrize(
    ("send_to", "enrollment", "chosen"),
    [
        (["learners"], view(10), True),
        (["learners"], view(2), False),  # staff left out of learners
        (["learners"], view(10, active=False), False),  # enrollment not active
        (["learners"], view(10, account=False), False),  # account not active
        (["cohort:A"], view(2, cohort="A"), True),  # cohorts keep staff
        (["cohort:A"], view(10, cohort="B"), False),
        (["cohort:A"], view(2, cohort="A", active=False), False),
        (["track:verified"], view(10, "verified"), True),
        (["track:verified"], view(3, "verified"), False),  # tracks leave staff out
        (["track:verified"], view(10, "audit"), False),
        (["myself", "staff"], view(10), False),  # not enrollment sets
        (["track:audit", "cohort:A"], view(2, "audit", "A"), True),  # staff, but in the cohort
    ],
)
def test_one_predicate_over_an_enrollment_selects_by_spec_6_1(send_to, enrollment, chosen):
    assert targets.selects(targets.parse_targets(send_to), enrollment, STAFF) is chosen


def test_target_names_and_to_option():
    parsed = targets.parse_targets(["myself", "staff", "learners", "cohort:A", "cohort:B", "track:verified"])
    assert [targets.long_name(t) for t in parsed] == [
        "Myself",
        "Staff and instructors",
        "All students",
        "Cohort: A",
        "Cohort: B",
        "Course mode: Verified Certificate",
    ]
    assert [t.short_name for t in parsed] == [
        "myself",
        "staff",
        "learners",
        "cohort-A",
        "cohort-B",
        "track-verified",
    ]
    assert targets.to_option(parsed) == ["myself", "staff", "learners", "2 cohort", "track"]
    assert targets.long_name(Target(type=TargetType.TRACK, value="odd-mode")) == "Course mode: odd-mode"


# ---- keywords, templates, from address, MIME ----
FACTS = render.CourseFacts(COURSE, 'Physics "101" & <Waves>', datetime(2026, 9, 7, tzinfo=UTC), None)
PERSON = Recipient(user_id=42, email="ann@example.org", username="ann", full_name="Ann <O'Brien>")


def _rendered(message: str, template: str = "default") -> render.Rendered:
    return render.render(
        template=template,
        subject="Hello",
        html_message=message,
        text_message=render.html_to_text(message),
        course=FACTS,
        recipient=PERSON,
        anonymous_id="f00d",
        unsubscribe_link="https://api.example.org/email/unsubscribe/t?x=1&y=2",
        platform_name="Example",
    )


def test_keywords_are_escaped_in_the_html_part_and_plain_in_the_text_part():
    out = _rendered(
        "<p>%%USER_FULLNAME%% (%%USER_ID%%) in %%COURSE_DISPLAY_NAME%%, %%COURSE_ID%%: "
        "%%COURSE_START_DATE%% - %%COURSE_END_DATE%%.</p>"
    )
    assert "Ann &lt;O&#39;Brien&gt; (f00d) in Physics &#34;101&#34; &amp; &lt;Waves&gt;, " in out.html
    assert f"{COURSE}: Sep 07, 2026 - ." in out.html
    assert 'Ann <O\'Brien> (f00d) in Physics "101" & <Waves>,' in out.text
    # The staff's own HTML is kept as written; the footer escapes what it shows.
    assert _rendered("<p><b>bold</b></p>").html.count("<b>bold</b>") == 1
    assert 'href="https://api.example.org/email/unsubscribe/t?x=1&amp;y=2"' in out.html
    assert "https://api.example.org/email/unsubscribe/t?x=1&y=2" in out.text
    # Without a full name, the username.
    plain = render.keyword_values(FACTS, PERSON.model_copy(update={"full_name": ""}), "x")
    assert plain["%%USER_FULLNAME%%"] == "ann"


def test_unknown_keywords_and_templates_are_refused():
    render.check_keywords("<p>%%USER_ID%% and 100%% sure, %% spaced %%</p>")
    with pytest.raises(BadRequest, match="Unknown keyword %%USER_NAME%%"):
        render.check_keywords("<p>%%USER_NAME%%</p>")
    assert render.check_template("plain") == "plain"
    with pytest.raises(BadRequest, match="Unknown email template 'fancy'"):
        render.check_template("fancy")


def test_text_part_is_derived_from_the_html_with_links_kept():
    text = render.html_to_text(
        '<h1>Week 1</h1><p>Read <a href="https://x.org/a">this</a>.</p><ul><li>one</li></ul>'
    )
    assert "Week 1" in text and "this" in text and "https://x.org/a" in text and "* one" in text
    assert "<" not in text


def test_from_address_rules():
    default_from = "no-reply@example.com"
    assert render.from_address(default_from, False, COURSE, "Title") == default_from
    assert (
        render.from_address(default_from, True, COURSE, "T", override="Staff <s@x.org>") == "Staff <s@x.org>"
    )
    assert render.from_address(default_from, True, COURSE, 'A "quoted" title') == (
        '"A quoted title" Course Staff <G101-no-reply@example.com>'
    )
    # The number's characters outside [\w.-] become underscores.
    assert "<Phys_1_2-no-reply@example.com>" in render.from_address(
        default_from, True, "course-v1:X+Phys~1~2+R", "T"
    )
    # A title that would make the header 320 characters or more: the course number instead.
    assert render.from_address(default_from, True, COURSE, "x" * 300) == (
        '"G101" Course Staff <G101-no-reply@example.com>'
    )
    # Non-ASCII titles are encoded (RFC 2047), the address untouched.
    encoded = render.from_address(default_from, True, COURSE, "Física")
    assert encoded.startswith("=?utf-8?") and encoded.endswith("<G101-no-reply@example.com>")


def test_the_mime_is_multipart_alternative_with_one_click_headers():
    raw = render.mime_message(
        from_header='"T" Course Staff <G101-no-reply@example.com>',
        to_address=PERSON.email,
        rendered=_rendered("<p>Ünïcode %%USER_FULLNAME%%</p>"),
        unsubscribe_link="https://api.example.org/email/unsubscribe/tok",
    )
    message = email.message_from_bytes(raw, policy=default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["List-Unsubscribe"] == "<https://api.example.org/email/unsubscribe/tok>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["To"] == PERSON.email and message["Subject"] == "Hello"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Ünïcode Ann <O'Brien>" in text and "Ünïcode Ann &lt;O&#39;Brien&gt;" in html
    assert raw.isascii()  # quoted-printable: safe for any relay
    bare = render.mime_message(
        from_header="a@x.org", to_address="b@x.org", rendered=_rendered("<p>x</p>"), unsubscribe_link=""
    )
    assert b"List-Unsubscribe" not in bare


# ---- unsubscribe tokens ----
def test_unsubscribe_tokens_name_one_learner_and_course_and_refuse_tampering():
    token = unsubscribe.make_token("secret", 42, COURSE)
    assert unsubscribe.read_token("secret", token) == (42, COURSE)
    payload, mac = token.split(".")
    other = unsubscribe.make_token("secret", 43, COURSE)
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        f"{other.split('.')[0]}.{mac}",  # another learner with this learner's signature
        f"{payload}.",
        payload,
        "",
        "x" * 2000,
        "!!!.???",
    ):
        with pytest.raises(BadRequest, match="not valid"):
            unsubscribe.read_token("secret", bad)
    with pytest.raises(BadRequest):
        unsubscribe.read_token("another secret", token)
    assert unsubscribe.unsubscribe_url("https://api.x/", token) == f"https://api.x/email/unsubscribe/{token}"


# ---- SES answers ----
def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (_client_error("TooManyRequestsException", 429), Answer.RETRY),
        (_client_error("LimitExceededException", 400), Answer.RETRY),
        (_client_error("Throttling", 400), Answer.RETRY),
        (_client_error("InternalFailure", 500), Answer.RETRY),
        (_client_error("MessageRejected", 400), Answer.REJECTED),
        (_client_error("MailFromDomainNotVerifiedException", 400), Answer.REJECTED),
        (_client_error("FromEmailAddressNotVerified", 400), Answer.REJECTED),
        (_client_error("AccountSuspendedException", 400), Answer.PAUSED),
        (_client_error("SendingPausedException", 400), Answer.PAUSED),
        (_client_error("NotFoundException", 404), Answer.REJECTED),
        (_client_error("WeirdServerThing", 502), Answer.UNKNOWN),
        (EndpointConnectionError(endpoint_url="https://email"), Answer.RETRY),  # never left
        (ReadTimeoutError(endpoint_url="https://email"), Answer.UNKNOWN),  # may have been taken
        (RuntimeError("?"), Answer.UNKNOWN),
    ],
)
def test_ses_answers_are_classified_by_their_v2_codes(error, answer):
    assert classify(error).answer is answer


# ---- SES events ----
def _mail(tags: dict[str, list[str]] | None = None) -> dict:
    return {
        "messageId": "m-1",
        "timestamp": "2026-10-01T10:00:00.000Z",
        "destination": ["a@x.org"],
        "tags": tags if tags is not None else {"itask_task": ["t-1"], "itask_user": ["42"]},
    }


def test_hard_bounces_and_complaints_become_events_soft_bounces_do_not():
    hard = events.parse(
        {
            "eventType": "Bounce",
            "mail": _mail(),
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": "2026-10-01T10:00:05.000Z",
                "bouncedRecipients": [{"emailAddress": "A@x.org", "diagnosticCode": "550 unknown"}],
            },
        }
    )
    [found] = events.mail_events(hard)
    assert found.kind is SuppressionReason.BOUNCE and found.user_id == 42 and found.task_id == "t-1"
    assert found.address == "A@x.org" and found.detail == "Permanent General 550 unknown"
    soft = events.parse(
        {
            "eventType": "Bounce",
            "mail": _mail(),
            "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "a@x.org"}]},
        }
    )
    assert events.mail_events(soft) == []
    complaint = events.parse(
        {
            "notificationType": "Complaint",
            "mail": _mail({}),
            "complaint": {
                "complainedRecipients": [{"emailAddress": "a@x.org"}],
                "complaintFeedbackType": "abuse",
            },
        }
    )
    [found] = events.mail_events(complaint)
    assert found.kind is SuppressionReason.COMPLAINT and found.user_id is None and found.detail == "abuse"
    delivery = events.parse({"eventType": "Delivery", "mail": _mail(), "delivery": {}})
    assert events.mail_events(delivery) == []
    with pytest.raises(ValueError, match="not an SES event"):
        events.parse({"eventType": "Bounce"})
