"""Run in a fresh interpreter by the bench: import one target, then print one JSON line and exit.

    probe.py floor                      the unavoidable floor (docs/architecture.md §10)
    probe.py floor-no-boto3             the same without boto3 (functions import it on first use)
    probe.py handler <code_dir> <mod.attr>  a function's handler, as the Lambda runtime loads it
    probe.py handler-after-floor <code_dir> <mod.attr>  the floor without boto3 first, then the handler, timed
                                        on its own: what the function adds to that floor, without the noise
                                        of two separate interpreters' start-up

Only built-in modules are touched before the clock starts. BENCH_WATCH (comma-separated module names)
says which modules to report as present in sys.modules afterwards.
"""

import sys
import time

del sys.path[0]  # this script's directory (bench/) must not shadow anything
T0 = time.perf_counter()


def _floor(with_boto3: bool) -> object:
    if with_boto3:
        import boto3  # noqa: F401 - the runtime's SDK, part of the floor
    from aws_lambda_powertools import Logger, Metrics
    from fastapi import FastAPI
    from mangum import Mangum

    Logger(service="floor")
    Metrics(namespace="Floor")
    return Mangum(FastAPI(), lifespan="off")


def _handler(code_dir: str, handler: str) -> object:
    import importlib

    sys.path.insert(0, code_dir)  # the runtime puts the function's code (/var/task) first
    module_name, attribute = handler.rsplit(".", 1)
    target = getattr(importlib.import_module(module_name), attribute)
    if not callable(target):
        raise TypeError(f"{handler} is not callable")
    return target


def main() -> None:
    mode = sys.argv[1]
    beyond_ms = None
    if mode == "handler-after-floor":
        _floor(with_boto3=False)
        started = time.perf_counter()
        target = _handler(sys.argv[2], sys.argv[3])
        beyond_ms = (time.perf_counter() - started) * 1000
    else:
        target = _handler(sys.argv[2], sys.argv[3]) if mode == "handler" else _floor(with_boto3=mode == "floor")
    elapsed_ms = (time.perf_counter() - T0) * 1000
    import json
    import os

    watch = [name for name in os.environ.get("BENCH_WATCH", "").split(",") if name]
    sys.stdout.write(json.dumps({
        "import_ms": elapsed_ms,
        "beyond_ms": beyond_ms,
        "present": [name for name in watch if name in sys.modules],
        "modules": len(sys.modules),
        "target": type(target).__name__,
    }) + "\n")
    sys.stdout.flush()


main()
