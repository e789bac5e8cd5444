"""Ranking metrics of a whole data set: DCG, NDCG, ERR, MRR, precision and ARP.

Every metric is computed for all queries at once from three flat arrays:
``scores`` and ``labels`` hold one entry per document (row) and
``query_boundaries`` holds the CSR offsets of the queries, so that query ``q``
owns rows ``query_boundaries[q]:query_boundaries[q + 1]``.

Conventions
-----------
Ranking
    Within each query the documents are sorted by score, highest first.
    Documents with equal scores are ordered by lower row index first (a stable
    sort). Ranks are 1-based in the formulas (the top document has rank 1)
    and 0-based in :func:`rank_within_queries`.
Per query, then mean
    The metric functions return one value per query, ``ndarray of shape
    (n_queries,)``; :func:`evaluate` and :func:`mean_over_queries` average
    them with equal weight per query, ignoring NaN.
Queries without relevant documents (``ideal_zero``)
    NDCG is undefined for a query whose ideal DCG is 0 (no label > 0), and ERR
    of such a query is 0 for every ranking; MRR and ARP are undefined for a
    query without a label >= ``threshold``. These four metrics share one rule,
    ``ideal_zero``: ``"one"`` (default, the LightGBM and XGBoost convention)
    gives such a query the value 1.0, ``"zero"`` gives it 0.0 and ``"drop"``
    gives it NaN, which the means ignore. DCG and precision are defined (0)
    for every query and have no such rule.
Cut-off ``k``
    Only ranks 1..k count. A query with fewer than ``k`` documents uses all of
    them; precision@k still divides by ``k`` (missing ranks count as not
    relevant).
"""

import math
import re
from types import MappingProxyType

import numpy as np
from numba import njit

from simulator.validation import check_int as _check_int
from simulator.validation import check_query_boundaries
from simulator.validation import describe as _describe
from simulator.validation import read_only

__all__ = [
    "METRICS",
    "arp",
    "dcg",
    "err",
    "evaluate",
    "mean_over_queries",
    "mrr",
    "ndcg",
    "precision",
    "rank_within_queries",
    "top_k",
]

IDEAL_ZERO_RULES = ("one", "zero", "drop")
_IDEAL_ZERO_VALUE = {"one": 1.0, "zero": 0.0, "drop": math.nan}
# Gains 2**y - 1 of labels up to this value and their sums stay finite floats.
MAX_SUPPORTED_LABEL = 255
# Rankings up to this depth are built by insertion (stable, no allocation).
_INSERTION_MAX = 64


# --------------------------------------------------------------------------
# Kernels: pure functions over arrays and scalars, no validation.
# table : int64 (n_queries, depth) global rows at ranks 1..depth of every
#         query's ranking (score descending, ties by lower row), -1 padded.
# order : int64 (n_docs,) the full ranking of every query, laid out with the
#         same boundaries as the documents (CSR).
# Per-label quantities (gain, stop probability) arrive as small lookup
# tables indexed by the label.
# --------------------------------------------------------------------------

@njit(cache=True)
def _select_top(values, start, stop, m, keys, rows):
    """Fill rows[:m] with the m highest-valued rows of start..stop-1.

    Highest value first, equal values by lower row first. Insertion into a
    sorted buffer: a row enters only if it beats the current m-th strictly,
    so ties keep the earlier row, and it moves only past strictly smaller
    values, so equal values stay in row order. Falls back to a stable
    mergesort when m is large.
    """
    if m > _INSERTION_MAX:
        local = np.argsort(-values[start:stop], kind="mergesort")
        for r in range(m):
            rows[r] = start + local[r]
        return
    filled = 0
    for row in range(start, stop):
        v = values[row]
        if filled == m:
            if not v > keys[m - 1]:
                continue
            j = m - 1
        else:
            j = filled
            filled += 1
        while j > 0 and keys[j - 1] < v:
            keys[j] = keys[j - 1]
            rows[j] = rows[j - 1]
            j -= 1
        keys[j] = v
        rows[j] = row


@njit(cache=True)
def _top_rows(values, boundaries, depth):
    """Rows at ranks 1..depth of every query, -1 padded (int64 table)."""
    n_queries = boundaries.size - 1
    table = np.full((n_queries, depth), -1, dtype=np.int64)
    width = min(depth, _INSERTION_MAX)
    keys = np.empty(width)
    rows = np.empty(depth, dtype=np.int64)
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        m = min(depth, stop - start)
        _select_top(values, start, stop, m, keys, rows)
        for r in range(m):
            table[q, r] = rows[r]
    return table


