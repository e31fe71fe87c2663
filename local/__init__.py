"""The embedded local stack (docs/architecture.md §9): moto for AWS, SQLite, and a gateway that runs the real handlers.

Never deployed: nothing under `local/` is referenced by template.yaml.
"""
