"""Numba kernels of the logging policies.

Pure functions over arrays and scalars: no validation, no objects.  Ranking
kernels fill ``out`` (``int32`` array of shape (n_sessions, depth)) with the
global document rows shown at ranks 1..depth of each session, and -1 where the
session's query has fewer than ``depth`` candidates (the padding is always at
the tail).  Randomness comes from :mod:`simulator.kernels`: draw ``c`` of session
``s`` is ``uniform(session_key(key, first_session + s), c)``, so a kernel's
output does not depend on the block size, on the number of numba threads or
on whether the compiled kernel or its ``.py_func`` runs.

Conventions shared by all kernels
---------------------------------
queries : int64 array (n_sessions,)
    Query of each session.
boundaries : int64 array (n_queries + 1,)
    CSR offsets: the candidates of query q are the rows
    ``boundaries[q]:boundaries[q + 1]``.
order : int32 array (n_docs,)
    Global rows of every query's candidates, sorted by score descending (ties
    by lower row), laid out with the same ``boundaries``: the deterministic
    ranking.

Counters
--------
Plackett-Luce: draws 0, 1, ... in turn rank the first n_sequential ranks
(each draw of the rejection phase proposes one candidate from the alias
table, each draw of the inverse-CDF phase picks the document of one rank);
beyond, draw ``_RACE_COUNTER + p`` (2**40 + p) is the race time of the
candidate at position p of the weight order; in a query whose weights span
beyond exp(700), draw ``i`` is the race time of the i-th candidate.
Uniform permutation: draw ``j`` picks the document of rank j (partial
Fisher-Yates).  Epsilon-greedy: draw 0 decides exploration, draws 1.. are the
uniform permutation.  Interventions run on their own key and use draws 0, 1, ...
"""

import math

import numpy as np
from numba import njit, prange

from simulator.kernels import affine_click
from simulator.kernels import session_key, uniform

BLOCK = 2048
# The Plackett-Luce races keep the best race times by insertion up to this
# many and sort all race times of the session beyond it.
_INSERTION_DEPTH = 32
# Counter of the race time of position 0 beyond the sequential Plackett-Luce ranks
# (above any counter that rejection and inverse CDF can reach).
_RACE_COUNTER = 1 << 40
# Queries per parallel work item of the fused Plackett-Luce session kernel.
_QUERY_GROUP = 16


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _uniform_index(u, n):
    """floor(u * n) for u in [0, 1), guarded against rounding up to n."""
    i = np.int64(u * n)
    return i if i < n else n - 1


@njit(cache=True)
def stable_argsort(keys, n, index, scratch):
    """Order of keys[:n] ascending, equal keys in index order (bottom-up merge sort).

    Writes the order into ``index`` or ``scratch`` and returns the one holding
    it.  A small hand-written sort: numba's ``np.argsort(kind="mergesort")``
    costs seconds of compile time in every kernel that uses it.
    """
    for i in range(n):
        index[i] = i
    src = index
    dst = scratch
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            o = lo
            while i < mid and j < hi:
                if keys[src[j]] < keys[src[i]]:
                    dst[o] = src[j]
                    j += 1
                else:
                    dst[o] = src[i]
                    i += 1
                o += 1
            while i < mid:
                dst[o] = src[i]
                i += 1
                o += 1
            while j < hi:
                dst[o] = src[j]
                j += 1
                o += 1
        src, dst = dst, src
        width *= 2
    return src


