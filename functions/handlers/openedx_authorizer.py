"""Lambda authorizer of the ``/api/instructor/v2/`` routes: Open edX JWTs (header or split cookies).

API Gateway (HTTP API, payload 2.0, simple responses) calls it before the api function. It always
answers ``isAuthorized: true`` with a context saying who the caller is, or why the token was refused:
a refused simple response would be API Gateway's bare 403, where Open edX clients expect upstream's
401 ``{"detail": ...}``; the api function answers that 401 from the context (it serves these routes
only with an identity in it). CSRF is checked by the function too, since the gateway may cache this
answer and the CSRF header is not part of its cache key.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import Unauthorized
from functions.logic import openedx_auth
from functions.observability import logger
from functions.settings import get_settings


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        identity = openedx_auth.authenticate(get_settings(), event)
    except Unauthorized as error:
        logger.info("Open edX token refused", extra={"error": error.message})
        return {"isAuthorized": True, "context": {"refused": error.message}}
    logger.info("Open edX caller", extra={"subject": identity.subject, "via": identity.via})
    return {"isAuthorized": True, "context": identity.context()}
