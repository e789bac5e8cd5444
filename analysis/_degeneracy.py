"""Degeneracy and calibration metrics of a feedback loop, one round at a time.

The loop computes these per round and variant and writes them to
``metrics.csv``. Per-document arrays share the layout of
:mod:`analysis._metrics`: one entry per document (row) and CSR
``query_boundaries``, query ``q`` owning rows
``query_boundaries[q]:query_boundaries[q + 1]``.

Conventions
-----------
Exposure
    The summed true examination probability of each document over the
    sessions of one round (0 for a candidate never shown).
Per query, then mean
    Gini, entropy, Kendall's tau and RBO are computed per query and averaged
    with equal weight per query over the queries where they are defined (see
    each function); NaN if no query qualifies.
Calibration cells
    Click predictions are scored on aggregated cells, one per (document, rank)
    pair, with ``impressions`` n, ``clicks`` c and predicted click probability
    p. Every calibration metric is a mean per impression and equals the same
    metric on the expanded data (n rows with probability p, c of them
    clicked).
"""

import math
import numbers

import numpy as np
from numba import njit, prange

from simulator.validation import check_int as _check_int
from simulator.validation import describe as _describe
from simulator.validation import read_only

from ._metrics import _check_labels, _check_scores_and_boundaries

__all__ = [
    "brier",
    "coverage",
    "ece",
    "exposure_entropy",
    "exposure_gini",
    "kendall_tau",
    "log_loss",
    "propensity_error",
    "rbo",
    "rich_get_richer_slope",
]

# Predicted probabilities are clipped to [EPSILON, 1 - EPSILON] in the log loss.
EPSILON = 1e-12


# --------------------------------------------------------------------------
# Kernel: Kendall's tau-b per query (Knight's O(n log n) algorithm)
# --------------------------------------------------------------------------

@njit(cache=True)
def _count_swaps(values, buffer, start, stop):
    """Stable merge sort of values[start:stop] in place; returns the number of
    pairs i < j with values[i] > values[j] (strict inversions)."""
    swaps = 0
    width = 1
    n = stop - start
    while width < n:
        lo = start
        while lo < stop:
            mid = min(lo + width, stop)
            hi = min(lo + 2 * width, stop)
            i, j, out = lo, mid, lo
            while i < mid and j < hi:
                if values[j] < values[i]:
                    buffer[out] = values[j]
                    swaps += mid - i
                    j += 1
                else:
                    buffer[out] = values[i]
                    i += 1
                out += 1
            while i < mid:
                buffer[out] = values[i]
                i += 1
                out += 1
            while j < hi:
                buffer[out] = values[j]
                j += 1
                out += 1
            lo = hi
        for t in range(start, stop):
            values[t] = buffer[t]
        width *= 2
    return swaps


@njit(cache=True)
def _tied_pairs(values, start, stop):
    """Pairs of equal values in the sorted run values[start:stop]."""
    total = 0
    run = 1
    for t in range(start + 1, stop):
        if values[t] == values[t - 1]:
            run += 1
        else:
            total += run * (run - 1) // 2
            run = 1
    return total + run * (run - 1) // 2


@njit(cache=True, parallel=True)
def _order_within_queries(a, b, boundaries):
    """Positions that sort every query's documents by (a, b) ascending, queries kept in place.

    The same order as ``np.lexsort((b, a, query))`` (two stable sorts), one query per task.
    """
    order = np.empty(a.size, dtype=np.int64)
    for q in prange(boundaries.size - 1):
        lo, hi = boundaries[q], boundaries[q + 1]
        by_b = np.argsort(b[lo:hi], kind="mergesort")
        by_a = np.argsort(a[lo:hi][by_b], kind="mergesort")
        order[lo:hi] = lo + by_b[by_a]
    return order


