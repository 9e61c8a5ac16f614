"""Certificates, allowlist entries, profiles and enrollment-allowed entries load incrementally, as
enrollments do (issue #15.2): the same change delivered twice and changes out of order end in the
newest state, and a versioned delete leaves a tombstone that an older upsert does not pass, through
``POST /courses/{id}/data/{kind}`` (the loader, the journal and the applier) on moto."""

from __future__ import annotations

import json
from urllib.parse import quote

from functions.dal.course_repo import CourseRepository
from functions.dal.people_repo import PeopleRepository
from functions.dal.record_versions import ALLOWLIST_TOMBSTONE, CERTIFICATE_TOMBSTONE, RecordVersions
from functions.logic import bulk_in
from functions.models.certificates import AllowlistEntry
from functions.models.course import Certificate
from functions.models.people import EnrollmentAllowed, UserProfile
from functions.models.tasks import TaskState
from tests.helpers.loads import upload_and_load
from tests.helpers.olx import export_of

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")


def load(stack, kind: str, *lines: dict) -> tuple[int, dict]:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return stack.api("POST", f"{PATH}/data/{kind}", "admin", raw_body=body)


def enroll(stack, *user_ids: int) -> None:
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    people = [{"user_id": u, "username": f"u{u}", "email": f"u{u}@example.org"} for u in user_ids]
    assert load(stack, "enrollments", *people)[0] == 200


