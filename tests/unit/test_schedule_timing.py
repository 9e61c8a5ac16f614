"""When scheduled tasks run: ISO-8601 times forced to UTC, cron expressions in a time zone across
daylight saving changes, and spec §6.3's message for every refusal. Expected instants are worked
out by hand from the time zone rules (Europe/Paris: CET = UTC+1, CEST = UTC+2 from the last Sunday
of March 01:00 UTC to the last Sunday of October 01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from functions.errors import BadRequest
from functions.logic.schedules import recipients, timing

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


def plan(**kwargs):
    defaults = {
        "schedule": None,
        "recurrence": None,
        "time_zone": None,
        "now": NOW,
        "min_interval_minutes": 15,
    }
    return timing.plan("grade_course", **{**defaults, **kwargs})


def refusal(**kwargs) -> str:
    with pytest.raises(BadRequest) as caught:
        plan(**kwargs)
    return caught.value.message


# ---- one-off times ----
def test_a_time_without_offset_is_utc_and_one_with_an_offset_is_converted():
    assert plan(schedule="2026-12-01T10:00:00").due == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert plan(schedule="2026-12-01T10:00:00Z").due == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert plan(schedule="2026-12-01T10:00:00+02:00").due == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_time_without_offset_is_read_in_the_given_time_zone():
    # 1 December: Paris is on CET (UTC+1)
    timed = plan(schedule="2026-12-01T10:00", time_zone="Europe/Paris")
    assert timed.due == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert timed.time_zone == "Europe/Paris" and timed.recurrence is None


@pytest.mark.parametrize(
    ("schedule", "detail"),
    [
        ("2026-11-30T11:59:59", "the requested schedule is in the past"),
        ("2026-11-30T12:00:00+00:00", "the requested schedule is in the past"),
        ("2020-01-01", "the requested schedule is in the past"),
        ("next tuesday", "Invalid isoformat string: 'next tuesday'"),
        ("2026-13-01T10:00", "month must be in 1..12"),
        ("2040-01-01T00:00", "the requested schedule is more than 10 years away"),
    ],
)
def test_a_past_or_malformed_time_is_the_specs_400(schedule, detail):
    assert refusal(schedule=schedule) == (
        "Error occurred creating a scheduled grade report task. Schedule provided: "
        f"'{schedule}'. Error: {detail}"
    )


def test_the_message_names_the_task_type_as_upstream_names_email():
    with pytest.raises(BadRequest) as caught:
        timing.plan(
            "bulk_course_email",
            schedule="2020-01-01T00:00",
            recurrence=None,
            time_zone=None,
            now=NOW,
            min_interval_minutes=15,
        )
    assert caught.value.message == (
        "Error occurred creating a scheduled bulk email task. Schedule provided: '2020-01-01T00:00'. "
        "Error: the requested schedule is in the past"
    )
    assert timing.what("rescore_problem") == "rescore problem"


def test_nothing_to_schedule_or_an_unknown_zone_is_refused():
    assert "Give `schedule`" in refusal()
    assert refusal(schedule="2026-12-01T10:00", time_zone="Mars/Olympus") == (
        "Error occurred creating a scheduled grade report task. Schedule provided: '2026-12-01T10:00'. "
        "Error: unknown time zone 'Mars/Olympus' (an IANA name such as 'Europe/Paris')"
    )


# ---- recurring ----
def test_weekly_runs_keep_the_local_hour_across_the_change_to_summer_time():
    # Every Monday 06:00 in Paris, from Monday 2027-03-22 (CET) to 2027-03-29 (CEST)
    first = timing.next_run("0 6 * * 1", PARIS, datetime(2027, 3, 21, tzinfo=UTC))
    second = timing.next_run("0 6 * * 1", PARIS, first)
    assert first == datetime(2027, 3, 22, 5, 0, tzinfo=UTC)  # 06:00 CET
    assert second == datetime(2027, 3, 29, 4, 0, tzinfo=UTC)  # 06:00 CEST


def test_a_run_in_the_hour_skipped_by_the_clocks_happens_right_after_the_change():
    # 2027-03-28: 02:00 CET becomes 03:00 CEST; 02:30 does not exist, cron runs at 03:00 CEST
    assert timing.next_run("30 2 * * *", PARIS, datetime(2027, 3, 27, 12, tzinfo=UTC)) == datetime(
        2027, 3, 28, 1, 0, tzinfo=UTC
    )
    # and the next day at 02:30 CEST again
    assert timing.next_run("30 2 * * *", PARIS, datetime(2027, 3, 28, 1, 0, tzinfo=UTC)) == datetime(
        2027, 3, 29, 0, 30, tzinfo=UTC
    )


def test_a_run_in_the_hour_the_clocks_repeat_happens_once():
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, the run once (the first)
    runs, moment = [], datetime(2026, 10, 24, 12, tzinfo=UTC)
    for _ in range(3):
        moment = timing.next_run("30 2 * * *", PARIS, moment)
        runs.append(moment)
    assert runs == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET
        datetime(2026, 10, 27, 1, 30, tzinfo=UTC),
    ]


def test_a_recurrence_starts_at_its_next_occurrence_or_at_the_first_after_a_start_time():
    # NOW is Monday 2026-11-30 12:00 UTC (13:00 in Paris): the next Monday 06:00 is 7 December
    weekly = plan(recurrence="0 6 * * 1", time_zone="Europe/Paris")
    assert weekly.due == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    assert weekly.recurrence == "0 6 * * 1"
    # from a start time that is itself an occurrence, that occurrence is the first run
    started = plan(recurrence="0 6 * * 1", time_zone="Europe/Paris", schedule="2026-12-14T06:00")
    assert started.due == datetime(2026, 12, 14, 5, 0, tzinfo=UTC)
    # the spaces of an expression are normalised
    assert plan(recurrence="  0  6 * *   1 ").recurrence == "0 6 * * 1"


@pytest.mark.parametrize(
    ("recurrence", "detail"),
    [
        ("0 6 * *", "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not 4"),
        ("0 0 6 * * 1", "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not 6"),
        ("61 6 * * 1", "invalid cron expression: Bad minute"),
        ("0 6 * * 8", "invalid cron expression: Bad day-of-week"),
        ("0 0 30 2 *", "invalid cron expression: Bad day-of-month"),
        ("*/5 * * * *", "runs 5 minutes apart at the closest; recurring tasks run at most every 15 minutes"),
        (
            "0,10 9 * * *",
            "runs 10 minutes apart at the closest; recurring tasks run at most every 15 minutes",
        ),
    ],
)
def test_a_malformed_or_too_frequent_recurrence_is_the_specs_400(recurrence, detail):
    assert refusal(recurrence=recurrence) == (
        "Error occurred creating a scheduled grade report task. Schedule provided: "
        f"'{recurrence}'. Error: {detail}"
    )


def test_every_quarter_hour_is_the_closest_allowed():
    timed = plan(recurrence="*/15 * * * *")
    assert timed.due == NOW + timedelta(minutes=15)


def test_a_cron_expression_in_words():
    assert timing.describe("0 6 * * 1") == "At 06:00 on Monday"


# ---- report recipients ----
@pytest.mark.parametrize("address", ["staff@example.org", " Staff@Example.ORG ", "a.b+c@mail.example.co.uk"])
def test_well_formed_addresses_are_trimmed_and_lower_cased(address):
    assert recipients.well_formed(address) == address.strip().lower()


@pytest.mark.parametrize(
    "address",
    [
        "",
        "staff",
        "staff@localhost",
        "Staff <staff@example.org>",
        "a b@example.org",
        "x@y.org\nBcc: z@example.org",
    ],
)
def test_anything_else_is_not_an_address(address):
    with pytest.raises(ValueError, match="is not an email address"):
        recipients.well_formed(address)
