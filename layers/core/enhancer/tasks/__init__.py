"""Step Functions tasks and scheduled jobs: each a handler built by `enhancer.entrypoints` around a service call,
with its input model. `jobs.py`: the enhance-job workflow's tasks and the sweeper."""
