"""One send attempt of a ledger record, and what comes next: done, or a retry after a backoff.

The state machine calls this for each attempt and waits (durably) between attempts. Before each
attempt the record must still be pending and its version still the assignment's: a newer score
never loses to an older one being retried, and a re-send never sends a superseded version.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from functions.dal import lti_http
from functions.logic.lti import ags, outcomes
from functions.logic.lti.context import LtiContext
from functions.logic.lti.outcomes import Delivery
from functions.logic.lti.scores import block_of, composite_score
from functions.logic.lti.urls import UrlRefused, check_url
from functions.models.lti import (
    Consumer,
    GradedAssignment,
    LtiVersion,
    Passback,
    PassbackKind,
    PassbackStatus,
)
from functions.observability import logger, metrics
from functions.settings import Settings

RETRY = "retry"
FAILED_METRIC = "LtiPassbacksFailed"


@dataclass(frozen=True)
class StepResult:
    outcome: str  # sent / superseded / failed / gave_up / retry / missing
    retry_in: int = 0


def backoff_seconds(settings: Settings, attempt: int, rng: random.Random | None = None) -> int:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], whole seconds for the Wait state."""
    ceiling = min(settings.lti_retry_max_seconds, settings.lti_retry_base_seconds * 2 ** (attempt - 1))
    return math.ceil((rng or random).uniform(0, ceiling)) if ceiling > 0 else 0


def _score(ctx: LtiContext, passback: Passback, assignment: GradedAssignment) -> tuple[float, float, float]:
    """(earned, possible, fraction) to send: the event's for a leaf, computed now for a composite."""
    if passback.kind == PassbackKind.LEAF:
        earned, possible = passback.earned or 0.0, passback.possible or 0.0
        return earned, possible, outcomes.fraction(earned, possible)
    course = ctx.courses.get_course(assignment.course_id)
    block = block_of(course, assignment.usage_key)
    if course is None or block is None or block not in course.blocks:
        raise UrlRefused(f"{assignment.usage_key} is no longer in the course")
    learners = ctx.courses.read_learners(assignment.course_id, [assignment.user_id])
    scores = learners[0].scores if learners else {}
    found = composite_score(course, scores, block, learners[0].groups if learners else None)
    return found.earned, found.possible, found.fraction


def _deliver_1p1(
    ctx: LtiContext, consumer: Consumer, secret: str, assignment: GradedAssignment, text: str
) -> Delivery:
    resolved = check_url(ctx.settings, assignment.outcome_url or "")
    body = outcomes.replace_result_xml(assignment.lis_result_sourcedid or "", text)
    headers = outcomes.signed_headers(resolved.url, body, consumer.key, secret)
    try:
        answer = lti_http.post(
            scheme=resolved.scheme,
            address=resolved.addresses[0],
            host=resolved.host,
            host_header=resolved.host_header,
            port=resolved.port,
            target=resolved.target,
            body=body,
            headers=headers,
            timeout_s=ctx.settings.lti_request_timeout_seconds,
            ca_bundle=ctx.settings.lti_ca_bundle,
        )
    except lti_http.TransportError as error:
        return Delivery(False, True, None, str(error)[:500])
    return outcomes.judge(answer.status, answer.body)


