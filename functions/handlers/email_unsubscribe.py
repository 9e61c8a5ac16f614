"""The public unsubscribe route: no bearer token; the signed link is the credential.

Its own small function (API Gateway routes only ``/email/unsubscribe/...`` here, without the JWT
authorizer). ``GET`` shows a page with a button (mail scanners follow links: a GET must change
nothing); ``POST`` records the opt-out: the button's form, and the RFC 8058 one-click POST a mailbox
provider sends (``List-Unsubscribe=One-Click``). A forged or altered token is refused (400).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError
from functions.handlers.startup import refuses_to_start_without_secrets
from functions.logic.email import service
from functions.logic.email.render import render_page
from functions.logic.registry import RunContext
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

app = APIGatewayHttpResolver()
HTML = "text/html; charset=utf-8"
# Pages that must never be cached or framed by another site.
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def _page(status: int, title: str, text: str, action: str | None = None, button: str = "") -> Response:
    return Response(
        status_code=status, content_type=HTML, body=render_page(title, text, action, button), headers=_HEADERS
    )


@app.get("/email/unsubscribe/<token>")
def get_unsubscribe(token: str) -> Response:
    settings = get_settings()
    who = service.read_unsubscribe(settings, unquote(token))
    context = RunContext.create(settings)
    course = context.courses.get_course(who.course_id)
    title = course.display_name if course else who.course_id
    return _page(
        200,
        "Unsubscribe",
        f"Stop receiving email from the staff of {title} ({who.course_id})?",
        action=app.current_event.raw_event.get("rawPath") or app.current_event.path,
        button="Unsubscribe",
    )


@app.post("/email/unsubscribe/<token>")
def post_unsubscribe(token: str) -> Response:
    body = app.current_event.decoded_body or ""
    source = "one-click" if "List-Unsubscribe=One-Click" in body else "link"
    who, created = service.opt_out(RunContext.create(get_settings()), unquote(token), source)
    text = (
        f"You will no longer receive email from the staff of {who.course_id}."
        if created
        else f"You had already unsubscribed from the email of {who.course_id}."
    )
    return _page(200, "Unsubscribed", text)


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    logger.info("unsubscribe refused", extra={"status": error.status, "code": error.code})
    return _page(error.status, "Unsubscribe", error.message)


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return _page(404, "Not found", "There is nothing here.")


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return _page(500, "Unsubscribe", "Something went wrong; please try again later.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
@refuses_to_start_without_secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