@njit(cache=True)
def _sorted_rows(values, boundaries):
    """Full ranking of every query, laid out as CSR (int64 order)."""
    n_queries = boundaries.size - 1
    order = np.empty(values.size, dtype=np.int64)
    keys = np.empty(_INSERTION_MAX)
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        # order[start:stop] is a view: the kernel writes the ranking in place.
        _select_top(values, start, stop, stop - start, keys, order[start:stop])
    return order


@njit(cache=True)
def _discounts(k):
    """1 / log2(rank + 1) for ranks 1..k."""
    out = np.empty(k)
    for r in range(k):
        out[r] = 1.0 / np.log2(r + 2.0)
    return out


@njit(cache=True)
def _dcg_kernel(table, labels, gain, k):
    """DCG@k: sum over ranks r <= k of gain[y_r] / log2(r + 1)."""
    n_queries = table.shape[0]
    depth = min(k, table.shape[1])
    discount = _discounts(depth)
    out = np.empty(n_queries)
    for q in range(n_queries):
        total = 0.0
        for r in range(depth):
            row = table[q, r]
            if row < 0:
                break
            total += gain[labels[row]] * discount[r]
        out[q] = total
    return out


@njit(cache=True)
def _ideal_dcg_kernel(labels, boundaries, gain, k):
    """DCG@k of the labels sorted descending, by counting the labels."""
    n_queries = boundaries.size - 1
    top = 0
    for i in range(labels.size):
        top = max(top, labels[i])
    counts = np.zeros(top + 1, dtype=np.int64)
    discount = _discounts(k)
    out = np.empty(n_queries)
    for q in range(n_queries):
        counts[:] = 0
        for i in range(boundaries[q], boundaries[q + 1]):
            counts[labels[i]] += 1
        total = 0.0
        r = 0
        y = top
        while y > 0 and r < k:
            if counts[y] > 0:
                total += gain[y] * discount[r]
                counts[y] -= 1
                r += 1
            else:
                y -= 1
        out[q] = total
    return out


@njit(cache=True)
def _err_kernel(table, labels, stop_probability, k):
    """ERR@k: sum over r <= k of R(y_r) / r * prod over i < r of (1 - R(y_i))."""
    n_queries = table.shape[0]
    depth = min(k, table.shape[1])
    out = np.empty(n_queries)
    for q in range(n_queries):
        total = 0.0
        reached = 1.0
        for r in range(depth):
            row = table[q, r]
            if row < 0:
                break
            p = stop_probability[labels[row]]
            total += reached * p / (r + 1.0)
            reached *= 1.0 - p
        out[q] = total
    return out


@njit(cache=True)
def _reciprocal_rank_kernel(table, labels, threshold, k):
    """1 / rank of the first label >= threshold within ranks 1..k, else 0."""
    n_queries = table.shape[0]
    depth = min(k, table.shape[1])
    out = np.zeros(n_queries)
    for q in range(n_queries):
        for r in range(depth):
            row = table[q, r]
            if row < 0:
                break
            if labels[row] >= threshold:
                out[q] = 1.0 / (r + 1.0)
                break
    return out


@njit(cache=True)
def _precision_kernel(table, labels, threshold, k):
    """Number of labels >= threshold within ranks 1..k, divided by k."""
    n_queries = table.shape[0]
    depth = min(k, table.shape[1])
    out = np.empty(n_queries)
    for q in range(n_queries):
        count = 0
        for r in range(depth):
            row = table[q, r]
            if row < 0:
                break
            if labels[row] >= threshold:
                count += 1
        out[q] = count / k
    return out


@njit(cache=True)
def _average_rank_kernel(order, boundaries, labels, threshold):
    """Mean 1-based rank of the labels >= threshold (full ranking), NaN if none."""
    n_queries = boundaries.size - 1
    out = np.empty(n_queries)
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        count = 0
        total = 0.0
        for r in range(stop - start):
            if labels[order[start + r]] >= threshold:
                count += 1
                total += r + 1.0
        out[q] = total / count if count > 0 else np.nan
    return out


