"""Numba kernels of the logging policies.

Pure functions over arrays and scalars: no validation, no objects.  Ranking
kernels fill ``out`` (``int32`` array of shape (n_sessions, depth)) with the
global document rows shown at ranks 1..depth of each session, and -1 where the
session's query has fewer than ``depth`` candidates (the padding is always at
the tail).  Randomness comes from :mod:`simulator._rng`: draw ``c`` of session
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
Plackett-Luce: draw ``i`` is the race time of the i-th candidate of the query.
Uniform permutation: draw ``j`` picks the document of rank j (partial
Fisher-Yates).  Epsilon-greedy: draw 0 decides exploration, draws 1.. are the
uniform permutation.  Interventions run on their own key and use draws 0, 1, ...
"""

import math

import numpy as np
from numba import njit, prange

from simulator._rng import session_key, uniform

BLOCK = 2048
# Plackett-Luce keeps the best `depth` race times by insertion up to this
# depth and sorts all race times of the session beyond it.
_INSERTION_DEPTH = 32


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

@njit(cache=True)
def sorted_by_score(scores, boundaries):
    """Rows of every query sorted by score descending, ties by lower row (int32, CSR)."""
    n_queries = boundaries.size - 1
    order = np.empty(scores.size, dtype=np.int32)
    largest = 0
    for q in range(n_queries):
        largest = max(largest, boundaries[q + 1] - boundaries[q])
    index = np.empty(largest, dtype=np.int64)
    scratch = np.empty(largest, dtype=np.int64)
    for q in range(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        # A stable sort of the negated scores keeps equal scores in row order.
        local = stable_argsort(-scores[start:stop], stop - start, index, scratch)
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

_U_MAX = 1.0 - 2.0**-53  # largest value of simulator._rng.uniform


@njit(cache=True, inline="always")
def _exponential(u):
    """E = -log(u), an Exp(1) variate of a uniform u in [0, 1); u = 0 gives inf."""
    return -math.log(u) if u > 0.0 else np.inf


@njit(cache=True, parallel=True)
def race_cutoffs(boundaries, inv_weight, wide, depth, z, tau, cutoff):
    """Cutoffs of the fast path of :func:`plackett_luce_rank` for ``depth`` ranks.

    Candidate i (rate w_i = 1 / inv_weight[i]) finishes before a time x with
    probability p_i = 1 - exp(-x w_i).  For each query, x is about the
    smallest time whose count of arrivals N has mean - z sd >= m,
    m = min(depth, n_q), and cutoff[i] = exp(-x w_i): u_i > cutoff[i] means
    candidate i arrives before x.  tau[q] is a time that no candidate with
    u_i <= cutoff[i] can beat, computed with the kernel's own arithmetic;
    tau = inf when m = n_q (every candidate is shown), -1 where the fast path
    is not used (``wide`` and empty queries).  Only the speed of the kernel
    depends on these values, never its result.
    """
    n_queries = boundaries.size - 1
    for q in prange(n_queries):
        start, stop = boundaries[q], boundaries[q + 1]
        n = stop - start
        m = min(depth, n)
        if wide[q] or m == 0:
            tau[q] = -1.0
            for i in range(start, stop):
                cutoff[i] = 1.0
            continue
        if m == n:
            tau[q] = np.inf
            for i in range(start, stop):
                cutoff[i] = 0.0
            continue
        lo = 0.0
        hi = 1.0
        for it in range(2100):
            mean = 0.0
            var = 0.0
            for i in range(start, stop):
                p = 1.0 - math.exp(-hi / inv_weight[i])
                mean += p
                var += p * (1.0 - p)
            if mean - z * math.sqrt(var) >= m:
                break
            lo = hi
            hi *= 2.0
        for it in range(24):
            mid = 0.5 * (lo + hi)
            mean = 0.0
            var = 0.0
            for i in range(start, stop):
                p = 1.0 - math.exp(-mid / inv_weight[i])
                mean += p
                var += p * (1.0 - p)
            if mean - z * math.sqrt(var) >= m:
                hi = mid
            else:
                lo = mid
        # A candidate left out has u <= min(cutoff, _U_MAX), hence (log being
        # monotone) a computed time >= the same expression at that bound.
        bound = np.inf
        for i in range(start, stop):
            c = math.exp(-hi / inv_weight[i])
            cutoff[i] = c
            bound = min(bound, _exponential(min(c, _U_MAX)) * inv_weight[i])
        tau[q] = bound


# Largest candidate subset ranked by pairwise counting (O(size^2)).
_SUBSET_CAP = 64


@njit(cache=True, parallel=True)
def plackett_luce_rank(queries, boundaries, inv_weight, log_inv_weight, wide, cutoff, tau,
                       max_size, first_session, key, out):
    """Plackett-Luce sampling without replacement by an exponential race.

    Candidate i of the query finishes at time t_i = E_i / w_i with
    E_i = -log(u_i), u_i the i-th draw of the session, and
    w_i = exp((s_i - max_q s) / T) = 1 / inv_weight[i]; the ranking is the
    order of arrival (earlier candidate first on equal times), so only the
    ``depth`` earliest are selected, never a full sort of the candidates.

    Fast path: the candidates with u_i > cutoff[i] (likely early arrivals,
    see :func:`race_cutoffs`) are collected without a logarithm; when they
    are at least m = min(depth, n_q) (and at most ``_SUBSET_CAP``), only
    their times are computed and ranked by counting, and the result is kept
    if the m-th time is below tau[q], which proves that no candidate left out
    arrives earlier.  Otherwise (rarely: 0.3 to 1.3 % of sessions at the default
    z) all n_q times are computed and the m earliest selected by insertion
    (a stable merge sort beyond ``_INSERTION_DEPTH``).  Both paths select
    the m earliest of the same computed times, so the result does not depend
    on the cutoffs.

    Queries flagged ``wide`` (weights spanning beyond the double range) race
    in log time log(E_i) + log_inv_weight[i] instead: the same ranking
    distribution.
    """
    n_blocks = (out.shape[0] + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        # np.int64: the parfor index is unsigned after lowering; one signature only
        _plackett_luce_block(np.int64(b), queries, boundaries, inv_weight, log_inv_weight, wide, cutoff, tau,
                             max_size, first_session, key, out)


@njit(cache=True)
def _plackett_luce_block(b, queries, boundaries, inv_weight, log_inv_weight, wide, cutoff, tau,
                         max_size, first_session, key, out):
    """Sessions of block b of :func:`plackett_luce_rank` (a plain function: quick to compile)."""
    n_sessions, depth = out.shape
    stop = min(n_sessions, (b + 1) * BLOCK)
    values = np.empty(max_size, dtype=np.float64)
    times = np.empty(max_size, dtype=np.float64)
    index = np.empty(max_size, dtype=np.int64)
    ranks = np.empty(max_size, dtype=np.int64)
    best_t = np.empty(max(depth, 1), dtype=np.float64)
    best_i = np.empty(max(depth, 1), dtype=np.int64)
    for s in range(b * BLOCK, stop):
        skey = session_key(key, first_session + s)
        q = queries[s]
        start = boundaries[q]
        n = boundaries[q + 1] - start
        m = min(depth, n)
        done = m == 0
        threshold = tau[q]
        if not done and threshold >= 0.0:
            kept = 0
            for i in range(n):
                u = uniform(skey, i)
                values[kept] = u
                index[kept] = i
                kept += 1 if u > cutoff[start + i] else 0
            if m <= kept <= _SUBSET_CAP:
                for a in range(kept):
                    times[a] = _exponential(values[a]) * inv_weight[start + index[a]]
                    ranks[a] = 0
                # ranks[a] = number of strictly earlier arrivals
                for c in range(kept):
                    tc = times[c]
                    for a in range(kept):
                        ranks[a] += tc < times[a]
                count = 0
                total = 0
                last = -np.inf
                for a in range(kept):
                    r = ranks[a]
                    if r < m:
                        out[s, r] = start + index[a]
                        count += 1
                        total += r
                        last = max(last, times[a])
                # Strict ranks are at most the positions (ties by index); the m
                # selected ones are exactly positions 0..m-1 iff they sum to
                # m (m - 1) / 2.  Equal times (probability ~2**-53) fall back.
                done = count == m and total == m * (m - 1) // 2 and last < threshold
        if not done:
            if wide[q]:
                for i in range(n):
                    times[i] = math.log(_exponential(uniform(skey, i))) + log_inv_weight[start + i]
            else:
                for i in range(n):
                    times[i] = _exponential(uniform(skey, i)) * inv_weight[start + i]
            if m > _INSERTION_DEPTH:
                arrival = stable_argsort(times, n, index, ranks)
                for j in range(m):
                    out[s, j] = start + arrival[j]
            else:
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
                for j in range(m):
                    out[s, j] = start + best_i[j]
        for j in range(m, depth):
            out[s, j] = -1


# --------------------------------------------------------------------------
# Interventions: in place on a base ranking of depth >= what they touch
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def rand_pair(ranking, queries, boundaries, max_rank, first_session, key):
    """Swap rank 1 with rank j, j uniform in 2..min(max_rank, n_q) (draw 0)."""
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
            j = 1 + _uniform_index(uniform(skey, 0), m - 1)
            d = ranking[s, 0]
            ranking[s, 0] = ranking[s, j]
            ranking[s, j] = d


@njit(cache=True, parallel=True)
def swap_to_random_rank(ranking, queries, boundaries, max_rank, first_session, key):
    """Swap rank 1 with rank j, j uniform in 1..min(max_rank, n_q) (draw 0)."""
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
            j = _uniform_index(uniform(skey, 0), m)
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
