"""The public HTTP API: every route behind a JWT authorizer, all routed to the api function."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions import cors
from functions.catalog import AuthorizedPrefixSpec, PublicRouteSpec
from infra.nag import acknowledge

THROTTLE = apigwv2.ThrottleSettings(burst_limit=100, rate_limit=50)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# One JSON object per request; $context.requestId is required by API Gateway.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "subject": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """``IAccessLogSettings`` is an interface only; jsii needs a class implementing it."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class HttpApi(Construct):
    """``ANY /{proxy+}`` -> api function (payload 2.0); JWT authorizer as the default for every route."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        jwt_issuer: str,
        jwt_audience: Sequence[str],
        public_routes: Mapping[PublicRouteSpec, lambda_.IFunction] | None = None,
        authorized_prefixes: Mapping[AuthorizedPrefixSpec, tuple[lambda_.IFunction, lambda_.IFunction]]
        | None = None,
        cors_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if not jwt_issuer or not list(jwt_audience):
            raise ValueError("the JWT authorizer needs an issuer and at least one audience")
        authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer",
            jwt_issuer,
            jwt_audience=list(jwt_audience),
            identity_source=["$request.header.Authorization"],
        )
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{Stack.of(self).stack_name}-api",
            description="Instructor tasks: submit tasks, follow their status, download reports",
            default_authorizer=authorizer,
            # The stage is declared below, with access logging and throttling.
            create_default_stage=False,
            # Pages on these origins (Open edX's micro-frontends) may call the API with credentials;
            # the same policy the local stack applies (functions/cors.py).
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=list(cors_origins),
                allow_credentials=True,
                allow_methods=[apigwv2.CorsHttpMethod(method) for method in cors.ALLOW_METHODS],
                allow_headers=list(cors.ALLOW_HEADERS),
                expose_headers=list(cors.EXPOSE_HEADERS),
                max_age=Duration.seconds(cors.MAX_AGE_SECONDS),
            )
            if cors_origins
            else None,
        )
        self.api.add_routes(
            path="/{proxy+}",
            methods=[apigwv2.HttpMethod.ANY],
            integration=integrations.HttpLambdaIntegration(
                "ApiFunction", handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
            ),
        )
        # Routes a caller cannot hold a bearer token for (an LMS's signed LTI launch): no JWT
        # authorizer, their own function, which authenticates the request itself.
        public_integrations: dict[str, integrations.HttpLambdaIntegration] = {}
        for route, function in (public_routes or {}).items():
            if route.target not in public_integrations:  # one integration per function, shared by its routes
                public_integrations[route.target] = integrations.HttpLambdaIntegration(
                    f"{route.target}-integration",
                    function,
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                )
            created = self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=public_integrations[route.target],
                authorizer=apigwv2.HttpNoneAuthorizer(),
            )
            for found in created:
                acknowledge(found, "AwsSolutions-APIG4", route.reason)
        # Routes whose callers hold another issuer's tokens (an Open edX LMS's JWTs, in a header or
        # in cookies): a Lambda authorizer instead of the JWT authorizer.
        for spec, (authorizer_function, function) in (authorized_prefixes or {}).items():
            self.api.add_routes(
                path=spec.path,
                methods=[apigwv2.HttpMethod.ANY],
                integration=integrations.HttpLambdaIntegration(
                    f"{spec.authorizer}-routes",
                    function,
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                ),
                authorizer=authorizers.HttpLambdaAuthorizer(
                    f"{spec.authorizer}-authorizer",
                    authorizer_function,
                    response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
                    # API Gateway caches an authorizer's answer only by identity sources that every
                    # request carries, and these callers send the token either in the Authorization
                    # header or in cookies, never both: the gateway cache stays off and the
                    # authorizer caches instead (the LMS's key set, and each verified token until it
                    # expires, for the life of a warm function).
                    results_cache_ttl=Duration.seconds(0),
                    identity_source=[],
                ),
            )
        if cors_origins:
            # A greedy ANY route with an authorizer would take browsers' preflights (sent without
            # credentials) and refuse them: OPTIONS routes without one, answered 204 by the api
            # function, to which API Gateway adds the configured CORS headers.
            preflight = integrations.HttpLambdaIntegration(
                "PreflightIntegration",
                handler,
                payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            )
            paths = ["/{proxy+}", *(spec.path for spec in (authorized_prefixes or {}))]
            for path in paths:
                for found in self.api.add_routes(
                    path=path,
                    methods=[apigwv2.HttpMethod.OPTIONS],
                    integration=preflight,
                    authorizer=apigwv2.HttpNoneAuthorizer(),
                ):
                    acknowledge(
                        found,
                        "AwsSolutions-APIG4",
                        "CORS preflight: browsers send it without credentials; the function answers "
                        "204 with no data.",
                    )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=THROTTLE,
            access_log_settings=AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
        )

    @property
    def url(self) -> str:
        """The API's base URL (default stage)."""
        url = self.stage.url
        assert url is not None
        return url
