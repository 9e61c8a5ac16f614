"""Problem state, survey answers, proctored attempts, ORA submissions and course settings load
incrementally too (issue #15.2): a line with ``source_version`` replaces only an older version, so the
same change delivered twice, or a late one, changes nothing and is counted ``stale``; the newest of
one file's lines wins; a write that reaches the table after a newer one is refused by its own
condition. Through ``POST /courses/{id}/data/{kind}`` (the loader, the journal and the applier) on moto.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.dal.ora_repo import OraRepository
from functions.dal.people_repo import PeopleRepository
from functions.logic import bulk_in
from functions.models.people import SurveyResponse
from functions.models.state import ProblemState
from functions.models.tasks import TaskState
from tests.helpers.loads import upload_and_load
from tests.helpers.olx import export_of

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")
MC = "block-v1:ScoreX+Blocks101+2026+type@problem+block@mc"


def load(stack, kind: str, *lines: dict) -> tuple[int, dict]:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return stack.api("POST", f"{PATH}/data/{kind}", "admin", raw_body=body)


def loaded(stack, kind: str, *lines: dict) -> dict:
    status, summary = load(stack, kind, *lines)
    assert status == 200, summary
    return summary


def import_course(stack) -> None:
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201


def enroll(stack, *user_ids: int) -> None:
    import_course(stack)
    people = [{"user_id": u, "username": f"u{u}", "email": f"u{u}@example.org"} for u in user_ids]
    assert load(stack, "enrollments", *people)[0] == 200


def state_line(user_id: int, earned: float, version: int | None, **fields) -> dict:
    line = {"user_id": user_id, "problem": "mc", "answers": {"mc_2_1": f"choice_{int(earned)}"},
            "attempts": 1, "earned": earned, "possible": 1.0, **fields}  # fmt: skip
    if version is not None:
        line["source_version"] = version
    return line


def test_a_repeated_or_late_problem_state_never_overwrites_a_newer_one(stack):
    enroll(stack, 961, 962)
    courses = CourseRepository(stack.settings)

    def stored(user_id: int = 961) -> tuple:
        state = courses.get_state(COURSE, "mc", user_id)
        score = courses.read_learners(COURSE, [user_id])[0].scores.get("mc")
        return (
            None if state is None else (state.answers, state.earned, state.source_version),
            None if score is None else score.earned,
        )

    # Given learner 961's state on mc at the source's version 200 (a right answer, 1 of 1)
    summary = loaded(stack, "state", state_line(961, 1.0, 200))
    assert (summary["states"], summary["stale"]) == (1, 0), summary
    assert stored() == (({"mc_2_1": "choice_1"}, 1.0, 200), 1.0)
    # When the same change comes again, and an older one (a wrong answer) late, Then nothing changes
    for version, earned in ((200, 1.0), (100, 0.0)):
        summary = loaded(stack, "state", state_line(961, earned, version, problem=MC))
        assert (summary["states"], summary["stale"]) == (0, 1), summary
        assert stored() == (({"mc_2_1": "choice_1"}, 1.0, 200), 1.0)
    # When one file holds two changes of the state out of order, Then the newer wins, and a learner
    # first seen in it is enrolled
    summary = loaded(
        stack,
        "state",
        state_line(961, 0.0, 300),
        state_line(961, 1.0, 250),
        state_line(963, 1.0, 250, username="u963", email="u963@example.org"),
    )
    assert (summary["states"], summary["stale"], summary["enrolled"]) == (2, 0, 1), summary
    assert stored() == (({"mc_2_1": "choice_0"}, 0.0, 300), 0.0)
    assert stored(963) == (({"mc_2_1": "choice_1"}, 1.0, 250), 1.0)
    # and a state that reaches the table after a newer one (a journal applied late, or another
    # writer first) is refused by the write's own condition
    late = ProblemState(course_id=COURSE, user_id=961, problem_id="mc", answers={"mc_2_1": "choice_1"},
                        earned=1.0, possible=1.0, source_version=299)  # fmt: skip
    assert courses.put_states_if_newer([late]) == 0
    assert courses.put_states_if_newer([late.model_copy(update={"source_version": 300})]) == 0
    assert stored() == (({"mc_2_1": "choice_0"}, 0.0, 300), 0.0)
    # while a newer one is written
    assert courses.put_states_if_newer([late.model_copy(update={"source_version": 301})]) == 1
    assert stored()[0] == ({"mc_2_1": "choice_1"}, 1.0, 301)
    # When a snapshot line (no version) comes, Then it is applied, as snapshots always are
    summary = loaded(stack, "state", state_line(961, 0.0, None))
    assert (summary["states"], summary["stale"]) == (1, 0), summary
    assert stored() == (({"mc_2_1": "choice_0"}, 0.0, None), 0.0)
    # and a versioned and an unversioned line of one state in one file are refused (which is newer?)
    status, answer = load(stack, "state", state_line(962, 1.0, 400), state_line(962, 0.0, None))
    assert (status, answer["error"]) == (400, "line 2: user 962's state on mc is also on line 1")
    assert stored(962) == (None, None)


def test_repeated_or_late_survey_answers_and_exam_attempts_never_overwrite_newer_ones(stack):
    enroll(stack, 971, 972)
    people = PeopleRepository(stack.settings)

    def answers() -> dict[str, str] | None:
        return people.read_surveys(COURSE, [971]).get(971)

    def attempt(status: str, version: int | None, code: str = "a1") -> dict:
        line = {"user_id": 971, "exam_name": "Final", "provider": "proctortrack", "attempt_code": code,
                "status": status}  # fmt: skip
        return line if version is None else {**line, "source_version": version}

    def statuses() -> list[tuple[str, str]]:
        return [(a.attempt_code, a.status) for a in people.read_attempts(COURSE, [971]).get(971, [])]

    # Survey answers at version 200; the same again and an older one late change nothing
    assert (
        loaded(stack, "surveys", {"user_id": 971, "answers": {"goal": "job"}, "source_version": 200})["stale"]
        == 0
    )
    for version, goal in ((200, "job"), (150, "fun")):
        summary = loaded(
            stack, "surveys", {"user_id": 971, "answers": {"goal": goal}, "source_version": version}
        )
        assert (summary["responses"], summary["stale"]) == (0, 1), summary
        assert answers() == {"goal": "job"}
    # Two out of order in one file: the newer wins
    summary = loaded(stack, "surveys", {"user_id": 971, "answers": {"goal": "art"}, "source_version": 300},
                     {"user_id": 971, "answers": {"goal": "old"}, "source_version": 250})  # fmt: skip
    assert (summary["responses"], summary["stale"]) == (1, 0), summary
    assert answers() == {"goal": "art"}
    # A write that reaches the table after a newer one is refused by its own condition
    late = SurveyResponse(user_id=971, answers={"goal": "late"})
    assert people.put_surveys_if_newer(COURSE, [(late, 299), (late, 300)]) == 0
    assert answers() == {"goal": "art"}
    # A snapshot line always applies
    assert loaded(stack, "surveys", {"user_id": 971, "answers": {"goal": "now"}})["stale"] == 0
    assert answers() == {"goal": "now"}

    # Proctored attempts: the attempt is its code; a review that arrives before its start is kept
    assert loaded(stack, "proctored_attempts", attempt("verified", 500))["attempts"] == 1
    for late_attempt in (attempt("started", 400), attempt("verified", 500)):
        summary = loaded(stack, "proctored_attempts", late_attempt)
        assert (summary["attempts"], summary["stale"]) == (0, 1), summary
    summary = loaded(stack, "proctored_attempts", attempt("rejected", 700), attempt("submitted", 600),
                     attempt("started", 10, code="a2"))  # fmt: skip
    assert (summary["attempts"], summary["stale"]) == (2, 0), summary
    assert sorted(statuses()) == [("a1", "rejected"), ("a2", "started")]
    stored = people.read_attempts(COURSE, [971])[971][0]
    assert people.put_attempts_if_newer(COURSE, [(stored.model_copy(update={"status": "error"}), 700)]) == 0
    assert sorted(statuses()) == [("a1", "rejected"), ("a2", "started")]
    # Version 0 is a version like any other: the same change again is stale, for answers and attempts
    for _ in range(2):
        first = loaded(stack, "surveys", {"user_id": 972, "answers": {"goal": "zero"}, "source_version": 0})
        again = loaded(stack, "proctored_attempts", attempt("started", 0, code="a0"))
    assert (first["responses"], first["stale"], again["attempts"], again["stale"]) == (0, 1, 0, 1)
    status, answer = load(stack, "proctored_attempts", attempt("started", 800), attempt("verified", None))
    assert (status, answer["error"]) == (400, "line 2: attempt code a1 is also on line 1")


def submission(text: str, version: int | None, content: bytes | None = None) -> dict:
    line = {"uuid": "9d1c7a4e-7f52-4b0a-8e43-2f0e8f6b1a01", "user_id": 981, "block": "ora1",
            "submitted_at": "2026-03-01T10:00:00Z", "text_responses": [text]}  # fmt: skip
    if content is not None:
        line["files"] = [{"name": "essay.txt", "content_base64": base64.b64encode(content).decode()}]
    return line if version is None else {**line, "source_version": version}


def test_a_repeated_or_late_ora_submission_never_overwrites_a_newer_one_nor_its_files(stack, monkeypatch):
    enroll(stack, 981)
    repo = OraRepository(stack.settings)
    files = ObjectStore(stack.settings)

    def stored() -> tuple[list[str], list[bytes]]:
        (found,) = repo.read_submissions(COURSE, [981])
        return found.text_responses, [b"".join(files.iter_bytes(file.key)) for file in found.files]

    assert loaded(stack, "ora_submissions", submission("second draft", 20, b"new"))["submissions"] == 1
    assert stored() == (["second draft"], [b"new"])
    for late in (submission("first draft", 10, b"old"), submission("second draft", 20, b"new")):
        summary = loaded(stack, "ora_submissions", late)
        assert (summary["submissions"], summary["stale"], summary["attachments_stored"]) == (0, 1, 0)
        assert stored() == (["second draft"], [b"new"])
    # and one written straight after a newer one is refused by its own condition
    (newer,) = repo.read_submissions(COURSE, [981])
    assert not repo.put_submission_if_newer(newer.model_copy(update={"text_responses": ["late"]}), 20)
    assert stored() == (["second draft"], [b"new"])
    # Through S3 each batch of lines is checked apart: a late line in a later batch passes the check
    # (nothing newer is stored yet) and is refused when it is written; its file, stored first, is kept
    # under its own version, so the newer submission's file is untouched
    monkeypatch.setattr(bulk_in, "BATCH_LINES", 1)
    task = upload_and_load(
        stack, PATH, "ora_submissions", submission("final", 30, b"final"), submission("x", 25, b"x")
    )
    assert task.state is TaskState.SUCCESS, task.task_output
    assert stored() == (["final"], [b"final"])
    status, answer = load(stack, "ora_submissions", submission("a", 40), submission("b", None))
    assert (status, answer["error"]) == (
        400, "line 2: submission 9d1c7a4e-7f52-4b0a-8e43-2f0e8f6b1a01 appears twice in this load"
    )  # fmt: skip


def test_repeated_or_late_course_settings_never_overwrite_newer_ones(stack):
    import_course(stack)
    courses = CourseRepository(stack.settings)

    def settings() -> tuple[bool, bool, int | None]:
        course = courses.get_course(COURSE)
        assert course is not None
        return course.cohorted, course.teams_enabled, course.settings_version

    assert loaded(stack, "course_settings", {"cohorted": True, "source_version": 20}) == {
        "course_id": COURSE, "settings": ["cohorted"], "stale": 0
    }  # fmt: skip
    assert settings() == (True, False, 20)
    for late in ({"cohorted": True, "source_version": 20}, {"cohorted": False, "source_version": 19}):
        assert loaded(stack, "course_settings", late) == {"course_id": COURSE, "settings": [], "stale": 1}
        assert settings() == (True, False, 20)
    assert loaded(stack, "course_settings", {"teams_enabled": True, "source_version": 21})["stale"] == 0
    assert settings() == (True, True, 21)
    # A line without a version always applies and leaves none; so does an import (its export's policy)
    assert loaded(stack, "course_settings", {"cohorted": False})["stale"] == 0
    assert settings() == (False, True, None)
    assert loaded(stack, "course_settings", {"cohorted": True, "source_version": 5})["stale"] == 0
    import_course(stack)
    assert settings()[2] is None


def test_versioned_states_are_written_a_hundred_to_a_request_and_a_stale_one_drops_out_alone(stack):
    """``put_all_if_newer`` puts versioned rows in transactions of up to 100 conditional puts; the
    rows whose condition fails are left out and the others still written; one row twice goes in two
    transactions (DynamoDB refuses an item twice in one)."""
    import_course(stack)
    courses = CourseRepository(stack.settings)

    def state(user_id: int, version: int, answer: str = "choice_1") -> ProblemState:
        return ProblemState(course_id=COURSE, user_id=user_id, problem_id="mc", answers={"mc_2_1": answer},
                            attempts=1, source_version=version)  # fmt: skip

    stack.counter.reset()
    assert courses.put_states_if_newer(state(7000 + n, 10) for n in range(250)) == 250
    assert stack.counter.calls[("dynamodb", "TransactWriteItems")] == 3  # 100 + 100 + 50
    assert stack.counter.calls[("dynamodb", "PutItem")] == 0
    # Among 100 rows, 40 no newer than what is stored: the 60 newer are written, the 40 are not
    stack.counter.reset()
    mixed = [state(7000 + n, 10 if n % 5 < 2 else 11, answer="choice_0") for n in range(100)]
    assert courses.put_states_if_newer(mixed) == 60
    assert stack.counter.calls[("dynamodb", "TransactWriteItems")] == 2  # cancelled once, then the 60
    stored = {n: courses.get_state(COURSE, "mc", 7000 + n) for n in (0, 1, 2, 3, 4)}
    assert {n: (s.answers["mc_2_1"], s.source_version) for n, s in stored.items() if s} == {
        0: ("choice_1", 10), 1: ("choice_1", 10),
        2: ("choice_0", 11), 3: ("choice_0", 11), 4: ("choice_0", 11),
    }  # fmt: skip
    # The same state twice in one call: two transactions, the newer last and kept
    assert courses.put_states_if_newer([state(7001, 20, "choice_0"), state(7001, 21, "choice_1")]) == 2
    assert courses.get_state(COURSE, "mc", 7001).source_version == 21
