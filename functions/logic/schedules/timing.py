"""When a scheduled task runs: a time (ISO-8601), a cron expression in a time zone, or both.

A time without an offset is read in the schedule's time zone (UTC when none is given, as upstream,
which forces the schedule to UTC); a time with an offset is converted to UTC (upstream would
replace the offset, moving the run by that many hours: a deliberate deviation).

Cron expressions are the 5 fields of Debian's cron (minute hour day-of-month month day-of-week),
evaluated by cronsim in the schedule's IANA time zone (zoneinfo) with cron's own rules at daylight
saving changes: a run in the hour that does not exist (clocks forward) happens right after the
change, a run in the hour that happens twice (clocks back) happens once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from functions.errors import BadRequest
from functions.logic import registry

PAST = "the requested schedule is in the past"
HORIZON_YEARS = 10
# Looking for the closest two runs of a cron expression: this many runs ahead, within this horizon.
_GAP_SAMPLES = 60
_GAP_HORIZON = timedelta(days=400)


def what(task_type: str) -> str:
    """How the spec's message names a task type: "bulk email", "grade report", "rescore problem"."""
    if task_type == "bulk_course_email":
        return "bulk email"
    found = registry.get(task_type)
    if found is not None and found.report_label:
        return f"{found.report_label} report"
    return task_type.replace("_", " ")


def schedule_error(task_type: str, provided: str, detail: str, verb: str = "creating") -> BadRequest:
    """Spec §6.3's 400, for any task type."""
    return BadRequest(
        f"Error occurred {verb} a scheduled {what(task_type)} task. Schedule provided: '{provided}'. "
        f"Error: {detail}"
    )


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (UTC when None); ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'Europe/Paris')") from error


def parse_time(text: str, time_zone: ZoneInfo) -> datetime:
    """An ISO-8601 time as UTC (``ValueError`` with the parser's words when malformed)."""
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=time_zone)
    return parsed.astimezone(UTC)


def cron(expression: str) -> str:
    """A 5-field cron expression, normalised; ``ValueError`` when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
        )
    normalised = " ".join(fields)
    try:
        CronSim(normalised, datetime(2000, 1, 1))
    except CronSimError as error:
        raise ValueError(f"invalid cron expression: {error}") from error
    return normalised


def next_run(expression: str, time_zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first run strictly after ``after`` (UTC), or None if the expression never runs again."""
    iterator = CronSim(expression, after.astimezone(time_zone))
    for _ in range(1000):  # wall-clock runs that fall back onto an earlier instant are skipped
        try:
            candidate = next(iterator).astimezone(UTC)
        except StopIteration:
            return None
        if candidate > after:
            return candidate
    return None


def shortest_gap(expression: str, time_zone: ZoneInfo, start: datetime) -> timedelta | None:
    """The closest two consecutive runs within the next year or so (None: fewer than two runs)."""
    runs: list[datetime] = []
    moment = start
    while len(runs) < _GAP_SAMPLES:
        found = next_run(expression, time_zone, moment)
        if found is None or found - start > _GAP_HORIZON:
            break
        runs.append(found)
        moment = found
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    return min(gaps) if gaps else None


def describe(expression: str) -> str:
    """Words for a cron expression ("At 06:00 on Monday")."""
    return str(CronSim(expression, datetime(2000, 1, 1)).explain())


@dataclass(frozen=True)
class Timing:
    """A schedule's when: its first (or next) run in UTC, its cron expression and time zone."""

    due: datetime
    recurrence: str | None
    time_zone: str


def plan(
    task_type: str,
    *,
    schedule: str | datetime | None,
    recurrence: str | None,
    time_zone: str | None,
    now: datetime,
    min_interval_minutes: int,
    verb: str = "creating",
    past_detail: str = PAST,
) -> Timing:
    """Check and resolve a schedule; every refusal is the spec's 400 naming what was provided."""
    if schedule is None and recurrence is None:
        raise BadRequest(
            "Give `schedule` (an ISO-8601 time) for one run, or `recurrence` (a cron expression), or both."
        )
    provided = schedule if isinstance(schedule, str) else (schedule.isoformat() if schedule else "")
    try:
        tz = zone(time_zone)
    except ValueError as error:
        raise schedule_error(task_type, provided or str(recurrence), str(error), verb) from error
    start: datetime | None = None
    if schedule is not None:
        try:
            if isinstance(schedule, datetime):
                start = (schedule if schedule.tzinfo else schedule.replace(tzinfo=tz)).astimezone(UTC)
            else:
                start = parse_time(schedule, tz)
        except ValueError as error:
            raise schedule_error(task_type, provided, str(error), verb) from error
        if start <= now:
            raise schedule_error(task_type, provided, past_detail, verb)
        if start > now + timedelta(days=366 * HORIZON_YEARS):
            raise schedule_error(
                task_type, provided, f"the requested schedule is more than {HORIZON_YEARS} years away", verb
            )
    if recurrence is None:
        assert start is not None
        return Timing(start, None, tz.key)
    try:
        expression = cron(recurrence)
    except ValueError as error:
        raise schedule_error(task_type, recurrence, str(error), verb) from error
    # With a start time, the first run is the first occurrence at or after it.
    first = next_run(expression, tz, start - timedelta(seconds=1) if start else now)
    if first is None or first <= now:
        raise schedule_error(task_type, recurrence, "the cron expression never runs", verb)
    gap = shortest_gap(expression, tz, first - timedelta(seconds=1))
    if gap is not None and gap < timedelta(minutes=min_interval_minutes):
        raise schedule_error(
            task_type,
            recurrence,
            f"runs {int(gap.total_seconds() // 60)} minutes apart at the closest; "
            f"recurring tasks run at most every {min_interval_minutes} minutes",
            verb,
        )
    return Timing(first, expression, tz.key)
