"""Checks of scalar arguments shared by the simulator and the policies, with one-line messages.

Each check returns the value in its canonical type or raises
:class:`ValueError` naming the parameter, what is allowed and what was given.
(The configuration has its own messages, naming key paths of TOML values;
``analysis`` and ``ltr`` import nothing from the simulator and keep theirs.)

Examples
--------
>>> from simulator._validation import check_int
>>> check_int(3, "k", 1)
3
>>> check_int(True, "k", 1)
Traceback (most recent call last):
...
ValueError: k must be an integer >= 1, got True
"""

import numbers

import numpy as np


def describe(value):
    """Short description of a given value for error messages (arrays by shape and dtype)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def check_int(value, name, low, high=None, high_name=None):
    """An integer (not a bool) in [low, high], as int.

    Parameters
    ----------
    value : object
    name : str
        The parameter's name in the message.
    low : int
    high : int, optional
        No upper bound by default.
    high_name : str, optional
        How the message names ``high`` (e.g. ``"k=10"``).
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if ok and value >= low and (high is None or value <= high):
        return int(value)
    if high is None:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    raise ValueError(f"{name} must be an integer in [{low}, {high_name or high}], got {value!r}")


def check_seed(seed, name="seed"):
    """A seed for :func:`numpy.random.default_rng`: a non-negative integer, as int."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)
