"""The email table: course emails, opt-outs and suppressions, and the send ledger.

Every partition is keyed by what its reader already knows:

* ``EMAIL#<course>`` / ``E#<id 12 digits>``: a course email (spec §6.2). ``COUNTER`` / ``EMAIL``
  hands out the ids.
* ``NOMAIL`` / ``U#<user id 12 digits>#C#<course>`` (an opt-out) and ``U#<user id>#S`` (an address
  suppressed after a hard bounce or a complaint): one key range per chunk of recipients, so a chunk
  reads both with one Query, whatever the course.
* ``SEND#<task>``: the ledger of one send. ``R#<user id>`` is a recipient's claim, written with
  ``attribute_not_exists`` before the message goes out: a recipient is claimed once per task, ever.
  ``C#<chunk index>`` holds the chunk's outcomes (sets of user ids: sent, failed with the SES code,
  in doubt) and its skip counts; ``SUMMARY`` the task's totals with the bounces and complaints that
  arrive later; ``V#<time>#<message id>`` the bounce and complaint events themselves.

Claims of up to 98 recipients go in one transaction with a check that the task is still running
(a cancelled task claims nobody more) and the previous batch's outcomes: about one request per 98
messages, and a recipient's fate is always one of claimed-and-recorded, claimed-and-unknown (in
doubt) or unclaimed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.faults import response_code
from functions.dal.tables import PAY_PER_REQUEST, TaskItem
from functions.dal.tasks_repo import TASK_SK, task_pk
from functions.models.email import ChunkRecord, CourseEmail, MailEvent, SendSummary, SuppressionReason
from functions.models.tasks import TaskState
from functions.settings import Settings

_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
NOMAIL_PK = "NOMAIL"
SUMMARY_SK = "SUMMARY"
# A transaction holds 100 actions: the task check, the chunk record and this many claims.
MAX_CLAIMS_PER_TRANSACTION = 98
# Cancellation reasons a repeat of the same transaction can get past.
_RETRY_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_TRANSACTION_ATTEMPTS = 5


class EmailItem(Model):
    """Owner of the table."""

    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute()  # JSON of CourseEmail
    version = VersionAttribute()


class CounterItem(Model):
    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = NumberAttribute(default=0)


class PrefItem(Model):
    """An opt-out (``U#<uid>#C#<course>``) or an address suppression (``U#<uid>#S``)."""

    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    course_id = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()


class ClaimItem(Model):
    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    chunk = NumberAttribute()
    run = UnicodeAttribute()
    lease_until = NumberAttribute()  # epoch seconds: after this, an unrecorded claim is in doubt


class ChunkItem(Model):
    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    sent_ids = NumberSetAttribute(null=True)
    failed_entries = UnicodeSetAttribute(null=True)  # "<user id>:<SES error code>"
    in_doubt_ids = NumberSetAttribute(null=True)
    skipped = UnicodeAttribute(null=True)  # JSON {reason: count} of the run that completed the chunk
    complete = BooleanAttribute(null=True)
    runs = UnicodeSetAttribute(null=True)  # every run that claimed recipients of the chunk


class SummaryItem(Model):
    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    sent = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    in_doubt = NumberAttribute(null=True)
    skipped = UnicodeAttribute(null=True)
    bounced = NumberAttribute(null=True)
    complained = NumberAttribute(null=True)


class EventItem(Model):
    class Meta:
        table_name = "itask-email"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute()  # JSON of MailEvent


_MODELS: tuple[type[Model], ...] = (
    EmailItem,
    CounterItem,
    PrefItem,
    ClaimItem,
    ChunkItem,
    SummaryItem,
    EventItem,
)


def bind(settings: Settings) -> None:
    tables.bind_models(settings, "email_table", _MODELS)


def create_table(settings: Settings) -> None:
    """Create the table from the models (local stack and tests; CDK declares it on AWS)."""
    tables.create_owned_table(settings, "email_table", _MODELS)


# ---- keys ----
def email_pk(course_id: str) -> str:
    return f"EMAIL#{course_id}"


def email_sk(email_id: int) -> str:
    return f"E#{email_id:012d}"


def send_pk(task_id: str) -> str:
    return f"SEND#{task_id}"


def claim_sk(user_id: int) -> str:
    return f"R#{user_id:012d}"


def chunk_sk(index: int) -> str:
    return f"C#{index:06d}"


def opt_out_sk(user_id: int, course_id: str) -> str:
    return f"U#{user_id:012d}#C#{course_id}"


def suppression_sk(user_id: int) -> str:
    return f"U#{user_id:012d}#S"


class TaskStopped(Exception):
    """The task is no longer running (cancelled or finished): nobody more may be claimed."""


@dataclass
class Claim:
    user_id: int
    run: str
    lease_until: float


@dataclass
class Outcomes:
    """What a batch of sends came to, recorded together."""

    sent: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    in_doubt: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.in_doubt)

    def merge(self, other: Outcomes) -> None:
        self.sent |= other.sent
        self.failed.update(other.failed)
        self.in_doubt |= other.in_doubt


