from enhancer.tasks.jobs import sweep as handler

__all__ = ["handler"]
