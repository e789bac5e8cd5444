"""Sufficient statistics of click logs per (document, rank).

Documents are rows of a :class:`~simulator.RankingDataset`, so a (document,
rank) cell is a (query, document, rank) cell.  Every learner and propensity
estimator of clickloop can work from these counts alone, so the cost of a fit
stops growing with the number of sessions once the shown pairs are covered.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

__all__ = ["ClickStatistics", "aggregate_clicks"]


@njit(cache=True, parallel=True)
def _aggregate_lists_kernel(lists, clicks, examination, impressions_t, clicks_t, examination_t, inverse_t):
    """Add sessions that show fixed lists (session s shows list ``lists[s]``) to (k, n_lists) accumulators.

    Same rule as :func:`_aggregate_kernel` (one thread per rank, sessions in
    order), on arrays small enough to stay in cache.
    """
    n_sessions, k = clicks.shape
    for r in prange(k):
        for s in range(n_sessions):
            q = lists[s]
            impressions_t[r, q] += 1
            e = examination[s, r]
            if clicks[s, r]:
                clicks_t[r, q] += 1
                if e > 0:
                    inverse_t[r, q] += 1.0 / e
            examination_t[r, q] += e


@njit(cache=True, parallel=True)
def _aggregate_kernel(displayed, clicks, examination, impressions_t, clicks_t, examination_t,
                      inverse_t):
    """Add a block of sessions to rank-major (k, n_docs) accumulators.

    One thread owns one rank: every cell is updated by one thread in session
    order, so float sums are identical for any thread count.
    """
    n_sessions, k = displayed.shape
    for r in prange(k):
        for s in range(n_sessions):
            d = displayed[s, r]
            if d >= 0:
                impressions_t[r, d] += 1
                e = examination[s, r]
                if clicks[s, r]:
                    clicks_t[r, d] += 1
                    if e > 0:
                        inverse_t[r, d] += 1.0 / e
                examination_t[r, d] += e


@dataclass(eq=False)
class ClickStatistics:
    """Impressions, clicks and summed true examination per (document, rank).

    A streaming accumulator (hence not frozen): :func:`aggregate_clicks` adds
    blocks of sessions in place, ``a + b`` merges two.

    Attributes
    ----------
    impressions : ndarray of shape (n_docs, k), int64
        Number of sessions that showed document d at rank r + 1.
    clicks : ndarray of shape (n_docs, k), int64
        Number of those sessions with a click on it.
    examination : ndarray of shape (n_docs, k), float64
        Sum of the true examination probabilities of those impressions (the
        oracle propensities); ``examination / impressions`` is their mean.
    n_sessions : int
        Number of sessions aggregated.
    inverse_examination_clicks : ndarray of shape (n_docs, k), float64
        Sum over the clicked impressions of 1 / examination: the oracle
        inverse-propensity weight of each click, exact even where the
        examination varies between sessions (cascade models).
    expected_impressions : ndarray of shape (n_docs, k), float64, or None
        Sum over the sessions of P(d at rank r | the session's query) under
        the logging policy that served them (the expected impressions; the
        policy-aware propensity of d is sum_r expected_impressions[d, r]
        theta_r / n_q); None when not computed (see ``simulate_sessions``'s
        ``placement``).

    Examples
    --------
    >>> stats = ClickStatistics.empty(n_docs=3, k=2)
    >>> aggregate_clicks(stats, displayed=np.array([[2, 0], [2, 1]]),
    ...                  clicks=np.array([[True, False], [False, False]]),
    ...                  examination=np.array([[1.0, 0.5], [1.0, 0.5]], dtype=np.float32))
    >>> stats.impressions.tolist(), stats.clicks[2].tolist(), stats.n_sessions
    ([[0, 1], [0, 1], [2, 0]], [1, 0], 2)
    """

    impressions: np.ndarray
    clicks: np.ndarray
    examination: np.ndarray
    n_sessions: int = 0
    inverse_examination_clicks: np.ndarray = None
    expected_impressions: np.ndarray = None

    def __post_init__(self):
        if self.inverse_examination_clicks is None:
            self.inverse_examination_clicks = np.zeros(self.impressions.shape[::-1]).T
        shapes = {self.impressions.shape, self.clicks.shape, self.examination.shape,
                  self.inverse_examination_clicks.shape}
        if self.expected_impressions is not None:
            shapes.add(self.expected_impressions.shape)
        if len(shapes) != 1 or self.impressions.ndim != 2:
            raise ValueError(f"the statistics arrays must share one 2-D shape, got {shapes}")
        if np.any(self.clicks > self.impressions) or np.any(self.clicks < 0):
            raise ValueError("clicks must lie in 0..impressions in every cell")

    @classmethod
    def empty(cls, n_docs, k, *, expected=False):
        """All-zero statistics for ``n_docs`` documents and ``k`` ranks (rank-major storage).

        ``expected=True`` also allocates ``expected_impressions`` (zeros).
        """
        if n_docs < 0 or k < 1:
            raise ValueError(f"need n_docs >= 0 and k >= 1, got n_docs={n_docs}, k={k}")
        return cls(
            np.zeros((k, n_docs), dtype=np.int64).T,
            np.zeros((k, n_docs), dtype=np.int64).T,
            np.zeros((k, n_docs), dtype=np.float64).T,
            0,
            np.zeros((k, n_docs), dtype=np.float64).T,
            np.zeros((n_docs, k), dtype=np.float64) if expected else None,
        )

    @property
    def n_docs(self):
        return self.impressions.shape[0]

    @property
    def k(self):
        return self.impressions.shape[1]

    def ctr(self):
        """Click-through rate per (document, rank); NaN where never shown."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.clicks / np.where(self.impressions > 0, self.impressions, np.nan)

    def __add__(self, other):
        if not isinstance(other, ClickStatistics) or other.impressions.shape != self.impressions.shape:
            return NotImplemented
        # Expected impressions add up where both sides know them; a side without them counts
        # only if it holds no session (an empty accumulator), else the sum would be wrong.
        known = [s for s in (self, other) if s.expected_impressions is not None]
        unknown = [s for s in (self, other) if s.expected_impressions is None and s.n_sessions > 0]
        if known and unknown:
            raise ValueError("cannot add statistics with expected_impressions to statistics of sessions "
                             "without them (simulate both with placement=True)")
        out = ClickStatistics.empty(self.n_docs, self.k, expected=bool(known))
        for name in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
            getattr(out, name)[...] = getattr(self, name) + getattr(other, name)
        for side in known:
            out.expected_impressions += side.expected_impressions
        out.n_sessions = self.n_sessions + other.n_sessions
        return out

    def equals(self, other):
        """Exact equality of every count and sum (``expected_impressions`` included, None equals None)."""
        mine, theirs = self.expected_impressions, getattr(other, "expected_impressions", None)
        return (
            self.n_sessions == other.n_sessions
            and np.array_equal(self.impressions, other.impressions)
            and np.array_equal(self.clicks, other.clicks)
            and np.array_equal(self.examination, other.examination)
            and np.array_equal(self.inverse_examination_clicks, other.inverse_examination_clicks)
            and (mine is None) == (theirs is None)
            and (mine is None or np.array_equal(mine, theirs))
        )


@njit(cache=True)
def _repeated_sum_table(increments, length):
    """table[r, n] = 0.0 + increments[r] + ... (n additions, left to right), n = 0..length."""
    table = np.zeros((increments.size, length + 1))
    for r in range(increments.size):
        acc = 0.0
        for n in range(1, length + 1):
            acc += increments[r]
            table[r, n] = acc
    return table


@njit(cache=True, parallel=True)
def _add_repeatedly_kernel(values_t, counts_t, increments, table):
    """values_t[r, i] += increments[r], counts_t[r, i] times, one addition at a time.

    Exactly the float sums of adding a constant once per impression in session
    order; a zero start is read from ``table`` (:func:`_repeated_sum_table`).
    One thread per rank; every cell is independent of the others.
    """
    k, m = values_t.shape
    length = table.shape[1] - 1
    for r in prange(k):
        c = increments[r]
        for i in range(m):
            n = counts_t[r, i]
            if n == 0:
                continue
            v = values_t[r, i]
            if v == 0.0:
                if n <= length:
                    values_t[r, i] = table[r, n]
                    continue
                v = table[r, length]
                n -= length
            for _ in range(n):
                v += c
            values_t[r, i] = v


def add_constant_examination(stats_arrays_t, impressions_t, clicks_t, examination):
    """Add counted sessions whose examination at rank r is the constant ``examination[r]``.

    ``stats_arrays_t`` are the rank-major (k, n) views of a statistics'
    ``(impressions, clicks, examination, inverse_examination_clicks)``;
    ``impressions_t`` and ``clicks_t`` (int64, (k, n)) the counts to add.  The
    float sums equal those of :func:`aggregate_clicks` adding ``examination``
    (float32, as a click model returns it) once per impression and its inverse
    once per click, in any session order, because every addition to a cell
    adds the same number.
    """
    imp, clk, exam, inverse = stats_arrays_t
    e = np.asarray(examination, dtype=np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(e > 0, 1.0 / np.where(e > 0, e, 1.0), 0.0)
    for values, counts, increments in ((exam, impressions_t, e), (inverse, np.where((e > 0)[:, None], clicks_t, 0),
                                                                   inv)):
        longest = int(counts.max()) if counts.size else 0
        table = _repeated_sum_table(increments, min(longest, 1 << 16))
        _add_repeatedly_kernel(values, np.ascontiguousarray(counts), increments, table)
    imp += impressions_t
    clk += clicks_t


def aggregate_list_clicks(list_stats, lists, clicks, examination):
    """Add sessions of fixed lists to per-(list, rank) statistics in place.

    ``list_stats`` is a :class:`ClickStatistics` whose rows are lists, not
    documents; :func:`scatter_list_statistics` turns it into document rows.
    """
    _aggregate_lists_kernel(
        lists, clicks, examination, list_stats.impressions.T, list_stats.clicks.T, list_stats.examination.T,
        list_stats.inverse_examination_clicks.T,
    )
    list_stats.n_sessions += lists.size


@njit(cache=True)
def _scatter_kernel(table, source, target):
    """target[table[l, r], r] += source[l, r] for every shown slot."""
    n_lists, k = table.shape
    for l in range(n_lists):
        for r in range(k):
            d = table[l, r]
            if d >= 0:
                target[d, r] += source[l, r]


def scatter_list_statistics(stats, list_stats, table):
    """Add per-(list, rank) statistics to per-(document, rank) ``stats``; ``table[l, r]`` is the
    document of list l at rank r (-1: empty slot, whose counts are dropped)."""
    for name in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
        _scatter_kernel(table, getattr(list_stats, name), getattr(stats, name))
    stats.n_sessions += list_stats.n_sessions


def add_expected_impressions(stats, placement, query_sessions, doc_query):
    """Add the expected impressions of sessions to ``stats.expected_impressions`` in place.

    ``placement[d, r]`` is P(d at rank r | a session of d's query) under the
    logging policy, ``query_sessions[q]`` the number of the added sessions of
    query q and ``doc_query[d]`` the query of document row d; the expected
    impressions of (d, r) are ``placement[d, r] * query_sessions[doc_query[d]]``.
    Allocates the field when it is None and ``stats`` holds no session yet.
    """
    placement = np.asarray(placement, dtype=np.float64)
    if placement.shape != stats.impressions.shape:
        raise ValueError(f"placement must have shape {stats.impressions.shape}, got {placement.shape}")
    if stats.expected_impressions is None:
        if stats.n_sessions > 0:
            raise ValueError("these statistics already hold sessions without expected impressions")
        stats.expected_impressions = np.zeros(stats.impressions.shape, dtype=np.float64)
    stats.expected_impressions += placement * np.asarray(query_sessions, dtype=np.float64)[doc_query][:, None]


def aggregate_clicks(stats, displayed, clicks, examination):
    """Add a block of sessions to ``stats`` in place (a streaming aggregation step).

    Parameters
    ----------
    stats : ClickStatistics
        Accumulator created by :meth:`ClickStatistics.empty`.
    displayed : ndarray of shape (n_sessions, k), int
        Document rows shown (-1 for empty slots).
    clicks : ndarray of shape (n_sessions, k), bool
    examination : ndarray of shape (n_sessions, k), float32 or float64
    """
    displayed = np.asarray(displayed)
    if displayed.ndim != 2 or displayed.shape[1] != stats.k:
        raise ValueError(f"displayed must have shape (n_sessions, {stats.k}), got {displayed.shape}")
    if clicks.shape != displayed.shape or examination.shape != displayed.shape:
        raise ValueError(
            f"clicks {clicks.shape} and examination {examination.shape} must match displayed {displayed.shape}"
        )
    if displayed.size and displayed.max() >= stats.n_docs:
        raise ValueError(f"displayed refers to document {displayed.max()} but stats hold {stats.n_docs}")
    _aggregate_kernel(
        np.ascontiguousarray(displayed), np.ascontiguousarray(clicks, dtype=np.bool_),
        np.ascontiguousarray(examination), stats.impressions.T, stats.clicks.T, stats.examination.T,
        stats.inverse_examination_clicks.T,
    )
    stats.n_sessions += displayed.shape[0]
