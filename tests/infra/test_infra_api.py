"""The HTTP API: JWT authorizer on every route, catch-all route to the api function, logged stage."""

from __future__ import annotations

import json

from infra_support import Synthesized

from functions import cors


def _only(synthesized: Synthesized, resource_type: str) -> tuple[str, dict]:
    found = synthesized.of_type(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def _authorizer(synthesized: Synthesized, kind: str) -> tuple[str, dict]:
    found = {
        logical_id: resource
        for logical_id, resource in synthesized.of_type("AWS::ApiGatewayV2::Authorizer").items()
        if resource["Properties"]["AuthorizerType"] == kind
    }
    assert len(found) == 1, f"expected one {kind} authorizer, found {sorted(found)}"
    return next(iter(found.items()))


def test_jwt_authorizer_reads_issuer_and_audience_from_context(synthesized: Synthesized) -> None:
    # Given the API's JWT authorizer
    _, authorizer = _authorizer(synthesized, "JWT")
    properties = authorizer["Properties"]
    # Then it validates JWTs from the Authorization header against the cdk.json issuer and audience
    assert properties["AuthorizerType"] == "JWT"
    assert properties["IdentitySource"] == ["$request.header.Authorization"]
    assert properties["JwtConfiguration"] == {
        "Issuer": synthesized.context["jwtIssuer"],
        "Audience": [synthesized.context["jwtAudience"]],
    }


# Routes without the JWT authorizer, and the function each one reaches: the LTI launch (signed by the
# LMS, see test_infra_lti), the certificate verification (an unguessable id is the key) and the
# unsubscribe links (an HMAC-signed token) and the dashboard's pages (a session cookie the web
# function verifies).
PUBLIC = {
    "POST /lti/launch/{course_id}/{usage_id}": "lti-launch",
    "GET /certificates/{verify_uuid}": "certificate-verify",
    "GET /certificates/{verify_uuid}/view": "certificate-verify",
    "GET /email/unsubscribe/{token}": "email-unsubscribe",
    "POST /email/unsubscribe/{token}": "email-unsubscribe",
    "GET /": "web",
    "GET /web": "web",
    "ANY /web/{proxy+}": "web",
}
# Browsers' CORS preflights carry no credentials: routes without an authorizer (the greedy ANY routes
# would take them otherwise), answered 204 by the api function; API Gateway adds the CORS headers.
PREFLIGHT = {
    "OPTIONS /{proxy+}": "api",
    "OPTIONS /api/instructor/v2/{proxy+}": "api",
}


def test_every_route_but_the_public_ones_is_authorized_by_the_jwt_authorizer(
    synthesized: Synthesized,
) -> None:
    # Given the API's routes and its authorizers
    authorizer_id, _ = _authorizer(synthesized, "JWT")
    openedx_id, _ = _authorizer(synthesized, "REQUEST")
    routes = {
        route["Properties"]["RouteKey"]: route
        for route in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
    }
    # Then there is the catch-all route, the public ones, and Open edX's API behind the Lambda authorizer
    assert sorted(routes) == sorted(["ANY /{proxy+}", "ANY /api/instructor/v2/{proxy+}", *PUBLIC, *PREFLIGHT])
    openedx = routes.pop("ANY /api/instructor/v2/{proxy+}")
    assert openedx["Properties"]["AuthorizationType"] == "CUSTOM"
    assert openedx["Properties"]["AuthorizerId"] == {"Ref": openedx_id}
    for key, target in {**PUBLIC, **PREFLIGHT}.items():
        route = routes.pop(key)
        assert route["Properties"]["AuthorizationType"] == "NONE", key
        integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        function = synthesized.logical_id(synthesized.stack.functions[target])
        assert synthesized.resources[integration_id]["Properties"]["IntegrationUri"] == {
            "Fn::GetAtt": [function, "Arn"]
        }, key
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}


