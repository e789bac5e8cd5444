"""Errors of the environment that the command line reports as one line.

Defined apart from the modules that raise them: pytest's doctest collection
may execute such a module a second time, and a second class of the same name
would escape the command line's ``except``.
"""

__all__ = ["LetorFormatError"]


class LetorFormatError(ValueError):
    """A LETOR / SVMlight data file or group file that cannot be read.

    The message is one line, ``path:line: what is wrong``, with a 1-based
    line number, so that editors and terminals can jump to the line; or
    ``path: what is wrong`` for a problem of the whole file (not readable,
    a truncated or corrupt compressed file).

    Examples
    --------
    >>> from simulator import LetorFormatError
    >>> issubclass(LetorFormatError, ValueError)
    True
    """
