from enhancer.tasks.jobs import callback as handler

__all__ = ["handler"]
