"""In the Lambda runtime, garbage collection waits until the first event (layers/core/enhancer/__init__.py), and
what init created is frozen out of later collections; anywhere else collection is never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A scheduled handler is the smallest one to build and call; every kind ends init through entrypoints._observed.
CODE = """
import gc, json
import enhancer
after_import = gc.isenabled()
from enhancer.entrypoints import scheduled_handler
from local.events import LambdaContext

def work(event, context):
    return {"enabled_during_the_event": gc.isenabled()}

handler = scheduled_handler(work)
after_build = gc.isenabled()
frozen_before = gc.get_freeze_count()
first = handler({"id": "event-1"}, LambdaContext("Probe", "request-1"))
frozen_after_first = gc.get_freeze_count()
handler({"id": "event-2"}, LambdaContext("Probe", "request-2"))
print(json.dumps({"after_import": after_import, "after_build": after_build, "first": first,
                  "frozen_before": frozen_before, "frozen_after_first": frozen_after_first,
                  "frozen_after_second": gc.get_freeze_count(), "enabled_at_end": gc.isenabled()}))
"""


def run(**variables: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "AWS_LAMBDA_RUNTIME_API"}
    env.update(ENVIRONMENT="development", PYTHONPATH=f"{ROOT / 'layers' / 'core'}:{ROOT}", **variables)
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=env).stdout
    return json.loads(out.splitlines()[-1])


def test_in_the_lambda_runtime_collection_waits_for_the_first_event_and_init_is_frozen() -> None:
    seen = run(AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001")

    assert (seen["after_import"], seen["after_build"]) == (False, False)
    assert seen["first"] == {"enabled_during_the_event": True}
    assert seen["frozen_before"] == 0 and seen["frozen_after_first"] > 1000  # the modules and classes of init
    assert seen["frozen_after_second"] == seen["frozen_after_first"]  # frozen once, not at every event
    assert seen["enabled_at_end"] is True


def test_outside_the_lambda_runtime_collection_is_left_alone() -> None:
    seen = run()

    assert (seen["after_import"], seen["after_build"], seen["enabled_at_end"]) == (True, True, True)
    assert seen["first"] == {"enabled_during_the_event": True}
    assert seen["frozen_before"] == seen["frozen_after_second"] == 0