@dataclass
class ClaimResult:
    claimed: list[int]
    taken: list[int]  # already claimed by some run of this task


@dataclass
class PrefsInRange:
    opted_out: set[int]
    suppressed: dict[int, str]  # user id -> the address that bounced or complained


def _outcome_actions(outcomes: Outcomes) -> list[Action]:
    actions: list[Action] = []
    if outcomes.sent:
        actions.append(ChunkItem.sent_ids.add(outcomes.sent))
    if outcomes.failed:
        actions.append(
            ChunkItem.failed_entries.add({f"{uid}:{code}" for uid, code in outcomes.failed.items()})
        )
    if outcomes.in_doubt:
        actions.append(ChunkItem.in_doubt_ids.add(outcomes.in_doubt))
    return actions


def _chunk_record(item: ChunkItem, index: int) -> ChunkRecord:
    # A recipient is in one set only; should two runs ever have recorded different fates (a run
    # judged a claim in doubt that its slow owner then sent), sent wins over failed over in doubt.
    sent = frozenset(int(uid) for uid in (item.sent_ids or ()))
    failed: dict[int, str] = {}
    for entry in item.failed_entries or ():
        uid, _, code = entry.partition(":")
        if int(uid) not in sent:
            failed[int(uid)] = code
    return ChunkRecord(
        index=index,
        sent=sent,
        failed=failed,
        in_doubt=frozenset(int(uid) for uid in (item.in_doubt_ids or ())) - sent - failed.keys(),
        skipped={str(k): int(v) for k, v in json.loads(item.skipped or "{}").items()},
        complete=bool(item.complete),
    )


def _summary(task_id: str, item: SummaryItem | None) -> SendSummary:
    if item is None:
        return SendSummary(task_id=task_id)
    return SendSummary(
        task_id=task_id,
        sent=int(item.sent or 0),
        failed=int(item.failed or 0),
        in_doubt=int(item.in_doubt or 0),
        skipped={str(k): int(v) for k, v in json.loads(item.skipped or "{}").items()},
        bounced=int(item.bounced or 0),
        complained=int(item.complained or 0),
    )


