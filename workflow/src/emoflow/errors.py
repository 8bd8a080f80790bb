"""Errors that carry the offending file and a plain-language problem."""


class DataError(Exception):
    """Bad input data. The message always names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class QCError(Exception):
    """A quality-control threshold was exceeded (too many unusable segments)."""
