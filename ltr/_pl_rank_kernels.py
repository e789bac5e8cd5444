"""Numba kernels of the PL-Rank and LambdaMART click learners.

Pure functions over arrays and scalars: no validation, no objects.  Queries
are CSR groups of rows (``boundaries``, int64 of shape (n_queries + 1,)).

Randomness comes from :mod:`simulator.kernels`: sample j of query q draws
its uniforms ``uniform(session_key(key, q), j * n_q + i)`` for its n_q
documents i, so every sampled ranking is a pure function of (key, q, j): the results do
not depend on the number of numba threads, on how queries are split into
blocks, or on whether the compiled kernel or its ``.py_func`` runs.

Plackett-Luce sampling uses the Gumbel trick in its exponential-race form:
with weights w_i = exp(s_i - max s), the race times t_i = -log(u_i) / w_i
sorted ascending give a Plackett-Luce ranking (log(t_i) = -(s_i + Gumbel_i)
up to a shared constant), at one logarithm per document; only the first
``cutoff`` places are kept, by insertion.
"""

import math

import numpy as np
from numba import njit, prange

from simulator.kernels import session_key, uniform

# Queries per parallel work item (scratch arrays are allocated once per block).
QUERY_BLOCK = 64
# Lowest score relative to the query's maximum: exp(-700) is still a normal double.
_MIN_LOG_WEIGHT = -700.0


@njit(cache=True)
def _weights(scores, start, n, weight, inv_weight):
    """w_i = exp(s_i - max s) (at least exp(-700)) and 1 / w_i of the query's n rows."""
    top = scores[start]
    for i in range(1, n):
        if scores[start + i] > top:
            top = scores[start + i]
    for i in range(n):
        w = math.exp(max(scores[start + i] - top, _MIN_LOG_WEIGHT))
        weight[i] = w
        inv_weight[i] = 1.0 / w


@njit(cache=True)
def _sample_top(skey, counter0, n, m, inv_weight, best_t, best_i):
    """First m places of one Plackett-Luce ranking of n documents (local indices into ``best_i``).

    Race time of document i is -log(1 - u_i) / w_i (u_i in [0, 1), so the
    logarithm is finite); the m earliest are kept sorted, ties by lower index.
    """
    count = 0
    for i in range(n):
        t = -math.log(1.0 - uniform(skey, counter0 + i)) * inv_weight[i]
        if count < m:
            j = count
            count += 1
        elif t < best_t[m - 1]:
            j = m - 1
        else:
            continue
        while j > 0 and best_t[j - 1] > t:
            best_t[j] = best_t[j - 1]
            best_i[j] = best_i[j - 1]
            j -= 1
        best_t[j] = t
        best_i[j] = i


@njit(cache=True, parallel=True)
def sample_rankings(scores, boundaries, n_samples, cutoff, key, out):
    """Sample ``n_samples`` Plackett-Luce rankings (top ``cutoff``) of every query.

    Parameters
    ----------
    scores : float64 array (n_docs,)
    boundaries : int64 array (n_queries + 1,)
    n_samples, cutoff : int
    key : uint64
    out : int32 array (n_queries, n_samples, cutoff)
        Filled with the local index (0-based within the query) of the
        document at each place, -1 beyond the query's size.
    """
    n_queries = boundaries.size - 1
    n_blocks = (n_queries + QUERY_BLOCK - 1) // QUERY_BLOCK
    max_n = 1
    for q in range(n_queries):
        max_n = max(max_n, boundaries[q + 1] - boundaries[q])
    for b in prange(n_blocks):
        weight = np.empty(max_n)
        inv_weight = np.empty(max_n)
        best_t = np.empty(cutoff)
        best_i = np.empty(cutoff, dtype=np.int64)
        for q in range(b * QUERY_BLOCK, min((b + 1) * QUERY_BLOCK, n_queries)):
            start = boundaries[q]
            n = boundaries[q + 1] - start
            m = min(cutoff, n)
            _weights(scores, start, n, weight, inv_weight)
            skey = np.uint64(session_key(key, q))  # uint64 also in .py_func
            for j in range(n_samples):
                _sample_top(skey, j * n, n, m, inv_weight, best_t, best_i)
                for r in range(cutoff):
                    out[q, j, r] = best_i[r] if r < m else -1


