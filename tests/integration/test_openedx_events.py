"""Open edX events in (issue #15.4): events built and serialised by openedx-events and
edx-event-bus-kafka themselves reach the tables through the consumer function, once, never over a
newer change; a malformed record is reported as that record's failure, never a failed invocation.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from functions.catalog import EVENT_RULES
from functions.dal.access_admin_repo import AccessAdminRepository
from functions.dal.access_repo import AccessRepository
from functions.dal.clients import client
from functions.dal.cohort_repo import CohortRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.openedx_events_repo import HandledEventItem, event_pk
from functions.models.access import Principal
from itask.local.event_delivery import EventDelivery
from tests.helpers import openedx_bus as bus
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID
from tests.integration.lti_support import wait_for

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
UNKNOWN_COURSE = "course-v1:Nowhere+N1+2026"


def enrollment(signal, user_id: int, mode: str, active: bool, course: str = COURSE_ID) -> dict:
    data = bus.data_classes()
    return {
        "enrollment": data.CourseEnrollmentData(
            user=bus.user(user_id, f"u{user_id}", f"u{user_id}@example.org"),
            course=data.CourseData(course_key=bus.course_key(course), display_name="G101"),
            mode=mode,
            is_active=active,
            creation_date=T0 - timedelta(days=3),
        )
    }


def cohort(user_id: int, name: str) -> dict:
    data = bus.data_classes()
    return {
        "cohort": data.CohortData(
            user=bus.user(user_id, f"u{user_id}", f"u{user_id}@example.org"),
            course=data.CourseData(course_key=bus.course_key(COURSE_ID)),
            name=name,
        )
    }


def role(email: str, name: str, course: str = COURSE_ID, user_id: int = 77, username: str = "ta") -> dict:
    data = bus.data_classes()
    return {
        "course_access_role_data": data.CourseAccessRoleData(
            user=bus.user(user_id, username, email),
            org_key="TestX",
            course_key=bus.course_key(course),
            role=name,
        )
    }


def grade(user_id: int) -> dict:
    data = bus.data_classes()
    return {
        "grade": data.PersistentCourseGradeData(
            user_id=user_id,
            course=data.CourseData(course_key=bus.course_key(COURSE_ID)),
            course_edited_timestamp=T0,
            course_version="v1",
            grading_policy_hash="hash",
            percent_grade=0.8,
            letter_grade="B",
            passed_timestamp=T0,
        )
    }


def deliver(stack, records: list[dict], source: str = "aws:kafka") -> list[dict]:
    """Invoke the function as the event source mapping does; its batch item failures."""
    answer = stack.router.invoke("openedx-events", bus.kafka_event(records, source))
    return answer["batchItemFailures"]


def put_on_bus(stack, envelope: dict) -> None:
    """PutEvents on the service's bus (moto delivers to the rule's queue), then the local event
    delivery hands the queue's batch to the function, as the queue's event source mapping does."""
    answer = client("events", stack.settings.region).put_events(
        Entries=[
            {
                "Source": envelope["source"],
                "DetailType": envelope["detail-type"],
                "Detail": json.dumps(envelope["detail"]),
                "EventBusName": stack.settings.event_bus_name,
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0, answer
    rule = next(rule for rule in EVENT_RULES if rule.target == "openedx-events")
    delivery = EventDelivery(stack.router, stack.settings.region)
    wait_for(lambda: delivery.poll_once(rule), 60, "the Open edX event on its queue")
    assert delivery.delivered == 1  # handled, not left for a retry


def writes(stack) -> int:
    return sum(n for op, n in stack.counter.by_operation("dynamodb").items() if op in WRITES)


def add_ta(stack) -> None:
    AccessRepository(stack.settings).put_principal(
        Principal(subject="ta-sub", user_id=77, username="ta", email="TA@example.org")
    )


def held_roles(stack, subject: str) -> set[tuple[str, str]]:
    principal = AccessRepository(stack.settings).get_principal(subject)
    assert principal is not None
    return {(grant.scope, grant.role.value) for grant in principal.grants}


def test_kafka_events_serialised_by_open_edx_reach_the_tables(small_chunks_stack):
    stack = small_chunks_stack
    add_ta(stack)
    signals = bus.signals()
    produced = [
        bus.produce(signals.COURSE_ENROLLMENT_CREATED, enrollment(signals.COURSE_ENROLLMENT_CREATED, 901,
                    "verified", True), T0),
        bus.produce(signals.COURSE_ENROLLMENT_CREATED, enrollment(signals.COURSE_ENROLLMENT_CREATED, 902,
                    "audit", True), T0),
        bus.produce(signals.COURSE_UNENROLLMENT_COMPLETED, enrollment(signals.COURSE_UNENROLLMENT_COMPLETED,
                    902, "audit", False), T0 + timedelta(minutes=5)),
        bus.produce(signals.COHORT_MEMBERSHIP_CHANGED, cohort(901, "Night owls"), T0 + timedelta(minutes=1)),
        bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, role("ta@example.org", "staff"), T0),
        bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, role("ta@example.org", "beta_testers"), T0),
        # An LMS user we have never seen: its own subject is created with the role
        bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, role("new@example.org", "data_researcher", user_id=78,
                    username="newcomer"), T0),
        # Not ours: another LMS course, a role we do not keep, a grade summary
        bus.produce(signals.COURSE_ENROLLMENT_CREATED, enrollment(signals.COURSE_ENROLLMENT_CREATED, 903,
                    "audit", True, UNKNOWN_COURSE), T0),
        bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, role("ta@example.org", "finance_admin"), T0),
        bus.produce(signals.PERSISTENT_GRADE_SUMMARY_CHANGED, grade(901), T0),
    ]  # fmt: skip
    # What edx-event-bus-kafka put on the wire: its CloudEvent headers and Confluent's framing
    first = produced[0]
    assert first.headers["ce_type"] == b"org.openedx.learning.course.enrollment.created.v1"
    assert first.headers["ce_source"] == b"openedx/lms/web" and first.headers["ce_specversion"] == b"1.0"
    assert first.value[0] == 0 and int.from_bytes(first.value[1:5], "big") in bus.registry().schemas
    assert first.topic == "prod-learning-course-enrollment-lifecycle"

    # One MSK batch over several partitions: nothing fails
    records = [bus.kafka_record(item, offset, partition=offset % 2) for offset, item in enumerate(produced)]
    assert deliver(stack, records) == []

    rows = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [901, 902, 903])
    assert (rows[901].mode, rows[901].is_active, rows[901].username, rows[901].email) == (
        "verified", True, "u901", "u901@example.org")  # fmt: skip
    assert rows[901].created == T0 - timedelta(days=3)
    assert rows[901].cohort == "Night owls"
    assert (rows[902].mode, rows[902].is_active) == ("audit", False)  # unenrolled
    assert 903 not in rows
    assert CourseRepository(stack.settings).get_enrollments(UNKNOWN_COURSE, [903]) == {}
    # The cohort Open edX named now exists in the course, made by the event's source
    cohorts = {c.name: c for c in CohortRepository(stack.settings).list(COURSE_ID)}
    assert cohorts["Night owls"].created_by == "openedx-events:openedx/lms/web"
    assert ("Night owls" in CourseRepository(stack.settings).course_groups(COURSE_ID)[0]) is True
    # Roles: staff and beta tester granted (finance_admin is not a role here) to the LMS user's own
    # subject (what its JWTs act as on the v2 routes) and to our subject with its email, audited as
    # made by the event's source
    for subject in ("ta-sub", "openedx:ta"):
        assert held_roles(stack, subject) == {(COURSE_ID, "staff"), (COURSE_ID, "beta")}, subject
    lms_user = AccessRepository(stack.settings).get_principal("openedx:ta")
    assert (lms_user.user_id, lms_user.username, lms_user.email) == (77, "ta", "ta@example.org")
    assert held_roles(stack, "openedx:newcomer") == {(COURSE_ID, "data_researcher")}
    audit = AccessAdminRepository(stack.settings).changes(COURSE_ID, 10)
    assert sorted((c.action.value, c.role, c.subject, c.by) for c in audit) == [
        ("grant", "beta", "openedx:ta", "openedx-events:openedx/lms/web"),
        ("grant", "beta", "ta-sub", "openedx-events:openedx/lms/web"),
        ("grant", "data_researcher", "openedx:newcomer", "openedx-events:openedx/lms/web"),
        ("grant", "staff", "openedx:ta", "openedx-events:openedx/lms/web"),
        ("grant", "staff", "ta-sub", "openedx-events:openedx/lms/web"),
    ]
    assert {c.detail["event_id"] for c in audit} == {item.event_id for item in produced[4:7]}

    # Removed in Open edX: revoked here, audited; a self-managed cluster's delivery is the same
    removed = bus.produce(
        signals.COURSE_ACCESS_ROLE_REMOVED, role("ta@example.org", "staff"), T0 + timedelta(hours=1)
    )
    assert deliver(stack, [bus.kafka_record(removed, 40)], source="SelfManagedKafka") == []
    for subject in ("ta-sub", "openedx:ta"):
        assert held_roles(stack, subject) == {(COURSE_ID, "beta")}, subject
    newest = AccessAdminRepository(stack.settings).changes(COURSE_ID, 2)
    assert sorted((c.action.value, c.role, c.subject) for c in newest) == [
        ("revoke", "staff", "openedx:ta"),
        ("revoke", "staff", "ta-sub"),
    ]


def test_a_duplicate_changes_nothing_and_an_older_event_never_overwrites_a_newer(small_chunks_stack):
    stack = small_chunks_stack
    add_ta(stack)
    signals = bus.signals()
    changed = signals.COURSE_ENROLLMENT_CHANGED
    newer = bus.produce(changed, enrollment(changed, 911, "honor", False), T0 + timedelta(hours=2))
    older = bus.produce(changed, enrollment(changed, 911, "verified", True), T0 + timedelta(hours=1))
    cohort_new = bus.produce(signals.COHORT_MEMBERSHIP_CHANGED, cohort(911, "Larks"), T0 + timedelta(hours=2))
    cohort_old = bus.produce(signals.COHORT_MEMBERSHIP_CHANGED, cohort(911, "Owls"), T0 + timedelta(hours=1))
    removed = bus.produce(
        signals.COURSE_ACCESS_ROLE_REMOVED, role("ta@example.org", "staff"), T0 + timedelta(hours=2)
    )
    added = bus.produce(
        signals.COURSE_ACCESS_ROLE_ADDED, role("ta@example.org", "staff"), T0 + timedelta(hours=1)
    )
    assert (
        deliver(stack, [bus.kafka_record(item, n) for n, item in enumerate((newer, cohort_new, removed))])
        == []
    )
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911])[911]
    assert (row.mode, row.is_active, row.cohort) == ("honor", False, "Larks")

    # The same three events again (a redelivery): not one write
    stack.counter.reset()
    assert (
        deliver(stack, [bus.kafka_record(item, n) for n, item in enumerate((newer, cohort_new, removed))])
        == []
    )
    assert writes(stack) == 0, stack.counter.by_operation("dynamodb")

    # A process that died after applying, before recording the event as handled: its redelivery
    # finds its own change already there and only records it (one PutItem each, nothing else)
    for item in (newer, cohort_new, removed):
        HandledEventItem(event_pk(item.event_id), "EVENT").delete()
    stack.counter.reset()
    assert (
        deliver(stack, [bus.kafka_record(item, n) for n, item in enumerate((newer, cohort_new, removed))])
        == []
    )
    assert {op: n for op, n in stack.counter.by_operation("dynamodb").items() if op in WRITES} == {
        "PutItem": 3,
        # the course's modes and cohorts in use (sets: adding again changes nothing)
        "UpdateItem": 2,
        # the enrollment's conditional update with its checks (not retired, no newer row delete),
        # refused: its version is this event's
        "TransactWriteItems": 1,
    }
    assert [
        (c.action.value, c.role) for c in AccessAdminRepository(stack.settings).changes(COURSE_ID, 10)
    ] == []
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911])[911]
    assert (row.mode, row.is_active, row.cohort) == ("honor", False, "Larks")

    # Older events arriving late, over Kafka and as the JSON form: applied nowhere
    assert deliver(stack, [bus.kafka_record(older, 10), bus.kafka_record(cohort_old, 11)]) == []
    answer = stack.router.invoke("openedx-events", bus.sqs_event([bus.body(bus.json_form(added))]))
    assert answer["batchItemFailures"] == []
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911])[911]
    assert (row.mode, row.is_active, row.cohort) == ("honor", False, "Larks")
    assert held_roles(stack, "ta-sub") == held_roles(stack, "openedx:ta") == set()
    assert AccessAdminRepository(stack.settings).changes(COURSE_ID, 10) == []  # nothing was ever held

    # Different things of one learner have their own versions: a cohort change first, then an
    # enrollment event older than it (the learner's first) still enrolls the learner
    first_cohort = bus.produce(
        signals.COHORT_MEMBERSHIP_CHANGED, cohort(912, "Larks"), T0 + timedelta(hours=2)
    )
    created = signals.COURSE_ENROLLMENT_CREATED
    enrolled = bus.produce(created, enrollment(created, 912, "verified", True), T0 + timedelta(hours=1))
    assert deliver(stack, [bus.kafka_record(first_cohort, 30)]) == []
    # (until its enrollment event comes, the learner reads as a new enrollment's defaults)
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [912])[912]
    assert (row.mode, row.is_active, row.cohort, row.email) == ("audit", True, "Larks", "u912@example.org")
    keys = {key.user_id: key for key in CourseRepository(stack.settings).iter_enrollment_keys(COURSE_ID)}
    assert (keys[912].mode, keys[912].is_active) == ("audit", True)
    assert deliver(stack, [bus.kafka_record(enrolled, 31)]) == []
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [912])[912]
    assert (row.mode, row.is_active, row.cohort, row.username) == ("verified", True, "Larks", "u912")

    # A newer one as the JSON form, put on the service's bus: the rule sends it through its queue to
    # the same function and logic
    newest = bus.produce(changed, enrollment(changed, 911, "verified", True), T0 + timedelta(hours=3))
    put_on_bus(stack, bus.json_form(newest))
    row = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911])[911]
    assert (row.mode, row.is_active, row.cohort) == ("verified", True, "Larks")  # cohort kept
    # ... and delivered again over Kafka (both paths share the event id): nothing written
    stack.counter.reset()
    assert deliver(stack, [bus.kafka_record(newest, 20)]) == []
    assert writes(stack) == 0


def test_a_malformed_message_is_a_failed_record_not_a_failed_batch(small_chunks_stack):
    stack = small_chunks_stack
    signals = bus.signals()
    created = signals.COURSE_ENROLLMENT_CREATED
    good = bus.produce(created, enrollment(created, 921, "verified", True), T0)
    other = bus.produce(created, enrollment(created, 922, "audit", True, OTHER_COURSE_ID), T0)
    third = bus.produce(created, enrollment(created, 923, "honor", True), T0)
    no_id = {k: v for k, v in good.headers.items() if k != "ce_id"}
    records = [
        bus.kafka_record(good, 1, value=base64.b64encode(b"not avro at all").decode()),
        bus.kafka_record(good, 2),
        bus.kafka_record(good, 3, value=base64.b64encode(good.value[:-4]).decode()),  # truncated
        bus.kafka_record(good, 4, headers=[{k: list(v)} for k, v in no_id.items()]),
        bus.kafka_record(good, 5, headers=[{"ce_type": list(b"org.example.unknown.v1")}, {"ce_id": [120]}]),
        bus.kafka_record(good, 6, value="%%% not base64"),
        # the enrollment-changed schema's bytes sent with another signal's type
        bus.kafka_record(good, 7, headers=[
            {k: list(b"org.openedx.learning.user.course_access_role.added.v1" if k == "ce_type" else v)}
            for k, v in other.headers.items()
        ]),
        bus.kafka_record(other, 8),
        # header values as signed bytes (a JVM relay's): "hôte" is [104, -61, -76, 116, 101]
        bus.kafka_record(third, 9, headers=[
            {k: [104, -61, -76, 116, 101] if k == "sourcehost" else list(v)} for k, v in third.headers.items()
        ]),
    ]  # fmt: skip
    failures = deliver(stack, records)
    topic_partition = f"{good.topic}-0"
    assert failures == [
        {"itemIdentifier": {"partition": topic_partition, "offset": offset}} for offset in (1, 3, 4, 5, 6, 7)
    ]
    # The good records of the same batch are in the tables
    assert CourseRepository(stack.settings).get_enrollments(COURSE_ID, [921])[921].mode == "verified"
    assert 922 in CourseRepository(stack.settings).get_enrollments(OTHER_COURSE_ID, [922])
    assert CourseRepository(stack.settings).get_enrollments(COURSE_ID, [923])[923].mode == "honor"
    # A batch of nothing but bad records is still an answer naming them, not an invocation error
    assert deliver(stack, [records[0]]) == [{"itemIdentifier": {"partition": topic_partition, "offset": 1}}]
    # The JSON form: a body that is not JSON, a record not matching its schema, a good one
    bad_data = bus.json_form(good)
    bad_data["detail"]["data"]["enrollment"]["mode"] = 5
    answer = stack.router.invoke(
        "openedx-events", bus.sqs_event(["{not json", bus.body(bad_data), bus.body(bus.json_form(good))])
    )
    assert answer["batchItemFailures"] == [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]


def test_a_role_synced_from_open_edx_is_what_the_lms_users_jwt_gets_on_the_v2_routes(
    small_chunks_stack, monkeypatch
):
    from tests.helpers.lms_standin import StandInLms
    from tests.integration.test_openedx_v2_routes import call

    stack = small_chunks_stack
    signals = bus.signals()
    reports = f"/api/instructor/v2/courses/{COURSE_ID}/reports"
    with StandInLms() as lms:
        monkeypatch.setenv("ITASK_OPENEDX_JWT_ISSUER", lms.issuer)
        monkeypatch.setenv("ITASK_OPENEDX_JWT_AUDIENCE", lms.audience)
        monkeypatch.setenv("ITASK_OPENEDX_JWKS_URL", lms.jwks_url)
        token = lms.mint("lms-staffer")
        # Unknown here: the LMS user's token opens nothing
        assert call(stack, "GET", reports, token=token)[0] == 403
        # Made course staff in Open edX: the event gives its own subject the role
        added = role("staffer@example.org", "staff", user_id=501, username="lms-staffer")
        made = bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, added, T0)
        assert deliver(stack, [bus.kafka_record(made, 1)]) == []
        status, listed = call(stack, "GET", reports, token=token)
        assert (status, listed["downloads"]) == (200, [])
        # Removed in Open edX: refused again
        removed = role("staffer@example.org", "staff", user_id=501, username="lms-staffer")
        unmade = bus.produce(signals.COURSE_ACCESS_ROLE_REMOVED, removed, T0 + timedelta(minutes=1))
        assert deliver(stack, [bus.kafka_record(unmade, 2)]) == []
        assert call(stack, "GET", reports, token=token)[0] == 403


def test_events_of_a_retired_learner_or_older_than_a_row_delete_write_nothing(small_chunks_stack):
    stack = small_chunks_stack
    signals = bus.signals()
    created = signals.COURSE_ENROLLMENT_CREATED
    first = [bus.produce(created, enrollment(created, user, "audit", True), T0) for user in (911, 912)]
    assert deliver(stack, [bus.kafka_record(item, n) for n, item in enumerate(first)]) == []
    assert set(CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911, 912])) == {911, 912}

    # Learner 911 is retired (GDPR); learner 912's enrollment is deleted by a load's row delete
    # versioned an hour after T0
    assert stack.api("POST", "/admin/retirements", "admin", {"user_id": 911})[0] == 200
    deleted_at = int((T0 + timedelta(hours=1)).timestamp() * 1_000_000)
    line = json.dumps({"user_id": 912, "op": "delete", "source_version": deleted_at})
    path = f"/courses/{quote(COURSE_ID, safe='')}/data/enrollments"
    status, answer = stack.api("POST", path, "admin", raw_body=line.encode())
    assert status == 200, answer
    assert CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911, 912]) == {}

    # Later events for the retired learner (enrollment, cohort, role) are dropped; an enrollment
    # change of 912 made before its delete does not bring it back, one made after it does
    changed = signals.COURSE_ENROLLMENT_CHANGED
    late = [
        bus.produce(changed, enrollment(changed, 911, "verified", True), T0 + timedelta(hours=2)),
        bus.produce(signals.COHORT_MEMBERSHIP_CHANGED, cohort(911, "Larks"), T0 + timedelta(hours=2)),
        bus.produce(signals.COURSE_ACCESS_ROLE_ADDED, role("u911@example.org", "staff", user_id=911,
                    username="u911"), T0 + timedelta(hours=2)),
        bus.produce(changed, enrollment(changed, 912, "verified", True), T0 + timedelta(minutes=30)),
    ]  # fmt: skip
    stack.counter.reset()
    assert deliver(stack, [bus.kafka_record(item, 10 + n) for n, item in enumerate(late)]) == []
    assert CourseRepository(stack.settings).get_enrollments(COURSE_ID, [911, 912]) == {}
    assert AccessRepository(stack.settings).get_principal("openedx:u911") is None
    assert {m.name for m in CohortRepository(stack.settings).list(COURSE_ID)} == set()  # no cohort made
    after = bus.produce(changed, enrollment(changed, 912, "honor", True), T0 + timedelta(hours=3))
    assert deliver(stack, [bus.kafka_record(after, 20)]) == []
    rows = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [912])
    assert (rows[912].mode, rows[912].is_active) == ("honor", True)
