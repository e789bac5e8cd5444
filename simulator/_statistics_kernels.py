"""Numba kernels of the click statistics: per-list accumulation, per-cell accumulation, repeated sums.

Pure functions over arrays and scalars (no validation); :mod:`simulator._statistics`
validates and calls them.  Every cell is updated by one thread, in session
order, so float sums are identical for any thread count.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def aggregate_lists(lists, clicks, examination, impressions_t, clicks_t, examination_t, inverse_t):
    """Add sessions that show fixed lists (session s shows list ``lists[s]``) to (k, n_lists) accumulators.

    One thread per rank, sessions in order, on arrays small enough to stay in cache.
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


@njit(cache=True, inline="always")
def _add_slot(p, clicked, e, impressions, clicks_out, examination_out, inverse):
    """Add one shown slot (click flag, examination e) to cell p of the per-cell accumulators."""
    impressions[p] += 1
    if clicked:
        clicks_out[p] += 1
        if e > 0:
            inverse[p] += 1.0 / e
    examination_out[p] += e


@njit(cache=True)
def aggregate_cells(position, clicks, examination, impressions, clicks_out, examination_out, inverse):
    """Add a block of sessions to per-cell accumulators; ``position[s, r]`` is the cell of slot (s, r), -1: empty.

    Sessions in order, one addition at a time: a cell's float sums are those
    of the dense per-(document, rank) accumulation, whatever the other cells.
    """
    n_sessions, k = position.shape
    for s in range(n_sessions):
        for r in range(k):
            p = position[s, r]
            if p < 0:
                continue
            _add_slot(p, clicks[s, r], examination[s, r], impressions, clicks_out, examination_out, inverse)


@njit(cache=True, parallel=True)
def count_unknown_slots(displayed, lookup, k):
    """Number of shown slots (s, r) whose cell ``displayed[s, r] * k + r`` has no entry in ``lookup``."""
    n_sessions = displayed.shape[0]
    missing = 0
    for s in prange(n_sessions):
        for r in range(k):
            d = displayed[s, r]
            if d >= 0 and lookup[d * k + r] < 0:
                missing += 1
    return missing


@njit(cache=True)
def unknown_cells(displayed, lookup, k, n_missing):
    """The distinct cells, sorted, of the shown slots that ``lookup`` does not know (``n_missing`` slots).

    Marks each found cell -2 in ``lookup`` to skip its repeats: the table is
    stale afterwards and must be rebuilt.
    """
    out = np.empty(n_missing, dtype=np.int64)
    n = 0
    for s in range(displayed.shape[0]):
        for r in range(k):
            d = displayed[s, r]
            if d >= 0:
                cell = np.int64(d) * k + r
                if lookup[cell] == -1:
                    lookup[cell] = -2
                    out[n] = cell
                    n += 1
    return np.sort(out[:n])


@njit(cache=True, parallel=True)
def aggregate_shown(displayed, lookup, clicks, examination, impressions, clicks_out, examination_out, inverse):
    """:func:`aggregate_cells` reading the cell of slot (s, r) as ``lookup[displayed[s, r] * k + r]``.

    One thread per rank: the cells of different ranks are distinct, and each
    cell still takes its sessions in order (identical sums for any thread count).
    Every shown cell must be in ``lookup``.
    """
    n_sessions, k = displayed.shape
    for r in prange(k):
        for s in range(n_sessions):
            d = displayed[s, r]
            if d < 0:
                continue
            p = lookup[np.int64(d) * k + r]
            _add_slot(p, clicks[s, r], examination[s, r], impressions, clicks_out, examination_out, inverse)


@njit(cache=True)
def repeated_sum_table(increments, length):
    """table[r, n] = 0.0 + increments[r] + ... (n additions, left to right), n = 0..length."""
    table = np.zeros((increments.size, length + 1))
    for r in range(increments.size):
        acc = 0.0
        for n in range(1, length + 1):
            acc += increments[r]
            table[r, n] = acc
    return table


@njit(cache=True, parallel=True)
def add_repeatedly(values, counts, rank, increments, table):
    """values[i] += increments[rank[i]], counts[i] times, one addition at a time.

    Exactly the float sums of adding a constant once per impression in session
    order; a zero start is read from ``table`` (:func:`repeated_sum_table`).
    Every entry is independent of the others (any thread count, same sums).
    """
    length = table.shape[1] - 1
    m = values.size
    block = 4096
    for b in prange((m + block - 1) // block):
        for i in range(b * block, min(m, (b + 1) * block)):
            n = counts[i]
            if n == 0:
                continue
            r = rank[i]
            c = increments[r]
            v = values[i]
            if v == 0.0:
                if n <= length:
                    values[i] = table[r, n]
                    continue
                v = table[r, length]
                n -= length
            for _ in range(n):
                v += c
            values[i] = v


@njit(cache=True)
def row_sums(cells, values, k, out):
    """out[d] += values[i] for the cells i of document d, in cell (rank) order."""
    for i in range(cells.size):
        out[cells[i] // k] += values[i]


@njit(cache=True)
def union_sorted(a, b):
    """(union, position of each a in it, position of each b in it) of two strictly increasing int64 arrays."""
    union = np.empty(a.size + b.size, dtype=np.int64)
    pa = np.empty(a.size, dtype=np.int64)
    pb = np.empty(b.size, dtype=np.int64)
    i = j = n = 0
    while i < a.size or j < b.size:
        if j >= b.size or (i < a.size and a[i] < b[j]):
            union[n] = a[i]
            pa[i] = n
            i += 1
        elif i >= a.size or b[j] < a[i]:
            union[n] = b[j]
            pb[j] = n
            j += 1
        else:
            union[n] = a[i]
            pa[i] = n
            pb[j] = n
            i += 1
            j += 1
        n += 1
    return union[:n], pa, pb