def test_open_edx_routes_have_a_lambda_authorizer_trusting_the_configured_lms(
    synthesized: Synthesized,
) -> None:
    # Given the Lambda authorizer and its function
    _, authorizer = _authorizer(synthesized, "REQUEST")
    properties = authorizer["Properties"]
    function = synthesized.logical_id(synthesized.stack.functions["openedx-authorizer"])
    # Then it is a payload 2.0 simple-response authorizer invoking that function
    assert properties["AuthorizerPayloadFormatVersion"] == "2.0"
    assert properties["EnableSimpleResponses"] is True
    assert function in json.dumps(properties["AuthorizerUri"])
    # whose answer API Gateway never caches: a caller sends the header or the cookies, and a cache
    # key needs sources every request has (the function caches keys and verified tokens instead)
    assert properties["AuthorizerResultTtlInSeconds"] == 0
    assert not properties.get("IdentitySource")
    # API Gateway may invoke it, and it trusts the LMS named in the context
    invokers = [
        p["Properties"]["Principal"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert invokers == ["apigateway.amazonaws.com"]
    environment = synthesized.resources[function]["Properties"]["Environment"]["Variables"]
    assert environment["ITASK_OPENEDX_JWT_ISSUER"] == synthesized.context["openedxJwtIssuer"]
    assert environment["ITASK_OPENEDX_JWT_AUDIENCE"] == synthesized.context["openedxJwtAudience"]
    assert environment["ITASK_OPENEDX_JWKS_URL"] == synthesized.context["openedxJwksUrl"]
    assert "ITASK_OPENEDX_JWKS" not in environment  # empty in the context: left out


def test_catch_all_route_invokes_the_api_function_with_payload_v2(synthesized: Synthesized) -> None:
    # Given the integration behind the route
    [route] = [
        r
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == "ANY /{proxy+}"
    ]
    integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synthesized.resources[integration_id]
    # Then the route targets it, and it proxies to the api function with payload format 2.0
    assert route["Properties"]["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}
    api_function = synthesized.logical_id(synthesized.stack.functions["api"])
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [api_function, "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_api_gateway_may_invoke_the_api_function(synthesized: Synthesized) -> None:
    # Given the Lambda permissions of the api function
    api_function = synthesized.logical_id(synthesized.stack.functions["api"])
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [api_function, "Arn"]}
    ]
    # Then API Gateway is allowed to invoke it (from the catch-all route, Open edX's routes and the
    # two preflight routes)
    assert [p["Principal"] for p in permissions] == ["apigateway.amazonaws.com"] * 4


def test_default_stage_logs_access_and_throttles(synthesized: Synthesized) -> None:
    # Given the API's stage
    _, stage = _only(synthesized, "AWS::ApiGatewayV2::Stage")
    properties = stage["Properties"]
    # Then it is the auto-deployed $default stage, throttled, logging access to a log group of this stack
    assert properties["StageName"] == "$default"
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    destination = properties["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[destination]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.requestId" in properties["AccessLogSettings"]["Format"]


def test_api_url_is_an_output(synthesized: Synthesized) -> None:
    # Given the stack outputs
    outputs = synthesized.template.to_json()["Outputs"]
    # Then the API URL is one, built from the API id
    api_id, _ = _only(synthesized, "AWS::ApiGatewayV2::Api")
    assert {"Ref": api_id} in outputs["ApiUrl"]["Value"]["Fn::Join"][1]


def test_the_micro_frontend_origins_may_call_the_api_with_credentials(synthesized: Synthesized) -> None:
    # Given the HTTP API and the Open edX front ends cdk.json trusts (openedxCsrfTrustedOrigins)
    _, api = _only(synthesized, "AWS::ApiGatewayV2::Api")
    origins = [o.strip() for o in synthesized.context["openedxCsrfTrustedOrigins"].split(",") if o.strip()]
    assert origins == ["https://apps.lms.example.com"]
    # Then API Gateway answers their preflights and adds the headers, with the policy of functions/cors.py
    assert api["Properties"]["CorsConfiguration"] == {
        "AllowOrigins": origins,
        "AllowCredentials": True,
        "AllowMethods": list(cors.ALLOW_METHODS),
        "AllowHeaders": list(cors.ALLOW_HEADERS),
        "ExposeHeaders": list(cors.EXPOSE_HEADERS),
        "MaxAge": cors.MAX_AGE_SECONDS,
    }
