"""Powertools Logger and Metrics, one of each per process, shared by every module."""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "enhancer"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Enhancer"))

# A request that counted nothing is normal here; Powertools would warn on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")
