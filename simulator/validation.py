"""Argument checks shared by every package, with one-line messages.

Each check returns the value in its canonical type or raises
:class:`ValueError` naming the parameter, what is allowed and what was given.
The simulator, the policies, the learners, the analysis and the experiment
configuration all check through this one module, so that one kind of bad
input gets one message (and one rule: a query holds at least one document).

Arrays a Numba kernel only reads are handed to it read-only (:func:`read_only`,
a view, no copy): Numba compiles a kernel once per argument type and an
array's type includes whether it is writeable, so a kernel called with a
frozen dataset's array and with a caller's fresh one would compile twice
(one to six seconds for a parallel kernel).

Examples
--------
>>> from simulator.validation import check_int, check_query_boundaries
>>> check_int(3, "k", 1)
3
>>> check_int(True, "k", 1)
Traceback (most recent call last):
...
ValueError: k must be an integer >= 1, got bool True
>>> check_query_boundaries([0, 2, 2, 5], n_docs=5)
Traceback (most recent call last):
...
ValueError: query_boundaries must be strictly increasing (no empty query), got 2 followed by 2 at index 1
"""

import math
import numbers

import numpy as np

__all__ = ["check_int", "check_nonnegative", "check_probability", "check_query_boundaries", "check_real_array",
           "check_seed", "describe", "display_indices", "read_only"]


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
    given = repr(value) if ok else describe(value)  # a wrong type is named, a wrong value shown
    if high is None:
        raise ValueError(f"{name} must be an integer >= {low}, got {given}")
    raise ValueError(f"{name} must be an integer in [{low}, {high_name or high}], got {given}")


def check_seed(seed, name="seed"):
    """A seed for :func:`numpy.random.default_rng`: a non-negative integer, as int."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_probability(value, name):
    """A probability: a finite real number in [0, 1], as float.

    Examples
    --------
    >>> check_probability(1.5, "epsilon")
    Traceback (most recent call last):
    ...
    ValueError: epsilon must be a probability in [0, 1], got 1.5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a probability in [0, 1], got {describe(value)}")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value


def check_nonnegative(value, name):
    """A finite real number >= 0 (not a bool), as float.

    Examples
    --------
    >>> check_nonnegative(0, "eta")
    0.0
    >>> check_nonnegative("1", "eta")
    Traceback (most recent call last):
    ...
    ValueError: eta must be a finite number >= 0, got str '1'
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number >= 0, got {describe(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the range of float
        number = math.inf
    if not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {number!r}")
    return number


def check_real_array(values, name, expected="an array of real numbers"):
    """Real numbers (not strings, None or a ragged list), as a new float64 ndarray of their shape.

    Parameters
    ----------
    values : array-like
    name : str
        The parameter's name in the message.
    expected : str, default="an array of real numbers"
        What the message says ``values`` must be.

    Examples
    --------
    >>> check_real_array([1, 0.5], "theta").tolist()
    [1.0, 0.5]
    >>> check_real_array(["1", "0.5"], "theta")
    Traceback (most recent call last):
    ...
    ValueError: theta must be an array of real numbers, got list ['1', '0.5']
    """
    try:
        given = np.asarray(values)
    except (TypeError, ValueError):  # a ragged list
        given = None
    if given is None or given.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be {expected}, got {describe(values)}")
    return np.array(given, dtype=np.float64)


def check_query_boundaries(query_boundaries, n_docs, length_of="n_docs"):
    """CSR offsets of queries as contiguous read-only int64: 0 = b_0 < b_1 < ... < b_q = n_docs.

    The one rule of every package: at least one query, and every query holds
    at least one document (strictly increasing offsets).

    Parameters
    ----------
    query_boundaries : array-like of int, shape (n_queries + 1,)
    n_docs : int
        The number of documents the offsets must end at.
    length_of : str, default="n_docs"
        What ``n_docs`` is the length of, for the message (``"scores"``).
    """
    given = np.asarray(query_boundaries)
    if given.ndim != 1:
        raise ValueError(f"query_boundaries must be 1-dimensional, got {describe(given)}")
    if given.shape[0] < 2:
        raise ValueError("query_boundaries must have n_queries + 1 >= 2 entries (at least one query), "
                         f"got {given.tolist()!r}")
    if given.dtype.kind not in "iu":
        raise ValueError(f"query_boundaries must be an integer array, got {describe(given)}")
    boundaries = np.ascontiguousarray(given, dtype=np.int64)
    if boundaries[0] != 0:
        raise ValueError(f"query_boundaries must start at 0, got {int(boundaries[0])}")
    if boundaries[-1] != n_docs:
        where = f"n_docs={n_docs}" if length_of == "n_docs" else f"n_docs={n_docs} (the length of {length_of})"
        raise ValueError(f"query_boundaries must end at {where}, got {int(boundaries[-1])}")
    steps = np.diff(boundaries)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError("query_boundaries must be strictly increasing (no empty query), got "
                         f"{int(boundaries[i])} followed by {int(boundaries[i + 1])} at index {i}")
    return read_only(boundaries)


def read_only(array):
    """``array`` itself if it is read-only, else a read-only view of it (the caller's array keeps its flags).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(3)
    >>> read_only(a).flags.writeable, a.flags.writeable
    (False, True)
    """
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def display_indices(displayed, n_docs, holder=None):
    """Displayed lists checked and made what the kernels read: contiguous, read-only int32.

    ``displayed`` holds document indices in [0, n_docs) and -1 for an empty
    slot.  The policies write int32 lists; other integer arrays are converted
    once here (after the range check), so that every click kernel is compiled
    for one index type (int64 only where ``n_docs`` does not fit in int32).

    Parameters
    ----------
    displayed : array-like of int
    n_docs : int
    holder : str, optional
        What holds the documents, for the message of an index out of range
        (default ``"there are only {n_docs} documents"``).

    Raises
    ------
    ValueError
        For a non-integer array, an index >= ``n_docs`` or one below -1.

    Examples
    --------
    >>> import numpy as np
    >>> display_indices(np.array([[3, -1]]), n_docs=4).dtype
    dtype('int32')
    >>> display_indices(np.array([[3, -2]]), n_docs=4)
    Traceback (most recent call last):
    ValueError: displayed holds -2; a document index is >= 0 and only -1 marks an empty slot
    """
    displayed = np.asarray(displayed)
    if not np.issubdtype(displayed.dtype, np.integer):
        raise ValueError(f"displayed must hold integer document indices, got dtype {displayed.dtype}")
    if displayed.size and displayed.max() >= n_docs:
        holder = f"there are only {n_docs} documents" if holder is None else holder
        raise ValueError(f"displayed refers to document {displayed.max()} but {holder}")
    if displayed.size and displayed.min() < -1:
        raise ValueError(f"displayed holds {displayed.min()}; a document index is >= 0 and only -1 marks an "
                         "empty slot")
    dtype = np.int32 if n_docs <= np.iinfo(np.int32).max else np.int64
    return read_only(np.ascontiguousarray(displayed, dtype=dtype))
