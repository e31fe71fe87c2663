"""python -m bench [--only SECTION …] [--runs N] [--strict] [--no-write]"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import time

from bench.common import ROOT, Context, machine
from bench.report import text_table, write_json, write_readme
from bench.sections import SECTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="Performance budgets (docs/architecture.md §10).")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section (repeatable)")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per target; the best is kept (7)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a section misses its budget")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results and README alone")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    ctx = Context(runs=args.runs)
    meta = {"date": datetime.date.today().isoformat(), "machine": machine()}
    passed = True
    try:
        for name in args.only or list(SECTIONS):
            section = SECTIONS[name]
            print(f"== {section.TITLE} ({name}) …", flush=True)
            started = time.perf_counter()
            result = section.run(ctx)
            print(f"   {result.method}\n")
            print(text_table(result.headers, result.rows))
            for note in result.notes:
                print(f"  - {note}")
            print(f"   {result.verdict().replace('**', '')}; {time.perf_counter() - started:.0f} s\n")
            passed &= result.passed
            if not args.no_write:
                print(f"   wrote {write_json(result, meta).relative_to(ROOT)}")
        if not args.no_write:
            print(f"   wrote {write_readme().relative_to(ROOT)}")
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
