"""The local stack's snapshots (itask/local/persistence.py) on moto: what is saved comes back whole."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from functions.dal.clients import client
from functions.dal.tasks_repo import TaskRepository
from functions.models.tasks import Task, TaskState
from functions.settings import Settings
from itask.local.persistence import StateStore
from itask.local.resources import export_settings, provision
from tests.integration.conftest import ROUTER, seed

REPORT = "reports/abc/TestX_G101_2026_grade_report_2026-01-02-030405.csv"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _world() -> Settings:
    settings = provision(Settings(chunk_size=100, max_concurrency=4), ROUTER)
    export_settings(settings)
    return settings


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
        lost = Task(
            task_id="lost-task",
            course_id="course-v1:TestX+G101+2026",
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
        dynamodb = client("dynamodb", settings.region)
        keys = [
            k["AttributeName"]
            for k in dynamodb.describe_table(TableName=settings.courses_table)["Table"]["KeySchema"]
        ]
        dynamodb.put_item(
            TableName=settings.courses_table,
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
        assert (first.objects, first.linked) == (1, 0)
        # a second snapshot with nothing changed takes the object from the first (no download)
        assert store.save().linked == 1
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # When a new, empty moto is provisioned and the snapshot loaded
        settings = _world()
        assert all(items == [] for items in _everything(settings).values())
        loaded = StateStore(home, settings).load()
        assert loaded is not None and loaded.objects == 1
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
