"""Logging policies: validated public API over the numba kernels.

A :class:`LoggingPolicy` is a frozen description (a scorer, the cutoff ``k``
and the policy's parameters).  :meth:`LoggingPolicy.bind` scores every
document of a dataset once and returns a :class:`BoundPolicy`, which samples
the rankings shown in sessions (:meth:`BoundPolicy.rank`) and gives the
probability that each document is shown at each rank
(:meth:`BoundPolicy.placement_probabilities`), from which the policy-aware
propensity follows (Oosterhuis and de Rijke 2020).

Randomness: ``rank(queries, seed, first_session)`` uses the key
``derive_key(seed)``; every draw of session s is a pure function of (key,
first_session + s, counter) (:mod:`simulator.kernels`), so a run split into
several calls with ``first_session`` offsets equals one call, for any number
of numba threads.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from simulator.kernels import derive_key, mix64
from simulator.validation import check_int as _check_int, check_query_boundaries, read_only

from . import _kernels as kernels

__all__ = [
    "BoundPolicy",
    "DEFAULT_N_SAMPLES",
    "Deterministic",
    "EpsilonGreedy",
    "LoggingPolicy",
    "PlackettLuce",
    "UniformRandom",
]

#: Monte Carlo sessions per query of ``placement_probabilities`` when it is not exact.
DEFAULT_N_SAMPLES = 10_000

# Sessions x ranks held at once by the chunked Monte Carlo and intervention paths.
_CHUNK_ENTRIES = 1 << 22
# A query whose weights span more than exp(_WIDE) races in log time (see the kernel).
_WIDE = 700.0
# Plackett-Luce draws ranks 1.._SEQUENTIAL_DEPTH one by one (one uniform each; per
# rank a vectorised count over the n_q suffix sums and O(rank) work on the ranks
# already shown) and races the remaining candidates beyond it.
_SEQUENTIAL_DEPTH = 32
# ... of which ranks are drawn by rejection from the query's alias table while the
# candidates shown weigh less than this fraction of the query's weight (so at least
# half of the draws are accepted), by inverse CDF over the remaining weights beyond.
_REJECTION_MASS = 0.5


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------

def _check_scorer(scorer):
    if not (hasattr(scorer, "predict") or callable(scorer)):
        raise TypeError(
            f"scorer must be a callable scorer(features) -> scores or have a .predict(features) "
            f"method, got {type(scorer).__name__}"
        )


def _score(scorer, features, n_docs):
    """Scores of every document, validated: shape (n_docs,), finite, float64."""
    scores = scorer.predict(features) if hasattr(scorer, "predict") else scorer(features)
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scorer must return numeric scores, got {type(scores).__name__}") from error
    if scores.shape != (n_docs,):
        raise ValueError(f"scorer must return scores of shape (n_docs,) = ({n_docs},), got {scores.shape}")
    finite = np.isfinite(scores)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"scorer must return finite scores, got {bad.size} non-finite value(s), first "
            f"{scores[bad[0]]} at row {bad[0]}"
        )
    return read_only(np.ascontiguousarray(scores))


def _check_dataset(features, query_boundaries):
    """(n_docs, boundaries as contiguous int64) of a features matrix and CSR offsets."""
    shape = getattr(features, "shape", None)
    if shape is None:
        features = np.asarray(features)
        shape = features.shape
    if len(shape) != 2:
        raise ValueError(f"features must have shape (n_docs, n_features), got {tuple(shape)}")
    n_docs = int(shape[0])
    boundaries = check_query_boundaries(query_boundaries, n_docs)
    if n_docs >= np.iinfo(np.int32).max:
        raise ValueError(f"features must have fewer than 2**31 - 1 rows, got {n_docs}")
    return features, n_docs, boundaries


def _substream(key, level):
    """Key of the draws of an intervention at nesting ``level`` (>= 1) over ``key``."""
    with np.errstate(over="ignore"):
        z = (np.uint64(key) ^ np.uint64(0x6A09E667F3BCC909)) + np.uint64(level) * np.uint64(0xD1B54A32D192ED03)
        return np.uint64(mix64(z))


# --------------------------------------------------------------------------
# Policies bound to a dataset
# --------------------------------------------------------------------------

class BoundPolicy(ABC):
    """A logging policy bound to the scores of one dataset.

    Made by :meth:`LoggingPolicy.bind`, not directly.

    Attributes
    ----------
    policy : LoggingPolicy
        The policy that was bound.
    query_boundaries : ndarray of shape (n_queries + 1,), int64
        CSR offsets: the candidates of query q are rows
        ``query_boundaries[q]:query_boundaries[q + 1]``.
    n_docs, n_queries, k : int
        Documents, queries, and ranks shown per session.
    exact_placement : bool
        Whether :meth:`placement_probabilities` is exact (else Monte Carlo).
    counts_affine_clicks : bool
        Whether :meth:`affine_click_counts` is implemented: the policy can
        rank, click (affine click model) and count in one fused kernel.

    Notes
    -----
    The session simulator uses two optional parts of this protocol to fuse
    its work: :meth:`fixed_lists` (one list per query: aggregate per (query,
    rank)) and :meth:`affine_click_counts` (rank, click and count without
    materialising the rankings).  A policy that has neither is simulated by
    the general pipeline with the same results.
    """

    exact_placement = True
    counts_affine_clicks = False

    def __init__(self, policy, boundaries):
        self.policy = policy
        self.query_boundaries = boundaries
        self.k = policy.k
        self.n_queries = boundaries.size - 1
        self.n_docs = int(boundaries[-1])
        self._sizes = np.diff(boundaries)
        self._level = 0  # nesting level of interventions (0: a base policy)

    @property
    def name(self):
        """Name of the policy, str."""
        return self.policy.name

    def __repr__(self):
        return f"<BoundPolicy {self.name}: k={self.k}, {self.n_queries} queries, {self.n_docs} documents>"

    def rank(self, queries, seed, first_session=0, out=None):
        """Rankings shown in a batch of sessions.

        Parameters
        ----------
        queries : array-like of int, shape (n_sessions,)
            Query index of each session, in [0, n_queries).
        seed : int or numpy.random.SeedSequence
            Seed of the run; the kernel key is ``derive_key(seed)``.
        first_session : int, default=0
            Global index of the first session: a run ranked block by block
            with these offsets equals a run ranked at once.
        out : ndarray of shape (n_sessions, k), int32, optional
            Buffer to write into (reusing one across blocks avoids paging in
            fresh memory for every block); used by the base policies, ignored
            by interventions.

        Returns
        -------
        ndarray of shape (n_sessions, k), int32
            Global document row shown at ranks 1..k of each session; -1 in the
            tail when the query has fewer than k candidates.
        """
        queries = self._check_queries(queries)
        first_session = _check_int(first_session, "first_session", 0)
        if out is not None and (out.shape != (queries.size, self.k) or out.dtype != np.int32
                                or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous int32 array of shape {(queries.size, self.k)}")
        self._out = out
        try:
            return self._rank(queries, derive_key(seed), np.int64(first_session), self.k)
        finally:
            self._out = None

    def _buffer(self, n, depth):
        """The caller's buffer when it fits this call, else a new array."""
        out = getattr(self, "_out", None)
        if out is not None and out.shape == (n, depth):
            return out
        return np.empty((n, depth), dtype=np.int32)

    def placement_probabilities(self, n_samples=None, seed=0):
        """P(document d is shown at rank j | a session of d's query).

        Parameters
        ----------
        n_samples : int, optional
            Monte Carlo sessions per query where the probabilities are not
            exact (Plackett-Luce, and interventions over it); default
            ``DEFAULT_N_SAMPLES`` = 10 000.  Ignored where they are exact
            (see ``exact_placement``).
        seed : int or numpy.random.SeedSequence, default=0
            Seed of the Monte Carlo sessions (session q * n_samples + i is the
            i-th sample of query q).

        Returns
        -------
        ndarray of shape (n_docs, k), float64
            For every query with n_q candidates and every rank j < n_q, the
            column j over the query's documents sums to 1; columns j >= n_q are 0.
        """
        if n_samples is None:
            n_samples = DEFAULT_N_SAMPLES
        n_samples = _check_int(n_samples, "n_samples", 1)
        return self._placement(self.k, n_samples, derive_key(seed))

    def propensity(self, theta, n_samples=None, seed=0):
        """Policy-aware propensity rho(d) = sum_j P(d at rank j) * theta_j.

        Parameters
        ----------
        theta : array-like of shape (k,)
            Examination probability of each rank, finite and >= 0.
        n_samples, seed
            As in :meth:`placement_probabilities`.

        Returns
        -------
        ndarray of shape (n_docs,), float64
        """
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.k,):
            raise ValueError(f"theta must have shape (k,) = ({self.k},), got {theta.shape}")
        if not np.all(np.isfinite(theta)) or np.any(theta < 0):
            raise ValueError(f"theta must be finite and >= 0, got {theta.tolist()}")
        # not ``@``: BLAS results may depend on its thread count
        return (self.placement_probabilities(n_samples, seed) * theta).sum(axis=1)

    # -- internals ---------------------------------------------------------

    def fixed_lists(self):
        """The list every session of a query shows, ndarray (n_queries, k) int32, or None.

        None (the default) when the sessions of a query may see different
        lists; a deterministic policy returns its top-k table, so a session
        simulator may aggregate clicks per (query, rank).
        """
        return None

    def affine_click_counts(self, by_query, query_offsets, first_session, policy_key, click_key, theta,
                            eps_minus, eps_slope, relevance, impressions_t, clicks_t):
        """Rank, click (affine click model) and count sessions grouped by query, in one kernel.

        Implemented where :attr:`counts_affine_clicks` is True.  The rankings
        are those of :meth:`rank` and the clicks those of the affine click
        models (PBM, trust bias: ``ClickModel.affine_parameters``), counted
        per (rank, document) into ``impressions_t`` and ``clicks_t``.

        Parameters
        ----------
        by_query : ndarray of int32, shape (n_sessions,)
            Session offsets (from ``first_session``) grouped by query.
        query_offsets : ndarray of int64, shape (n_queries + 1,)
            CSR offsets of each query's sessions in ``by_query``.
        first_session : int
        policy_key, click_key : uint64
            Kernel keys of the ranking and of the clicks.
        theta, eps_minus, eps_slope : ndarray of float64, shape (k,)
        relevance : ndarray of float64, shape (n_docs,)
        impressions_t, clicks_t : ndarray of int64, shape (k, n_docs)
            Accumulators, added to in place.
        """
        raise NotImplementedError(f"{type(self).__name__} has no fused affine click kernel")

    def _check_queries(self, queries):
        queries = np.asarray(queries)
        if queries.ndim != 1:
            raise ValueError(f"queries must be a 1-D array of query indices, got shape {queries.shape}")
        if queries.size and not np.issubdtype(queries.dtype, np.integer):
            raise ValueError(f"queries must hold integer query indices, got dtype {queries.dtype}")
        queries = np.ascontiguousarray(queries, dtype=np.int64)
        if queries.size and (queries.min() < 0 or queries.max() >= self.n_queries):
            bad = queries.min() if queries.min() < 0 else queries.max()
            raise ValueError(f"queries must be in [0, n_queries={self.n_queries}), got {bad}")
        return queries

    def _doc_sizes(self):
        """Number of candidates of each document's query, int64 (n_docs,)."""
        return np.repeat(self._sizes, self._sizes)

    @abstractmethod
    def _rank(self, queries, key, first_session, depth):
        """Rankings of depth ``depth`` (any >= 1), int32 (n_sessions, depth)."""

    @abstractmethod
    def _placement(self, depth, n_samples, key):
        """Placement probabilities to ``depth`` ranks, float64 (n_docs, depth)."""

    def _monte_carlo_placement(self, depth, n_samples, key):
        """Frequencies of ``_rank`` over n_samples sessions of every query."""
        counts = np.zeros((self.n_docs, depth), dtype=np.int64)
        per_chunk = max(1, _CHUNK_ENTRIES // (n_samples * depth))
        for q0 in range(0, self.n_queries, per_chunk):
            q1 = min(self.n_queries, q0 + per_chunk)
            queries = np.repeat(np.arange(q0, q1, dtype=np.int64), n_samples)
            ranking = self._rank(queries, key, np.int64(q0 * n_samples), depth)
            kernels.count_placements(ranking, n_samples, counts)
        return counts / n_samples


class _BoundDeterministic(BoundPolicy):
    def __init__(self, policy, boundaries, scores):
        super().__init__(policy, boundaries)
        self.order = kernels.sorted_by_score(scores, boundaries)
        self._table = kernels.top_table(self.order, boundaries, self.k)

    def _rank(self, queries, key, first_session, depth):
        out = self._buffer(queries.size, depth)
        if depth == self.k:
            kernels.gather_rows(queries, self._table, out)
        else:
            kernels.gather_prefix(queries, self.order, self.query_boundaries, out)
        return out

    def _placement(self, depth, n_samples, key):
        return _deterministic_placement(self.order, self.query_boundaries, self._sizes, depth)

    def fixed_lists(self):
        """The top-k list of every query, ndarray (n_queries, k) int32 (-1 padded).

        Every session of a query shows this list, so a session simulator may
        aggregate clicks per (query, rank) instead of per (document, rank).
        """
        return self._table


def _deterministic_placement(order, boundaries, sizes, depth):
    placement = np.zeros((order.size, depth))
    rank = np.arange(order.size) - np.repeat(boundaries[:-1], sizes)
    shown = rank < depth
    placement[order[shown], rank[shown]] = 1.0
    return placement


def _uniform_placement(sizes, depth):
    doc_sizes = np.repeat(sizes, sizes)[:, None]
    return (np.arange(depth)[None, :] < doc_sizes) / np.maximum(doc_sizes, 1)


class _BoundUniform(BoundPolicy):
    def _rank(self, queries, key, first_session, depth):
        out = self._buffer(queries.size, depth)
        kernels.uniform_rank(queries, self.query_boundaries, first_session, key, out)
        return out

    def _placement(self, depth, n_samples, key):
        return _uniform_placement(self._sizes, depth)


class _BoundEpsilonGreedy(BoundPolicy):
    def __init__(self, policy, boundaries, scores):
        super().__init__(policy, boundaries)
        self.order = kernels.sorted_by_score(scores, boundaries)

    def _rank(self, queries, key, first_session, depth):
        out = self._buffer(queries.size, depth)
        kernels.epsilon_greedy_rank(
            queries, self.order, self.query_boundaries, float(self.policy.epsilon), first_session, key, out
        )
        return out

    def _placement(self, depth, n_samples, key):
        eps = float(self.policy.epsilon)
        greedy = _deterministic_placement(self.order, self.query_boundaries, self._sizes, depth)
        return (1.0 - eps) * greedy + eps * _uniform_placement(self._sizes, depth)


class _BoundPlackettLuce(BoundPolicy):
    exact_placement = False

    def __init__(self, policy, boundaries, scores):
        super().__init__(policy, boundaries)
        nonempty = np.flatnonzero(self._sizes > 0)
        query_max = np.zeros(self.n_queries)
        if nonempty.size:
            query_max[nonempty] = np.maximum.reduceat(scores, boundaries[nonempty])
        gap = (np.repeat(query_max, self._sizes) - scores) / float(policy.temperature)
        gap = np.maximum(gap, 0.0)  # exactly 0 at the maximum; guards -0.0
        self._log_inv_weight = np.ascontiguousarray(gap)
        self._wide = np.zeros(self.n_queries, dtype=np.bool_)
        if nonempty.size:
            self._wide[nonempty] = np.maximum.reduceat(gap, boundaries[nonempty]) > _WIDE
        # Candidates by weight descending (ties by lower row), their weights in
        # (0, 1] (clipped in wide queries, which do not use them) and suffix sums.
        self._order = kernels.sorted_by_score(scores, boundaries)
        self._weight = np.exp(-np.minimum(gap[self._order], _WIDE))
        self._tail = np.empty(self.n_docs)
        kernels.suffix_sums(self._weight, boundaries, self._tail)
        self._alias_prob = np.empty(self.n_docs)
        self._alias_index = np.empty(self.n_docs, dtype=np.int32)
        kernels.alias_tables(self._weight, boundaries, self._alias_prob, self._alias_index)
        self._max_size = max(1, int(self._sizes.max()))

    def _rank(self, queries, key, first_session, depth):
        out = self._buffer(queries.size, depth)
        kernels.plackett_luce_rank(
            queries, self.query_boundaries, self._order, self._weight, self._tail, self._alias_prob,
            self._alias_index, self._log_inv_weight, self._wide, _SEQUENTIAL_DEPTH, _REJECTION_MASS,
            self._max_size, first_session, key, out,
        )
        return out

    counts_affine_clicks = True

    def affine_click_counts(self, by_query, query_offsets, first_session, policy_key, click_key, theta,
                            eps_minus, eps_slope, relevance, impressions_t, clicks_t):
        """Rank, click (affine model) and count sessions grouped by query, in one kernel (see the base)."""
        kernels.plackett_luce_affine_counts(
            by_query, query_offsets, np.int64(first_session), policy_key, click_key, self.query_boundaries,
            self._order, self._weight, self._tail, self._alias_prob, self._alias_index, self._log_inv_weight,
            self._wide, _SEQUENTIAL_DEPTH, _REJECTION_MASS, self._max_size, self.k, theta, eps_minus,
            eps_slope, relevance, impressions_t, clicks_t,
        )

    def _placement(self, depth, n_samples, key):
        return self._monte_carlo_placement(depth, n_samples, key)


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------

class LoggingPolicy(ABC):
    """A policy that decides the ranking shown in every session.

    Subclasses are frozen dataclasses.  ``k`` is the number of ranks shown;
    ``bind`` scores every document once and returns a :class:`BoundPolicy`.
    """

    k: int

    @property
    @abstractmethod
    def name(self):
        """Short name with the parameters, e.g. ``"plackett_luce(T=0.5)"``."""

    def bind(self, features, query_boundaries):
        """Score every document once and bind the policy to the dataset.

        Parameters
        ----------
        features : array-like of shape (n_docs, n_features)
            Passed unchanged to the scorer.
        query_boundaries : array-like of int, shape (n_queries + 1,)
            CSR offsets of the rows of each query (0 first, n_docs last).

        Returns
        -------
        BoundPolicy
        """
        features, n_docs, boundaries = _check_dataset(features, query_boundaries)
        return self._bind(features, n_docs, boundaries)

    @abstractmethod
    def _bind(self, features, n_docs, boundaries):
        """Bind to validated inputs."""


def _check_k(k):
    return _check_int(k, "k", 1)


@dataclass(frozen=True)
class Deterministic(LoggingPolicy):
    """Rank by score, descending, and show the top k (ties: lower row first).

    The top-k table of every query is computed once in ``bind``; ``rank`` is a
    gather.  Placement probabilities are exact (0 or 1).

    Parameters
    ----------
    scorer : callable or object with ``predict``
        ``scorer(features)`` or ``scorer.predict(features)`` returns one
        finite score per document, ndarray of shape (n_docs,).
    k : int
        Ranks shown, >= 1; queries with fewer candidates are padded with -1.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[0.1], [0.9], [0.5], [0.3], [0.7]])
    >>> boundaries = np.array([0, 3, 5])          # query 0: rows 0-2, query 1: rows 3-4
    >>> bound = Deterministic(lambda X: X[:, 0], k=3).bind(features, boundaries)
    >>> bound.rank([0, 1], seed=0)
    array([[ 1,  2,  0],
           [ 4,  3, -1]], dtype=int32)
    >>> bound.propensity([1.0, 0.5, 0.25]).tolist()
    [0.25, 1.0, 0.5, 0.5, 1.0]
    """

    scorer: Any
    k: int

    def __post_init__(self):
        _check_scorer(self.scorer)
        object.__setattr__(self, "k", _check_k(self.k))

    @property
    def name(self):
        return "deterministic"

    def _bind(self, features, n_docs, boundaries):
        return _BoundDeterministic(self, boundaries, _score(self.scorer, features, n_docs))


@dataclass(frozen=True)
class PlackettLuce(LoggingPolicy):
    """Plackett-Luce: softmax(scores / temperature) sampled without replacement.

    Sampled rank by rank, with one uniform draw per rank: rank j shows a
    remaining candidate i with probability w_i / (sum of the remaining
    weights), w_i = exp((s_i - max s) / temperature), found by inverse CDF
    over suffix sums of the weights computed once in ``bind``.  Beyond rank
    32 the remaining candidates are ranked by the exponential race, and so
    is every query whose weights span beyond the double range (score range
    / temperature > 700), in log time.  ``placement_probabilities`` is a
    Monte Carlo estimate over ``n_samples`` sessions per query (default
    10 000) made by the same kernel.

    Parameters
    ----------
    scorer : callable or object with ``predict``
        As in :class:`Deterministic`.
    k : int
        Ranks shown, >= 1.
    temperature : float, default=1.0
        > 0; small values approach :class:`Deterministic`, large ones
        :class:`UniformRandom`.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[0.0], [1.0], [2.0]])
    >>> policy = PlackettLuce(lambda X: X[:, 0], k=2, temperature=0.5)
    >>> policy.name
    'plackett_luce(T=0.5)'
    >>> bound = policy.bind(features, [0, 3])
    >>> shown = bound.rank(np.zeros(4, dtype=int), seed=1)
    >>> shown.shape, bool(np.all(np.sort(shown, axis=1)[:, 0] != np.sort(shown, axis=1)[:, 1]))
    ((4, 2), True)
    >>> p = bound.placement_probabilities(n_samples=20_000)
    >>> np.round(p[:, 0], 1).tolist()                  # softmax([0, 2, 4])
    [0.0, 0.1, 0.9]
    """

    scorer: Any
    k: int
    temperature: float = 1.0

    def __post_init__(self):
        _check_scorer(self.scorer)
        object.__setattr__(self, "k", _check_k(self.k))
        t = self.temperature
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, Real) or not np.isfinite(t) or t <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")

    @property
    def name(self):
        return f"plackett_luce(T={self.temperature:g})"

    def _bind(self, features, n_docs, boundaries):
        return _BoundPlackettLuce(self, boundaries, _score(self.scorer, features, n_docs))


