"""`python -m tests.fuzz --examples 200`: a local stack of its own, then schemathesis with more examples."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.fuzz import STACK_ENVIRONMENT, run
from tests.local_stack import running_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--examples", type=int, default=200, help="examples per operation")
    parser.add_argument("--url", help="a running stack started with GATEWAY_CLIENT_IP_HEADER (else one of its own)")
    parser.add_argument("--no-stateful", action="store_true")
    parser.add_argument("--operation", action="append", default=[], help="e.g. 'GET /api/ai-image/usage'")
    args = parser.parse_args(argv)
    if args.url:
        summary = run(args.url, examples=args.examples, stateful=not args.no_stateful,
                      operations=tuple(args.operation))
    else:
        with tempfile.TemporaryDirectory() as workdir, running_stack(Path(workdir),
                                                                      **STACK_ENVIRONMENT) as state:
            summary = run(state["url"], examples=args.examples, stateful=not args.no_stateful,
                          operations=tuple(args.operation))
    print("\n".join(summary.lines()))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
