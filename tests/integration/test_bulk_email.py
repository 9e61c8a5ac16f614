"""Bulk course email on moto through the real ASL and handlers: targets, keywords, unsubscribe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Stack
from tests.integration.email_support import (
    ALPHA,
    BETA,
    HONOR,
    SUPPRESSED,
    MailCourse,
    address,
    deliver_ses_event,
    email_settings,
    ses_bounce,
    start_stack,
)


@pytest.fixture(scope="module")
def mail_stack() -> Iterator[Stack]:
    yield from start_stack(email_settings())


def test_learners_target_reaches_active_learners_once_and_skips_opted_out_and_suppressed(mail_stack):
    course = MailCourse.create(mail_stack)
    deliver_ses_event(
        mail_stack,
        ses_bounce(address(course.uid(SUPPRESSED)), "earlier-send", course.uid(SUPPRESSED)),
        "Email Bounced",
    )
    task_id = course.send_ok(["learners"])
    task = course.wait(task_id)
    counts = course.mailbox.counts(course.every_address())
    expected = course.addresses([*ALPHA, *BETA, *HONOR])
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values())
    assert task.state.value == "SUCCESS", task.task_output
    output = course.output(task_id)
    assert output["succeeded"] == len(expected)
    assert output["skipped_reasons"] == {"opted_out": 1, "suppressed": 1}