def test_a_repeated_or_late_certificate_change_never_overwrites_a_newer_one(stack):
    enroll(stack, 951, 952)
    courses = CourseRepository(stack.settings)

    def stored(user_id: int = 951) -> tuple[str, str | None, int | None] | None:
        cert = courses.get_enrollments(COURSE, [user_id])[user_id].certificate
        return None if cert is None else (cert.status, cert.grade, cert.source_version)

    status, answer = load(stack, "certificates", {"user_id": 951, "status": "downloadable", "grade": "0.9",
                                                  "source_version": 200})  # fmt: skip
    assert (status, answer["certificates"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("downloadable", "0.9", 200)
    # The same change again (200) and a late one (100): nothing changes
    for late in ({"user_id": 951, "status": "downloadable", "grade": "0.9", "source_version": 200},
                 {"user_id": 951, "status": "notpassing", "source_version": 100}):  # fmt: skip
        status, answer = load(stack, "certificates", late)
        assert (status, answer["certificates"], answer["stale"]) == (200, 0, 1), answer
        assert stored() == ("downloadable", "0.9", 200)
    # Two changes of one learner out of order in one batch: the newest wins, whatever its place
    status, answer = load(
        stack,
        "certificates",
        {"user_id": 951, "status": "notpassing", "grade": "0.4", "source_version": 300},
        {"user_id": 951, "status": "downloadable", "grade": "0.8", "source_version": 250},
    )
    assert (status, answer["certificates"]) == (200, 1), answer
    assert stored() == ("notpassing", "0.4", 300)
    # A delete (400) leaves a tombstone: a late upsert (350) and the delete again do not pass it
    status, answer = load(stack, "certificates", {"user_id": 951, "op": "delete", "source_version": 400})
    assert (status, answer["by_status"], answer["stale"]) == (200, {"removed": 1}, 0), answer
    assert stored() is None
    for late in ({"user_id": 951, "status": "downloadable", "source_version": 350},
                 {"user_id": 951, "op": "delete", "source_version": 400}):  # fmt: skip
        status, answer = load(stack, "certificates", late)
        assert (status, answer["certificates"], answer["stale"]) == (200, 0, 1), answer
        assert stored() is None
    versions = RecordVersions(stack.settings)
    assert versions.tombstones(CERTIFICATE_TOMBSTONE, COURSE, [951, 952]) == {951: 400}
    # A newer upsert (500) brings it back
    status, answer = load(stack, "certificates", {"user_id": 951, "status": "downloadable", "grade": "0.95",
                                                  "source_version": 500})  # fmt: skip
    assert (status, answer["certificates"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("downloadable", "0.95", 500)
    # The write itself is conditional: a change prepared before a newer one was stored is not applied
    older = Certificate(status="error", mode="audit", source_version=450)
    assert versions.set_certificate_if_newer(COURSE, 951, older) is False
    assert versions.remove_certificate_if_newer(COURSE, 951, 450) is False
    assert stored() == ("downloadable", "0.95", 500)
    # A delete of a learner without a certificate still leaves its tombstone; an unversioned
    # (snapshot) line is always applied
    assert versions.remove_certificate_if_newer(COURSE, 952, 60) is True
    assert (
        load(stack, "certificates", {"user_id": 952, "status": "downloadable", "source_version": 50})[1][
            "stale"
        ]
        == 1
    )
    status, answer = load(stack, "certificates", {"user_id": 951, "status": "error"})
    assert (status, answer["certificates"]) == (200, 1), answer
    assert stored() == ("error", None, None)
    assert stored(952) is None


def test_a_repeated_or_late_allowlist_change_never_overwrites_a_newer_one(stack):
    enroll(stack, 961, 962)
    courses = CourseRepository(stack.settings)

    def stored() -> tuple[str | None, bool] | None:
        status, listed = stack.api("GET", f"{PATH}/certificates/allowlist", "admin")
        assert status == 200, listed
        notes = {entry["user_id"]: entry["notes"] for entry in listed["allowlist"]}
        flag = courses.get_enrollments(COURSE, [961])[961].allowlisted
        assert flag == (961 in notes)  # the entry and the enrollment's flag change together
        return (notes[961], flag) if 961 in notes else None

    status, answer = load(stack, "allowlist", {"user_id": 961, "notes": "dean", "source_version": 200})
    assert (status, answer["allowlist"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("dean", True)
    for late in ({"user_id": 961, "notes": "dean", "source_version": 200},
                 {"user_id": 961, "notes": "older", "source_version": 100}):  # fmt: skip
        status, answer = load(stack, "allowlist", late)
        assert (status, answer["allowlist"], answer["stale"]) == (200, 0, 1), answer
        assert stored() == ("dean", True)
    # A batch with a delete (300) and an older upsert (250), out of order: the delete wins
    status, answer = load(
        stack,
        "allowlist",
        {"user_id": 961, "op": "delete", "source_version": 300},
        {"user_id": 961, "notes": "board", "source_version": 250},
    )
    assert (status, answer["allowlist"], answer["removed"]) == (200, 0, 1), answer
    assert stored() is None
    # The tombstone holds: a late upsert (290) and the delete again change nothing
    for late in ({"user_id": 961, "notes": "late", "source_version": 290},
                 {"user_id": 961, "op": "delete", "source_version": 300}):  # fmt: skip
        status, answer = load(stack, "allowlist", late)
        assert (status, answer["allowlist"], answer["removed"], answer["stale"]) == (200, 0, 0, 1), answer
        assert stored() is None
    versions = RecordVersions(stack.settings)
    assert versions.tombstones(ALLOWLIST_TOMBSTONE, COURSE, [961, 962]) == {961: 300}
    # A newer upsert (350) brings it back
    status, answer = load(stack, "allowlist", {"user_id": 961, "notes": "again", "source_version": 350})
    assert (status, answer["allowlist"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("again", True)
    # The writes themselves are conditional
    entry = AllowlistEntry(user_id=961, notes="prepared before", created_by="load")
    assert versions.add_to_allowlist_if_newer(COURSE, entry, 340) is False
    assert versions.remove_from_allowlist_if_newer(COURSE, 961, 340) is False
    assert stored() == ("again", True)
    assert versions.allowlist_versions(COURSE, [961, 962]) == {961: 350}


def test_a_repeated_or_late_profile_change_never_overwrites_a_newer_one(stack):
    enroll(stack, 971)
    people = PeopleRepository(stack.settings)
    courses = CourseRepository(stack.settings)
    person = {"id": 971, "username": "u971", "email": "u971@example.org"}

    def stored() -> tuple[str | None, str, str]:
        profile = people.get_profiles([971])[971]
        enrollment = courses.get_enrollments(COURSE, [971])[971]
        assert (enrollment.username, enrollment.email) == (profile.username, profile.email)  # copies follow
        return profile.name, profile.username, profile.email

    status, answer = load(stack, "profiles", {**person, "name": "Ada", "source_version": 200})
    assert (status, answer["profiles"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("Ada", "u971", "u971@example.org")
    for late in ({**person, "name": "Ada", "source_version": 200},
                 {**person, "name": "Old", "source_version": 100}):  # fmt: skip
        status, answer = load(stack, "profiles", late)
        assert (status, answer["profiles"], answer["stale"]) == (200, 0, 1), answer
        assert stored() == ("Ada", "u971", "u971@example.org")
    # A batch of two changes out of order, the newer renaming the user: the newest wins, with its
    # directory entries and the enrollment's copies
    renamed = {"id": 971, "username": "ada971", "email": "ada@example.org"}
    status, answer = load(
        stack,
        "profiles",
        {**renamed, "name": "Ada L.", "source_version": 300},
        {**person, "name": "Ada B.", "source_version": 250},
    )
    assert (status, answer["profiles"], answer["stale"]) == (200, 1, 0), answer
    assert stored() == ("Ada L.", "ada971", "ada@example.org")
    # A late change carrying the old names does not bring them back
    status, answer = load(stack, "profiles", {**person, "name": "Ada B.", "source_version": 260})
    assert (status, answer["stale"]) == (200, 1), answer
    assert stored() == ("Ada L.", "ada971", "ada@example.org")
    assert set(people.find_users(["u971", "ada971"])) == {"ada971"}
    # The write itself is conditional: a change prepared before a newer one was stored is not applied
    profile = UserProfile(**person, name="Prepared before")
    assert people.put_profile_if_newer(profile, 299) is False
    assert stored() == ("Ada L.", "ada971", "ada@example.org")
    assert people.profile_versions([971]) == {971: 300}


def test_a_repeated_or_late_enrollment_allowed_change_never_overwrites_a_newer_one(stack):
    enroll(stack, 981)
    people = PeopleRepository(stack.settings)
    email = "Invited@Example.org"

    def stored() -> bool | None:
        entry = people.get_allowed(COURSE, [email]).get(email.lower())
        return None if entry is None else entry.auto_enroll

    status, answer = load(
        stack, "enrollment_allowed", {"email": email, "auto_enroll": True, "source_version": 200}
    )
    assert (status, answer["enrollment_allowed"], answer["stale"]) == (200, 1, 0), answer
    assert stored() is True
    for late in ({"email": email, "auto_enroll": True, "source_version": 200},
                 {"email": email.lower(), "auto_enroll": False, "source_version": 100}):  # fmt: skip
        status, answer = load(stack, "enrollment_allowed", late)
        assert (status, answer["enrollment_allowed"], answer["stale"]) == (200, 0, 1), answer
        assert stored() is True
    # A delete (300) and an older upsert (250) in one batch, out of order: the delete wins
    status, answer = load(
        stack,
        "enrollment_allowed",
        {"email": email, "op": "delete", "source_version": 300},
        {"email": email, "auto_enroll": False, "source_version": 250},
    )
    assert (status, answer["enrollment_allowed"], answer["deleted"]) == (200, 0, 1), answer
    assert stored() is None
    # The tombstone (no address kept in it) holds against a late upsert and the same delete again
    for late in ({"email": email, "source_version": 290},
                 {"email": email, "op": "delete", "source_version": 300}):  # fmt: skip
        status, answer = load(stack, "enrollment_allowed", late)
        assert (status, answer["stale"]) == (200, 1), answer
        assert stored() is None
    assert people.allowed_tombstones(COURSE, [email]) == {email.lower(): 300}
    # A delete needs a version: the whole load is refused
    status, answer = load(
        stack, "enrollment_allowed", {"email": "other@example.org"}, {"email": email, "op": "delete"}
    )
    assert (status, answer["error"]) == (400, "line 2: a delete needs a source_version"), answer
    assert people.get_allowed(COURSE, ["other@example.org"]) == {}
    # A newer upsert (350) brings it back; the writes themselves are conditional
    status, answer = load(
        stack, "enrollment_allowed", {"email": email, "auto_enroll": False, "source_version": 350}
    )
    assert (status, answer["enrollment_allowed"]) == (200, 1), answer
    assert stored() is False
    assert people.put_allowed_if_newer(COURSE, EnrollmentAllowed(email=email, auto_enroll=True), 340) is False
    assert people.delete_allowed_if_newer(COURSE, email, 340) is False
    assert stored() is False


def test_a_repeated_or_late_group_change_never_overwrites_a_newer_one(stack):
    course = "course-v1:TestX+EXP101+2026"  # its "Hint experiment" partition (50): groups 0 and 1
    path = "/courses/" + quote(course, safe="")
    status, _ = stack.api("POST", "/admin/courses/import", "admin", raw_body=export_of("experiment_course"))
    assert status == 201

    def send(kind: str, *lines: dict) -> dict:
        body = "\n".join(json.dumps(line) for line in lines).encode()
        status, answer = stack.api("POST", f"{path}/data/{kind}", "admin", raw_body=body)
        assert status == 200, answer
        return answer

    send("enrollments", {"user_id": 991, "username": "u991", "email": "u991@example.org"})
    courses = CourseRepository(stack.settings)

    def stored() -> tuple[str | None, int | None]:
        enrollment = courses.get_enrollments(course, [991])[991]
        return enrollment.experiment_groups.get("50"), enrollment.group_versions.get("50")

    answer = send("groups", {"user_id": 991, "partition": 50, "group": 0, "source_version": 200})
    assert (answer["learners"], answer["stale"]) == (1, 0), answer
    assert stored() == ("0", 200)
    late_by_name = {"user_id": 991, "partition": "Hint experiment", "group": 1, "source_version": 100}
    for late in ({"user_id": 991, "partition": 50, "group": 0, "source_version": 200}, late_by_name):
        answer = send("groups", late)
        assert (answer["learners"], answer["stale"]) == (0, 1), answer
        assert stored() == ("0", 200)
    # Two changes out of order in one batch: the newest wins
    send(
        "groups",
        {"user_id": 991, "partition": 50, "group": 1, "source_version": 300},
        {"user_id": 991, "partition": 50, "group": 0, "source_version": 250},
    )
    assert stored() == ("1", 300)
    # Out of the partition (400): the version stays as its tombstone; a late change (350) does not put
    # the learner back, and a snapshot load of the enrollment (a whole-item write) keeps the versions
    send("groups", {"user_id": 991, "partition": 50, "group": None, "source_version": 400})
    assert stored() == (None, 400)
    send("enrollments", {"user_id": 991, "mode": "honor"})
    answer = send("groups", {"user_id": 991, "partition": 50, "group": 0, "source_version": 350})
    assert answer["stale"] == 1, answer
    assert stored() == (None, 400)
    # A newer change (500) does; the write itself is conditional
    send("groups", {"user_id": 991, "partition": 50, "group": 0, "source_version": 500})
    assert stored() == ("0", 500)
    assert courses.set_group_if_newer(course, 991, "50", "1", 450) is False
    assert courses.set_group_if_newer(course, 991, "50", None, 450) is False
    assert stored() == ("0", 500)


def test_changes_out_of_order_in_two_batches_of_an_uploaded_file_end_in_the_newest(stack, monkeypatch):
    """Through S3 (``data_load``), each batch of lines is checked apart: a late line in a later batch
    passes the check (nothing newer was stored yet) and is refused by the write's own condition."""
    enroll(stack, 995, 996)
    monkeypatch.setattr(bulk_in, "BATCH_LINES", 2)
    lines = [
        {"user_id": 995, "op": "delete", "source_version": 300},
        {"user_id": 996, "notes": "kept", "source_version": 10},
        {"user_id": 995, "notes": "late", "source_version": 200},  # the next batch
    ]
    task = upload_and_load(stack, PATH, "allowlist", *lines)
    assert task.state is TaskState.SUCCESS, task.task_output
    status, listed = stack.api("GET", f"{PATH}/certificates/allowlist", "admin")
    assert status == 200, listed
    assert [(entry["user_id"], entry["notes"]) for entry in listed["allowlist"]] == [(996, "kept")], listed
    assert RecordVersions(stack.settings).tombstones(ALLOWLIST_TOMBSTONE, COURSE, [995]) == {995: 300}