def send_step(ctx: LtiContext, assignment_id: str, version: int, attempt: int) -> StepResult:
    repo = ctx.repo
    passback = repo.get_passback(assignment_id, version)
    if passback is None:
        logger.error(
            "no ledger record for a send", extra={"assignment_id": assignment_id, "version": version}
        )
        return StepResult("missing")
    if passback.status != PassbackStatus.PENDING:
        return StepResult(passback.status.value)  # a repeated step: the record says what happened
    assignment = repo.get_assignment(passback.course_id, passback.user_id, assignment_id)
    if assignment is None or assignment.version != passback.version:
        repo.record(passback, PassbackStatus.SUPERSEDED)
        metrics.add_metric(name="LtiPassbacksSuperseded", unit="Count", value=1)
        return StepResult(PassbackStatus.SUPERSEDED.value)
    found = repo.get_consumer(passback.consumer_key)
    if found is None:
        return _finish(ctx, passback, PassbackStatus.FAILED, None, "unknown consumer", attempted=False)
    consumer, ciphertext = found
    try:
        earned, possible, score = _score(ctx, passback, assignment)
        secret = ctx.secrets.decrypt(ciphertext, consumer.key).decode("utf-8")
        if consumer.lti_version == LtiVersion.LTI_1P3:
            delivery = ags.publish_score(
                ctx.settings,
                consumer,
                secret,
                assignment.lineitem_url or "",
                assignment.platform_user_id or "",
                score,
            )
        else:
            # The fraction sent is the score's: for a composite, what the grade report prints.
            text = "0" if not possible else str(float(score))
            delivery = _deliver_1p1(ctx, consumer, secret, assignment, text)
    except UrlRefused as refused:
        return _finish(ctx, passback, PassbackStatus.FAILED, None, f"refused: {refused}", attempted=False)
    if delivery.ok or not delivery.transient or attempt >= ctx.settings.lti_max_attempts:
        status = (
            PassbackStatus.SENT
            if delivery.ok
            else PassbackStatus.FAILED
            if not delivery.transient
            else PassbackStatus.GAVE_UP
        )
        return _finish(
            ctx,
            passback,
            status,
            delivery.http_status,
            delivery.detail,
            score=score,
            earned=earned,
            possible=possible,
        )
    if not repo.record(
        passback,
        PassbackStatus.PENDING,
        attempted=True,
        http_status=delivery.http_status,
        error=delivery.detail,
        score=score,
        earned=earned,
        possible=possible,
    ):
        return StepResult(PassbackStatus.SUPERSEDED.value)
    logger.info(
        "pass-back will be retried",
        extra={"ledger_id": passback.ledger_id, "attempt": attempt, "status": delivery.http_status},
    )
    return StepResult(RETRY, backoff_seconds(ctx.settings, attempt))


def _finish(
    ctx: LtiContext,
    passback: Passback,
    status: PassbackStatus,
    http_status: int | None,
    detail: str,
    attempted: bool = True,
    score: float | None = None,
    earned: float | None = None,
    possible: float | None = None,
) -> StepResult:
    if not ctx.repo.record(
        passback,
        status,
        attempted=attempted,
        http_status=http_status,
        error=None if status == PassbackStatus.SENT else (detail or f"HTTP {http_status}"),
        score=score,
        earned=earned,
        possible=possible,
    ):
        return StepResult(PassbackStatus.SUPERSEDED.value)  # superseded while it was being sent
    fields = {
        "ledger_id": passback.ledger_id,
        "course_id": passback.course_id,
        "user_id": passback.user_id,
        "usage_key": passback.usage_key,
        "score": score,
        "status": http_status,
    }
    if status == PassbackStatus.SENT:
        metrics.add_metric(name="LtiPassbacksSent", unit="Count", value=1)
        logger.info("pass-back sent", extra=fields)
    else:
        metrics.add_metric(name=FAILED_METRIC, unit="Count", value=1)
        if status == PassbackStatus.GAVE_UP:
            metrics.add_metric(name="LtiPassbacksGaveUp", unit="Count", value=1)
        logger.error("pass-back failed", extra={**fields, "outcome": status.value, "body": detail})
    return StepResult(status.value)


def record_error(ctx: LtiContext, assignment_id: str, version: int, error: str) -> StepResult:
    """The send step itself kept failing (not the LMS): the record gives up, listed for a re-send."""
    passback = ctx.repo.get_passback(assignment_id, version)
    if passback is None or passback.status != PassbackStatus.PENDING:
        return StepResult("missing" if passback is None else passback.status.value)
    return _finish(ctx, passback, PassbackStatus.GAVE_UP, None, f"send step failed: {error}"[:500], False)