@njit(cache=True)
def _rank_kernel(order, boundaries):
    """0-based rank of every row within its query."""
    rank = np.empty(order.size, dtype=np.int64)
    for q in range(boundaries.size - 1):
        start, stop = boundaries[q], boundaries[q + 1]
        for r in range(stop - start):
            rank[order[start + r]] = r
    return rank


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _check_ideal_zero(ideal_zero):
    if not isinstance(ideal_zero, str) or ideal_zero not in IDEAL_ZERO_RULES:
        raise ValueError(
            "ideal_zero must be one of 'one', 'zero', 'drop', got "
            f"{_describe(ideal_zero)}"
        )
    return ideal_zero


def _check_scores_and_boundaries(scores, query_boundaries, name="scores"):
    """Validated float64 scores and int64 boundaries, read-only (the kernels' one specialisation).

    ``name`` is the parameter the messages name (other per-document arrays,
    such as an exposure vector, share these checks).
    """
    given = np.asarray(scores)
    if given.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got {_describe(given)}")
    if given.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got {_describe(given)}")
    scores = np.ascontiguousarray(given, dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name} must be finite, got {given[i].item()!r} at index {i}")
    n_docs = scores.shape[0]

    boundaries = check_query_boundaries(query_boundaries, n_docs, length_of=name)
    return read_only(scores), boundaries


def _check_labels(labels, n_docs, reference="scores"):
    """Validated int64 labels: non-negative integers, one per document.

    ``reference`` names the array whose length is ``n_docs``.
    """
    given = np.asarray(labels)
    if given.dtype.kind not in "biuf":
        raise ValueError(
            f"labels must be an array of non-negative integers, got {_describe(given)}"
        )
    if given.ndim != 1:
        raise ValueError(f"labels must be 1-dimensional, got {_describe(given)}")
    if given.shape[0] != n_docs:
        raise ValueError(
            f"labels must have one entry per document (n_docs={n_docs}, the length "
            f"of {reference}), got {given.shape[0]}"
        )
    if given.dtype.kind == "f":
        bad = ~np.isfinite(given) | (given != np.round(given))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                "labels must be non-negative integers, got the non-integral value "
                f"{given[i].item()!r} at index {i}"
            )
    if n_docs and given.min() < 0:
        i = int(np.argmin(given))
        raise ValueError(
            f"labels must be non-negative integers, got {given[i].item()!r} at index {i}"
        )
    if n_docs and given.max() > MAX_SUPPORTED_LABEL:
        i = int(np.argmax(given))
        raise ValueError(
            f"labels must be at most {MAX_SUPPORTED_LABEL}, got {given[i].item()!r} "
            f"at index {i}"
        )
    return read_only(np.ascontiguousarray(given, dtype=np.int64))


def _check_inputs(scores, labels, query_boundaries):
    scores, boundaries = _check_scores_and_boundaries(scores, query_boundaries)
    return scores, _check_labels(labels, scores.shape[0]), boundaries


def _check_max_label(max_label, labels):
    max_label = _check_int(max_label, "max_label", 1, MAX_SUPPORTED_LABEL)
    if labels.size and labels.max() > max_label:
        i = int(np.argmax(labels))
        raise ValueError(
            f"labels must be at most max_label={max_label} for ERR, got "
            f"{int(labels[i])} at index {i}"
        )
    return max_label


# --------------------------------------------------------------------------
# Metrics of a validated ranking (table of the top rows, or full order)
# --------------------------------------------------------------------------

# GAIN[y] = 2**y - 1, exact in float64 for every supported label.
_GAIN = np.ldexp(1.0, np.arange(MAX_SUPPORTED_LABEL + 1)) - 1.0


def _without_relevant(labels, boundaries, threshold):
    """Boolean (n_queries,): no document of the query has label >= threshold."""
    return np.maximum.reduceat(labels, boundaries[:-1]) < threshold


def _fill(values, undefined, ideal_zero):
    values[undefined] = _IDEAL_ZERO_VALUE[ideal_zero]
    return values


def _dcg_of(table, labels, boundaries, k):
    return _dcg_kernel(table, labels, _GAIN, k)


def _ndcg_of(table, labels, boundaries, k, ideal_zero):
    actual = _dcg_kernel(table, labels, _GAIN, k)
    ideal = _ideal_dcg_kernel(labels, boundaries, _GAIN, k)
    undefined = ideal == 0.0
    values = np.divide(actual, ideal, out=np.zeros_like(actual), where=~undefined)
    return _fill(values, undefined, ideal_zero)


