"""The AI image enhancer backend: domain, services, adapters and the HTTP pipeline shared by every function.

In the Lambda runtime (AWS_LAMBDA_RUNTIME_API set), garbage collection waits while the function initialises:
what init creates — modules, classes, the app and its clients — lives as long as the process, so collecting
during init only scans it (about 2 ms of a function's init: docs/architecture.md §10). `end_of_init()`, run by
every handler on its first event (`entrypoints`), freezes those objects, so no later collection scans them
either, and turns collection back on.
"""

import gc
import os

_collection_deferred = bool(os.environ.get("AWS_LAMBDA_RUNTIME_API")) and gc.isenabled()
if _collection_deferred:
    gc.disable()


def end_of_init() -> None:
    """Collection back on, with what init created kept out of it (no-op outside Lambda and after the first call)."""
    global _collection_deferred
    if _collection_deferred:
        _collection_deferred = False
        gc.freeze()
        gc.enable()