@njit(cache=True)
def _pl_rank_query(scores, rho, start, n, discount, n_samples, skey, weight, inv_weight, best_t, best_i,
                   rank_of, z, tail, a, b, c1, c2, grad, fisher):
    """PL-Rank-3 gradient, Fisher diagonal and mean metric of one query (see :func:`pl_rank_gradient`)."""
    m = min(discount.size, n)
    _weights(scores, start, n, weight, inv_weight)
    for i in range(n):
        grad[start + i] = 0.0
        fisher[start + i] = 0.0
    value = 0.0
    for j in range(n_samples):
        _sample_top(skey, j * n, n, m, inv_weight, best_t, best_i)
        for i in range(n):
            rank_of[i] = m
        for r in range(m):
            rank_of[best_i[r]] = r
        # Z_r: weight of the documents not placed above r, summed exactly from
        # the unplaced ones (no cancellation when the top documents hold the mass).
        rest = 0.0
        for i in range(n):
            if rank_of[i] == m:
                rest += weight[i]
        tail[m] = 0.0
        for r in range(m - 1, -1, -1):
            rest += weight[best_i[r]]
            z[r] = rest
            tail[r] = tail[r + 1] + discount[r] * rho[start + best_i[r]]
        value += tail[0]
        sa = 0.0
        sb = 0.0
        s1 = 0.0
        s2 = 0.0
        for r in range(m):
            inv_z = 1.0 / z[r]
            sa += discount[r] * inv_z
            sb += tail[r] * inv_z
            s1 += inv_z
            s2 += inv_z * inv_z
            a[r] = sa
            b[r] = sb
            c1[r] = s1
            c2[r] = s2
        for i in range(n):
            r = rank_of[i]
            last = r if r < m else m - 1
            after = tail[r + 1] if r < m else 0.0
            w = weight[i]
            grad[start + i] += after + w * (rho[start + i] * a[last] - b[last])
            fisher[start + i] += w * c1[last] - w * w * c2[last]
    return value / n_samples


@njit(cache=True, parallel=True)
def pl_rank_gradient(scores, rho, boundaries, discount, n_samples, key, grad, fisher, value):
    """PL-Rank-3 estimate of the gradient of each query's expected metric in the scores.

    The policy places, at each rank r = 1..K in turn, a remaining document d
    with probability P_r(d) = exp(s_d) / Z_r (Z_r: sum of exp(s) of the
    documents not placed above r); the metric of a ranking y is
    R(y) = sum_r discount[r] * rho[y_r].  For each of ``n_samples`` sampled
    rankings and each document d at rank r_d (r_d = K + 1 when not placed),
    with R_{>=r} the metric collected from rank r on::

        g_d = R_{>=r_d+1} + sum_{r <= min(r_d, K)} P_r(d) (discount[r] rho_d - R_{>=r})

    (PL-Rank-2, Oosterhuis 2021), averaged over the samples.  The sums over r
    are prefix sums shared by all documents of the sample, so one sample costs
    O(n + K) after sampling (PL-Rank-3, Oosterhuis 2022).  Unbiased for any
    real (signed) rho.

    Parameters
    ----------
    scores, rho : float64 arrays (n_docs,)
    boundaries : int64 array (n_queries + 1,)
    discount : float64 array (K,)
        Weight of each rank (1 / log2(r + 1) for DCG@K).
    n_samples : int
    key : uint64
    grad : float64 array (n_docs,)
        Out: the gradient estimate (ascent direction of the expected metric).
    fisher : float64 array (n_docs,)
        Out: mean over the samples of sum_{r <= min(r_d, K)} P_r(d) (1 - P_r(d)),
        the diagonal of the Fisher information of the policy in the scores
        (sampled), used as the Hessian of the boosting objective.
    value : float64 array (n_queries,)
        Out: mean metric of the sampled rankings.
    """
    n_queries = boundaries.size - 1
    n_blocks = (n_queries + QUERY_BLOCK - 1) // QUERY_BLOCK
    k = discount.size
    max_n = 1
    for q in range(n_queries):
        max_n = max(max_n, boundaries[q + 1] - boundaries[q])
    for blk in prange(n_blocks):
        weight = np.empty(max_n)
        inv_weight = np.empty(max_n)
        rank_of = np.empty(max_n, dtype=np.int64)
        best_t = np.empty(k)
        best_i = np.empty(k, dtype=np.int64)
        z = np.empty(k)
        tail = np.empty(k + 1)
        a = np.empty(k)
        b = np.empty(k)
        c1 = np.empty(k)
        c2 = np.empty(k)
        for q in range(blk * QUERY_BLOCK, min((blk + 1) * QUERY_BLOCK, n_queries)):
            start = boundaries[q]
            n = boundaries[q + 1] - start
            skey = np.uint64(session_key(key, q))  # uint64 also in .py_func
            v = _pl_rank_query(scores, rho, start, n, discount, n_samples, skey, weight, inv_weight, best_t,
                               best_i, rank_of, z, tail, a, b, c1, c2, grad, fisher)
            value[q] = v
            for i in range(n):
                grad[start + i] /= n_samples
                fisher[start + i] /= n_samples