@dataclass(frozen=True)
class EpsilonGreedy(LoggingPolicy):
    """With probability epsilon a uniformly random ranking, else the deterministic one.

    Each session explores independently; an exploring session shows the top k
    of a uniform permutation of the query's candidates.  ``epsilon=0`` equals
    :class:`Deterministic`.  Placement probabilities are exact (the mixture).

    Parameters
    ----------
    scorer : callable or object with ``predict``
        As in :class:`Deterministic`.
    k : int
        Ranks shown, >= 1.
    epsilon : float
        Exploration probability in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> bound = EpsilonGreedy(lambda X: X[:, 0], k=1, epsilon=0.5).bind(np.eye(2), [0, 2])
    >>> bound.placement_probabilities().tolist()
    [[0.75], [0.25]]
    """

    scorer: Any
    k: int
    epsilon: float

    def __post_init__(self):
        _check_scorer(self.scorer)
        object.__setattr__(self, "k", _check_k(self.k))
        e = self.epsilon
        if isinstance(e, (bool, np.bool_)) or not isinstance(e, Real) or not 0.0 <= e <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {e!r}")

    @property
    def name(self):
        return f"epsilon_greedy(epsilon={self.epsilon:g})"

    def _bind(self, features, n_docs, boundaries):
        return _BoundEpsilonGreedy(self, boundaries, _score(self.scorer, features, n_docs))


@dataclass(frozen=True)
class UniformRandom(LoggingPolicy):
    """The top k of a uniformly random permutation of the query's candidates.

    Placement probabilities are exact: 1 / n_q at every rank j < n_q.

    Parameters
    ----------
    k : int
        Ranks shown, >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> bound = UniformRandom(k=2).bind(np.zeros((4, 1)), [0, 4])
    >>> bound.rank([0, 0, 0], seed=3).shape
    (3, 2)
    >>> bound.placement_probabilities()[0].tolist()
    [0.25, 0.25]
    """

    k: int

    def __post_init__(self):
        object.__setattr__(self, "k", _check_k(self.k))

    @property
    def name(self):
        return "uniform_random"

    def _bind(self, features, n_docs, boundaries):
        return _BoundUniform(self, boundaries)