# --------------------------------------------------------------------------
# Deterministic ranking
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def sorted_by_score(scores, boundaries):
    """Rows of every query sorted by score descending, ties by lower row (int32, CSR).

    Queries are sorted independently, in parallel blocks: the order does not
    depend on the thread count.
    """
    n_queries = boundaries.size - 1
    order = np.empty(scores.size, dtype=np.int32)
    largest = 0
    for q in range(n_queries):
        largest = max(largest, boundaries[q + 1] - boundaries[q])
    n_blocks = (n_queries + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        index = np.empty(largest, dtype=np.int64)
        scratch = np.empty(largest, dtype=np.int64)
        keys = np.empty(largest, dtype=np.float64)
        for q in range(b * BLOCK, min(n_queries, (b + 1) * BLOCK)):
            start, stop = boundaries[q], boundaries[q + 1]
            for i in range(stop - start):  # a stable sort of the negated scores keeps ties in row order
                keys[i] = -scores[start + i]
            local = stable_argsort(keys, stop - start, index, scratch)
            for i in range(stop - start):
                order[start + i] = start + local[i]
    return order


@njit(cache=True)
def top_table(order, boundaries, depth):
    """First ``depth`` rows of every query's deterministic ranking, -1 padded."""
    n_queries = boundaries.size - 1
    table = np.full((n_queries, depth), -1, dtype=np.int32)
    for q in range(n_queries):
        start = boundaries[q]
        m = min(depth, boundaries[q + 1] - start)
        for j in range(m):
            table[q, j] = order[start + j]
    return table


@njit(cache=True, parallel=True)
def gather_rows(queries, table, out):
    """out[s] = table[queries[s]]: the deterministic ranking is a gather."""
    n_sessions, depth = out.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            for j in range(depth):
                out[s, j] = table[q, j]


@njit(cache=True, parallel=True)
def gather_prefix(queries, order, boundaries, out):
    """Deterministic ranking to any depth, read from ``order``."""
    n_sessions, depth = out.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            start = boundaries[q]
            m = min(depth, boundaries[q + 1] - start)
            for j in range(m):
                out[s, j] = order[start + j]
            for j in range(m, depth):
                out[s, j] = -1


# --------------------------------------------------------------------------
# Uniform permutations
# --------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _uniform_prefix(skey, counter0, start, n, m, out, s, scratch_pos, scratch_val):
    """First m entries of a uniform permutation of rows start..start+n-1.

    Partial Fisher-Yates over the virtual array a[p] = p: step j draws
    r = j + floor(u * (n - j)) with draw ``counter0 + j``, shows a[r] at rank
    j and moves a[j] to position r.  Only the <= m positions ever written are
    stored (linear search), so the cost is O(m^2), not O(n).
    """
    n_set = 0
    for j in range(m):
        r = j + _uniform_index(uniform(skey, counter0 + j), n - j)
        # value at r (default r) and at j (default j)
        vr = r
        vj = j
        ir = -1
        for t in range(n_set):
            p = scratch_pos[t]
            if p == r:
                vr = scratch_val[t]
                ir = t
            if p == j:
                vj = scratch_val[t]
        out[s, j] = start + vr
        # a[r] = a[j]; position j is never read again.
        if ir >= 0:
            scratch_val[ir] = vj
        else:
            scratch_pos[n_set] = r
            scratch_val[n_set] = vj
            n_set += 1


@njit(cache=True, parallel=True)
def uniform_rank(queries, boundaries, first_session, key, out):
    """Top ``depth`` of a uniformly random permutation of each query's candidates."""
    n_sessions, depth = out.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        scratch_pos = np.empty(depth, dtype=np.int64)
        scratch_val = np.empty(depth, dtype=np.int64)
        for s in range(b * BLOCK, stop):
            skey = session_key(key, first_session + s)
            q = queries[s]
            start = boundaries[q]
            n = boundaries[q + 1] - start
            m = min(depth, n)
            _uniform_prefix(skey, 0, start, n, m, out, s, scratch_pos, scratch_val)
            for j in range(m, depth):
                out[s, j] = -1


@njit(cache=True, parallel=True)
def epsilon_greedy_rank(queries, order, boundaries, epsilon, first_session, key, out):
    """With probability epsilon a uniform permutation (draws 1..), else ``order``."""
    n_sessions, depth = out.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        scratch_pos = np.empty(depth, dtype=np.int64)
        scratch_val = np.empty(depth, dtype=np.int64)
        for s in range(b * BLOCK, stop):
            skey = session_key(key, first_session + s)
            q = queries[s]
            start = boundaries[q]
            n = boundaries[q + 1] - start
            m = min(depth, n)
            if uniform(skey, 0) < epsilon:
                _uniform_prefix(skey, 1, start, n, m, out, s, scratch_pos, scratch_val)
            else:
                for j in range(m):
                    out[s, j] = order[start + j]
            for j in range(m, depth):
                out[s, j] = -1


# --------------------------------------------------------------------------
# Plackett-Luce
# --------------------------------------------------------------------------

@njit(cache=True)
def suffix_sums(weight, boundaries, tail):
    """tail[start + p] = weight[start + p] + tail[start + p + 1] within each query (0 beyond).

    Summed from the end of each query, one addition at a time, in exactly the
    order :func:`plackett_luce_rank` relies on (see there).
    """
    n_queries = boundaries.size - 1
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        acc = 0.0
        for p in range(stop - 1, start - 1, -1):
            acc = weight[p] + acc
            tail[p] = acc


@njit(cache=True, inline="always")
def _exponential(u):
    """E = -log(u), an Exp(1) variate of a uniform u in [0, 1); u = 0 gives inf."""
    return -math.log(u) if u > 0.0 else np.inf


@njit(cache=True)
def _earliest(times, n, m, best_t, best_i, index, scratch):
    """Indices of the m smallest of times[:n], ascending, equal times by lower index.

    Insertion into ``best_t``/``best_i`` up to ``_INSERTION_DEPTH``, a stable
    merge sort of all n beyond; returns the array holding the indices.
    """
    if m > _INSERTION_DEPTH:
        return stable_argsort(times, n, index, scratch)
    filled = 0
    for i in range(n):
        t = times[i]
        if filled == m:
            if t >= best_t[m - 1]:
                continue
            pos = m - 1
        else:
            pos = filled
            filled += 1
        while pos > 0 and best_t[pos - 1] > t:
            best_t[pos] = best_t[pos - 1]
            best_i[pos] = best_i[pos - 1]
            pos -= 1
        best_t[pos] = t
        best_i[pos] = i
    return best_i


@njit(cache=True)
def alias_tables(weight, boundaries, prob, alias):
    """Walker's alias tables of every query's weights (Vose's construction), local positions.

    Position p of query q (row ``start + p``) keeps itself when the fractional
    part of ``u * n_q`` is below ``prob[start + p]`` and gives ``alias[start + p]``
    otherwise, so one uniform u draws position p with probability
    w_p / sum(w) (to rounding).
    """
    n_queries = boundaries.size - 1
    largest = 0
    for q in range(n_queries):
        largest = max(largest, boundaries[q + 1] - boundaries[q])
    small = np.empty(largest, dtype=np.int64)
    large = np.empty(largest, dtype=np.int64)
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        n = stop - start
        total = 0.0
        for p in range(n):
            total += weight[start + p]
        n_small = 0
        n_large = 0
        for p in range(n):
            v = weight[start + p] * n / total
            prob[start + p] = v
            alias[start + p] = p
            if v < 1.0:
                small[n_small] = p
                n_small += 1
            else:
                large[n_large] = p
                n_large += 1
        while n_small > 0 and n_large > 0:
            n_small -= 1
            a = small[n_small]
            g = large[n_large - 1]
            alias[start + a] = g
            prob[start + g] = (prob[start + g] + prob[start + a]) - 1.0
            if prob[start + g] < 1.0:
                n_large -= 1
                small[n_small] = g
                n_small += 1
        # what is left is 1 up to rounding
        for t in range(n_large):
            prob[start + large[t]] = 1.0
        for t in range(n_small):
            prob[start + small[t]] = 1.0


@njit(cache=True, parallel=True)
def plackett_luce_rank(queries, boundaries, order, weight, tail, alias_prob, alias_index, log_inv_weight, wide,
                       n_sequential, rejection_mass, max_size, first_session, key, out):
    """Plackett-Luce sampling without replacement: about one uniform draw per shown rank.

    The candidates of a query are kept in ``order`` (weight descending, ties by
    lower row); ``weight[start + p]`` = w_p = exp((s - max_q s) / T) of the
    candidate at position p, all in (0, 1] for a query that is not ``wide``,
    ``tail`` its suffix sums (:func:`suffix_sums`) and ``alias_prob``,
    ``alias_index`` its alias tables (:func:`alias_tables`).  Each session is
    ranked by :func:`_plackett_luce_session`.
    """
    n_blocks = (out.shape[0] + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        # np.int64: the parfor index is unsigned after lowering; one signature only
        _plackett_luce_block(np.int64(b), queries, boundaries, order, weight, tail, alias_prob, alias_index,
                             log_inv_weight, wide, n_sequential, rejection_mass, max_size, first_session, key, out)


@njit(cache=True)
def _count_above(values, n, y):
    """Number of values[:n] > y (a loop over a view indexed from 0: vectorised)."""
    count = 0
    for p in range(n):
        count += values[p] > y
    return count


@njit(cache=True, inline="always")
def _plackett_luce_session(skey, q, boundaries, order, weight, tail, alias_prob, alias_index, log_inv_weight,
                           wide, n_sequential, rejection_mass, shown, hole_pos, hole_w, hole_below, times, rest,
                           index, scratch, best_t, best_i, out, s):
    """Rank one session of query q into ``out[s]`` (draws of the session key ``skey``).

    Ranks j < n_sequential, first by rejection: while the candidates shown
    weigh less than ``rejection_mass`` of the query's total, draw c (counters
    0, 1, ...) picks a position from the alias table of all the weights and is
    kept unless it is shown already; the accepted position is a draw of w_i /
    (remaining weights), the Plackett-Luce step, with at least
    1 - rejection_mass acceptance per draw.  Then by inverse CDF (the next
    counters, one per rank): let f be the frontier (positions < f are all
    shown) and H the shown positions beyond it (the holes, kept sorted with
    their weights).  The remaining mass is W = tail[f] - sum_{h in H} w_h,
    x = u * W is a point of the line with the holes collapsed, and adding
    w_h for every hole whose interval starts at or below it (from the bottom
    up) maps it back to y; the position shown is the one whose interval holds
    y, found by counting the suffix sums above y.

    Floating point of the inverse CDF: the weights are sorted descending, so
    every hole weighs <= w_f and W >= tail[f] / depth: the subtraction loses
    at most log2(depth) bits.  tail[p] <= (n_q - p) w_p, so the interval of
    every position has width w_p to about n_q roundings relative to w_p
    itself.  Rounding is monotone and ``tail`` is built with the same
    additions, so y never falls inside a hole; y >= tail[f] (a rounding at
    the top) gives position f.  A hole found anyway is replaced by f,
    deterministically.

    Ranks n_sequential.. (only when depth > n_sequential): the remaining
    candidates race, position p arriving at E_p / w_p, E_p = -log(u) of draw
    ``_RACE_COUNTER + p``; the ranking continues in order of arrival, which is
    the Plackett-Luce distribution of the rest given the ranks already drawn.
    Every rank depends only on the ranks above it and its own draws, so a
    ranking to a smaller depth is always the prefix of a deeper one.

    Queries flagged ``wide`` (weights spanning beyond exp(700), where the
    smallest would underflow) race in log time instead: candidate i (row
    start + i) arrives at log(E_i) + log_inv_weight[start + i], E_i of draw i.
    """
    depth = out.shape[1]
    start = boundaries[q]
    n = boundaries[q + 1] - start
    m = min(depth, n)
    if wide[q]:
        for i in range(n):
            times[i] = math.log(_exponential(uniform(skey, i))) + log_inv_weight[start + i]
        arrival = _earliest(times, n, m, best_t, best_i, index, scratch)
        for j in range(m):
            out[s, j] = start + arrival[j]
    else:
        # views indexed from 0: no negative-index handling in the loops
        tail_q = tail[start:start + n]
        weight_q = weight[start:start + n]
        order_q = order[start:start + n]
        prob_q = alias_prob[start:start + n]
        alias_q = alias_index[start:start + n]
        first = min(m, n_sequential)
        limit = rejection_mass * tail_q[0] if n > 0 else 0.0
        mass = 0.0
        counter = 0
        j = 0
        mask = np.uint64(0)  # positions shown, when n <= 64: branch-free acceptance
        while j < first and mass < limit:
            x = uniform(skey, counter) * n
            counter += 1
            i = min(np.int64(x), n - 1)
            a = np.int64(alias_q[i])
            i = a if x - i >= prob_q[i] else i
            if n <= 64:
                bit = np.uint64(1) << np.uint64(i)
                fresh = (mask & bit) == 0
                mask |= bit
            else:
                fresh = True
                for t in range(j):
                    if shown[t] == i:
                        fresh = False
            # written either way; kept only when j advances
            shown[j] = i
            out[s, j] = order_q[i]
            mass += weight_q[i] * fresh
            j += fresh
        if j < first or m > first:
            # frontier and holes of the positions shown so far
            for a in range(1, j):
                v = shown[a]
                r = a
                while r > 0 and shown[r - 1] > v:
                    shown[r] = shown[r - 1]
                    r -= 1
                shown[r] = v
            f = 0
            t = 0
            while t < j and shown[t] == f:
                f += 1
                t += 1
            n_holes = 0
            hole_mass = 0.0
            for h in range(t, j):
                p = shown[h]
                hole_pos[n_holes] = p
                hole_w[n_holes] = weight_q[p]
                hole_below[n_holes] = tail_q[p + 1] if p + 1 < n else 0.0
                hole_mass += weight_q[p]
                n_holes += 1
            for jj in range(j, first):
                y = uniform(skey, counter) * (tail_q[f] - hole_mass)
                counter += 1
                for h in range(n_holes - 1, -1, -1):
                    if hole_below[h] > y:
                        break
                    y += hole_w[h]
                i = max(f, _count_above(tail_q, n, y) - 1)
                if i != f:
                    # insert i into H (ascending)
                    r = n_holes
                    while r > 0 and hole_pos[r - 1] > i:
                        hole_pos[r] = hole_pos[r - 1]
                        hole_w[r] = hole_w[r - 1]
                        hole_below[r] = hole_below[r - 1]
                        r -= 1
                    if r > 0 and hole_pos[r - 1] == i:
                        # a hole: impossible by monotone rounding; undo, show f instead
                        for h in range(r, n_holes):
                            hole_pos[h] = hole_pos[h + 1]
                            hole_w[h] = hole_w[h + 1]
                            hole_below[h] = hole_below[h + 1]
                        i = f
                    else:
                        hole_pos[r] = i
                        hole_w[r] = weight_q[i]
                        hole_below[r] = tail_q[i + 1] if i + 1 < n else 0.0
                        n_holes += 1
                        hole_mass += weight_q[i]
                if i == f:
                    # advance the frontier over f and the holes right after it
                    f += 1
                    lead = 0
                    while lead < n_holes and hole_pos[lead] == f:
                        lead += 1
                        f += 1
                    if lead > 0:
                        n_holes -= lead
                        hole_mass = 0.0
                        for h in range(n_holes):
                            hole_pos[h] = hole_pos[h + lead]
                            hole_w[h] = hole_w[h + lead]
                            hole_below[h] = hole_below[h + lead]
                            hole_mass += hole_w[h]
                out[s, jj] = order_q[i]
            if m > first:
                # the race over the candidates not shown yet, in position order
                n_rest = 0
                h = 0
                for p in range(f, n):
                    if h < n_holes and hole_pos[h] == p:
                        h += 1
                        continue
                    rest[n_rest] = p
                    times[n_rest] = _exponential(uniform(skey, _RACE_COUNTER + p)) / weight_q[p]
                    n_rest += 1
                arrival = _earliest(times, n_rest, m - first, best_t, best_i, index, scratch)
                for j2 in range(m - first):
                    out[s, first + j2] = order_q[rest[arrival[j2]]]
    for j3 in range(m, depth):
        out[s, j3] = -1


@njit(cache=True)
def _plackett_luce_block(b, queries, boundaries, order, weight, tail, alias_prob, alias_index, log_inv_weight,
                         wide, n_sequential, rejection_mass, max_size, first_session, key, out):
    """Sessions of block b of :func:`plackett_luce_rank` (a plain function: quick to compile)."""
    n_sessions, depth = out.shape
    stop = min(n_sessions, (b + 1) * BLOCK)
    capacity = max(n_sequential, 1)
    shown = np.empty(capacity, dtype=np.int64)
    hole_pos = np.empty(capacity, dtype=np.int64)   # H, ascending
    hole_w = np.empty(capacity, dtype=np.float64)
    hole_below = np.empty(capacity, dtype=np.float64)  # tail[h + 1]: where h's interval starts
    times = np.empty(max_size, dtype=np.float64)
    rest = np.empty(max_size, dtype=np.int64)
    index = np.empty(max_size, dtype=np.int64)
    scratch = np.empty(max_size, dtype=np.int64)
    best_t = np.empty(max(depth, 1), dtype=np.float64)
    best_i = np.empty(max(depth, 1), dtype=np.int64)
    for s in range(b * BLOCK, stop):
        skey = session_key(key, first_session + s)
        _plackett_luce_session(skey, queries[s], boundaries, order, weight, tail, alias_prob, alias_index,
                               log_inv_weight, wide, n_sequential, rejection_mass, shown, hole_pos, hole_w,
                               hole_below, times, rest, index, scratch, best_t, best_i, out, s)


@njit(cache=True, parallel=True)
def plackett_luce_affine_counts(by_query, query_offsets, first_session, policy_key, click_key, boundaries, order,
                                weight, tail, alias_prob, alias_index, log_inv_weight, wide, n_sequential,
                                rejection_mass, max_size, depth, theta, eps_minus, eps_slope, relevance,
                                impressions_t, clicks_t):
    """Rank sessions by Plackett-Luce, click them by an affine model (PBM, trust bias) and count.

    ``by_query[query_offsets[q]:query_offsets[q + 1]]`` are the block indices
    of the sessions of query q (global index ``first_session + i``).  Session
    i shows what :func:`plackett_luce_rank` shows it and clicks as
    the simulator's affine click kernel clicks it, with the same
    keys; ``impressions_t[r, d]`` and ``clicks_t[r, d]`` (rank-major int64)
    count its impressions and clicks.  One thread owns whole queries, whose
    candidates (and so cells) are disjoint, and the counts are integers: the
    result is the same for any thread count and any order of the sessions.
    """
    n_queries = query_offsets.size - 1
    n_groups = (n_queries + _QUERY_GROUP - 1) // _QUERY_GROUP
    for g in prange(n_groups):
        capacity = max(n_sequential, 1)
        shown = np.empty(capacity, dtype=np.int64)
        hole_pos = np.empty(capacity, dtype=np.int64)
        hole_w = np.empty(capacity, dtype=np.float64)
        hole_below = np.empty(capacity, dtype=np.float64)
        times = np.empty(max_size, dtype=np.float64)
        rest = np.empty(max_size, dtype=np.int64)
        index = np.empty(max_size, dtype=np.int64)
        scratch = np.empty(max_size, dtype=np.int64)
        best_t = np.empty(max(depth, 1), dtype=np.float64)
        best_i = np.empty(max(depth, 1), dtype=np.int64)
        row = np.empty((1, depth), dtype=np.int32)
        for q in range(g * _QUERY_GROUP, min(n_queries, (g + 1) * _QUERY_GROUP)):
            for t in range(query_offsets[q], query_offsets[q + 1]):
                session = first_session + by_query[t]
                _plackett_luce_session(session_key(policy_key, session), q, boundaries, order, weight, tail,
                                       alias_prob, alias_index, log_inv_weight, wide, n_sequential,
                                       rejection_mass, shown, hole_pos, hole_w, hole_below, times, rest, index,
                                       scratch, best_t, best_i, row, 0)
                ckey = session_key(click_key, session)
                for r in range(depth):
                    d = row[0, r]
                    if d < 0:
                        continue
                    impressions_t[r, d] += 1
                    if affine_click(ckey, r, theta, eps_minus, eps_slope, relevance[d]):
                        clicks_t[r, d] += 1


# --------------------------------------------------------------------------
# Interventions: in place on a base ranking of depth >= what they touch
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def swap_top(ranking, queries, boundaries, max_rank, lowest, first_session, key):
    """Swap rank 1 with rank j + 1, j uniform in lowest..min(max_rank, n_q) - 1 (draw 0).

    ``lowest=1``: RandPair (j + 1 in 2..m); ``lowest=0``: swap to a random rank
    1..m (Joachims 2017), where rank 1 leaves the ranking unchanged.
    """
    n_sessions = ranking.shape[0]
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            m = min(max_rank, boundaries[q + 1] - boundaries[q])
            if m < 2:
                continue
            skey = session_key(key, first_session + s)
            j = lowest + _uniform_index(uniform(skey, 0), m - lowest)
            d = ranking[s, 0]
            ranking[s, 0] = ranking[s, j]
            ranking[s, j] = d


@njit(cache=True, parallel=True)
def rand_top_n(ranking, queries, boundaries, n_top, first_session, key):
    """Uniform shuffle of the top min(n_top, n_q) ranks (Fisher-Yates, draws 0..)."""
    n_sessions = ranking.shape[0]
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            m = min(n_top, boundaries[q + 1] - boundaries[q])
            if m < 2:
                continue
            skey = session_key(key, first_session + s)
            for j in range(m - 1):
                r = j + _uniform_index(uniform(skey, j), m - j)
                d = ranking[s, j]
                ranking[s, j] = ranking[s, r]
                ranking[s, r] = d


@njit(cache=True, parallel=True)
def replace_last(ranking, queries, boundaries, k, first_session, key):
    """Swap rank k with rank j, j uniform in k..n_q (draw 0); the ranking covers n_q."""
    n_sessions = ranking.shape[0]
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            n = boundaries[q + 1] - boundaries[q]
            if n <= k:
                continue
            skey = session_key(key, first_session + s)
            j = k - 1 + _uniform_index(uniform(skey, 0), n - k + 1)
            d = ranking[s, k - 1]
            ranking[s, k - 1] = ranking[s, j]
            ranking[s, j] = d


@njit(cache=True, parallel=True)
def replace_last_deterministic(queries, order, boundaries, k, first_session, key, out):
    """``replace_last`` over the deterministic ranking, read from ``order`` (same draws)."""
    n_sessions, depth = out.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            q = queries[s]
            start = boundaries[q]
            n = boundaries[q + 1] - start
            m = min(depth, n)
            for j in range(m):
                out[s, j] = order[start + j]
            for j in range(m, depth):
                out[s, j] = -1
            if n <= k:
                continue
            skey = session_key(key, first_session + s)
            j = k - 1 + _uniform_index(uniform(skey, 0), n - k + 1)
            d = order[start + k - 1]
            out[s, k - 1] = order[start + j]
            if j < depth:
                out[s, j] = d


# --------------------------------------------------------------------------
# Placement probabilities
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def count_placements(ranking, n_samples, counts):
    """counts[d, j] += 1 for every shown (session, rank j) of document d.

    Rows ``g * n_samples:(g + 1) * n_samples`` of ``ranking`` are sessions of
    one query, so groups touch disjoint documents and run in parallel.
    """
    n_sessions, depth = ranking.shape
    n_groups = n_sessions // n_samples
    for g in prange(n_groups):
        for s in range(g * n_samples, (g + 1) * n_samples):
            for j in range(depth):
                d = ranking[s, j]
                if d >= 0:
                    counts[d, j] += 1


@njit(cache=True)
def rand_pair_placement(base, size, max_rank, out):
    """P(d at j) after a RandPair swap, from the base placement (depth >= max_rank)."""
    n_docs, depth = out.shape
    for d in range(n_docs):
        m = min(max_rank, size[d])
        if m < 2:
            for j in range(depth):
                out[d, j] = base[d, j]
            continue
        p = 1.0 / (m - 1)
        for j in range(depth):
            if j == 0:
                total = 0.0
                for i in range(1, m):
                    total += base[d, i]
                out[d, 0] = p * total
            elif j < m:
                out[d, j] = p * base[d, 0] + (1.0 - p) * base[d, j]
            else:
                out[d, j] = base[d, j]


@njit(cache=True)
def swap_to_random_rank_placement(base, size, max_rank, out):
    """P(d at j) after a swap of rank 1 with a uniform rank 1..max_rank."""
    n_docs, depth = out.shape
    for d in range(n_docs):
        m = min(max_rank, size[d])
        if m < 2:
            for j in range(depth):
                out[d, j] = base[d, j]
            continue
        p = 1.0 / m
        for j in range(depth):
            if j == 0:
                total = 0.0
                for i in range(m):
                    total += base[d, i]
                out[d, 0] = p * total
            elif j < m:
                out[d, j] = p * base[d, 0] + (1.0 - p) * base[d, j]
            else:
                out[d, j] = base[d, j]


@njit(cache=True)
def rand_top_n_placement(base, size, n_top, out):
    """P(d at j) after a uniform shuffle of the top n_top ranks."""
    n_docs, depth = out.shape
    for d in range(n_docs):
        m = min(n_top, size[d])
        total = 0.0
        for i in range(m):
            total += base[d, i]
        for j in range(depth):
            out[d, j] = total / m if j < m else base[d, j]


@njit(cache=True)
def replace_last_placement(base, size, k, out):
    """P(d at j) after rank k is swapped with a uniform rank k..n_q.

    P(d at rank k) = P_base(d at rank >= k) / (n_q - k + 1), and
    P_base(d at rank >= k) = 1 - P_base(d above rank k): every policy ranks all
    candidates, so the base placement is needed only to depth k.
    """
    n_docs, depth = out.shape
    for d in range(n_docs):
        n = size[d]
        if n <= k:
            for j in range(depth):
                out[d, j] = base[d, j]
            continue
        c = n - k + 1
        above = 0.0
        for i in range(k - 1):
            above += base[d, i]
        for j in range(depth):
            if j < k - 1:
                out[d, j] = base[d, j]
            elif j == k - 1:
                out[d, j] = max(0.0, 1.0 - above) / c
            else:
                out[d, j] = (1.0 - 1.0 / c) * base[d, j] + base[d, k - 1] / c
