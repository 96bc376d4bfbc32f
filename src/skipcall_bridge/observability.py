"""The one Logger, Metrics and Tracer of the process (Powertools), shared by every module."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "skipcall-bridge"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace="SkipcallBridge")
tracer = Tracer(service=SERVICE)
