"""``itask``: run the local stack and drive the service, locally or on any deployment (``--api``)."""

from itask.cli.app import app, main

__all__ = ["app", "main"]
