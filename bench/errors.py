"""User-facing errors.

Every problem caused by the user's input (a missing file, a bad option, a wrong
sample rate) is raised as :class:`BenchError`; the CLI prints its message as one
line and exits with status 2 instead of showing a traceback.
"""


class BenchError(Exception):
    """An error whose message is complete and fit to show the user as one line."""


class UnavailableError(BenchError):
    """A component (metric, system) cannot run here, e.g. its weights are absent."""
