"""Sending one chunk of a course email exactly once per recipient.

For each batch of up to 98 recipients: one DynamoDB transaction claims them (``attribute_not_exists``
on a claim per (task, recipient)), records the previous batch's outcomes, and checks the task is
still running (cancel stops the chunk before its next batch). Then one SES call per recipient, at
the chunk's pace. So a recipient's fate is always known or bounded:

* recorded sent / failed: never sent again, by any run (a retry, a redelivered chunk, a resume);
* claimed, not recorded: a run is sending it, or died while it did. While the claim's lease runs,
  another run leaves it alone (and asks to be retried); once it has expired the recipient is
  counted **in doubt** and listed, never sent again. Any error this process sees (SES, network,
  DynamoDB, a bug) records what it knows first and gives back the claims it did not use, so in
  doubt is at most the one message whose answer was lost - or, if the process is killed outright,
  the messages of its last batch;
* unclaimed: sent by the next run.

SES answers (``functions.dal.ses_mail.Answer``): throttling and limits wait and try the same
message again (no failure counted); a rejected message fails that recipient only; a paused or
suspended account stops the task (FAILURE, resumable); a lost answer is in doubt.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta

from functions.dal.email_repo import Claim, EmailRepository, Outcomes, PrefsInRange, TaskStopped
from functions.dal.people_repo import PeopleRepository
from functions.dal.ses_mail import Answer, SendResult, SesMail
from functions.errors import SendingPaused, TaskNotRunnable, TransientTaskError
from functions.logic.anonymity import anonymized_id
from functions.logic.email import render
from functions.logic.email.plan import EmailPlan
from functions.logic.email.unsubscribe import make_token, unsubscribe_url
from functions.logic.registry import RunContext
from functions.models.email import ChunkRecord, Recipient, SkipReason
from functions.models.tasks import ChunkDescriptor, Counters
from functions.observability import logger, metrics

# Stop this long before the function's time limit (record, give claims back, let the state
# machine run the rest of the chunk).
DEADLINE_MARGIN_S = 20.0


@dataclass
class ChunkResult:
    counters: Counters
    record: ChunkRecord
    sent_now: int = 0
    throttled: int = 0


class Pacer:
    """At most ``rate`` messages per second: each send waits for its slot."""

    def __init__(self, rate: float):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


@dataclass
class _Run:
    """One run of one chunk: what it learned and what it must record."""

    ctx: RunContext
    plan: EmailPlan
    chunk: ChunkDescriptor
    repo: EmailRepository
    ses: SesMail
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    outcomes: Outcomes = field(default_factory=Outcomes)
    skipped: Counter[str] = field(default_factory=Counter)
    busy: set[int] = field(default_factory=set)
    prefs: PrefsInRange | None = None
    throttled: int = 0
    throttle_wait: float = 0.0
    sent_now: int = 0

    @property
    def task_id(self) -> str:
        return self.plan.task_id

    def lease_until(self, batch: int) -> float:
        # Long enough for this batch at this pace, and never shorter than the configured lease.
        return time.time() + max(
            self.ctx.settings.email_claim_lease_seconds, 3 * batch / self.plan.chunk_rate
        )


def send_chunk(ctx: RunContext, plan: EmailPlan, chunk: ChunkDescriptor) -> ChunkResult:
    run = _Run(ctx, plan, chunk, EmailRepository(ctx.settings), SesMail(ctx.settings))
    task_id, index = plan.task_id, chunk.index
    # A chunk run before (a retry, a redelivery, a resume) has a record: read what its runs did.
    earlier = run.repo.get_chunk(task_id, index)
    done: set[int] = set()
    if earlier is not None:
        done = set(earlier.sent) | set(earlier.failed) | set(earlier.in_doubt)
        claims = run.repo.read_claims(task_id, [uid for uid in chunk.user_ids if uid not in done])
        _judge_claims(run, claims)
        done |= set(claims)
    todo = [uid for uid in chunk.user_ids if uid not in done]
    people = _recipients(run, todo)
    to_send = [person for person in people if _skip_reason(run, person) is None]
    _send_all(run, to_send)
    # Recipients claimed meanwhile by another run: finished by it, or in doubt, or still busy.
    record = run.repo.record(task_id, index, run.outcomes, skipped=dict(run.skipped), complete=not run.busy)
    if run.busy:
        raise TransientTaskError(
            f"chunk {index}: {len(run.busy)} recipients are being sent by another run; try again later"
        )
    counters = Counters(
        attempted=len(record.sent) + len(record.failed) + len(record.in_doubt),
        succeeded=len(record.sent),
        failed=len(record.failed),
        skipped=sum(run.skipped.values()),
    )
    metrics.add_metric(name="CourseEmailsSent", unit="Count", value=run.sent_now)
    return ChunkResult(counters, record, run.sent_now, run.throttled)


def _judge_claims(run: _Run, claims: dict[int, Claim]) -> None:
    """Claims no run recorded: a live lease is another run at work, an expired one is in doubt."""
    now = time.time()
    for uid, claim in claims.items():
        if claim.lease_until > now:
            run.busy.add(uid)
        else:
            run.outcomes.in_doubt.add(uid)


def _recipients(run: _Run, user_ids: list[int]) -> list[Recipient]:
    """Who these recipients are now: their enrollments (one key range), the people the snapshot
    holds for myself / staff, and their profiles when the message needs names or last logins."""
    if not user_ids:
        return []
    plan = run.plan
    enrollments = run.ctx.courses.read_enrollments(plan.course_id, user_ids)
    profiles = PeopleRepository(run.ctx.settings).get_profiles(user_ids) if plan.needs_profiles else {}
    found: list[Recipient] = []
    for uid in user_ids:
        enrollment = enrollments.get(uid)
        person = plan.people.get(uid)
        profile = profiles.get(uid)
        if enrollment is None and person is None:
            run.skipped[SkipReason.UNENROLLED.value] += 1
            continue
        recipient = Recipient(
            user_id=uid,
            email=(enrollment.email if enrollment else person.email if person else ""),
            username=(enrollment.username if enrollment else person.username if person else ""),
            full_name=(profile.name or "") if profile else "",
            account_active=enrollment.user_is_active if enrollment else True,
            last_login=profile.last_login if profile else None,
        )
        if enrollment is not None and person is None and not enrollment.is_active:
            run.skipped[SkipReason.UNENROLLED.value] += 1  # left the course since the send started
            continue
        found.append(recipient)
    return found


def _skip_reason(run: _Run, recipient: Recipient) -> SkipReason | None:
    """Skipped and counted (spec §6.5): opted out, disabled, suppressed, inactive, no address."""
    reason = _reason(run, recipient)
    if reason is not None:
        run.skipped[reason.value] += 1
    return reason


def _reason(run: _Run, recipient: Recipient) -> SkipReason | None:
    if run.prefs is None:  # opt-outs and suppressions of the whole chunk: one Query
        run.prefs = run.repo.read_prefs(run.plan.course_id, run.chunk.user_ids)
    prefs = run.prefs
    if recipient.user_id in prefs.opted_out:
        return SkipReason.OPTED_OUT
    if not recipient.account_active:
        return SkipReason.DISABLED
    suppressed = prefs.suppressed.get(recipient.user_id)
    if suppressed is not None and suppressed == recipient.email.lower():
        return SkipReason.SUPPRESSED
    if not recipient.email or not recipient.email.isascii() or "@" not in recipient.email:
        return SkipReason.NO_ADDRESS
    months = run.plan.last_login_months
    if (
        months is not None
        and recipient.user_id not in run.plan.people
        and recipient.last_login is not None
        and recipient.last_login <= datetime.now(UTC) - relativedelta(months=months)
    ):
        return SkipReason.INACTIVE
    return None


def _send_all(run: _Run, to_send: list[Recipient]) -> None:
    size = run.ctx.settings.email_claim_batch
    pacer = Pacer(run.plan.chunk_rate)
    batches = [to_send[start : start + size] for start in range(0, len(to_send), size)]
    previous = Outcomes()
    for batch in batches:
        by_id = {person.user_id: person for person in batch}
        try:
            claimed = run.repo.claim(
                run.task_id, run.chunk.index, list(by_id), run.run_id, run.lease_until(len(batch)), previous
            )
        except TaskStopped as stopped:  # cancelled: what was sent is recorded; nobody more is claimed
            raise TaskNotRunnable(
                f"Task {run.task_id} was stopped; chunk {run.chunk.index} stops"
            ) from stopped
        run.outcomes.merge(previous)
        previous = Outcomes()
        run.busy |= set(claimed.taken)
        queue = [by_id[uid] for uid in claimed.claimed]
        try:
            _send_batch(run, queue, previous, pacer)
        except Exception:
            # Record what is known and give back what was not tried, then let the error go on.
            # (A process killed outright records nothing: its claims become in doubt.)
            run.outcomes.merge(previous)
            unsent = [p.user_id for p in queue if p.user_id not in _known(previous)]
            _save_after_error(run, unsent)
            raise
    run.outcomes.merge(previous)
    if run.busy:
        _settle_taken(run)


def _known(outcomes: Outcomes) -> set[int]:
    return outcomes.sent | set(outcomes.failed) | outcomes.in_doubt


def _save_after_error(run: _Run, unsent: list[int]) -> None:
    try:
        run.repo.record(run.task_id, run.chunk.index, run.outcomes, release=unsent)
    except Exception:  # the original error matters more; the claims will count in doubt
        logger.exception("could not record a chunk's outcomes after an error", extra={"task_id": run.task_id})


def _send_batch(run: _Run, queue: list[Recipient], outcomes: Outcomes, pacer: Pacer) -> None:
    for person in queue:
        if run.ctx.deadline is not None and time.monotonic() > run.ctx.deadline - DEADLINE_MARGIN_S:
            raise TransientTaskError(
                f"chunk {run.chunk.index} stopped before the function's time limit; the rest follows"
            )
        raw = _message(run, person)
        while True:
            pacer.wait()
            result = run.ses.send_raw(
                run.plan.from_address,
                person.email,
                raw,
                tags={
                    "itask_task": run.task_id,
                    "itask_user": str(person.user_id),
                    "itask_kind": "course_email",
                },
            )
            if result.answer is not Answer.RETRY:
                break
            _wait_after_throttle(run, result)
        if result.answer is Answer.SENT:
            outcomes.sent.add(person.user_id)
            run.sent_now += 1
        elif result.answer is Answer.REJECTED:
            outcomes.failed[person.user_id] = result.code or "Rejected"
            logger.info(
                "message rejected",
                extra={"task_id": run.task_id, "user_id": person.user_id, "code": result.code},
            )
        elif result.answer is Answer.PAUSED:
            raise SendingPaused(
                f"SES is not sending for this account ({result.code}: {result.message}). Sent messages are "
                "kept; resume the task once sending is enabled again."
            )
        else:  # the request may have reached SES: never send it again, count it in doubt
            outcomes.in_doubt.add(person.user_id)
            raise TransientTaskError(
                f"chunk {run.chunk.index}: the answer of SES was lost for one message ({result.code}); "
                "it is counted in doubt and the chunk continues"
            )


def _wait_after_throttle(run: _Run, result: SendResult) -> None:
    settings = run.ctx.settings
    run.throttled += 1
    delay = min(30.0, settings.email_throttle_base_seconds * 2 ** min(run.throttled - 1, 5))
    if run.throttle_wait + delay > settings.email_throttle_max_wait_seconds:
        raise TransientTaskError(
            f"SES kept throttling chunk {run.chunk.index} ({result.code}) for "
            f"{run.throttle_wait:.0f} s; it will be tried again"
        )
    run.throttle_wait += delay
    metrics.add_metric(name="CourseEmailsThrottled", unit="Count", value=1)
    time.sleep(delay)


def _message(run: _Run, person: Recipient) -> bytes:
    plan, secrets = run.plan, run.ctx.secrets
    link = unsubscribe_url(
        plan.unsubscribe_base, make_token(secrets.get("email-unsubscribe"), person.user_id, plan.course_id)
    )
    rendered = render.render(
        template=plan.template,
        subject=plan.subject,
        html_message=plan.html_message,
        text_message=plan.text_message,
        course=render.CourseFacts(plan.course_id, plan.course_title, plan.course_start, plan.course_end),
        recipient=person,
        anonymous_id=anonymized_id(secrets.get("anonymization"), person.user_id),
        unsubscribe_link=link,
        platform_name=plan.platform_name,
    )
    return render.mime_message(
        from_header=plan.from_address, to_address=person.email, rendered=rendered, unsubscribe_link=link
    )


def _settle_taken(run: _Run) -> None:
    """Recipients another run claimed while this one ran: done if recorded, else busy or in doubt."""
    record = run.repo.get_chunk(run.task_id, run.chunk.index)
    recorded = set()
    if record is not None:
        recorded = set(record.sent) | set(record.failed) | set(record.in_doubt)
    pending = run.busy - recorded - _known(run.outcomes)
    run.busy = set()
    _judge_claims(run, run.repo.read_claims(run.task_id, pending))
