"""Errors of the application layer and the exit codes the CLI gives them."""

import warnings

__all__ = ["ConfigError", "ExecutorError", "TaskFailures", "UsageError", "one_line_warnings"]


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the key path."""


class ExecutorError(RuntimeError):
    """A backend that cannot start (no scheduler at the address, dask not installed)."""


class UsageError(Exception):
    """Bad input from the command line or a bad output folder: one line on stderr, exit code 2."""


class TaskFailures(RuntimeError):
    """Some tasks of a run raised: one line on stderr, exit code 1, no merged outputs."""


def _format_warning(message, category, filename, lineno, line=None):
    return f"clickloop: warning: {category.__name__}: {message}\n"


def one_line_warnings():
    """Print warnings as one line naming their category, without the source file and line (this process).

    Returns the previous ``warnings.formatwarning``, for a caller that runs
    in someone else's process (``clickloop.cli.main`` called in-process) to
    put it back.
    """
    previous, warnings.formatwarning = warnings.formatwarning, _format_warning
    return previous
