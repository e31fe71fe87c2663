from enhancer.tasks.jobs import check, fail, finish, start

__all__ = ["check", "fail", "finish", "start"]