def _err_of(table, labels, boundaries, k, ideal_zero, max_label):
    stop_probability = _GAIN / 2.0**max_label
    values = _err_kernel(table, labels, stop_probability, k)
    return _fill(values, _without_relevant(labels, boundaries, 1), ideal_zero)


def _mrr_of(table, labels, boundaries, k, ideal_zero, threshold):
    values = _reciprocal_rank_kernel(table, labels, threshold, k)
    return _fill(values, _without_relevant(labels, boundaries, threshold), ideal_zero)


def _precision_of(table, labels, boundaries, k, threshold):
    return _precision_kernel(table, labels, threshold, k)


def _arp_of(order, labels, boundaries, ideal_zero, threshold):
    values = _average_rank_kernel(order, boundaries, labels, threshold)
    return _fill(values, _without_relevant(labels, boundaries, threshold), ideal_zero)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def rank_within_queries(scores, query_boundaries):
    """0-based rank of every document in its query's ranking by score.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first. Equal scores are ordered by
        lower row index first.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.

    Returns
    -------
    ndarray of shape (n_docs,) and dtype int64
        ``rank[i]`` is 0 for the top document of row ``i``'s query.

    Raises
    ------
    ValueError
        If an input has the wrong shape or dtype or breaks the rules above;
        the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import rank_within_queries
    >>> rank_within_queries([0.2, 0.9, 0.2, 5.0, 1.0], [0, 3, 5])
    array([1, 0, 2, 0, 1])
    """
    scores, boundaries = _check_scores_and_boundaries(scores, query_boundaries)
    return _rank_kernel(_sorted_rows(scores, boundaries), boundaries)


def top_k(scores, query_boundaries, k):
    """Global rows of the first ``k`` documents of every query's ranking.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int
        Number of ranks, >= 1.

    Returns
    -------
    ndarray of shape (n_queries, k) and dtype int64
        Row ``q`` lists the global document rows at ranks 1..k of query ``q``,
        padded with -1 at the tail when the query has fewer than ``k``
        documents.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import top_k
    >>> top_k([0.2, 0.9, 0.2, 5.0, 1.0], [0, 3, 5], k=3)
    array([[ 1,  0,  2],
           [ 3,  4, -1]])
    """
    k = _check_int(k, "k", 1)
    scores, boundaries = _check_scores_and_boundaries(scores, query_boundaries)
    return _top_rows(scores, boundaries, k)


def dcg(scores, labels, query_boundaries, k=10):
    """Discounted cumulative gain at ``k`` of every query.

    ``DCG@k = sum over ranks r = 1..min(k, n) of (2**y_r - 1) / log2(r + 1)``,
    where ``y_r`` is the label of the document at rank ``r``.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int, default=10
        Cut-off rank, >= 1.

    Returns
    -------
    ndarray of shape (n_queries,)
        DCG@k per query.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Ranked labels [0, 1, 2]: 0 / log2(2) + 1 / log2(3) + 3 / log2(4).

    >>> from analysis._metrics import dcg
    >>> dcg([0.1, 0.9, 0.5], [2, 0, 1], [0, 3], k=3).round(6)
    array([2.13093])
    """
    k = _check_int(k, "k", 1)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    return _dcg_of(_top_rows(scores, boundaries, k), labels, boundaries, k)


def ndcg(scores, labels, query_boundaries, k=10, ideal_zero="one"):
    """Normalised discounted cumulative gain at ``k`` of every query.

    ``NDCG@k = DCG@k / IDCG@k``, where ``IDCG@k`` is the DCG@k of the labels
    sorted in decreasing order (gain ``2**y - 1``, discount ``1 / log2(rank + 1)``).

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int, default=10
        Cut-off rank, >= 1.
    ideal_zero : {"one", "zero", "drop"}, default="one"
        Value of a query whose IDCG@k is 0 (no label > 0): 1.0 (as LightGBM
        and XGBoost count it), 0.0, or NaN so that means ignore the query.

    Returns
    -------
    ndarray of shape (n_queries,)
        NDCG@k per query, in [0, 1] or NaN.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import ndcg
    >>> scores = [0.1, 0.9, 0.5, 3.0, 2.0]
    >>> labels = [2, 0, 1, 0, 0]
    >>> ndcg(scores, labels, [0, 3, 5], k=3).round(4)
    array([0.5869, 1.    ])
    >>> ndcg(scores, labels, [0, 3, 5], k=3, ideal_zero="drop").round(4)
    array([0.5869,    nan])
    """
    k = _check_int(k, "k", 1)
    ideal_zero = _check_ideal_zero(ideal_zero)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    table = _top_rows(scores, boundaries, k)
    return _ndcg_of(table, labels, boundaries, k, ideal_zero)


