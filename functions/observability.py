"""One place for logging, tracing and metrics (Powertools)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Handlers that publish no business metric on a given call are fine; don't warn on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SERVICE = "instructor-tasks"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="InstructorTasks", service=SERVICE)
