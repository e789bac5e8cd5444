"""Sufficient statistics of click logs per (document, rank), stored over the shown cells.

Documents are rows of a :class:`~simulator.RankingDataset`, so a (document,
rank) cell is a (query, document, rank) cell.  Every learner and propensity
estimator of clickloop can work from these counts alone, so the cost of a fit
stops growing with the number of sessions once the shown pairs are covered.

Under top-k serving only a small share of the (document, rank) cells is ever
non-zero, so :class:`ClickStatistics` keeps the cells that hold something
(sorted flat indices ``document * k + rank``) and one value per cell and
statistic: its memory follows what was shown, not the number of documents.
Sums of histories (``a + b``) merge the cell lists; the per-document and
per-rank sums a learner needs (:meth:`ClickStatistics.row_sums`,
:meth:`ClickStatistics.rank_sums`, :meth:`ClickStatistics.take`) never build
the dense (n_docs, k) matrix.  The dense attributes (``impressions``, ...)
remain as views materialised on access, bit for bit the arrays of the dense
implementation, for small data and tests (assigning into them writes back).
"""

import numpy as np

from . import _statistics_kernels as _kernels
from .validation import display_indices, read_only

__all__ = ["ClickStatistics", "aggregate_clicks"]

#: The statistics of a cell, in storage order, and their dtypes.
FIELDS = ("impressions", "clicks", "examination", "inverse_examination_clicks", "expected_impressions")
_DTYPES = {"impressions": np.int64, "clicks": np.int64, "examination": np.float64,
           "inverse_examination_clicks": np.float64, "expected_impressions": np.float64}


class _DenseView(np.ndarray):
    """A dense (n_docs, k) materialisation of one statistic; item assignment writes back to its owner."""

    def __array_finalize__(self, obj):
        self._owner = None  # slices and results of operations are plain copies or views, not written back
        self._field = None

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if self._owner is not None:
            self._owner._assign(self._field, np.asarray(self))


