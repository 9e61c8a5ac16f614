"""Tables and bucket of the synthesised template."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_support import DeclaredTable, Synthesized

from infra.application import origins as origins_of
from infra.constructs.reports import cors_rules

TABLE_OF_SETTING = {
    "tasks_table": "tasks",
    "courses_table": "courses",
    "access_table": "access",
    "email_table": "email",
}


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _table(synthesized: Synthesized, setting: str) -> dict[str, Any]:
    return synthesized.resource(getattr(synthesized.stack.data, TABLE_OF_SETTING[setting]))


def test_six_tables_pay_per_request_with_point_in_time_recovery(synthesized: Synthesized) -> None:
    # Given the synthesised template
    tables = synthesized.of_type("AWS::DynamoDB::Table")
    # Then it holds exactly the six tables (tasks, courses, access, course email, LTI, Open edX events
    # in), on demand and recoverable
    assert len(tables) == 6
    for table in tables.values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["KeySchema"] == _key_schema("pk", "sk")
        assert table["DeletionPolicy"] == "Retain"


def test_the_expected_indexes_exist(synthesized: Synthesized) -> None:
    # Given the indexes the service queries (the brief's list)
    expected = {
        "tasks_table": {
            "course-tasks": (_key_schema("course_id", "created_key"), "ALL"),
            "running-tasks": (_key_schema("running_course", "created_key"), "ALL"),
            "due-schedules": (_key_schema("due_bucket", "due_key"), "ALL"),
        },
        "courses_table": {"user-enrollments": (_key_schema("user_key", "pk"), "KEYS_ONLY")},
        "access_table": {
            "principal-email": (_key_schema("email_key", "pk"), "KEYS_ONLY"),
            # A course's staff and instructors (course email's "staff" target, the plan reads them)
            "scope-grants": (_key_schema("scope", "pk"), "ALL"),
        },
        # Course email reads every partition by its key: no index
        "email_table": {},
    }
    for setting, indexes in expected.items():
        # When reading that table's GSIs
        found = {
            gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"]["ProjectionType"])
            for gsi in _table(synthesized, setting)["Properties"].get("GlobalSecondaryIndexes", [])
        }
        # Then each expected index is there with its keys and projection
        for name, declaration in indexes.items():
            assert found.get(name) == declaration, f"{setting}: index {name}"
        if not indexes:
            assert found == {}


@pytest.mark.parametrize("setting", sorted(TABLE_OF_SETTING))
def test_tables_match_the_pynamodb_models(
    synthesized: Synthesized, declared_tables: dict[str, DeclaredTable], setting: str
) -> None:
    # Given the table the models of functions/dal/tables.py declare for this setting
    declared = declared_tables[setting]
    # When reading the synthesised table
    properties = _table(synthesized, setting)["Properties"]
    # Then keys, indexes and attribute types agree (a new model index must be deployed too)
    assert properties["KeySchema"] == _key_schema(
        declared.hash_key.name, declared.range_key.name if declared.range_key else None
    )
    gsis = {gsi["IndexName"]: gsi for gsi in properties.get("GlobalSecondaryIndexes", [])}
    assert set(gsis) == set(declared.indexes)
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    for name, index in declared.indexes.items():
        range_name = index.range_key.name if index.range_key else None
        assert gsis[name]["KeySchema"] == _key_schema(index.hash_key.name, range_name)
        assert gsis[name]["Projection"]["ProjectionType"] == index.projection
        for key in filter(None, (index.hash_key, index.range_key)):
            assert types[key.name] == key.type


def test_source_data_tables_are_protected_against_deletion(synthesized: Synthesized) -> None:
    # Given the courses, access and email tables (the service's source data: opt-outs and
    # suppressions are learners' choices and the sender's reputation)
    for setting in ("courses_table", "access_table", "email_table"):
        # Then deletion protection is on and a stack delete keeps them
        table = _table(synthesized, setting)
        assert table["Properties"].get("DeletionProtectionEnabled") is True, setting
        assert table["DeletionPolicy"] == "Retain", setting


def test_reports_bucket_is_private_encrypted_and_logged(synthesized: Synthesized) -> None:
    # Given the reports bucket
    properties = synthesized.resource(synthesized.stack.reports.bucket)["Properties"]
    # Then public access is blocked, objects are encrypted and access is logged elsewhere
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    log_bucket = synthesized.logical_id(synthesized.stack.reports.access_logs)
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_bucket}


def test_reports_bucket_lifecycle_expires_work_and_aborts_uploads(synthesized: Synthesized) -> None:
    # Given the reports bucket's lifecycle rules
    rules = synthesized.resource(synthesized.stack.reports.bucket)["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    # Then scratch under work/ and staff uploads under uploads/ expire after 7 days, and incomplete
    # multipart uploads are aborted after 1 day
    expiring = sorted(
        (rule["Prefix"], rule["ExpirationInDays"], rule["Status"])
        for rule in rules
        if "ExpirationInDays" in rule
    )
    assert expiring == [("uploads/", 7, "Enabled"), ("work/", 7, "Enabled")]
    assert _rule_with(rules, "AbortIncompleteMultipartUpload")["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_buckets_only_accept_tls(synthesized: Synthesized) -> None:
    # Given both buckets
    for bucket in (synthesized.stack.reports.bucket, synthesized.stack.reports.access_logs):
        # Then each bucket policy denies any request not made over TLS
        synthesized.template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": synthesized.logical_id(bucket)},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def _rule_with(rules: list[dict[str, Any]], key: str) -> dict[str, Any]:
    matching = [rule for rule in rules if key in rule]
    assert len(matching) == 1, f"expected one lifecycle rule with {key}: {rules}"
    return matching[0]


def test_the_reports_bucket_lets_the_configured_origins_read_and_upload(synthesized: Synthesized) -> None:
    # Given cdk.json's reportsCorsOrigins (the LMS micro-frontend's origin)
    origins = origins_of(synthesized.context["reportsCorsOrigins"])
    assert origins == ["https://apps.lms.example.com"]
    bucket = synthesized.resource(synthesized.stack.reports.bucket)["Properties"]
    # Then one CORS rule lets exactly those origins GET/HEAD reports and POST/PUT pre-signed uploads
    assert bucket["CorsConfiguration"]["CorsRules"] == [
        {
            "Id": "browser-reads-and-uploads",
            "AllowedOrigins": origins,
            "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposedHeaders": ["ETag", "Content-Length", "Content-Disposition"],
            "MaxAge": 3000,
        }
    ]
    # And the bucket stays private
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_no_origins_no_cors_rule_and_origins_are_normalised() -> None:
    assert cors_rules([]) is None
    assert origins_of("") == []
    assert origins_of(" https://a.example.com/ ,, https://b.example.com") == [
        "https://a.example.com",
        "https://b.example.com",
    ]
    assert origins_of(["https://c.example.com"]) == ["https://c.example.com"]
