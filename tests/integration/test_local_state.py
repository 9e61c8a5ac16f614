"""The local stack's snapshots (itask/local/persistence.py) on moto: what is saved comes back whole."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from functions.dal.clients import client
from functions.dal.course_repo import CourseRepository
from functions.dal.loads_repo import LoadsRepository
from functions.dal.tasks_repo import TaskRepository
from functions.logic import load_journal
from functions.logic.data.groups import GROUPS, GroupWrite
from functions.logic.registry import RunContext
from functions.models.loads import LoadState
from functions.models.tasks import Task, TaskState
from functions.settings import Settings
from itask.local.persistence import StateStore
from itask.local.resources import export_settings, provision
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID
from tests.integration.conftest import ROUTER, SECRET_VALUES, seed

REPORT = "reports/abc/TestX_G101_2026_grade_report_2026-01-02-030405.csv"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _world() -> Settings:
    settings = provision(Settings(chunk_size=100, max_concurrency=4), ROUTER, SECRET_VALUES)
    export_settings(settings)
    return settings


def _tables(settings: Settings) -> set[str]:
    """Every table the stack provisions, as its settings name them."""
    return {
        settings.tasks_table,
        settings.courses_table,
        settings.access_table,
        settings.lti_table,
        settings.email_table,
        settings.openedx_events_table,
    }


def _sealed_load(settings: Settings) -> str:
    """A groups load of the course whose rows are journaled and sealed but not yet applied (as a
    stop right after the seal leaves it): only the journal in S3 and the pending record hold them."""
    ctx = RunContext.create(settings)
    enrollment = CourseRepository(settings).get_enrollments(COURSE_ID, [1001])[1001]
    load = load_journal.Load.begin(ctx, COURSE_ID, GROUPS, "admin")
    grouped = enrollment.model_copy(update={"experiment_groups": {"50": "1"}})
    row = GroupWrite(user_id=1001, enrollment=grouped)
    load.write_chunk(0, [row])
    load.seal(1, 1, {"learners": 1})
    return load.record.load_id


def _everything(settings: Settings) -> dict[str, list]:
    dynamodb = client("dynamodb", settings.region)
    found = {}
    for name in dynamodb.list_tables()["TableNames"]:
        items = [i for p in dynamodb.get_paginator("scan").paginate(TableName=name) for i in p["Items"]]
        found[name] = sorted(items, key=repr)
    return found


def test_tables_and_objects_come_back_whole_and_lost_tasks_are_swept(tmp_path, monkeypatch):
    home = tmp_path / "home"
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # Given a stack with learners, a task left PROGRESS at the stop, a binary value and a report
        settings = _world()
        seed(settings, 120)
        # and a data load stopped after its journal was sealed (its rows not yet in the tables)
        load_id = _sealed_load(settings)
        journal = client("s3", settings.region).list_objects_v2(
            Bucket=settings.bucket, Prefix=f"{settings.loads_prefix}/"
        )["Contents"]
        assert len(journal) == 1
        lost = Task(
            task_id="lost-task",
            course_id=OTHER_COURSE_ID,  # the other course has a load pending
            task_type="grade_course",
            task_key="",
            task_input="{}",
            state=TaskState.PROGRESS,
            requester="admin",
            created=WHEN,
            updated=WHEN,
            execution_arn=settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":lost-task",
        )
        TaskRepository(settings).create(lost)
        # an item with a binary value in every table (the LTI table has nothing else)
        dynamodb = client("dynamodb", settings.region)
        assert set(dynamodb.list_tables()["TableNames"]) == _tables(settings)
        for table in _tables(settings):
            keys = [
                k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            ]
            dynamodb.put_item(
                TableName=table,
                Item={
                    keys[0]: {"S": "blob"},
                    **({keys[1]: {"S": "blob"}} if len(keys) > 1 else {}),
                    "data": {"B": b"\x00\xff"},
                },
            )
        s3 = client("s3", settings.region)
        s3.put_object(
            Bucket=settings.bucket,
            Key=REPORT,
            Body=b"Student ID,Grade\r\n1,0.5\r\n",
            ContentType="text/csv",
            ContentDisposition='attachment; filename="r.csv"',
            Metadata={"task-id": "t1"},
        )
        # and a secret encrypted with the stack's KMS key (as LTI consumer secrets are)
        kms = client("kms", settings.region)
        secret = kms.encrypt(KeyId=settings.lti_kms_key_id, Plaintext=b"consumer-secret")["CiphertextBlob"]
        before = _everything(settings)
        listed_before = s3.head_object(Bucket=settings.bucket, Key=REPORT)["LastModified"]
        store = StateStore(home, settings)
        first = store.save()
        assert first.tables[settings.tasks_table] == len(before[settings.tasks_table])
        assert set(first.tables) == _tables(settings)
        assert all(items for items in before.values())  # every table has something to bring back
        assert (first.objects, first.linked) == (2, 0)  # the report and the load's journal
        # a second snapshot with nothing changed takes the objects from the first (no download)
        assert store.save().linked == 2
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # When a new, empty moto is provisioned and the snapshot loaded
        settings = _world()
        assert all(items == [] for items in _everything(settings).values())
        loaded = StateStore(home, settings).load()
        assert loaded is not None and loaded.objects == 2
        # Then every item of every table is back, binary values included
        assert _everything(settings) == before
        # and the object with its bytes, headers, metadata and time
        s3 = client("s3", settings.region)
        got = s3.get_object(Bucket=settings.bucket, Key=REPORT)
        assert got["Body"].read() == b"Student ID,Grade\r\n1,0.5\r\n"
        assert (got["ContentType"], got["ContentDisposition"], got["Metadata"]) == (
            "text/csv",
            'attachment; filename="r.csv"',
            {"task-id": "t1"},
        )
        assert got["LastModified"] == listed_before
        # and what was encrypted before the stop decrypts with the restarted stack's key
        kms = client("kms", settings.region)
        assert kms.decrypt(CiphertextBlob=secret)["Plaintext"] == b"consumer-secret"
        again = kms.encrypt(KeyId=settings.lti_kms_key_id, Plaintext=b"x")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=again)["Plaintext"] == b"x"
        # and the task whose execution did not survive is failed by the sweeper, its slot freed
        monkeypatch.setitem(os.environ, "ITASK_SWEEPER_GRACE_SECONDS", "120")
        result = ROUTER.invoke("sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"})
        assert result["swept"] == ["lost-task"]
        assert TaskRepository(settings).get("lost-task").state is TaskState.FAILURE
        # and the load sealed before the stop is rolled forward from its restored journal
        courses = CourseRepository(settings)
        assert courses.get_enrollments(COURSE_ID, [1001])[1001].experiment_groups == {}
        monkeypatch.setitem(os.environ, "ITASK_LOAD_LEASE_SECONDS", "0")
        result = ROUTER.invoke("sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"})
        assert result["loads"] == {load_id: "COMMITTED"}
        assert courses.get_enrollments(COURSE_ID, [1001])[1001].experiment_groups == {"50": "1"}
        assert LoadsRepository(settings).get_pending(COURSE_ID) is None
        assert [h.state for h in LoadsRepository(settings).history(COURSE_ID)] == [LoadState.COMMITTED]


def test_a_crash_while_saving_keeps_the_last_good_snapshot(tmp_path):
    with mock_aws():
        settings = _world()
        store = StateStore(tmp_path, settings)
        assert store.current() is None and store.load() is None
        store.save()
        # A crash between the two renames leaves only state.old: it is still the snapshot
        store.path.rename(tmp_path / "state.old")
        assert store.current() == tmp_path / "state.old"
        # a half-written snapshot (no manifest) is never taken for one
        (tmp_path / "state").mkdir()
        (tmp_path / "state" / "tables").mkdir()
        assert store.current() == tmp_path / "state.old"
        # and the next save puts a whole one in place and clears the rest
        store.save()
        assert store.current() == store.path
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("state")) == ["state"]
        store.discard()
        assert store.current() is None


def test_a_snapshot_of_another_format_is_refused(tmp_path):
    with mock_aws():
        settings = _world()
        store = StateStore(tmp_path, settings)
        store.save()
        manifest = store.path / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 99'))
        with pytest.raises(ValueError, match="snapshot format 99 is not 1"):
            store.load()