class ClickStatistics:
    """Impressions, clicks and summed true examination per (document, rank), over the non-empty cells.

    A streaming accumulator (mutable): :func:`aggregate_clicks` and the
    session simulators add blocks of sessions in place, ``a + b`` merges two.

    Parameters
    ----------
    impressions, clicks : ndarray of shape (n_docs, k), int
        Dense counts (the cells that hold anything are kept).
    examination : ndarray of shape (n_docs, k), float
    n_sessions : int, default=0
    inverse_examination_clicks : ndarray of shape (n_docs, k), float, optional
        Zeros by default.
    expected_impressions : ndarray of shape (n_docs, k), float, optional

    Attributes
    ----------
    n_docs, k : int
        The shape of the dense form.
    n_sessions : int
        Number of sessions aggregated.
    cells : ndarray of shape (n_cells,), int64
        Sorted flat indices ``document * k + rank`` of the stored cells (every
        cell with an impression or an expected impression).
    impressions : ndarray of shape (n_docs, k), int64
        Number of sessions that showed document d at rank r + 1 (a dense view:
        each access builds it; use :meth:`values`, :meth:`take`,
        :meth:`row_sums` or :meth:`rank_sums` on large data).
    clicks : ndarray of shape (n_docs, k), int64
        Number of those sessions with a click on it.
    examination : ndarray of shape (n_docs, k), float64
        Sum of the true examination probabilities of those impressions (the
        oracle propensities); ``examination / impressions`` is their mean.
    inverse_examination_clicks : ndarray of shape (n_docs, k), float64
        Sum over the clicked impressions of 1 / examination: the oracle
        inverse-propensity weight of each click, exact even where the
        examination varies between sessions (cascade models).
    expected_impressions : ndarray of shape (n_docs, k), float64, or None
        Sum over the sessions of P(d at rank r | the session's query) under
        the logging policy that served them (the policy-aware propensity of d
        is sum_r expected_impressions[d, r] theta_r / n_q); None when not
        computed (see ``simulate_sessions``'s ``placement``).

    Examples
    --------
    >>> stats = ClickStatistics.empty(n_docs=3, k=2)
    >>> aggregate_clicks(stats, displayed=np.array([[2, 0], [2, 1]]),
    ...                  clicks=np.array([[True, False], [False, False]]),
    ...                  examination=np.array([[1.0, 0.5], [1.0, 0.5]], dtype=np.float32))
    >>> stats.impressions.tolist(), stats.clicks[2].tolist(), stats.n_sessions
    ([[0, 1], [0, 1], [2, 0]], [1, 0], 2)
    >>> stats.cells.tolist(), stats.values("impressions").tolist(), stats.row_sums("impressions").tolist()
    ([1, 3, 4], [1, 1, 2], [1, 1, 2])
    """

    def __init__(self, impressions, clicks, examination, n_sessions=0, inverse_examination_clicks=None,
                 expected_impressions=None):
        dense = {"impressions": impressions, "clicks": clicks, "examination": examination,
                 "inverse_examination_clicks": inverse_examination_clicks,
                 "expected_impressions": expected_impressions}
        shapes = {np.shape(a) for a in dense.values() if a is not None}
        if len(shapes) != 1 or np.ndim(impressions) != 2:
            raise ValueError(f"the statistics arrays must share one 2-D shape, got {shapes}")
        self.n_docs, self.k = np.shape(impressions)
        self.n_sessions = int(n_sessions)
        self._from_dense(dense)

    # ------------------------------------------------------------------ construction

    @classmethod
    def empty(cls, n_docs, k, *, expected=False):
        """All-zero statistics for ``n_docs`` documents and ``k`` ranks (no cell stored).

        ``expected=True`` also tracks ``expected_impressions`` (zeros).
        """
        if n_docs < 0 or k < 1:
            raise ValueError(f"need n_docs >= 0 and k >= 1, got n_docs={n_docs}, k={k}")
        values = {name: np.zeros(0, dtype=_DTYPES[name]) for name in FIELDS}
        if not expected:
            values["expected_impressions"] = None
        return cls.from_cells(n_docs, k, np.zeros(0, dtype=np.int64), values)

    @classmethod
    def from_cells(cls, n_docs, k, cells, values, n_sessions=0):
        """Statistics from sorted unique flat cells ``document * k + rank`` and one value array per field.

        Parameters
        ----------
        n_docs, k : int
        cells : ndarray of shape (n_cells,), int64, strictly increasing
        values : dict
            ``{field: ndarray of shape (n_cells,)}`` for the fields of
            :data:`FIELDS` (``expected_impressions`` may be missing or None:
            not tracked; the others default to zeros).
        n_sessions : int, default=0
        """
        out = cls.__new__(cls)
        out.n_docs, out.k, out.n_sessions = int(n_docs), int(k), int(n_sessions)
        cells = np.asarray(cells, dtype=np.int64)
        if cells.ndim != 1 or (cells.size and (cells[0] < 0 or cells[-1] >= out.n_docs * out.k
                                                or np.any(np.diff(cells) <= 0))):
            raise ValueError("cells must be strictly increasing flat indices in [0, n_docs * k)")
        out.cells = cells
        out._values = {}
        for name in FIELDS:
            given = values.get(name)
            if given is None:
                out._values[name] = None if name == "expected_impressions" else np.zeros(cells.size, _DTYPES[name])
                continue
            array = np.asarray(given, dtype=_DTYPES[name])
            if array.shape != cells.shape:
                raise ValueError(f"{name} must have shape {cells.shape} (one value per cell), got {array.shape}")
            out._values[name] = array
        out._check()
        return out

    def _from_dense(self, dense):
        arrays = {name: (None if dense.get(name) is None else np.asarray(dense[name])) for name in FIELDS}
        stored = np.zeros((self.n_docs, self.k), dtype=bool)
        for array in arrays.values():
            if array is not None:
                stored |= array != 0
        self.cells = np.flatnonzero(stored).astype(np.int64)
        row, rank = np.divmod(self.cells, self.k)
        self._values = {}
        for name in FIELDS:
            if arrays[name] is None:
                self._values[name] = None if name == "expected_impressions" else np.zeros(self.cells.size,
                                                                                         _DTYPES[name])
            else:
                self._values[name] = arrays[name][row, rank].astype(_DTYPES[name])
        self._check()

    def _check(self):
        impressions, clicks = self._values["impressions"], self._values["clicks"]
        if np.any(clicks > impressions) or np.any(clicks < 0):
            raise ValueError("clicks must lie in 0..impressions in every cell")

    def _assign(self, name, dense):
        """Replace one statistic by a dense array (a write through a dense view)."""
        arrays = {other: self._dense(other) for other in FIELDS if self._values[other] is not None}
        arrays[name] = dense
        self._from_dense(arrays)

    # ------------------------------------------------------------------ shape and cells

    @property
    def shape(self):
        """(n_docs, k): the shape of the dense form."""
        return (self.n_docs, self.k)

    @property
    def n_cells(self):
        """Number of stored cells."""
        return int(self.cells.size)

    @property
    def has_expected(self):
        """Whether ``expected_impressions`` is tracked."""
        return self._values["expected_impressions"] is not None

    def cell_index(self):
        """(document row, rank) of every stored cell, two int64 arrays of shape (n_cells,)."""
        return np.divmod(self.cells, self.k)

    def values(self, name):
        """The stored values of one statistic, one per cell (not a copy: do not modify)."""
        if name not in FIELDS:
            raise ValueError(f"name must be one of {FIELDS}, got {name!r}")
        values = self._values[name]
        if values is None:
            raise ValueError("these statistics do not track expected_impressions")
        return values

    # ------------------------------------------------------------------ reductions without densifying

    def row_sums(self, name, weights=None):
        """Per-document sum over ranks of one statistic (times ``weights[rank]``), ndarray (n_docs,).

        Ranks are added in order, as the dense rank-major arrays summed along
        ``axis=1``: the same floats.  int64 for the counts without weights,
        float64 otherwise.
        """
        values = self.values(name)
        if weights is not None:
            values = values * np.asarray(weights, dtype=np.float64)[self.cells % self.k]
        out = np.zeros(self.n_docs, dtype=values.dtype)
        _kernels.row_sums(self.cells, values, np.int64(self.k), out)
        return out

    def rank_sums(self, name):
        """Per-rank sum over documents of one statistic, ndarray (k,): ``dense.sum(axis=0)`` bit for bit.

        A float column is summed over all ``n_docs`` entries (zeros included)
        in numpy's pairwise order, one rank at a time.
        """
        values = self.values(name)
        row, rank = self.cell_index()
        if values.dtype.kind == "i":  # integer sums are exact in any order
            out = np.zeros(self.k, dtype=values.dtype)
            np.add.at(out, rank, values)
            return out
        out = np.zeros(self.k)
        column = np.zeros(self.n_docs)
        for r in range(self.k):
            at = rank == r
            column[row[at]] = values[at]
            out[r] = column.sum()
            column[row[at]] = 0.0
        return out

    def total(self, name):
        """Sum of one statistic over every cell (exact for the counts)."""
        return self.values(name).sum()

    def take(self, name, rows):
        """Dense (len(rows), k) block of one statistic for the given document rows (C order).

        What ``dense[rows]`` gives, without building the dense array.
        """
        values = self.values(name)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((rows.size, self.k), dtype=values.dtype)
        if rows.size == 0 or self.cells.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        doc, rank = self.cell_index()
        lo = np.searchsorted(doc, sorted_rows, side="left")
        hi = np.searchsorted(doc, sorted_rows, side="right")
        counts = hi - lo
        if counts.sum() == 0:
            return out
        which = np.repeat(np.arange(rows.size), counts)  # position in sorted_rows of each gathered cell
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        source = starts + np.arange(which.size)
        out[order[which], rank[source]] = values[source]
        return out

    # ------------------------------------------------------------------ dense views

    def _dense(self, name):
        values = self._values[name]
        if values is None:
            return None
        out = np.zeros((self.k, self.n_docs), dtype=_DTYPES[name]).T  # rank-major, as the dense accumulators
        row, rank = self.cell_index()
        out[row, rank] = values
        return out

    def _view(self, name):
        dense = self._dense(name)
        if dense is None:
            return None
        view = dense.view(_DenseView)
        view._owner, view._field = self, name
        return view

    def _set(self, name, dense):
        if dense is None:
            if name != "expected_impressions":
                raise ValueError(f"{name} cannot be None")
            self._values[name] = None
            return
        if np.shape(dense) != self.shape:
            raise ValueError(f"{name} must have shape {self.shape}, got {np.shape(dense)}")
        self._assign(name, np.asarray(dense))

    impressions = property(lambda self: self._view("impressions"), lambda self, v: self._set("impressions", v),
                           doc="Dense view of the impressions, ndarray (n_docs, k) int64.")
    clicks = property(lambda self: self._view("clicks"), lambda self, v: self._set("clicks", v),
                      doc="Dense view of the clicks, ndarray (n_docs, k) int64.")
    examination = property(lambda self: self._view("examination"), lambda self, v: self._set("examination", v),
                           doc="Dense view of the summed examination, ndarray (n_docs, k) float64.")
    inverse_examination_clicks = property(
        lambda self: self._view("inverse_examination_clicks"),
        lambda self, v: self._set("inverse_examination_clicks", v),
        doc="Dense view of the summed inverse examination of the clicks, ndarray (n_docs, k) float64.")
    expected_impressions = property(
        lambda self: self._view("expected_impressions"), lambda self, v: self._set("expected_impressions", v),
        doc="Dense view of the expected impressions, ndarray (n_docs, k) float64, or None.")

    def ctr(self):
        """Click-through rate per (document, rank), dense; NaN where never shown."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.clicks) / np.where(self.impressions > 0, np.asarray(self.impressions), np.nan)

    @property
    def nbytes(self):
        """Bytes held by the cells and their values."""
        return self.cells.nbytes + sum(v.nbytes for v in self._values.values() if v is not None)

    # ------------------------------------------------------------------ cell lookup

    def _cell_lookup(self):
        """Table of flat cell -> position in ``cells`` (-1: not stored), cached while ``cells`` is unchanged."""
        cached = getattr(self, "_lookup", None)
        if cached is not None and cached[0] is self.cells:
            return cached[1]
        dtype = np.int32 if self.cells.size < np.iinfo(np.int32).max else np.int64
        lookup = np.full(self.n_docs * self.k, -1, dtype=dtype)
        lookup[self.cells] = np.arange(self.cells.size, dtype=dtype)
        self._lookup = (self.cells, lookup)
        return lookup

    def release_lookup(self):
        """Free the cell lookup table that :func:`aggregate_clicks` keeps between blocks."""
        self._lookup = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lookup", None)
        return state

    # ------------------------------------------------------------------ merging

    def merge_cells(self, cells, values, n_sessions=0):
        """Add per-cell values (sorted unique ``cells``, ``{field: array}``) in place: ``self + those``.

        Each stored value becomes ``mine + theirs`` (zero where a side has no
        cell): the floats of the dense elementwise sum.  ``expected_impressions``
        in ``values`` must be given exactly when ``self`` tracks it or holds no session.
        """
        cells = np.asarray(cells, dtype=np.int64)
        theirs_expected = values.get("expected_impressions") is not None
        if theirs_expected and not self.has_expected:
            if self.n_sessions > 0:
                raise ValueError("these statistics already hold sessions without expected impressions")
            self._values["expected_impressions"] = np.zeros(self.cells.size)
        if np.array_equal(cells, self.cells):
            union, mine, their = self.cells, None, None
        else:
            union, mine, their = _kernels.union_sorted(self.cells, cells)
        for name in FIELDS:
            current = self._values[name]
            if current is None:
                continue
            add = values.get(name)
            if mine is None:
                out = current.copy()
            else:
                out = np.zeros(union.size, dtype=_DTYPES[name])
                out[mine] = current
            if add is not None:
                if mine is None:
                    out += add
                else:
                    out[their] += add  # cells are unique: no repeated index
            self._values[name] = out
        self.cells = union
        self.n_sessions += int(n_sessions)

    def __add__(self, other):
        if not isinstance(other, ClickStatistics) or other.shape != self.shape:
            return NotImplemented
        # Expected impressions add up where both sides know them; a side without them counts
        # only if it holds no session (an empty accumulator), else the sum would be wrong.
        known = [s for s in (self, other) if s.has_expected]
        unknown = [s for s in (self, other) if not s.has_expected and s.n_sessions > 0]
        if known and unknown:
            raise ValueError("cannot add statistics with expected_impressions to statistics of sessions "
                             "without them (simulate both with placement=True)")
        out = ClickStatistics.empty(self.n_docs, self.k, expected=bool(known))
        for side in (self, other):
            values = dict(side._values)
            if known and values["expected_impressions"] is None:
                values["expected_impressions"] = np.zeros(side.cells.size)
            out.merge_cells(side.cells, values, side.n_sessions)
        return out

    def equals(self, other):
        """Exact equality of every count and sum (``expected_impressions`` included, None equals None).

        Cells stored with all-zero values do not count: equality is of the dense forms.
        """
        if not isinstance(other, ClickStatistics) or other.shape != self.shape or \
                other.n_sessions != self.n_sessions or other.has_expected != self.has_expected:
            return False
        cells = np.union1d(self.cells, other.cells)
        for name in FIELDS:
            if self._values[name] is None:
                continue
            mine = np.zeros(cells.size, _DTYPES[name])
            mine[np.searchsorted(cells, self.cells)] = self._values[name]
            theirs = np.zeros(cells.size, _DTYPES[name])
            theirs[np.searchsorted(cells, other.cells)] = other._values[name]
            if not np.array_equal(mine, theirs):
                return False
        return True

    def __repr__(self):
        return (f"ClickStatistics(n_docs={self.n_docs}, k={self.k}, n_sessions={self.n_sessions}, "
                f"n_cells={self.n_cells}, expected={self.has_expected})")


def _rank_of_cells(cells, k):
    return (cells % k).astype(np.int64)


def add_constant_examination(stats, cells, impressions, clicks, examination):
    """Add counted sessions whose examination at rank r is the constant ``examination[r]``.

    ``cells`` (sorted unique) and ``impressions``, ``clicks`` (int64, per
    cell) are the counts to add.  The float sums equal those of
    :func:`aggregate_clicks` adding ``examination`` (float32, as a click model
    returns it) once per impression and its inverse once per click, in any
    session order, because every addition to a cell adds the same number.
    """
    e = np.asarray(examination, dtype=np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(e > 0, 1.0 / np.where(e > 0, e, 1.0), 0.0)
    stats.merge_cells(cells, {"impressions": impressions, "clicks": clicks})
    position = np.searchsorted(stats.cells, cells)
    rank = _rank_of_cells(cells, stats.k)
    for name, counts, increments in (("examination", impressions, e),
                                     ("inverse_examination_clicks", np.where(e[rank] > 0, clicks, 0), inv)):
        values = stats._values[name][position]
        longest = int(counts.max()) if counts.size else 0
        table = _kernels.repeated_sum_table(increments, min(longest, 1 << 16))
        _kernels.add_repeatedly(values, np.ascontiguousarray(counts, dtype=np.int64), rank, increments, table)
        stats._values[name][position] = values


def add_constant_examination_dense(arrays_t, impressions_t, clicks_t, examination):
    """:func:`add_constant_examination` on dense rank-major (k, n) accumulators (per-list statistics).

    ``arrays_t`` are ``(impressions, clicks, examination, inverse)`` of shape
    (k, n), updated in place.
    """
    imp, clk, exam, inverse = arrays_t
    k, n = imp.shape
    e = np.asarray(examination, dtype=np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(e > 0, 1.0 / np.where(e > 0, e, 1.0), 0.0)
    rank = np.repeat(np.arange(k, dtype=np.int64), n)
    for values, counts, increments in ((exam, impressions_t, e), (inverse, np.where((e > 0)[:, None], clicks_t, 0),
                                                                   inv)):
        longest = int(counts.max()) if counts.size else 0
        table = _kernels.repeated_sum_table(increments, min(longest, 1 << 16))
        flat = np.ascontiguousarray(values).reshape(-1)
        _kernels.add_repeatedly(flat, np.ascontiguousarray(counts, dtype=np.int64).reshape(-1), rank, increments,
                                table)
        values[...] = flat.reshape(k, n)
    imp += impressions_t
    clk += clicks_t


def list_accumulators(n_lists, k):
    """Rank-major (k, n_lists) accumulators of per-(list, rank) sessions:
    ``(impressions, clicks, examination, inverse_examination_clicks)``."""
    return (np.zeros((k, n_lists), dtype=np.int64), np.zeros((k, n_lists), dtype=np.int64),
            np.zeros((k, n_lists)), np.zeros((k, n_lists)))


def aggregate_list_clicks(list_arrays, lists, clicks, examination):
    """Add sessions of fixed lists to per-(list, rank) accumulators (:func:`list_accumulators`) in place."""
    _kernels.aggregate_lists(lists, clicks, examination, *list_arrays)


def scatter_list_statistics(stats, list_arrays, table, n_sessions):
    """Add per-(list, rank) accumulators to ``stats``; ``table[l, r]`` is the document of list l at rank r
    (-1: empty slot, whose counts are dropped).  Each shown slot is one (document, rank) cell."""
    shown = table >= 0
    lists, rank = np.nonzero(shown)
    cells = table[lists, rank].astype(np.int64) * stats.k + rank
    order = np.argsort(cells, kind="stable")
    cells = cells[order]
    if cells.size > 1 and np.any(np.diff(cells) == 0):
        raise ValueError("a (document, rank) cell appears in two lists")
    values = {name: array[rank[order], lists[order]] for name, array in
              zip(("impressions", "clicks", "examination", "inverse_examination_clicks"), list_arrays)}
    stats.merge_cells(cells, values, n_sessions)


def add_expected_impressions(stats, placement, query_sessions, doc_query):
    """Add the expected impressions of sessions to ``stats`` in place.

    ``placement[d, r]`` is P(d at rank r | a session of d's query) under the
    logging policy, ``query_sessions[q]`` the number of the added sessions of
    query q and ``doc_query[d]`` the query of document row d; the expected
    impressions of (d, r) are ``placement[d, r] * query_sessions[doc_query[d]]``.
    Starts tracking them when ``stats`` holds no session yet.
    """
    placement = np.asarray(placement, dtype=np.float64)
    if placement.shape != stats.shape:
        raise ValueError(f"placement must have shape {stats.shape}, got {placement.shape}")
    if not stats.has_expected and stats.n_sessions > 0:
        raise ValueError("these statistics already hold sessions without expected impressions")
    expected = placement * np.asarray(query_sessions, dtype=np.float64)[doc_query][:, None]
    cells = np.flatnonzero(expected).astype(np.int64)
    values = {"expected_impressions": expected.reshape(-1)[cells]}
    if not stats.has_expected:
        stats._values["expected_impressions"] = np.zeros(stats.cells.size)
    stats.merge_cells(cells, values)


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

    Notes
    -----
    For documents x ranks up to a few blocks' slots, ``stats`` keeps a table
    of its stored cells between calls (4 or 8 bytes per document and rank);
    call ``stats.release_lookup()`` after the last block to free it.
    """
    displayed = np.asarray(displayed)
    if displayed.ndim != 2 or displayed.shape[1] != stats.k:
        raise ValueError(f"displayed must have shape (n_sessions, {stats.k}), got {displayed.shape}")
    if clicks.shape != displayed.shape or examination.shape != displayed.shape:
        raise ValueError(
            f"clicks {clicks.shape} and examination {examination.shape} must match displayed {displayed.shape}"
        )
    displayed = display_indices(displayed, stats.n_docs, f"stats hold {stats.n_docs}")
    values = stats._values
    clicks = read_only(np.ascontiguousarray(clicks, dtype=np.bool_))
    examination = read_only(np.ascontiguousarray(examination))
    n_cells = stats.n_docs * stats.k
    if n_cells <= max(4 * displayed.size, 1 << 22):  # a lookup table no larger than a few blocks
        # O(block) per block: the table of stored cells is kept across blocks (rebuilt only when
        # a block shows new cells) until release_lookup(); no sort, no search, no flat-cell copy.
        lookup = stats._cell_lookup()
        missing = _kernels.count_unknown_slots(displayed, lookup, stats.k)
        if missing:
            new = _kernels.unknown_cells(displayed, lookup, stats.k, missing)  # leaves the table stale
            stats.release_lookup()
            stats.merge_cells(new, {})
            lookup = stats._cell_lookup()
        _kernels.aggregate_shown(displayed, lookup, clicks, examination, values["impressions"], values["clicks"],
                                 values["examination"], values["inverse_examination_clicks"])
    else:
        flat = displayed.astype(np.int64) * stats.k + np.arange(stats.k, dtype=np.int64)
        flat[displayed < 0] = -1
        new = np.unique(flat[flat >= 0])  # sorted, unique
        at = np.searchsorted(stats.cells, new)
        known = at < stats.cells.size
        known[known] = stats.cells[at[known]] == new[known]
        if not known.all():
            stats.merge_cells(new[~known], {})
        position = np.where(flat >= 0, np.searchsorted(stats.cells, flat), -1)
        _kernels.aggregate_cells(position, clicks, examination, values["impressions"], values["clicks"],
                                 values["examination"], values["inverse_examination_clicks"])
    stats.n_sessions += displayed.shape[0]
