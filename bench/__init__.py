"""`make bench`: performance figures compared as ratios measured in one run (docs/architecture.md §10), never as
timed tests.

Each section is a module with `NAME`, `TITLE` and `run(ctx) -> SectionResult` (see `bench.sections`);
`python -m bench` runs them, prints their tables, writes `bench/results/<name>.json` and renders
`bench/README.md` from every results file present.
"""
