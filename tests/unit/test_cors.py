"""The API's CORS policy (functions/cors.py), as the local adapter and the api function apply it."""

from functions import cors
from functions.handlers.api import _preflight

MFE = "https://apps.lms.example.com"
ALLOWED = cors.allowed_origins(f" {MFE}/ ,, https://other.example.com")


def test_origins_setting_is_parsed_without_slashes_or_blanks():
    assert ALLOWED == (MFE, "https://other.example.com")
    assert cors.allowed_origins("") == ()


def test_a_preflight_from_an_allowed_origin_gets_credentials_methods_and_the_csrf_header():
    request = {"origin": MFE, "access-control-request-method": "POST"}
    assert cors.is_preflight("OPTIONS", request)
    answer = cors.preflight_headers(request, ALLOWED)
    assert answer["access-control-allow-origin"] == MFE  # the origin itself: never "*" with credentials
    assert answer["access-control-allow-credentials"] == "true"
    assert "POST" in answer["access-control-allow-methods"].split(",")
    assert {"x-csrftoken", "use-jwt-cookie", "content-type"} <= set(
        answer["access-control-allow-headers"].split(",")
    )
    assert answer["vary"] == "Origin"


def test_other_origins_and_plain_options_get_nothing():
    assert cors.preflight_headers({"origin": "https://evil.example.com"}, ALLOWED) == {}
    assert cors.response_headers({"origin": "https://evil.example.com"}, ALLOWED) == {}
    assert cors.response_headers({}, ALLOWED) == {}
    assert not cors.is_preflight("OPTIONS", {"origin": MFE})  # no Access-Control-Request-Method
    assert not cors.is_preflight("GET", {"origin": MFE, "access-control-request-method": "GET"})


def test_an_answer_to_an_allowed_origin_carries_the_origin_and_credentials():
    answer = cors.response_headers({"origin": MFE}, ALLOWED)
    assert answer["access-control-allow-origin"] == MFE
    assert answer["access-control-allow-credentials"] == "true"


def test_the_api_function_answers_a_preflight_204_before_any_token_check(monkeypatch):
    monkeypatch.setenv("ITASK_OPENEDX_CSRF_TRUSTED_ORIGINS", MFE)
    event = {
        "rawPath": "/api/instructor/v2/courses/course-v1:A+B+C/reports",
        "requestContext": {"http": {"method": "OPTIONS"}},  # no authorizer context at all
        "headers": {"Origin": MFE, "Access-Control-Request-Method": "GET"},
    }
    answer = _preflight(event)
    assert answer is not None and answer["statusCode"] == 204 and answer["body"] == ""
    assert answer["headers"]["access-control-allow-origin"] == MFE
    assert _preflight({**event, "requestContext": {"http": {"method": "GET"}}}) is None
