"""The one stack of the service: it only composes the constructs of ``infra/constructs``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from functions.catalog import OPENEDX_ROUTES, PUBLIC_ROUTES
from infra import constants
from infra.constructs.api import HttpApi
from infra.constructs.data import DataTables
from infra.constructs.functions import ServiceFunctions
from infra.constructs.lti import LtiPassback
from infra.constructs.monitoring import Monitoring
from infra.constructs.openedx_events import KafkaSource, OpenedxEvents
from infra.constructs.permissions import ServicePermissions
from infra.constructs.reports import ReportsBucket
from infra.constructs.schedules import Schedules
from infra.constructs.secrets import ServiceSecrets
from infra.constructs.workflow import Workflow


class InstructorTasksStack(Stack):
    """Tables, bucket, functions, task pipeline, HTTP API, schedules and monitoring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dir: Path,
        jwt_issuer: str,
        jwt_audience: Sequence[str],
        notify_from: str,
        email_from: str = "",
        email_configuration_set: str = "",
        email_public_base_url: str = "",
        openedx: Mapping[str, str] | None = None,
        platform: Mapping[str, str] | None = None,
        reports_cors_origins: Sequence[str] = (),
        api_cors_origins: Sequence[str] = (),
        openedx_events: KafkaSource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The composed constructs stay reachable as attributes (the infra tests look resources up by them).
        self.data = DataTables(self, "Data")
        self.reports = ReportsBucket(self, "Reports", cors_origins=reports_cors_origins)
        self.functions = ServiceFunctions(
            self,
            "Functions",
            layer_dir=layer_dir,
            environment={**self.data.environment(), **self.reports.environment()},
        )
        by_name = self.functions.functions()
        self.workflow = Workflow(self, "Workflow", functions=by_name, reports=self.reports)
        self.schedules = Schedules(self, "Schedules", functions=by_name)
        self.lti = LtiPassback(self, "Lti", functions=by_name, event_bus=self.schedules.event_bus)
        self.openedx_events = OpenedxEvents(
            self, "OpenedxEvents", functions=by_name, kafka=openedx_events or KafkaSource()
        )
        # Known only now. The state machine ARN is built from the machine's name, so the pipeline
        # functions (which the machine references) can carry it without a dependency cycle.
        self.functions.add_environment(
            {
                constants.ENV_STATE_MACHINE_ARN: self.workflow.state_machine_arn,
                constants.ENV_EVENT_BUS_NAME: self.schedules.event_bus.event_bus_name,
                constants.ENV_NOTIFY_FROM: notify_from,
                # Course email: its sender (report notices' sender unless set), and the SES
                # configuration set whose EventBridge destination reports bounces (if any).
                constants.ENV_EMAIL_FROM: email_from or notify_from,
                **(
                    {constants.ENV_EMAIL_CONFIGURATION_SET: email_configuration_set}
                    if email_configuration_set
                    else {}
                ),
                # The dashboard verifies the cookie's token against the authorizer's issuer.
                constants.ENV_WEB_JWT_ISSUER: jwt_issuer,
                constants.ENV_WEB_JWT_AUDIENCE: ",".join(jwt_audience),
                constants.ENV_GRADER_FUNCTION: by_name["grader"].function_name,
                **self.lti.environment(),
                **self.openedx_events.environment(),
                # Empty values are left out: the functions' defaults stand (no Open edX issuer trusted).
                **{name: value for name, value in (openedx or {}).items() if value},
                **{name: value for name, value in (platform or {}).items() if value},
            }
        )
        self.secrets = ServiceSecrets(self, "Secrets", functions=by_name)
        self.permissions = ServicePermissions(
            self,
            "Permissions",
            functions=by_name,
            data=self.data,
            reports=self.reports,
            workflow=self.workflow,
            event_bus=self.schedules.event_bus,
            notify_from=notify_from,
            email_from=email_from or notify_from,
            email_configuration_set=email_configuration_set,
            lti=self.lti,
            secrets=self.secrets,
            openedx_events=self.openedx_events,
        )
        self.api = HttpApi(
            self,
            "Http",
            handler=by_name["api"],
            jwt_issuer=jwt_issuer,
            jwt_audience=jwt_audience,
            public_routes={route: by_name[route.target] for route in PUBLIC_ROUTES},
            authorized_prefixes={
                OPENEDX_ROUTES: (by_name[OPENEDX_ROUTES.authorizer], by_name[OPENEDX_ROUTES.target])
            },
            cors_origins=api_cors_origins,
        )
        # Unsubscribe links point at this API (or at the public base URL given, e.g. a custom domain);
        # the links drop its trailing slash (functions/logic/email/unsubscribe.py).
        self.functions.add_environment(
            {constants.ENV_EMAIL_PUBLIC_BASE_URL: email_public_base_url or self.api.url}
        )
        self.monitoring = Monitoring(
            self, "Monitoring", state_machine=self.workflow.state_machine, functions=by_name
        )
        self.monitoring.add_alarms(self.lti.alarms(self.monitoring.action))
        self.monitoring.add_alarms(self.openedx_events.alarms(self.monitoring.action))

        # What an operator needs after `cdk deploy` (`make deploy` prints them; README "First deployment").
        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the HTTP API")
        CfnOutput(
            self,
            "EventBusName",
            value=self.schedules.event_bus.event_bus_name,
            description="EventBridge bus of TaskCompleted and ScoreChanged (docs/events/)",
        )
        CfnOutput(
            self,
            "ReportsBucketName",
            value=self.reports.bucket.bucket_name,
            description="Reports, imports and scratch files",
        )
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.workflow.state_machine.state_machine_arn,
            description="The task pipeline",
        )
        CfnOutput(
            self,
            "AccessTableName",
            value=self.data.access.table_name,
            description="Token subjects and their roles (write the first administrator here)",
        )