def ndcg_of_lists(lists, labels, query_boundaries, ideal_zero="one"):
    """NDCG@k of given top-k lists, one per query (document rows, -1 for empty slots).

    The same gains, discounts and ideal as :func:`ndcg`, for rankings given
    as lists instead of scores (k is the lists' width).

    Examples
    --------
    >>> from analysis._metrics import ndcg_of_lists
    >>> ndcg_of_lists([[1, 2, 0], [3, 4, -1]], [2, 0, 1, 0, 0], [0, 3, 5]).round(4)  # the order of ndcg's example
    array([0.5869, 1.    ])
    """
    ideal_zero = _check_ideal_zero(ideal_zero)
    labels = np.asarray(labels)
    _, boundaries = _check_scores_and_boundaries(np.zeros(labels.shape[0]), query_boundaries)
    labels = _check_labels(labels, labels.shape[0])
    table = np.ascontiguousarray(lists, dtype=np.int64)
    if table.ndim != 2 or table.shape[0] != boundaries.size - 1 or table.shape[1] < 1:
        raise ValueError(f"lists must be of shape ({boundaries.size - 1}, k), one list per query, "
                         f"got shape {table.shape}")
    if table.size and table.max() >= labels.shape[0]:
        raise ValueError(f"lists name document {table.max()} but there are {labels.shape[0]}")
    return _ndcg_of(table, labels, boundaries, table.shape[1], ideal_zero)


def err(scores, labels, query_boundaries, k=10, ideal_zero="one", max_label=4):
    """Expected reciprocal rank at ``k`` of every query (Chapelle et al. 2009).

    The user scans down the ranking and stops at rank ``r`` with probability
    ``R(y_r) = (2**y_r - 1) / 2**max_label``:
    ``ERR@k = sum over r = 1..min(k, n) of R(y_r) / r * prod over i < r of (1 - R(y_i))``.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, integers in [0, max_label].
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int, default=10
        Cut-off rank, >= 1.
    ideal_zero : {"one", "zero", "drop"}, default="one"
        Value of a query without any label > 0 (whose ERR is 0 for every
        ranking): 1.0, 0.0 or NaN (ignored by means).
    max_label : int, default=4
        Highest possible grade ``ymax`` (4 for MSLR, Yahoo and Istella).

    Returns
    -------
    ndarray of shape (n_queries,)
        ERR@k per query, in [0, 1) or as set by ``ideal_zero``.

    Raises
    ------
    ValueError
        If an input is invalid or a label exceeds ``max_label``; the message
        names the parameter.

    Examples
    --------
    Ranked labels [0, 1, 2]: 0 + 1/2 * 1/16 + 1/3 * 3/16 * 15/16 = 23/256.

    >>> from analysis._metrics import err
    >>> err([0.1, 0.9, 0.5], [2, 0, 1], [0, 3], k=3) * 256
    array([23.])
    """
    k = _check_int(k, "k", 1)
    ideal_zero = _check_ideal_zero(ideal_zero)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    max_label = _check_max_label(max_label, labels)
    table = _top_rows(scores, boundaries, k)
    return _err_of(table, labels, boundaries, k, ideal_zero, max_label)


def mrr(scores, labels, query_boundaries, k=10, ideal_zero="one", threshold=1):
    """Reciprocal rank at ``k`` of every query (mean reciprocal rank when averaged).

    ``1 / r`` for the rank ``r`` of the first relevant document (label >=
    ``threshold``) if ``r <= k``, else 0.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int, default=10
        Cut-off rank, >= 1.
    ideal_zero : {"one", "zero", "drop"}, default="one"
        Value of a query without relevant documents: 1.0, 0.0 or NaN (ignored
        by means).
    threshold : int, default=1
        Binary relevance: a document is relevant when its label is >=
        ``threshold`` (>= 1; use 3 for the binarised setting of Joachims et
        al. 2017 on 0..4 grades).

    Returns
    -------
    ndarray of shape (n_queries,)
        Reciprocal rank per query.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import mrr
    >>> mrr([0.1, 0.9, 0.5], [2, 0, 1], [0, 3])
    array([0.5])
    >>> mrr([0.1, 0.9, 0.5], [2, 0, 1], [0, 3], threshold=2).round(4)
    array([0.3333])
    >>> mrr([0.1, 0.9, 0.5], [2, 0, 1], [0, 3], k=1)
    array([0.])
    """
    k = _check_int(k, "k", 1)
    ideal_zero = _check_ideal_zero(ideal_zero)
    threshold = _check_int(threshold, "threshold", 1)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    table = _top_rows(scores, boundaries, k)
    return _mrr_of(table, labels, boundaries, k, ideal_zero, threshold)