class EmailRepository:
    def __init__(self, settings: Settings):
        self.settings = settings
        bind(settings)
        tables.bind(settings)  # the ledger's transactions check the task item

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=tables.connection(self.settings.region))

    # ---- course emails ----
    def next_email_id(self) -> int:
        counter = CounterItem("COUNTER", "EMAIL")
        counter.update(actions=[CounterItem.value.add(1)])
        return int(counter.value)

    def put_email(self, email: CourseEmail) -> None:
        """Create an email (its id is new: refuse to overwrite)."""
        EmailItem(email_pk(email.course_id), email_sk(email.id), data=email.model_dump_json()).save(
            condition=EmailItem.pk.does_not_exist()
        )

    def replace_email(self, email: CourseEmail, expected_modified: datetime) -> bool:
        """Write an edited email over the stored one if it is still as read (``modified``); False if not."""
        try:
            item = EmailItem.get(email_pk(email.course_id), email_sk(email.id), consistent_read=True)
        except DoesNotExist:
            return False
        if CourseEmail.model_validate_json(item.data).modified != expected_modified:
            return False  # changed since the caller read it
        item.data = email.model_dump_json()
        try:
            item.save()  # conditional on the version read
        except PutError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    def get_email(self, course_id: str, email_id: int) -> CourseEmail | None:
        try:
            item = EmailItem.get(email_pk(course_id), email_sk(email_id), consistent_read=True)
        except DoesNotExist:
            return None
        return CourseEmail.model_validate_json(item.data)

    def get_emails(self, course_id: str, email_ids: Iterable[int]) -> dict[int, CourseEmail]:
        """These emails of the course: one BatchGetItem per 100 ids."""
        keys = [(email_pk(course_id), email_sk(email_id)) for email_id in set(email_ids)]
        found = {}
        for item in EmailItem.batch_get(keys):
            email = CourseEmail.model_validate_json(item.data)
            found[email.id] = email
        return found

    def delete_email(self, course_id: str, email_id: int) -> None:
        EmailItem(email_pk(course_id), email_sk(email_id)).delete(add_version_condition=False)

    # ---- opt-outs and suppressions ----
    def put_opt_out(self, course_id: str, user_id: int, source: str) -> bool:
        """Record an opt-out; False if the learner had already opted out (nothing changes then)."""
        try:
            PrefItem(
                NOMAIL_PK,
                opt_out_sk(user_id, course_id),
                user_id=user_id,
                course_id=course_id,
                reason="opt_out",
                detail=source,
                created=datetime.now(UTC),
            ).save(condition=PrefItem.pk.does_not_exist())
        except PutError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    def delete_opt_out(self, course_id: str, user_id: int) -> None:
        PrefItem(NOMAIL_PK, opt_out_sk(user_id, course_id)).delete()

    def is_opted_out(self, course_id: str, user_id: int) -> bool:
        try:
            PrefItem.get(NOMAIL_PK, opt_out_sk(user_id, course_id), attributes_to_get=["pk"])
        except DoesNotExist:
            return False
        return True

    def put_suppression(self, user_id: int, event: MailEvent) -> None:
        """Suppress a learner's address after a hard bounce or a complaint (the latest event wins)."""
        PrefItem(
            NOMAIL_PK,
            suppression_sk(user_id),
            user_id=user_id,
            address=event.address.lower(),
            reason=event.kind.value,
            detail=event.detail[:500],
            created=event.occurred,
        ).save()

    def read_prefs(self, course_id: str, user_ids: Iterable[int]) -> PrefsInRange:
        """Opt-outs of this course and suppressions of these users: one key range, one Query page or so."""
        wanted = set(user_ids)
        prefs = PrefsInRange(opted_out=set(), suppressed={})
        if not wanted:
            return prefs
        low, high = f"U#{min(wanted):012d}#", f"U#{max(wanted):012d}#~"
        for item in PrefItem.query(NOMAIL_PK, PrefItem.sk.between(low, high)):
            user_id = int(item.user_id)
            if user_id not in wanted:
                continue
            if item.sk.endswith("#S"):
                prefs.suppressed[user_id] = item.address or ""
            elif item.course_id == course_id:
                prefs.opted_out.add(user_id)
        return prefs

    def suppressions(self, user_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """user id -> (address, reason) of these users' suppressions (one BatchGetItem per 100)."""
        keys = [(NOMAIL_PK, suppression_sk(user_id)) for user_id in set(user_ids)]
        return {
            int(item.user_id): (item.address or "", item.reason or "") for item in PrefItem.batch_get(keys)
        }

    # ---- the ledger ----
    def claim(
        self,
        task_id: str,
        chunk: int,
        user_ids: list[int],
        run: str,
        lease_until: float,
        outcomes: Outcomes | None = None,
    ) -> ClaimResult:
        """Claim recipients for this run, recording the previous batch's outcomes in the same transaction.

        Recipients already claimed (by any run) are left out and returned as ``taken``; ``TaskStopped``
        when the task is no longer running (the outcomes are then recorded on their own).
        """
        if len(user_ids) > MAX_CLAIMS_PER_TRANSACTION:
            raise ValueError(f"at most {MAX_CLAIMS_PER_TRANSACTION} claims per transaction")
        pending = list(user_ids)
        taken: list[int] = []
        pk = send_pk(task_id)
        for _ in range(_TRANSACTION_ATTEMPTS + len(user_ids)):
            # The chunk record always names the run: a later run knows to read the claims first.
            actions = [*_outcome_actions(outcomes or Outcomes()), ChunkItem.runs.add({run})]
            try:
                with self._transaction() as transaction:
                    transaction.condition_check(
                        TaskItem,
                        task_pk(task_id),
                        TASK_SK,
                        condition=TaskItem.state == TaskState.PROGRESS.value,
                    )
                    for user_id in pending:
                        transaction.save(
                            ClaimItem(
                                pk,
                                claim_sk(user_id),
                                user_id=user_id,
                                chunk=chunk,
                                run=run,
                                lease_until=round(lease_until, 3),
                            ),
                            condition=ClaimItem.pk.does_not_exist(),
                        )
                    transaction.update(ChunkItem(pk, chunk_sk(chunk)), actions=actions)
                return ClaimResult(pending, taken)
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                codes = [reason.code if reason is not None else None for reason in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    if outcomes:
                        self.record(task_id, chunk, outcomes)
                    raise TaskStopped(f"task {task_id} is not running") from error
                conflicts = {
                    pending[position - 1]
                    for position, code in enumerate(codes)
                    if 1 <= position <= len(pending) and code == "ConditionalCheckFailed"
                }
                if conflicts:
                    taken += sorted(conflicts)
                    pending = [user_id for user_id in pending if user_id not in conflicts]
                    continue
                if any(code in _RETRY_REASONS for code in codes):
                    time.sleep(0.05)
                    continue
                raise
        raise RuntimeError(f"could not claim recipients of chunk {chunk} of task {task_id}")

    def record(
        self,
        task_id: str,
        chunk: int,
        outcomes: Outcomes,
        skipped: dict[str, int] | None = None,
        release: Iterable[int] = (),
        complete: bool = False,
    ) -> ChunkRecord:
        """Record outcomes (and, at the end of a run, its skip counts); delete this run's unused claims.

        Returns the chunk's record as it now stands (the update returns it: no second read).
        """
        actions = _outcome_actions(outcomes)
        if skipped is not None:
            actions.append(ChunkItem.skipped.set(json.dumps(skipped, sort_keys=True)))
        if complete:
            actions.append(ChunkItem.complete.set(True))
        pk = send_pk(task_id)
        released = sorted(set(release))
        # Unused claims go first, in transactions with the outcomes, so a retry finds them free.
        while released:
            batch, released = released[:MAX_CLAIMS_PER_TRANSACTION], released[MAX_CLAIMS_PER_TRANSACTION:]
            with self._transaction() as transaction:
                for user_id in batch:
                    transaction.delete(ClaimItem(pk, claim_sk(user_id)))
                if actions and not released:
                    transaction.update(ChunkItem(pk, chunk_sk(chunk)), actions=actions)
                    actions = []
        item = ChunkItem(pk, chunk_sk(chunk))
        if actions:
            item.update(actions=actions)
            return _chunk_record(item, chunk)
        return self.get_chunk(task_id, chunk) or ChunkRecord(index=chunk)

    def read_claims(self, task_id: str, user_ids: Iterable[int]) -> dict[int, Claim]:
        """Claims of these recipients (one key range of the ledger)."""
        wanted = set(user_ids)
        if not wanted:
            return {}
        found: dict[int, Claim] = {}
        for item in ClaimItem.query(
            send_pk(task_id),
            ClaimItem.sk.between(claim_sk(min(wanted)), claim_sk(max(wanted))),
            consistent_read=True,
        ):
            if int(item.user_id) in wanted:
                found[int(item.user_id)] = Claim(int(item.user_id), item.run, float(item.lease_until))
        return found

    def get_chunk(self, task_id: str, chunk: int) -> ChunkRecord | None:
        try:
            return _chunk_record(
                ChunkItem.get(send_pk(task_id), chunk_sk(chunk), consistent_read=True), chunk
            )
        except DoesNotExist:
            return None

    def chunk_records(self, task_id: str) -> list[ChunkRecord]:
        """Every chunk record of a send, in chunk order."""
        return [
            _chunk_record(item, int(item.sk[2:]))
            for item in ChunkItem.query(send_pk(task_id), ChunkItem.sk.startswith("C#"), consistent_read=True)
        ]

    def claimed_count(self, task_id: str) -> int:
        return sum(
            1
            for _ in ClaimItem.query(
                send_pk(task_id), ClaimItem.sk.startswith("R#"), attributes_to_get=["sk"]
            )
        )

    # ---- per-task summaries and events ----
    def put_summary(self, summary: SendSummary) -> None:
        """The task's totals (kept: bounces and complaints are added to them later)."""
        SummaryItem(send_pk(summary.task_id), SUMMARY_SK).update(
            actions=[
                SummaryItem.sent.set(summary.sent),
                SummaryItem.failed.set(summary.failed),
                SummaryItem.in_doubt.set(summary.in_doubt),
                SummaryItem.skipped.set(json.dumps(summary.skipped, sort_keys=True)),
            ]
        )

    def get_summaries(self, task_ids: Iterable[str]) -> dict[str, SendSummary]:
        ids = list(dict.fromkeys(task_ids))
        found = {
            item.pk[len("SEND#") :]: item
            for item in SummaryItem.batch_get([(send_pk(i), SUMMARY_SK) for i in ids])
        }
        return {task_id: _summary(task_id, found.get(task_id)) for task_id in ids}

    def add_event(self, task_id: str, event: MailEvent) -> bool:
        """Keep a bounce or complaint of a send and count it once (a redelivered event changes nothing)."""
        sk = f"V#{event.occurred.isoformat()}#{event.message_id}#{event.address.lower()}"
        counter = SummaryItem.bounced if event.kind is SuppressionReason.BOUNCE else SummaryItem.complained
        try:
            with self._transaction() as transaction:
                transaction.save(
                    EventItem(send_pk(task_id), sk, data=event.model_dump_json()),
                    condition=EventItem.pk.does_not_exist(),
                )
                transaction.update(SummaryItem(send_pk(task_id), SUMMARY_SK), actions=[counter.add(1)])
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                return False
            raise
        return True

    def events(self, task_id: str, limit: int = 100) -> list[MailEvent]:
        found = []
        for item in EventItem.query(send_pk(task_id), EventItem.sk.startswith("V#"), limit=limit):
            found.append(MailEvent.model_validate_json(item.data))
        return found
