"""Session simulation: draw queries, rank them with a policy, click with a click model.

The pipeline runs in blocks of sessions; each block goes through three numba
kernels (query draw, the policy's ranking, the click model) and is aggregated
into :class:`~simulator.ClickStatistics` at once, so memory stays bounded by
the block size whatever the number of sessions.  Every random draw is a pure
function of the seed and the global session index, so the result does not
depend on the block size or the number of threads.
"""

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from . import _click_kernels
from ._rng import derive_key, session_key, uniform
from ._statistics import (
    ClickStatistics,
    add_constant_examination,
    add_constant_examination_dense,
    add_expected_impressions,
    aggregate_clicks,
    aggregate_list_clicks,
    list_accumulators,
    scatter_list_statistics,
)

__all__ = ["QueryDistribution", "SessionRun", "simulate_sessions"]

_QUERY_STREAM, _POLICY_STREAM, _CLICK_STREAM = 0, 1, 2


@njit(cache=True, parallel=True)
def _draw_queries(key, first_session, cdf, out):
    """out[s] = the query whose cumulative probability interval holds a uniform draw of session s.

    """
    n = out.size
    block = 4096
    for b in prange((n + block - 1) // block):
        for s in range(b * block, min(n, (b + 1) * block)):
            u = uniform(session_key(key, first_session + s), 0)
            out[s] = np.searchsorted(cdf, u, side="right")


@njit(cache=True, parallel=True)
def _draw_uniform_queries(key, first_session, n_queries, out):
    """out[s] = floor(u_s * n_queries): uniform query draws without a search."""
    n = out.size
    block = 4096
    for b in prange((n + block - 1) // block):
        for s in range(b * block, min(n, (b + 1) * block)):
            u = uniform(session_key(key, first_session + s), 0)
            out[s] = min(np.int64(u * n_queries), n_queries - 1)


@njit(cache=True)
def _group_by_query(queries, offsets, by_query):
    """Counting sort: by_query[offsets[q]:offsets[q + 1]] = the sessions of query q, ascending."""
    offsets[:] = 0
    for s in range(queries.size):
        offsets[queries[s] + 1] += 1
    for q in range(offsets.size - 1):
        offsets[q + 1] += offsets[q]
    cursor = offsets[:-1].copy()
    for s in range(queries.size):
        q = queries[s]
        by_query[cursor[q]] = s
        cursor[q] += 1


# Sessions per block of a fused path at most (int32 session offsets and counts).
_FUSED_BLOCK = 1 << 24


@dataclass(frozen=True)
class QueryDistribution:
    """How sessions pick their query.

    Parameters
    ----------
    kind : {"uniform", "zipf"}
        ``zipf``: P(query of popularity rank i) proportional to 1 / i^exponent,
        the popularity ranks being a seeded random permutation of the queries
        (so popularity is independent of the query order in the data).
    exponent : float, default=1.0
        Zipf exponent (> 0); ignored for ``uniform``.
    seed : int, default=0
        Seed of the popularity permutation.

    Examples
    --------
    >>> p = QueryDistribution("zipf", 1.0).probabilities(4)
    >>> float(p.sum()), float(p.max() / p.min())
    (1.0, 4.0)
    """

    kind: str = "uniform"
    exponent: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ("uniform", "zipf"):
            raise ValueError(f"query distribution must be 'uniform' or 'zipf', got {self.kind!r}")
        if not np.isfinite(self.exponent) or self.exponent <= 0:
            raise ValueError(f"zipf exponent must be > 0, got {self.exponent!r}")

    def probabilities(self, n_queries):
        """P(query q) for q in 0..n_queries-1, ndarray of shape (n_queries,)."""
        if self.kind == "uniform":
            return np.full(n_queries, 1.0 / n_queries)
        weights = 1.0 / np.arange(1, n_queries + 1) ** self.exponent
        order = np.random.default_rng(self.seed).permutation(n_queries)
        p = np.empty(n_queries)
        p[order] = weights / weights.sum()
        return p


@dataclass(frozen=True)
class SessionRun:
    """Result of :func:`simulate_sessions`.

    Attributes
    ----------
    statistics : ClickStatistics
        Impressions, clicks and summed true examination per (document, rank).
    log : ClickLog or None
        The per-session log, when ``keep_log=True``.
    """

    statistics: ClickStatistics
    log: object = None


def _child(seed, stream):
    """SeedSequence of one stream (queries, policy, clicks) of a seed."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (stream,))
    derive_key(seed)  # validates the seed
    return np.random.SeedSequence(int(seed), spawn_key=(stream,))


def simulate_sessions(dataset, policy, click_model, n_sessions, seed=0, *, round=0,
                      queries=None, block_size=1_000_000, first_session=0, keep_log=False,
                      statistics=None, fused=True, placement=False):
    """Simulate ``n_sessions`` sessions and aggregate their clicks.

    Parameters
    ----------
    dataset : RankingDataset
        Candidates (features, true labels, query boundaries).
    policy : LoggingPolicy or bound policy
        Anything with ``bind(features, query_boundaries)`` returning an object
        with ``rank(queries, seed, first_session)`` and ``k``; an already
        bound policy (with ``rank``) is used as it is.
    click_model : ClickModel
    n_sessions : int
    seed : int or numpy.random.SeedSequence, default=0
    round : int, default=0
        Feedback-loop round, recorded in the log.
    queries : QueryDistribution, optional
        Default: uniform over the dataset's queries.
    block_size : int, default=1_000_000
        Sessions per block; bounds the memory, not the result.
    first_session : int, default=0
        Global index of the first session (for a run continued in pieces).
    keep_log : bool, default=False
        Also return the per-session :class:`ClickLog`.
    statistics : ClickStatistics, optional
        Accumulator to add to (in place); a new one by default.
    fused : bool, default=True
        Use a fused kernel where one exists: clicks of a model that is affine
        per rank (``click_model.affine_parameters``: PBM, trust bias; without
        a kept log) under a fixed-list policy (deterministic) or a policy
        that counts affine clicks itself (Plackett-Luce), which
        draws, ranks, clicks and counts without materialising the rankings.
        The statistics are identical to the general pipeline's
        (``fused=False``), bit for bit.
    placement : bool, default=False
        Also fill ``statistics.expected_impressions``: the logging policy's
        ``placement_probabilities()`` (exact for deterministic, uniform and
        epsilon-greedy policies, Monte Carlo for Plackett-Luce) times the
        number of sessions of each query, for the policy-aware propensity.
        The other statistics do not change (the sessions are the same).

    Returns
    -------
    SessionRun
    """
    if int(n_sessions) != n_sessions or n_sessions < 1:
        raise ValueError(f"n_sessions must be an integer >= 1, got {n_sessions!r}")
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    queries = QueryDistribution() if queries is None else queries
    bound = policy if hasattr(policy, "rank") else policy.bind(dataset.features, dataset.query_boundaries)
    k = bound.k
    if statistics is None:
        statistics = ClickStatistics.empty(dataset.n_docs, k)
    elif statistics.shape != (dataset.n_docs, k):
        raise ValueError(
            f"statistics have shape {statistics.shape}, expected {(dataset.n_docs, k)}"
        )
    cdf = None
    if queries.kind != "uniform":
        cdf = np.cumsum(queries.probabilities(dataset.n_queries))
        cdf[-1] = np.inf  # every draw in [0, 1) lands on a query despite rounding
    if placement:
        if not hasattr(bound, "placement_probabilities"):
            raise ValueError(f"placement=True needs a policy with placement_probabilities(), got {type(bound).__name__}")
        if not statistics.has_expected and statistics.n_sessions > 0:
            raise ValueError("placement=True cannot add to statistics that hold sessions without expected impressions")
        counts = np.zeros(dataset.n_queries, dtype=np.int64)
        for _, q in _fused_blocks(dataset, seed, cdf, int(n_sessions), int(block_size), int(first_session)):
            counts += np.bincount(q, minlength=dataset.n_queries)
        add_expected_impressions(statistics, bound.placement_probabilities(), counts, dataset.doc_query)
    # Optional parts of the bound-policy protocol (duck-typed policies may lack them).
    table = bound.fixed_lists() if hasattr(bound, "fixed_lists") else None
    affine = click_model.affine_parameters(dataset.labels, k) if fused and not keep_log else None
    if affine is not None:
        if table is not None:
            _fused_fixed_lists(dataset, table, affine, int(n_sessions), seed, cdf, int(block_size),
                               int(first_session), statistics)
            return SessionRun(statistics, None)
        if getattr(bound, "counts_affine_clicks", False):
            _fused_plackett_luce(dataset, bound, affine, int(n_sessions), seed, cdf, int(block_size),
                                 int(first_session), statistics)
            return SessionRun(statistics, None)
    # A policy that shows one fixed list per query lets us aggregate per
    # (query, rank), in cache, and scatter to documents once at the end.
    list_arrays = list_accumulators(dataset.n_queries, k) if table is not None else None
    query_key = derive_key(_child(seed, _QUERY_STREAM))
    policy_seed, click_seed = _child(seed, _POLICY_STREAM), _child(seed, _CLICK_STREAM)
    placement = bound.placement_probabilities() if keep_log and hasattr(bound, "placement_probabilities") else None
    blocks = []
    done = 0
    # Buffers reused across blocks (fresh memory costs a page fault per 4 KiB);
    # a kept log needs its own arrays per block.
    full = min(block_size, n_sessions)
    buffers = None if keep_log else (np.empty(full, dtype=np.int64), np.empty((full, k), dtype=np.int32),
                                     np.empty((full, k), dtype=np.bool_), np.empty((full, k), dtype=np.float32))
    while done < n_sessions:
        size = min(block_size, n_sessions - done)
        start = first_session + done
        if buffers is None:
            q, ranked, click_out = np.empty(size, dtype=np.int64), None, None
        else:
            q, ranked = buffers[0][:size], buffers[1][:size]
            click_out = (buffers[2][:size], buffers[3][:size])
        if cdf is None:
            _draw_uniform_queries(query_key, np.int64(start), np.int64(dataset.n_queries), q)
        else:
            _draw_queries(query_key, np.int64(start), cdf, q)
        displayed = bound.rank(q, policy_seed, start, out=ranked) if ranked is not None else bound.rank(
            q, policy_seed, start)
        sim = click_model.simulate(displayed, dataset.labels, click_seed, first_session=start, out=click_out)
        if table is None:
            aggregate_clicks(statistics, displayed, sim.clicks, sim.examination)
        else:
            aggregate_list_clicks(list_arrays, q, sim.clicks, sim.examination)
        if keep_log:
            blocks.append(_log_block(q, round, displayed, sim, placement, getattr(policy, "name", "policy")))
        done += size
    if table is not None:
        scatter_list_statistics(statistics, list_arrays, table, n_sessions)
    statistics.release_lookup()
    log = None
    if keep_log:
        from ._click_log import ClickLog

        log = blocks[0] if len(blocks) == 1 else ClickLog.concatenate(blocks)
    return SessionRun(statistics, log)


def _fused_blocks(dataset, seed, cdf, n_sessions, block_size, first_session):
    """(start, queries) of every block of a fused path: the query draws of the general pipeline."""
    query_key = derive_key(_child(seed, _QUERY_STREAM))
    size = min(block_size, _FUSED_BLOCK, n_sessions)
    q = np.empty(size, dtype=np.int64)
    done = 0
    while done < n_sessions:
        size = min(q.size, n_sessions - done)
        start = first_session + done
        if cdf is None:
            _draw_uniform_queries(query_key, np.int64(start), np.int64(dataset.n_queries), q[:size])
        else:
            _draw_queries(query_key, np.int64(start), cdf, q[:size])
        yield start, q[:size]
        done += size


def _fused_plackett_luce(dataset, bound, affine, n_sessions, seed, cdf, block_size, first_session,
                         statistics):
    """Query draw, Plackett-Luce ranking, affine clicks and counting in one kernel per block.

    Sessions are grouped by query (a counting sort) so that a query's weights
    and its cells stay in cache while its sessions are ranked; every draw is
    the general pipeline's (same keys, same counters), the counts are
    integers, and the float sums follow from them (an affine model examines rank r with
    the constant theta_r): the statistics equal the general path's.
    """
    k = bound.k
    theta, eps_minus, eps_slope, relevance = affine
    policy_key = derive_key(_child(seed, _POLICY_STREAM))
    click_key = derive_key(_child(seed, _CLICK_STREAM))
    impressions_t = np.zeros((k, dataset.n_docs), dtype=np.int64)
    clicks_t = np.zeros((k, dataset.n_docs), dtype=np.int64)
    offsets = np.empty(dataset.n_queries + 1, dtype=np.int64)
    by_query = None
    for start, q in _fused_blocks(dataset, seed, cdf, n_sessions, block_size, first_session):
        if by_query is None:
            by_query = np.empty(q.size, dtype=np.int32)
        _group_by_query(q, offsets, by_query[:q.size])
        bound.affine_click_counts(by_query[:q.size], offsets, start, policy_key, click_key, theta, eps_minus,
                                   eps_slope, relevance, impressions_t, clicks_t)
    # The counts are dense over documents while the kernel runs; the statistics keep the shown cells.
    row, rank = np.nonzero(impressions_t.T)
    cells = row.astype(np.int64) * k + rank
    add_constant_examination(statistics, cells, impressions_t[rank, row], clicks_t[rank, row],
                             theta.astype(np.float32))
    statistics.n_sessions += n_sessions


def _fused_fixed_lists(dataset, table, affine, n_sessions, seed, cdf, block_size, first_session, statistics):
    """Query draw, affine clicks and per-(list, rank) counts in one kernel per block, for fixed lists.

    Partial counts per chunk of sessions (integers: any number of chunks
    gives the same sums); the per-list statistics follow from the counts as
    in the general path and are scattered to documents the same way.
    """
    n_lists, k = table.shape
    theta, eps_minus, eps_slope, relevance = affine
    probability = np.empty((n_lists, k))
    _click_kernels.affine_probability_table(table, theta, eps_minus, eps_slope, relevance, probability)
    click_key = derive_key(_child(seed, _CLICK_STREAM))
    n_chunks = max(1, numba.get_num_threads())
    part_sessions = np.empty((n_chunks, n_lists), dtype=np.int32)
    part_clicks = np.empty((n_chunks, n_lists, k), dtype=np.int32)
    sessions = np.zeros(n_lists, dtype=np.int64)
    clicks = np.zeros((n_lists, k), dtype=np.int64)
    for start, q in _fused_blocks(dataset, seed, cdf, n_sessions, block_size, first_session):
        part_sessions[...] = 0
        part_clicks[...] = 0
        _click_kernels.fixed_list_affine_counts(q, np.int64(start), click_key, probability, part_sessions,
                                                part_clicks)
        sessions += part_sessions.sum(axis=0)
        clicks += part_clicks.sum(axis=0)
    # The general path counts every rank of a list (empty slots examine 0 and are
    # dropped by the scatter).
    shown = table >= 0
    list_arrays = list_accumulators(n_lists, k)
    add_constant_examination_dense(
        list_arrays, np.ascontiguousarray(np.where(shown, sessions[:, None], 0).T), np.ascontiguousarray(clicks.T),
        theta.astype(np.float32),
    )
    scatter_list_statistics(statistics, list_arrays, table, n_sessions)


def _log_block(queries, round, displayed, sim, placement, policy_name):
    from ._click_log import ClickLog

    place = None
    if placement is not None:
        rows = np.where(displayed >= 0, displayed, 0)
        place = np.where(displayed >= 0, placement[rows, np.arange(displayed.shape[1])], 0.0).astype(np.float32)
    return ClickLog(
        query=queries, round=np.full(queries.size, round, dtype=np.int32), displayed=displayed,
        clicks=sim.clicks, examination=sim.examination, placement=place, policy=policy_name,
    )
