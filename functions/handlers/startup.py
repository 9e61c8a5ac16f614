"""What a function checks before it does anything: that its secrets are there (issue #8.9)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from functions.catalog import FUNCTIONS
from functions.dal.secrets import SecretStore
from functions.settings import get_settings

Handler = TypeVar("Handler", bound=Callable[..., Any])


def refuses_to_start_without_secrets(handler: Handler) -> Handler:
    """Read the secrets the catalog lists for this handler before each invocation (cached), so a
    function without them fails at once with a ``ConfigurationError`` naming the setting."""
    path = f"{handler.__module__}.{handler.__name__}"
    names = next((spec.secrets for spec in FUNCTIONS.values() if spec.handler == path), ())
    if not names:
        return handler

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        SecretStore(get_settings()).require(names)
        return handler(event, context)

    return wrapper  # type: ignore[return-value]