@njit(cache=True, parallel=True)
def _kendall_tau_kernel(a_sorted, b_sorted, boundaries):
    """Tau-b per query; a_sorted, b_sorted are the scores of every query sorted
    by (a, b) ascending within the query. NaN where a or b is constant.

    tau_b = (n0 - n1 - n2 + n3 - 2 * swaps) / sqrt((n0 - n1) (n0 - n2)) with
    n0 all pairs, n1 pairs tied in a, n2 tied in b, n3 tied in both, and swaps
    the discordant pairs (inversions of b once sorted by a, then b).
    """
    n_queries = boundaries.size - 1
    out = np.full(n_queries, np.nan)
    b = b_sorted.copy()
    buffer = np.empty_like(b)
    for q in prange(n_queries):  # each query sorts and reads only its own rows of b and buffer
        start, stop = boundaries[q], boundaries[q + 1]
        n = stop - start
        if n < 2:
            continue
        n0 = n * (n - 1) // 2
        n1 = _tied_pairs(a_sorted, start, stop)
        n3 = 0
        run = 1
        for t in range(start + 1, stop):
            if a_sorted[t] == a_sorted[t - 1] and b[t] == b[t - 1]:
                run += 1
            else:
                n3 += run * (run - 1) // 2
                run = 1
        n3 += run * (run - 1) // 2
        swaps = _count_swaps(b, buffer, start, stop)
        n2 = _tied_pairs(b, start, stop)
        if n1 == n0 or n2 == n0:
            continue
        numerator = float(n0 - n1 - n2 + n3 - 2 * swaps)
        out[q] = numerator / math.sqrt(float(n0 - n1) * float(n0 - n2))
    return out


# --------------------------------------------------------------------------
# Kernels: exposure concentration per query
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _gini_kernel(exposure, boundaries):
    """Gini coefficient per query (NaN where the query's exposure is 0).

    Each query's exposures are sorted ascending and summed in that order, so
    the value does not depend on the number of threads.
    """
    n_queries = boundaries.size - 1
    out = np.full(n_queries, np.nan)
    for q in prange(n_queries):
        lo, hi = boundaries[q], boundaries[q + 1]
        n = hi - lo
        x = np.sort(exposure[lo:hi])
        weighted, total = 0.0, 0.0
        for i in range(n):
            weighted += (2 * (i + 1) - n - 1) * x[i]
            total += x[i]
        if total > 0:
            out[q] = weighted / (n * total)
    return out


@njit(cache=True, parallel=True)
def _entropy_kernel(exposure, boundaries):
    """Normalised entropy of the exposure shares per query (NaN for fewer than 2 candidates or exposure 0)."""
    n_queries = boundaries.size - 1
    out = np.full(n_queries, np.nan)
    for q in prange(n_queries):
        lo, hi = boundaries[q], boundaries[q + 1]
        total = 0.0
        for i in range(lo, hi):
            total += exposure[i]
        if hi - lo < 2 or not total > 0:
            continue
        entropy = 0.0
        for i in range(lo, hi):
            share = exposure[i] / total
            if share > 0:
                entropy -= share * np.log(share)
        # Rounding can leave a uniform query a hair above 1 or a one-hot query below 0.
        out[q] = min(max(entropy / np.log(hi - lo), 0.0), 1.0)
    return out


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _check_vector(values, name, low=None, high=None, length=None, length_of=None):
    """Finite float64 1-D array with every entry in [low, high], read-only."""
    given = np.asarray(values)
    if given.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got {_describe(given)}")
    if given.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got {_describe(given)}")
    if length is not None and given.shape[0] != length:
        raise ValueError(
            f"{name} must have the length of {length_of} ({length}), got {given.shape[0]}"
        )
    out = np.ascontiguousarray(given, dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name} must be finite, got {given[i].item()!r} at index {i}")
    _check_range(out, given, name, low, high)
    return read_only(out)


def _check_range(out, given, name, low, high):
    if low is not None and out.size and out.min() < low:
        i = int(np.argmin(out))
        raise ValueError(
            f"{name} must be {_bounds(low, high)}, got {given[i].item()!r} at index {i}"
        )
    if high is not None and out.size and out.max() > high:
        i = int(np.argmax(out))
        raise ValueError(
            f"{name} must be {_bounds(low, high)}, got {given[i].item()!r} at index {i}"
        )


def _bounds(low, high):
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"in [{low}, {high}]"


def _check_exposure(exposure, query_boundaries):
    exposure, boundaries = _check_scores_and_boundaries(exposure, query_boundaries, "exposure")
    _check_range(exposure, exposure, "exposure", 0, None)
    return exposure, boundaries


