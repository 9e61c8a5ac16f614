"""What each function may do, in one reviewable place (least privilege, no wildcard actions).

Every catalog function must have an entry here: a new function fails synthesis until its
permissions are decided, instead of silently getting none or too many. A function reads exactly the
secrets its catalog entry lists (``FunctionSpec.secrets``), and no other.
Who calls what (functions/logic): ``lifecycle.finish_task`` publishes TaskCompleted on the bus and,
for a finished report, emails the requester (and a scheduled run's staff list); it runs in api
(cancel, failed start), finalize, mark-failed, the sweeper and the scheduler (a run that cannot
start; never a finished report).
Course email (functions/logic/email): the api writes emails and reads their ledgers; submitting a send
(api, web, scheduler) checks the email exists; plan reads the email, the course staff (access table)
and the account's SES quota; process-chunk claims and sends (SES v2 raw); finalize sums the ledger;
email-events records bounces and complaints; email-unsubscribe records opt-outs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.catalog import FUNCTIONS
from infra import constants
from infra.constructs.data import DataTables
from infra.constructs.lti import LtiPassback
from infra.constructs.openedx_events import OpenedxEvents
from infra.constructs.reports import ReportsBucket
from infra.constructs.secrets import ServiceSecrets
from infra.constructs.workflow import Workflow
from infra.nag import acknowledge_wildcard_resources, allow

_INDEX_REASON = (
    "'<table arn>/index/*' is how DynamoDB grants cover the table's own GSIs (course-tasks, "
    "running-tasks, user-enrollments, ...); it reaches no other table."
)
_EXECUTIONS_REASON = (
    "Executions are named per task at run time; the pattern is limited to executions of the "
    "pipeline state machine."
)

_QUOTA_REASON = (
    "ses:GetSendQuota (the account's sending rate, which paces a course email send) supports no "
    "resource-level permissions: AWS only grants it on '*'; it reads, and changes nothing."
)


class ServicePermissions(Construct):
    """Grants of every function on the tables, the bucket, the state machine, the bus and SES."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        data: DataTables,
        reports: ReportsBucket,
        workflow: Workflow,
        event_bus: events.IEventBus,
        notify_from: str,
        email_from: str,
        email_configuration_set: str,
        lti: LtiPassback,
        secrets: ServiceSecrets,
        openedx_events: OpenedxEvents,
    ) -> None:
        super().__init__(scope, construct_id)
        self._openedx_events = openedx_events
        self._data, self._reports, self._workflow, self._lti = data, reports, workflow, lti
        self._grader_function = functions["grader"]
        self._event_bus, self._notify_from = event_bus, notify_from
        self._email_from, self._email_configuration_set = email_from, email_configuration_set
        policies: dict[str, Callable[[lambda_.IFunction], None]] = {
            "api": self._api,
            "plan": self._plan,
            "scan-shard": self._scan_shard,
            "process-chunk": self._process_chunk,
            "finalize": self._finalize,
            "merge-part": self._merge_part,
            "mark-failed": self._mark_failed,
            "sweeper": self._sweeper,
            "scheduler": self._scheduler,
            "grader": self._grader,
            "lti-launch": self._lti_launch,
            "certificate-verify": self._certificate_verify,
            "web": self._web,
            "lti-score-changed": self._lti_score_changed,
            "lti-send": self._lti_send,
            "openedx-authorizer": self._openedx_authorizer,
            "email-events": self._email_events,
            "email-unsubscribe": self._email_unsubscribe,
            "openedx-events": self._openedx_events_in,
        }
        undecided = sorted(set(functions) - set(policies))
        if undecided:
            raise KeyError(
                f"no permissions declared for functions {undecided} in infra/constructs/permissions.py"
            )
        for name, fn in functions.items():
            policies[name](fn)
            for secret in FUNCTIONS[name].secrets:
                # GetSecretValue and DescribeSecret on this one secret (its ARN; no wildcard).
                secrets[secret].grant_read(fn)

    # --- per function -------------------------------------------------------------------------
    def _api(self, fn: lambda_.IFunction) -> None:
        # Submit / cancel / resume tasks, read who may do what, list and presign reports; resume
        # checks that the task's scratch files under work/ still exist.
        self._read_write(fn, self._data.tasks)
        self._read_write(fn, self._data.courses)  # admin: course imports and bulk state loads
        # Who may do what; administrators grant and revoke roles and edit users (audited).
        self._read_write(fn, self._data.access)
        self._reports.grant_read(fn, constants.REPORTS_PREFIX, constants.WORK_PREFIX)
        # The ORA submissions loader writes attachments; a learner's retirement deletes them, and the
        # learner's rendered certificate page.
        self._reports.grant_read_write_delete(fn, constants.ATTACHMENTS_PREFIX)
        self._reports.grant_read_delete(fn, constants.CERTIFICATES_PREFIX)
        self._reports.grant_read_write_delete(fn, constants.LOADS_PREFIX)  # bulk loads' journals
        # Staff uploads: sign upload forms (S3 checks the signer may PutObject), read a file to check
        # it before queuing, remove a refused one, store a list given inline.
        self._reports.grant_read_write_delete(fn, constants.UPLOADS_PREFIX)
        self._workflow.state_machine.grant_start_execution(fn)
        allow(
            fn, ["states:StopExecution"], [self._workflow.execution_arns], wildcard_reason=_EXECUTIONS_REASON
        )
        self._publish_events(fn)
        # LTI: register consumers (their secrets encrypted), list the ledger, re-send pass-backs.
        self._read_write(fn, self._lti.table)
        allow(fn, ["kms:Encrypt"], [self._lti.key.key_arn])
        allow(fn, ["states:StartExecution"], [self._lti.state_machine_arn])
        # Course email: write and list emails, their ledgers' summaries (its previews read the
        # unsubscribe secret, granted from the catalog).
        self._read_write(fn, self._data.email)

    def _web(self, fn: lambda_.IFunction) -> None:
        # The dashboard acts through the api's task functions: submit, cancel, resume, status and
        # history, report links; reads who may do what and the course (names, problems, learners).
        # Not the api's admin or LTI rights (imports, bulk loads, consumers).
        self._read_write(fn, self._data.tasks)
        self._read(fn, self._data.courses)
        self._read(fn, self._data.access)
        self._reports.grant_read(fn, constants.REPORTS_PREFIX, constants.WORK_PREFIX)
        self._workflow.state_machine.grant_start_execution(fn)
        allow(
            fn, ["states:StopExecution"], [self._workflow.execution_arns], wildcard_reason=_EXECUTIONS_REASON
        )
        self._publish_events(fn)
        # Submitting a course email send checks that the email exists.
        self._read(fn, self._data.email)
        # Submitting through the task types' checks (functions/logic/submit.py): batch enrollment
        # stores a list given inline as an upload, cohorts and enrollment read the named upload and
        # remove a refused one.
        self._reports.grant_read_write_delete(fn, constants.UPLOADS_PREFIX)

    def _lti_launch(self, fn: lambda_.IFunction) -> None:
        # The public launch: the consumer's secret (decrypt), nonce, assignment; the course's blocks
        # and enrollments (which learner the LMS user is).
        self._read_write(fn, self._lti.table)
        self._read(fn, self._data.courses)
        allow(fn, ["kms:Decrypt"], [self._lti.key.key_arn])

    def _certificate_verify(self, fn: lambda_.IFunction) -> None:
        # The public verification: the certificate's record (and the learner's name), and its page.
        self._read(fn, self._data.courses)
        self._reports.grant_read(fn, constants.CERTIFICATES_PREFIX)

    def _lti_score_changed(self, fn: lambda_.IFunction) -> None:
        # Bump assignment versions, write ledger records, start one pass-back execution each
        # (the queue's receive/delete permissions come with its event source mapping).
        self._read_write(fn, self._lti.table)
        self._read(fn, self._data.courses)
        allow(fn, ["states:StartExecution"], [self._lti.state_machine_arn])

    def _lti_send(self, fn: lambda_.IFunction) -> None:
        # One send: the ledger, the consumer's secret or tool key, the learner's scores (composites).
        self._read_write(fn, self._lti.table)
        self._read(fn, self._data.courses)
        allow(fn, ["kms:Decrypt"], [self._lti.key.key_arn])

    def _plan(self, fn: lambda_.IFunction) -> None:
        # Read course data, write the snapshot under work/; Cut reads the shard scans and writes the
        # chunk list; either moves the task to PROGRESS. Certificate generation records its history;
        # staff tasks read their uploaded file.
        self._read_write(fn, self._data.tasks)
        self._read_write(fn, self._data.courses)
        self._reports.grant_read_write_delete(fn, constants.WORK_PREFIX)
        self._reports.grant_read(fn, constants.UPLOADS_PREFIX)
        # Course email: the email, the course's staff (scope-grants), the account's sending rate.
        self._read(fn, self._data.email)
        self._read(fn, self._data.access)
        allow(fn, ["ses:GetSendQuota"], ["*"], wildcard_reason=_QUOTA_REASON)

    def _scan_shard(self, fn: lambda_.IFunction) -> None:
        # Read the task and one shard of the course's learners (the roster index, learner state),
        # write the shard's counts and samples under work/.
        self._read(fn, self._data.tasks)
        self._read(fn, self._data.courses)
        self._reports.grant_read_write(fn, constants.WORK_PREFIX)

    def _process_chunk(self, fn: lambda_.IFunction) -> None:
        # Read learners; problem-state tasks also write their state and score sheets and announce
        # each changed score (ScoreChanged); count the chunk; write its parts under work/. Rescores
        # of Python-graded problems call the sandbox grader.
        allow(fn, ["lambda:InvokeFunction"], [self._grader_function.function_arn])
        self._read_write(fn, self._data.tasks)
        self._read_write(fn, self._data.courses)
        self._reports.grant_read_write_delete(fn, constants.WORK_PREFIX)
        self._reports.grant_read(fn, constants.REPORTS_PREFIX)  # the grade report diff reads two reports
        self._reports.grant_read(fn, constants.ATTACHMENTS_PREFIX)  # the ORA files archive
        self._publish_events(fn)
        # Certificates: their rendered pages; batch enrollment: the learners' notification emails.
        self._reports.grant_read_write(fn, constants.CERTIFICATES_PREFIX)
        self._send_email(fn)
        # Course email: claim recipients and record outcomes (read opt-outs and suppressions), send.
        self._read_write(fn, self._data.email)
        self._send_course_email(fn)

    def _merge_part(self, fn: lambda_.IFunction) -> None:
        # Read chunk parts under work/ and upload (or copy) them as one part of a report's upload.
        self._reports.grant_read(fn, constants.WORK_PREFIX)
        self._reports.grant_read_write(fn, constants.REPORTS_PREFIX)

    def _finalize(self, fn: lambda_.IFunction) -> None:
        # Open and complete the reports' multipart uploads, clean work/, finish the task, email a link.
        self._read_write(fn, self._data.tasks)
        self._read(fn, self._data.courses)
        self._reports.grant_read_write_delete(fn, constants.WORK_PREFIX, constants.REPORTS_PREFIX)
        self._publish_events(fn)
        self._send_email(fn)
        self._read_write(fn, self._data.email)  # course email: sum the chunks' ledgers into a summary

    def _mark_failed(self, fn: lambda_.IFunction) -> None:
        # Record the failure (reads the last chunk error under work/), abort a merge it left open,
        # announce it.
        self._read_write(fn, self._data.tasks)
        self._reports.grant_read(fn, constants.WORK_PREFIX)
        self._reports.grant_abort_uploads(fn, constants.REPORTS_PREFIX)
        self._publish_events(fn)

    def _openedx_authorizer(self, fn: lambda_.IFunction) -> None:
        # Verifies LMS JWTs against the LMS's published key set (HTTPS, no AWS call): nothing beyond
        # its own logs. Course roles are read later, by the api function.
        return None

    def _grader(self, fn: lambda_.IFunction) -> None:
        # Runs course authors' Python: nothing beyond its own logs (granted with its role) and the
        # network interfaces Lambda attaches to its isolated subnets (see constructs/sandbox.py).
        return None

    def _sweeper(self, fn: lambda_.IFunction) -> None:
        # Fail running tasks whose execution has ended, announce it. Complete bulk loads whose process
        # died: read their journals, write what any loader writes (course data, ORA attachments, LTI
        # assignments), delete the journals.
        self._read_write(fn, self._data.tasks)
        self._read_write(fn, self._data.courses)
        self._read_write(fn, self._lti.table)
        self._reports.grant_read_write_delete(fn, constants.LOADS_PREFIX)
        self._reports.grant_read_write(fn, constants.ATTACHMENTS_PREFIX)
        allow(
            fn,
            ["states:DescribeExecution"],
            [self._workflow.execution_arns],
            wildcard_reason=_EXECUTIONS_REASON,
        )
        self._publish_events(fn)

    def _scheduler(self, fn: lambda_.IFunction) -> None:
        # Due runs through the submit path: check them again (who the requester is, the course, the
        # input: a grade report diff reads its reports), take the slot, start the pipeline; advance
        # the schedule; a run that cannot start ends FAILURE and is announced.
        self._read_write(fn, self._data.tasks)
        self._read(fn, self._data.courses)
        self._read(fn, self._data.access)
        self._reports.grant_read(fn, constants.REPORTS_PREFIX)
        self._workflow.state_machine.grant_start_execution(fn)
        self._publish_events(fn)
        self._read(fn, self._data.email)  # a scheduled course email send: the email still exists
        # The submit checks run again on the stored input: read the named upload (cohorts, batch
        # enrollment), remove one refused now. Inline lists were stored when the run was scheduled.
        self._reports.grant_read_delete(fn, constants.UPLOADS_PREFIX)

    def _email_events(self, fn: lambda_.IFunction) -> None:
        # SES bounces and complaints: suppress the address, record the event and count it on the
        # send's summary (the queue's receive/delete permissions come with its event source mapping).
        self._read_write(fn, self._data.email)

    def _email_unsubscribe(self, fn: lambda_.IFunction) -> None:
        # The public opt-out: the course (its name, that it exists), the opt-out record; the link's
        # key is the email-unsubscribe secret (granted from the catalog).
        self._read(fn, self._data.courses)
        self._read_write(fn, self._data.email)

    def _openedx_events_in(self, fn: lambda_.IFunction) -> None:
        # Open edX events: handled ids and versions; enrollments, cohorts and the course's groups
        # (courses table); course roles and their audit records (access table). The queue's and the
        # Kafka cluster's permissions come with their event source mappings.
        self._read_write(fn, self._openedx_events.table)
        self._read_write(fn, self._data.courses)
        self._read_write(fn, self._data.access)

    # --- grants -------------------------------------------------------------------------------
    def _publish_events(self, fn: lambda_.IFunction) -> None:
        allow(fn, ["events:PutEvents"], [self._event_bus.event_bus_arn])

    def _send_email(self, fn: lambda_.IFunction) -> None:
        # Report-ready notices (SES v1 SendEmail from notify_from).
        allow(fn, ["ses:SendEmail"], self._identities(self._notify_from))

    def _send_course_email(self, fn: lambda_.IFunction) -> None:
        # Course email goes out through SES v2 SendEmail with raw MIME content, from email_from or a
        # course address under its domain (<number>-<email_from>), in the configuration set if one is
        # set (SES then authorises the set too). SendRawEmail rides along: SES checks it for raw
        # content, as CDK's own EmailIdentity.grantSendEmail grants both.
        stack = Stack.of(self)
        resources = self._identities(self._email_from)
        if self._email_configuration_set:
            resources.append(
                stack.format_arn(
                    service="ses",
                    resource="configuration-set",
                    resource_name=self._email_configuration_set,
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
            )
        allow(fn, ["ses:SendEmail", "ses:SendRawEmail"], resources)

    def _identities(self, sender: str) -> list[str]:
        # SES authorises a send against the verified identity of the sender: its address or its domain.
        stack = Stack.of(self)
        domain = sender.rpartition("@")[2]
        return [
            stack.format_arn(
                service="ses",
                resource="identity",
                resource_name=name,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            for name in dict.fromkeys([sender, domain])
        ]

    @staticmethod
    def _read(fn: lambda_.IFunction, table: dynamodb.ITable) -> None:
        table.grant_read_data(fn)
        acknowledge_wildcard_resources(fn, [f"{table.table_arn}/index/*"], _INDEX_REASON)

    @staticmethod
    def _read_write(fn: lambda_.IFunction, table: dynamodb.ITable) -> None:
        table.grant_read_write_data(fn)
        acknowledge_wildcard_resources(fn, [f"{table.table_arn}/index/*"], _INDEX_REASON)