def precision(scores, labels, query_boundaries, k=10, threshold=1):
    """Precision at ``k`` of every query: relevant documents in ranks 1..k, over k.

    The denominator is always ``k``: a query with fewer than ``k`` documents
    cannot reach 1. Precision is defined for every query (0 without relevant
    documents), so it has no ``ideal_zero`` rule.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    k : int, default=10
        Cut-off rank, >= 1.
    threshold : int, default=1
        A document is relevant when its label is >= ``threshold`` (>= 1).

    Returns
    -------
    ndarray of shape (n_queries,)
        Precision@k per query, in [0, 1].

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import precision
    >>> precision([0.1, 0.9, 0.5, 1.0], [2, 0, 1, 3], [0, 3, 4], k=2)
    array([0.5, 0.5])
    """
    k = _check_int(k, "k", 1)
    threshold = _check_int(threshold, "threshold", 1)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    table = _top_rows(scores, boundaries, k)
    return _precision_of(table, labels, boundaries, k, threshold)


def arp(scores, labels, query_boundaries, ideal_zero="one", threshold=1):
    """Average rank of the relevant documents of every query (lower is better).

    The mean 1-based rank, over the full ranking (no cut-off), of the
    documents with label >= ``threshold`` (Joachims et al. 2017).

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    ideal_zero : {"one", "zero", "drop"}, default="one"
        Value of a query without relevant documents: 1.0 (the best achievable
        ARP), 0.0 (better than any ranking can achieve, rarely wanted) or NaN
        (ignored by means; the usual choice for ARP).
    threshold : int, default=1
        A document is relevant when its label is >= ``threshold`` (>= 1).

    Returns
    -------
    ndarray of shape (n_queries,)
        ARP per query, >= 1 for queries with relevant documents.

    Raises
    ------
    ValueError
        If an input is invalid; the message names the parameter.

    Examples
    --------
    Relevant documents at ranks 2 and 3: (2 + 3) / 2.

    >>> from analysis._metrics import arp
    >>> arp([0.1, 0.9, 0.5], [2, 0, 1], [0, 3])
    array([2.5])
    """
    ideal_zero = _check_ideal_zero(ideal_zero)
    threshold = _check_int(threshold, "threshold", 1)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    order = _sorted_rows(scores, boundaries)
    return _arp_of(order, labels, boundaries, ideal_zero, threshold)


def mean_over_queries(values):
    """Mean of per-query metric values, ignoring NaN (dropped queries).

    Parameters
    ----------
    values : array-like of shape (n_queries,)
        Output of a metric function.

    Returns
    -------
    float
        The mean of the non-NaN values, NaN if there is none (without the
        warning of :func:`numpy.nanmean`).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis._metrics import mean_over_queries
    >>> mean_over_queries([0.5, np.nan, 1.0])
    0.75
    >>> mean_over_queries([np.nan])
    nan
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-dimensional, got {_describe(values)}")
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


METRICS = MappingProxyType({
    "dcg": dcg,
    "ndcg": ndcg,
    "err": err,
    "mrr": mrr,
    "precision": precision,
    "arp": arp,
})
"""Metric families by name, each a per-query function of this module.

