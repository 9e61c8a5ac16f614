"""The reports bucket (finished reports and per-task pipeline scratch) and its access-log bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.nag import acknowledge, allow

ACCESS_LOG_RETENTION = Duration.days(365)

# Exact S3 actions (cdk's bucket.grant_* would add wildcard actions such as s3:GetObject*).
# ListBucket is granted with read: without it S3 answers 403 instead of 404 for a missing key,
# and the functions test for missing objects with HeadObject.
_READ_ACTIONS = ("s3:GetObject",)
_LIST_ACTIONS = ("s3:ListBucket",)
# PutObject also covers CreateMultipartUpload / UploadPart / UploadPartCopy (with GetObject on the
# source) / CompleteMultipartUpload; ListParts is how Finalize collects the parts others uploaded.
_WRITE_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
_ABORT_ACTIONS = ("s3:AbortMultipartUpload",)
_DELETE_ACTIONS = ("s3:DeleteObject",)

_PREFIX_REASON = (
    "Objects are keyed by task or course under a fixed prefix of the service's own bucket; "
    "the grant is limited to that prefix, object names cannot be known in advance."
)


def cors_rules(origins: Sequence[str]) -> list[s3.CorsRule] | None:
    """What a page on these origins may do with the bucket directly: read a report with fetch (the
    dashboard's charts and diffs, an LMS micro-frontend) and post a pre-signed upload. Objects stay
    private: every request still needs a pre-signed URL or form; CORS only lets the browser show the
    answer to the page."""
    if not origins:
        return None
    return [
        s3.CorsRule(
            id="browser-reads-and-uploads",
            allowed_origins=list(origins),
            allowed_methods=[
                s3.HttpMethods.GET,
                s3.HttpMethods.HEAD,
                s3.HttpMethods.POST,
                s3.HttpMethods.PUT,
            ],
            allowed_headers=["*"],
            exposed_headers=["ETag", "Content-Length", "Content-Disposition"],
            max_age=3000,
        )
    ]


class ReportsBucket(Construct):
    """A private, SSL-only bucket; scratch under ``work/`` expires, so failed tasks leave nothing behind."""

    def __init__(self, scope: Construct, construct_id: str, *, cors_origins: Sequence[str] = ()) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # S3 server access logging only delivers to SSE-S3 encrypted buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket is the destination of the reports bucket's server access logs; "
            "logging its own access would only log the log delivery.",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="reports-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-work",
                    prefix=f"{constants.WORK_PREFIX}/",
                    expiration=Duration.days(constants.WORK_EXPIRATION_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-uploads",
                    prefix=f"{constants.UPLOADS_PREFIX}/",
                    expiration=Duration.days(constants.UPLOADS_EXPIRATION_DAYS),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
            cors=cors_rules(cors_origins),
        )

    def environment(self) -> dict[str, str]:
        """The settings the functions need to find their objects."""
        return {
            constants.ENV_BUCKET: self.bucket.bucket_name,
            constants.ENV_REPORTS_PREFIX: constants.REPORTS_PREFIX,
            constants.ENV_WORK_PREFIX: constants.WORK_PREFIX,
            constants.ENV_LOADS_PREFIX: constants.LOADS_PREFIX,
            constants.ENV_UPLOADS_PREFIX: constants.UPLOADS_PREFIX,
            constants.ENV_CERTIFICATES_PREFIX: constants.CERTIFICATES_PREFIX,
        }

    def objects_under(self, prefix: str) -> str:
        """The ARN pattern of every object under ``prefix/``."""
        return self.bucket.arn_for_objects(f"{prefix}/*")

    def grant_read(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """GetObject (also what a presigned GET link is signed for) under ``prefixes``, and listing."""
        allow(grantee, _LIST_ACTIONS, [self.bucket.bucket_arn])
        allow(
            grantee, _READ_ACTIONS, [self.objects_under(p) for p in prefixes], wildcard_reason=_PREFIX_REASON
        )

    def grant_read_write(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Read and write (multipart included) under ``prefixes``; no delete."""
        self.grant_read(grantee, *prefixes)
        allow(
            grantee, _WRITE_ACTIONS, [self.objects_under(p) for p in prefixes], wildcard_reason=_PREFIX_REASON
        )

    def grant_read_delete(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Read and delete under ``prefixes``; no write."""
        self.grant_read(grantee, *prefixes)
        allow(
            grantee,
            _DELETE_ACTIONS,
            [self.objects_under(p) for p in prefixes],
            wildcard_reason=_PREFIX_REASON,
        )

    def grant_abort_uploads(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Abort multipart uploads under ``prefixes`` (a failed merge's), nothing else."""
        allow(
            grantee, _ABORT_ACTIONS, [self.objects_under(p) for p in prefixes], wildcard_reason=_PREFIX_REASON
        )

    def grant_read_write_delete(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Read, write (multipart included) and delete under ``prefixes``."""
        self.grant_read(grantee, *prefixes)
        allow(
            grantee,
            _WRITE_ACTIONS + _DELETE_ACTIONS,
            [self.objects_under(p) for p in prefixes],
            wildcard_reason=_PREFIX_REASON,
        )