@njit(cache=True)
def _lambdas_query(scores, gain, start, n, discount, inv_ideal, order, rank, grad, hess):
    """LambdaMART lambdas of one query (see :func:`lambdamart_gradient`)."""
    k = discount.size
    for i in range(n):
        order[i] = i
    # insertion sort by score descending, ties by lower index (queries are short)
    for i in range(1, n):
        j = i
        o = order[i]
        while j > 0 and scores[start + order[j - 1]] < scores[start + o]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = o
    for r in range(n):
        rank[order[r]] = r
    for i in range(n):
        grad[start + i] = 0.0
        hess[start + i] = 0.0
    for i in range(n):
        gi = gain[start + i]
        ri = rank[i]
        di = discount[ri] if ri < k else 0.0
        for j in range(n):
            gj = gain[start + j]
            if gi <= gj:
                continue
            rj = rank[j]
            if ri >= k and rj >= k:
                continue
            dj = discount[rj] if rj < k else 0.0
            delta = (gi - gj) * abs(di - dj) * inv_ideal
            p = 1.0 / (1.0 + math.exp(scores[start + i] - scores[start + j]))
            grad[start + i] -= delta * p
            grad[start + j] += delta * p
            h = delta * p * (1.0 - p)
            hess[start + i] += h
            hess[start + j] += h


@njit(cache=True, parallel=True)
def lambdamart_gradient(scores, gain, boundaries, discount, inv_ideal, grad, hess):
    """LambdaMART gradient and Hessian (Burges 2010) with real-valued gains, per query.

    For every pair (i, j) of a query with gain_i > gain_j and at least one of
    them in the top K of the current ranking by score: delta = (gain_i -
    gain_j) |discount(rank_i) - discount(rank_j)| * inv_ideal[q] and
    p = 1 / (1 + exp(s_i - s_j)); grad_i -= delta p, grad_j += delta p, both
    Hessians += delta p (1 - p).  Gains may be negative.

    Parameters
    ----------
    scores, gain : float64 arrays (n_docs,)
    boundaries : int64 array (n_queries + 1,)
    discount : float64 array (K,)
    inv_ideal : float64 array (n_queries,)
        1 / ideal DCG@K of the gains (times the query weight), 0 to skip a query.
    grad, hess : float64 arrays (n_docs,)
        Out (gradient of the loss to minimise).
    """
    n_queries = boundaries.size - 1
    n_blocks = (n_queries + QUERY_BLOCK - 1) // QUERY_BLOCK
    max_n = 1
    for q in range(n_queries):
        max_n = max(max_n, boundaries[q + 1] - boundaries[q])
    for blk in prange(n_blocks):
        order = np.empty(max_n, dtype=np.int64)
        rank = np.empty(max_n, dtype=np.int64)
        for q in range(blk * QUERY_BLOCK, min((blk + 1) * QUERY_BLOCK, n_queries)):
            start = boundaries[q]
            _lambdas_query(scores, gain, start, boundaries[q + 1] - start, discount, inv_ideal[q], order, rank,
                           grad, hess)
