"""The published contract: docs/openapi.json is what the routes generate, holds every route, and is
a valid OpenAPI 3.1 document (regenerate it with `make openapi`)."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from functions.handlers.api import PUBLIC_APPS, app, openapi_document
from itask.openapi import DOCUMENT, render


def routes(*resolvers: object) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.openapi_path)
        for resolver in resolvers or (app, *PUBLIC_APPS)
        for route in resolver._static_routes + resolver._dynamic_routes  # type: ignore[attr-defined]
    }


PUBLIC = routes(*PUBLIC_APPS)


def test_the_committed_document_is_what_the_code_generates():
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is out of date: run `make openapi`"


def test_it_is_a_valid_openapi_3_1_document():
    document = json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_is_in_it_with_an_operation_id_and_its_refusals():
    document = openapi_document()
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == routes()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("operationId"), (method, path)
            answers = operation["responses"]
            if (method, path) in PUBLIC:  # no token needed, so never refused for one
                assert operation["security"] == [] and "401" not in answers, (method, path)
            elif path.startswith("/api/instructor/v2/"):  # the LMS's JWTs (its own schemes)
                assert operation["security"] == [{"openedxJwt": []}, {"openedxJwtCookies": []}]
                assert "401" in answers, (method, path)
            else:
                assert "security" not in operation and "401" in answers, (method, path)
            assert "422" not in answers, (method, path)
            assert any(code.startswith("2") for code in answers), (method, path)
            ours = {"$ref": "#/components/schemas/ApiErrorBody"}
            gateway = {"$ref": "#/components/schemas/GatewayError"}
            for code, answer in answers.items():
                if code.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    # API Gateway refuses tokens (401) and oversized bodies (413) in its own shape
                    expected = {"anyOf": [ours, gateway]} if code in ("401", "413") else ours
                    if path.startswith("/api/instructor/v2/"):
                        # Open edX's routes: upstream's {"detail"} and {"error"}; the function answers 401
                        expected = {"$ref": "#/components/schemas/OpenedxError"}
                    assert {k: v for k, v in schema.items() if k != "title"} == expected, (method, path, code)


def test_every_route_needs_a_bearer_token_and_task_types_are_listed():
    document = openapi_document()
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    from functions.logic import registry

    task_type = document["components"]["schemas"]["SubmitRequest"]["properties"]["task_type"]
    assert task_type["enum"] == sorted(registry.all_types())


def test_open_edx_routes_take_the_lms_jwt_in_a_header_or_cookies():
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert (schemes["openedxJwt"]["in"], schemes["openedxJwt"]["name"]) == ("header", "Authorization")
    assert schemes["openedxJwtCookies"]["in"] == "cookie"
    v2 = {path: item for path, item in document["paths"].items() if path.startswith("/api/instructor/v2/")}
    assert set(v2) == {
        "/api/instructor/v2/courses/{course_id}/reports",
        "/api/instructor/v2/courses/{course_id}/reports/{report_type}/generate",
        "/api/instructor/v2/courses/{course_id}/instructor_tasks",
    }
    for item in v2.values():
        for operation in item.values():
            assert operation["security"] == [{"openedxJwt": []}, {"openedxJwtCookies": []}]