The cut-off families ``dcg``, ``ndcg``, ``err``, ``mrr`` and ``precision`` are
named ``"<family>@<k>"`` in :func:`evaluate`; ``arp`` has no cut-off.
"""

_NAME_PATTERN = re.compile(r"(dcg|ndcg|err|mrr|precision)@([1-9][0-9]*)|(arp)")
VALID_FORMS = "'dcg@k', 'ndcg@k', 'err@k', 'mrr@k', 'precision@k' (k an integer >= 1) and 'arp'"


def _parse_metric_name(name):
    """``"ndcg@10"`` -> ("ndcg", 10); ``"arp"`` -> ("arp", None)."""
    if not isinstance(name, str):
        raise ValueError(
            f"metrics must hold metric names (str), got {_describe(name)}; "
            f"valid forms are {VALID_FORMS}"
        )
    match = _NAME_PATTERN.fullmatch(name)
    if match is None:
        raise ValueError(
            f"metrics: unknown metric name {name!r}; valid forms are {VALID_FORMS}"
        )
    if match.group(3):
        return "arp", None
    return match.group(1), int(match.group(2))


def evaluate(scores, labels, query_boundaries, metrics=("ndcg@10",), *,
             ideal_zero="one", threshold=1, max_label=4):
    """Mean over queries of several metrics, ranking every query once.

    Parameters
    ----------
    scores : array-like of shape (n_docs,)
        Finite scores; higher is ranked first, equal scores by lower row first.
    labels : array-like of shape (n_docs,)
        True graded relevance, non-negative integers (at most 255).
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer CSR offsets: start at 0, end at ``n_docs``, strictly increasing.
    metrics : str or sequence of str, default=("ndcg@10",)
        Names of the form ``"dcg@k"``, ``"ndcg@k"``, ``"err@k"``, ``"mrr@k"``,
        ``"precision@k"`` (``k`` an integer >= 1, no leading zero) or ``"arp"``.
    ideal_zero : {"one", "zero", "drop"}, default="one"
        Rule for queries without relevant documents, passed to NDCG, ERR, MRR
        and ARP (see the module documentation).
    threshold : int, default=1
        Relevance threshold of MRR, precision and ARP.
    max_label : int, default=4
        Highest grade of ERR.

    Returns
    -------
    dict of str to float
        Each name mapped to its mean over queries (NaN values, from
        ``ideal_zero="drop"``, are ignored; NaN if every query was dropped).

    Raises
    ------
    ValueError
        If a metric name is unknown (the message lists the valid forms) or an
        input is invalid; the message names the parameter.

    Examples
    --------
    >>> from analysis._metrics import evaluate
    >>> scores = [0.1, 0.9, 0.5, 3.0, 2.0]
    >>> labels = [2, 0, 1, 0, 0]
    >>> result = evaluate(scores, labels, [0, 3, 5], ["ndcg@3", "mrr@10", "arp"])
    >>> {name: round(value, 4) for name, value in result.items()}
    {'ndcg@3': 0.7934, 'mrr@10': 0.75, 'arp': 1.75}
    >>> evaluate(scores, labels, [0, 3, 5], "arp", ideal_zero="drop")
    {'arp': 2.5}
    """
    names = [metrics] if isinstance(metrics, str) else metrics
    try:
        names = list(names)
    except TypeError:
        raise ValueError(
            f"metrics must be a metric name or a sequence of them, got {_describe(metrics)}"
        ) from None
    if not names:
        raise ValueError(f"metrics must name at least one metric; valid forms are {VALID_FORMS}")
    parsed = [_parse_metric_name(name) for name in names]
    ideal_zero = _check_ideal_zero(ideal_zero)
    threshold = _check_int(threshold, "threshold", 1)
    scores, labels, boundaries = _check_inputs(scores, labels, query_boundaries)
    if any(family == "err" for family, _ in parsed):
        max_label = _check_max_label(max_label, labels)
    else:
        max_label = _check_int(max_label, "max_label", 1, MAX_SUPPORTED_LABEL)

    # One ranking for all metrics: the top rows to the deepest cut-off, and
    # the full ranking only when ARP needs it.
    depth = max((k for _, k in parsed if k is not None), default=0)
    table = _top_rows(scores, boundaries, depth) if depth else None
    needs_order = any(family == "arp" for family, _ in parsed)
    order = _sorted_rows(scores, boundaries) if needs_order else None
    result = {}
    for name, (family, k) in zip(names, parsed):
        if family == "dcg":
            values = _dcg_of(table, labels, boundaries, k)
        elif family == "ndcg":
            values = _ndcg_of(table, labels, boundaries, k, ideal_zero)
        elif family == "err":
            values = _err_of(table, labels, boundaries, k, ideal_zero, max_label)
        elif family == "mrr":
            values = _mrr_of(table, labels, boundaries, k, ideal_zero, threshold)
        elif family == "precision":
            values = _precision_of(table, labels, boundaries, k, threshold)
        else:
            values = _arp_of(order, labels, boundaries, ideal_zero, threshold)
        result[name] = mean_over_queries(values)
    return result