def _check_open_unit(value, name):
    """A real number strictly between 0 and 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in (0, 1), got {_describe(value)}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _mean_or_nan(values):
    return float(values.mean()) if values.size else math.nan


# --------------------------------------------------------------------------
# Exposure concentration
# --------------------------------------------------------------------------

def exposure_gini(exposure, query_boundaries):
    """Gini coefficient of the exposure of each query's candidates, mean over queries.

    For the exposures ``x_1 <= ... <= x_n`` of a query's ``n`` candidates
    (all of them, never-shown ones with 0),
    ``G = sum over i of (2 i - n - 1) x_i / (n * sum of x)``, which equals the
    mean absolute difference over all ordered pairs divided by twice the
    mean. Equal exposure gives 0; all exposure on one document gives
    ``(n - 1) / n``, the maximum for ``n`` candidates. Queries with total
    exposure 0 are skipped.

    Parameters
    ----------
    exposure : array-like of shape (n_docs,)
        Exposure of every document in one round, finite and >= 0.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.

    Returns
    -------
    float
        Mean Gini coefficient over queries with exposure > 0, in [0, 1); NaN
        if no query has exposure.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    One query with all exposure on one of 4 documents, one with equal exposure:
    (3/4 + 0) / 2.

    >>> from analysis._degeneracy import exposure_gini
    >>> exposure_gini([0.0, 2.0, 0.0, 0.0, 1.0, 1.0], [0, 4, 6])
    0.375
    """
    exposure, boundaries = _check_exposure(exposure, query_boundaries)
    values = _gini_kernel(exposure, boundaries)
    return _mean_or_nan(values[~np.isnan(values)])


def exposure_entropy(exposure, query_boundaries):
    """Normalised Shannon entropy of each query's exposure shares, mean over queries.

    With shares ``s_i = x_i / sum of x`` over a query's ``n`` candidates,
    ``H = -sum of s_i log s_i / log n`` (``0 log 0 = 0``): 1 when exposure is
    spread equally, 0 when it all falls on one document. Queries with fewer
    than 2 candidates or total exposure 0 are skipped.

    Parameters
    ----------
    exposure : array-like of shape (n_docs,)
        Exposure of every document in one round, finite and >= 0.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.

    Returns
    -------
    float
        Mean normalised entropy, in [0, 1]; NaN if no query qualifies.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Shares (1/2, 1/2, 0, 0): log 2 / log 4 = 1/2; the second query is uniform.

    >>> from analysis._degeneracy import exposure_entropy
    >>> exposure_entropy([1.0, 1.0, 0.0, 0.0, 3.0, 3.0], [0, 4, 6])
    0.75
    """
    exposure, boundaries = _check_exposure(exposure, query_boundaries)
    values = _entropy_kernel(exposure, boundaries)
    return _mean_or_nan(values[~np.isnan(values)])


def coverage(shown, labels, threshold=3):
    """Share of the relevant documents that were shown.

    Parameters
    ----------
    shown : array-like of bool of shape (n_docs,)
        Whether each document was shown in the top k (the caller accumulates
        it over rounds for the cumulative form, or passes one round).
        Integers 0 and 1 are accepted.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    threshold : int, default=3
        A document is relevant when its label is >= ``threshold`` (>= 1).

    Returns
    -------
    float
        Shown relevant documents over relevant documents, in [0, 1]; NaN if no
        document is relevant.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Three documents with label >= 3, two of them shown.

    >>> from analysis._degeneracy import coverage
    >>> coverage([True, False, True, True], [4, 3, 0, 3])
    0.6666666666666666
    >>> coverage([True, False], [0, 1])
    nan
    """
    threshold = _check_int(threshold, "threshold", 1)
    given = np.asarray(shown)
    if given.ndim != 1:
        raise ValueError(f"shown must be 1-dimensional, got {_describe(given)}")
    if given.dtype.kind != "b":
        if given.dtype.kind not in "iu" or (given.size and not np.isin(given, (0, 1)).all()):
            raise ValueError(
                f"shown must be a boolean array (or of 0 and 1), got {_describe(given)}"
            )
    shown = given.astype(bool)
    labels = _check_labels(labels, shown.size, reference="shown")
    relevant = labels >= threshold
    count = int(relevant.sum())
    return float(shown[relevant].sum() / count) if count else math.nan


# --------------------------------------------------------------------------
# Lock-in between consecutive rankers
# --------------------------------------------------------------------------

def kendall_tau(scores_a, scores_b, query_boundaries):
    """Kendall's tau-b between two score vectors within each query, mean over queries.

    ``tau_b = (C - D) / sqrt((n0 - n1) (n0 - n2))`` with C and D the
    concordant and discordant pairs of a query's candidates, ``n0`` all pairs
    and ``n1``, ``n2`` the pairs tied in ``scores_a`` and in ``scores_b``;
    the same as :func:`scipy.stats.kendalltau` (variant ``"b"``). Computed in
    O(n log n) per query (Knight 1966). Queries with fewer than 2 candidates
    or with constant scores in either vector (tau undefined) are skipped.
    Consecutive rankers that rank alike give a value near 1 (lock-in).

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_docs,)
        Finite scores of the two rankers for every document.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.

    Returns
    -------
    float
        Mean tau-b over the queries where it is defined, in [-1, 1]; NaN if
        there is none.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Query 1 ranked alike (1.0), query 2 reversed (-1.0), query 3 constant in
    ``scores_b`` (skipped).

    >>> from analysis._degeneracy import kendall_tau
    >>> a = [0.1, 0.5, 0.9, 3.0, 2.0, 1.0, 1.0, 2.0]
    >>> b = [1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 5.0, 5.0]
    >>> kendall_tau(a, b, [0, 3, 6, 8])
    0.0
    >>> round(kendall_tau([1, 2, 3, 4], [1, 3, 2, 4], [0, 4]), 4)
    0.6667
    """
    scores_a, boundaries = _check_scores_and_boundaries(scores_a, query_boundaries, "scores_a")
    scores_b = _check_vector(scores_b, "scores_b", length=scores_a.size, length_of="scores_a")
    order = _order_within_queries(scores_a, scores_b, boundaries)
    values = _kendall_tau_kernel(read_only(scores_a[order]), read_only(scores_b[order]), boundaries)
    return _mean_or_nan(values[~np.isnan(values)])


def _check_top_table(table, name):
    given = np.asarray(table)
    if given.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-dimensional table of shape (n_queries, k), got {_describe(given)}"
        )
    if given.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer document ids, got {_describe(given)}")
    if given.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (k >= 1), got {_describe(given)}")
    ids = np.ascontiguousarray(given, dtype=np.int64)
    if ids.size and ids.min() < -1:
        q, r = np.unravel_index(int(np.argmin(ids)), ids.shape)
        raise ValueError(
            f"{name} must hold document ids >= 0 or -1 for padding, got {int(ids[q, r])} "
            f"at [{q}, {r}]"
        )
    valid = ids >= 0
    gap = valid[:, 1:] & ~valid[:, :-1]
    if gap.any():
        q, r = np.argwhere(gap)[0]
        raise ValueError(
            f"{name} must pad with -1 at the end of a row only, got a document after "
            f"padding in row {q} at column {r + 1}"
        )
    return ids, valid.sum(axis=1)


def rbo(top_a, top_b, p=0.9):
    """Rank-biased overlap of two top-k tables, mean over queries (RBO_ext).

    The extrapolated RBO of Webber, Moffat and Zobel (2010, eq. 32) for two
    lists of the same depth ``k``:
    ``RBO_ext = X_k / k * p**k + (1 - p) / p * sum over d = 1..k of X_d / d * p**d``,
    where ``X_d`` is the number of documents the two lists share in their
    first ``d`` entries. It assumes that the agreement seen at depth ``k``
    continues below it, so identical lists give exactly 1 and disjoint lists 0.
    A query whose rows end in -1 padding (fewer than k candidates) uses its
    own depth; both tables must pad a query alike.

    Parameters
    ----------
    top_a, top_b : array-like of int of shape (n_queries, k)
        Document ids at ranks 1..k of every query (for example from
        :func:`analysis.top_k`), -1 padded at the end of a row, no id
        twice in a row.
    p : float, default=0.9
        Persistence in (0, 1): the weight of rank d is proportional to
        ``p**(d - 1)``; with ``p = 0.9`` the first 10 ranks carry about 86 %
        of the weight.

    Returns
    -------
    float
        Mean RBO_ext over queries with at least one document, in [0, 1]; NaN
        if every row is padding.

    Raises
    ------
    ValueError
        If an input is invalid or the tables pad a query differently; the
        message names the parameter.

    Examples
    --------
    Lists (1, 2) and (2, 1): X_1 = 0, X_2 = 2, so RBO_ext = 2/2 * 0.81 + 0.1/0.9 *
    (0 + 2/2 * 0.81) = 0.9.

    >>> from analysis._degeneracy import rbo
    >>> round(rbo([[1, 2]], [[2, 1]]), 12)
    0.9
    >>> rbo([[1, 2, 3], [4, 5, -1]], [[1, 2, 3], [6, 7, -1]])
    0.5
    """
    p = _check_open_unit(p, "p")
    a, depth_a = _check_top_table(top_a, "top_a")
    b, depth_b = _check_top_table(top_b, "top_b")
    if a.shape != b.shape:
        raise ValueError(
            f"top_a and top_b must have the same shape, got {a.shape} and {b.shape}"
        )
    if (depth_a != depth_b).any():
        q = int(np.flatnonzero(depth_a != depth_b)[0])
        raise ValueError(
            "top_a and top_b must hold the same number of documents in every row (-1 "
            f"padding alike), got {int(depth_a[q])} and {int(depth_b[q])} in row {q}"
        )
    n_queries, k = a.shape
    # Every document of both tables as (row, id, rank, table); after sorting by
    # (row, id), a document in both lists of a row is a pair of neighbours.
    row = np.repeat(np.arange(n_queries), k)
    rank = np.tile(np.arange(k), n_queries)
    ids = np.concatenate([a.ravel(), b.ravel()])
    rows = np.concatenate([row, row])
    ranks = np.concatenate([rank, rank])
    source = np.repeat([0, 1], a.size)
    kept = ids >= 0
    ids, rows, ranks, source = ids[kept], rows[kept], ranks[kept], source[kept]
    order = np.lexsort((source, ids, rows))
    ids, rows, ranks, source = ids[order], rows[order], ranks[order], source[order]
    same = (ids[1:] == ids[:-1]) & (rows[1:] == rows[:-1])
    twice = same & (source[1:] == source[:-1])
    if twice.any():
        i = int(np.flatnonzero(twice)[0])
        name = "top_a" if source[i] == 0 else "top_b"
        raise ValueError(
            f"{name} must not list a document twice in a row, got id {int(ids[i])} "
            f"twice in row {int(rows[i])}"
        )
    # A shared document enters the overlap at depth max(rank in a, rank in b).
    first_shared = np.maximum(ranks[:-1][same], ranks[1:][same])
    overlap = np.zeros((n_queries, k))
    np.add.at(overlap, (rows[:-1][same], first_shared), 1.0)
    overlap = np.cumsum(overlap, axis=1)  # X_d at column d - 1
    d = np.arange(1, k + 1)
    weight = np.where(d <= depth_a[:, None], p**d / d, 0.0)
    kept = depth_a > 0
    depth = np.maximum(depth_a, 1)
    last = overlap[np.arange(n_queries), depth - 1]
    values = last / depth * p**depth + (1 - p) / p * (overlap * weight).sum(axis=1)
    return _mean_or_nan(values[kept])


# --------------------------------------------------------------------------
# Feedback and propensity
# --------------------------------------------------------------------------

def rich_get_richer_slope(exposure, next_clicks):
    """OLS slope of log1p(next-round clicks) on log1p(this round's exposure).

    Over the documents with ``exposure > 0`` or ``next_clicks > 0`` (the rest
    carry no information about the feedback), the least-squares slope of
    ``y = log(1 + next_clicks)`` on ``x = log(1 + exposure)``:
    ``sum (x - mean x)(y - mean y) / sum (x - mean x)**2``. A slope above 1
    means that exposure buys more than proportional future clicks.

    Parameters
    ----------
    exposure : array-like of shape (n_docs,)
        Exposure of every document in round t, finite and >= 0.
    next_clicks : array-like of shape (n_docs,)
        Clicks of every document in round t + 1, finite and >= 0.

    Returns
    -------
    float
        The slope; NaN with fewer than 2 such documents or when their
        exposure does not vary.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Clicks proportional to exposure on the log1p scale (y = 2 x): slope 2.
    The last document (no exposure, no clicks) is ignored.

    >>> import numpy as np
    >>> from analysis._degeneracy import rich_get_richer_slope
    >>> exposure = np.expm1([1.0, 2.0, 3.0, 0.0])
    >>> next_clicks = np.expm1([2.0, 4.0, 6.0, 0.0])
    >>> round(rich_get_richer_slope(exposure, next_clicks), 12)
    2.0
    """
    exposure = _check_vector(exposure, "exposure", low=0)
    next_clicks = _check_vector(next_clicks, "next_clicks", low=0, length=exposure.size,
                                length_of="exposure")
    kept = (exposure > 0) | (next_clicks > 0)
    if kept.sum() < 2:
        return math.nan
    x = np.log1p(exposure[kept])
    y = np.log1p(next_clicks[kept])
    dx = x - x.mean()
    # np.sum, not ``@``: a BLAS dot product splits long sums across its threads, so
    # the last bits would depend on the BLAS thread count (Dask workers run one).
    variance = float(np.sum(dx * dx))
    if variance == 0.0:
        return math.nan
    return float(np.sum(dx * (y - y.mean()))) / variance


def propensity_error(estimated, true):
    """Mean relative error of the estimated position bias, relative to rank 1.

    ``mean over ranks k >= 2 of |e_k / e_1 - t_k / t_1| / (t_k / t_1)``: the
    scale of the propensities is not identified, so both curves are divided
    by their rank-1 value first.

    Parameters
    ----------
    estimated : array-like of shape (n_ranks,)
        Estimated examination probability (or any positive multiple) of
        ranks 1..n_ranks; finite, >= 0, and > 0 at rank 1.
    true : array-like of shape (n_ranks,)
        True examination probability of the same ranks, finite and > 0.

    Returns
    -------
    float
        The mean relative error, >= 0.

    Raises
    ------
    ValueError
        If an input is invalid (fewer than 2 ranks, a negative value, rank 1
        at 0); the message names the parameter.

    Examples
    --------
    Ratios 0.5 and 0.2 against the true 0.5 and 0.25: (0 + 0.2) / 2.

    >>> from analysis._degeneracy import propensity_error
    >>> round(propensity_error([2.0, 1.0, 0.4], [1.0, 0.5, 0.25]), 12)
    0.1
    """
    estimated = _check_vector(estimated, "estimated", low=0)
    if estimated.size < 2:
        raise ValueError(
            f"estimated must have at least 2 ranks, got {estimated.size}"
        )
    true = _check_vector(true, "true", length=estimated.size, length_of="estimated")
    if true.min() <= 0:
        i = int(np.argmin(true))
        raise ValueError(f"true must be > 0, got {true[i].item()!r} at index {i}")
    if estimated[0] <= 0:
        raise ValueError(f"estimated must be > 0 at rank 1, got {estimated[0].item()!r}")
    ratio_true = true[1:] / true[0]
    ratio_estimated = estimated[1:] / estimated[0]
    return float(np.mean(np.abs(ratio_estimated - ratio_true) / ratio_true))


# --------------------------------------------------------------------------
# Calibration of click predictions on aggregated cells
# --------------------------------------------------------------------------

def _check_cells(predicted, clicks, impressions):
    predicted = _check_vector(predicted, "predicted", low=0, high=1)
    n = predicted.size
    impressions = _check_vector(impressions, "impressions", low=0, length=n,
                                length_of="predicted")
    clicks = _check_vector(clicks, "clicks", low=0, length=n, length_of="predicted")
    over = clicks > impressions
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(
            f"clicks must be <= impressions in every cell, got {clicks[i].item()!r} clicks and "
            f"{impressions[i].item()!r} impressions at index {i}"
        )
    return predicted, clicks, impressions


def log_loss(predicted, clicks, impressions):
    """Log loss of click predictions per impression, from aggregated cells.

    ``-sum of [c log p + (n - c) log(1 - p)] / sum of n``, with ``p`` clipped
    to ``[1e-12, 1 - 1e-12]``.

    Parameters
    ----------
    predicted : array-like of shape (n_cells,)
        Predicted click probability of every cell, in [0, 1].
    clicks : array-like of shape (n_cells,)
        Clicks of every cell, in [0, impressions].
    impressions : array-like of shape (n_cells,)
        Impressions of every cell, >= 0.

    Returns
    -------
    float
        The log loss in nats per impression, >= 0; NaN if there is no
        impression.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter and the bad
        value.

    Examples
    --------
    Four impressions at p = 0.5, one clicked: log 2 per impression.

    >>> from analysis._degeneracy import log_loss
    >>> round(log_loss([0.5], [1], [4]), 6)
    0.693147
    """
    predicted, clicks, impressions = _check_cells(predicted, clicks, impressions)
    total = impressions.sum()
    if total == 0:
        return math.nan
    p = np.clip(predicted, EPSILON, 1 - EPSILON)
    loss = clicks * np.log(p) + (impressions - clicks) * np.log1p(-p)
    return float(-loss.sum() / total)


def brier(predicted, clicks, impressions):
    """Brier score of click predictions per impression, from aggregated cells.

    ``sum of [c (1 - p)**2 + (n - c) p**2] / sum of n``.

    Parameters
    ----------
    predicted : array-like of shape (n_cells,)
        Predicted click probability of every cell, in [0, 1].
    clicks : array-like of shape (n_cells,)
        Clicks of every cell, in [0, impressions].
    impressions : array-like of shape (n_cells,)
        Impressions of every cell, >= 0.

    Returns
    -------
    float
        The mean squared error per impression, in [0, 1]; NaN if there is
        no impression.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter and the bad
        value.

    Examples
    --------
    p = 0.2 over 5 impressions with 1 click: (0.64 + 4 * 0.04) / 5 = 0.16.

    >>> from analysis._degeneracy import brier
    >>> round(brier([0.2], [1], [5]), 12)
    0.16
    """
    predicted, clicks, impressions = _check_cells(predicted, clicks, impressions)
    total = impressions.sum()
    if total == 0:
        return math.nan
    loss = clicks * (1 - predicted) ** 2 + (impressions - clicks) * predicted**2
    return float(loss.sum() / total)


def ece(predicted, clicks, impressions, n_bins=10):
    """Expected calibration error of click predictions, from aggregated cells.

    The predictions fall into ``n_bins`` equal-width bins of [0, 1] (bin
    ``b`` holds ``b / n_bins <= p < (b + 1) / n_bins``, the last bin also
    ``p = 1``). ``ECE = sum over bins of (N_b / N) |mean p_b - clicks_b / N_b|``
    with ``N_b`` the impressions of the bin and ``mean p_b`` their mean
    prediction, so every impression weighs the same.

    Parameters
    ----------
    predicted : array-like of shape (n_cells,)
        Predicted click probability of every cell, in [0, 1].
    clicks : array-like of shape (n_cells,)
        Clicks of every cell, in [0, impressions].
    impressions : array-like of shape (n_cells,)
        Impressions of every cell, >= 0.
    n_bins : int, default=10
        Number of bins, >= 1.

    Returns
    -------
    float
        The ECE, in [0, 1]; NaN if there is no impression.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter and the bad
        value.

    Examples
    --------
    Bin [0.1, 0.2): 10 impressions at 0.1 with 2 clicks (|0.1 - 0.2| = 0.1);
    bin [0.8, 0.9): 10 at 0.8 with 8 clicks (0). Weighted: 0.05.

    >>> from analysis._degeneracy import ece
    >>> round(ece([0.1, 0.8], [2, 8], [10, 10]), 12)
    0.05
    """
    n_bins = _check_int(n_bins, "n_bins", 1)
    predicted, clicks, impressions = _check_cells(predicted, clicks, impressions)
    total = impressions.sum()
    if total == 0:
        return math.nan
    bins = np.minimum((predicted * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, impressions, n_bins)
    predicted_sum = np.bincount(bins, impressions * predicted, n_bins)
    click_sum = np.bincount(bins, clicks, n_bins)
    # sum_b (N_b / N) |sum p / N_b - sum c / N_b| = sum_b |sum p - sum c| / N
    gap = np.abs(predicted_sum - click_sum)
    return float(gap[count > 0].sum() / total)
