"""The embedded local stack (DESIGN §8): moto for AWS, SQLite, and a gateway that runs the real handlers.

Never deployed: nothing under `local/` is referenced by template.yaml.
"""
