"""Interventions on a base logging policy, for propensity estimation.

Each intervention permutes the base ranking of a session with draws of its
own, independent of the base ranking and depending only on the number n_q of
candidates of the query.  It therefore maps base rank i to shown rank j with
a probability that is known in closed form, and its placement probabilities
follow exactly from the base policy's: exact over the deterministic, uniform
and epsilon-greedy policies, Monte Carlo (of the base) over Plackett-Luce.

The base ranking of a session uses the key of the run, so it is the ranking
the base policy alone would show under the same seed; the intervention draws
from a key derived from it and from its nesting level (interventions can be
nested).  Every intervention is a permutation of the base ranking (a swap or
a shuffle), so it is defined at any depth and the displaced documents move
down rather than vanish: a document swapped beyond rank k leaves the shown
list.
"""

from abc import abstractmethod
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _kernels as kernels
from ._policies import (
    _CHUNK_ENTRIES,
    BoundPolicy,
    LoggingPolicy,
    _BoundDeterministic,
    _check_int,
    _substream,
)

__all__ = ["RandPair", "RandTopN", "ReplaceLast", "SwapToRandomRank"]


class _BoundIntervention(BoundPolicy):
    """An intervention bound over a bound base policy."""

    def __init__(self, policy, base):
        super().__init__(policy, base.query_boundaries)
        self.base = base
        self._level = base._level + 1
        self.exact_placement = base.exact_placement
        self._max_size = int(self._sizes.max())

    @abstractmethod
    def _base_depth(self, queries, depth):
        """Depth of the base ranking the intervention needs."""

    @abstractmethod
    def _apply(self, ranking, queries, first_session, key):
        """Permute ``ranking`` (base rankings of ``queries``) in place."""

    @abstractmethod
    def _placement_depth(self, depth):
        """Depth of the base placement the closed form needs."""

    @abstractmethod
    def _transform(self, base_placement, doc_sizes, out):
        """Placement after the intervention, from the base placement."""

    def _rank(self, queries, key, first_session, depth):
        n_sessions = queries.size
        base_depth = self._base_depth(queries, depth)
        own_key = _substream(key, self._level)
        out = np.empty((n_sessions, depth), dtype=np.int32)
        rows = max(1, _CHUNK_ENTRIES // base_depth)
        for s0 in range(0, n_sessions, rows):
            chunk = queries[s0:s0 + rows]
            first = np.int64(first_session + s0)
            ranking = self.base._rank(chunk, key, first, base_depth)
            self._apply(ranking, chunk, first, own_key)
            out[s0:s0 + chunk.size] = ranking[:, :depth]
        return out

    def _placement(self, depth, n_samples, key):
        base = self.base._placement(self._placement_depth(depth), n_samples, key)
        out = np.empty((self.n_docs, depth))
        self._transform(base, self._doc_sizes(), out)
        return out


def _check_base(base):
    if not isinstance(base, LoggingPolicy):
        raise TypeError(f"base must be a LoggingPolicy, got {type(base).__name__}")


class _Intervention(LoggingPolicy):
    @property
    def k(self):
        """Ranks shown: those of the base policy, int."""
        return self.base.k

    def _bind(self, features, n_docs, boundaries):
        return self._bound_class(self, self.base._bind(features, n_docs, boundaries))


# --------------------------------------------------------------------------

class _BoundRandPair(_BoundIntervention):
    def _swap_depth(self):
        return min(self.policy.effective_max_rank, self._max_size)

    def _base_depth(self, queries, depth):
        return max(depth, self._swap_depth())

    def _apply(self, ranking, queries, first_session, key):
        kernels.swap_top(ranking, queries, self.query_boundaries, self.policy.effective_max_rank, 1,
                         first_session, key)

    def _placement_depth(self, depth):
        return max(depth, self._swap_depth())

    def _transform(self, base_placement, doc_sizes, out):
        kernels.rand_pair_placement(base_placement, doc_sizes, self.policy.effective_max_rank, out)


@dataclass(frozen=True)
class RandPair(_Intervention):
    """RandPair (Wang et al. 2018): swap rank 1 with a uniformly drawn rank j.

    j is uniform in 2..min(max_rank, n_q); a query with one candidate is not
    changed.  Placement probabilities: with m = min(max_rank, n_q),
    P(d at 1) = sum_{i=2..m} P_base(d at i) / (m - 1) and, for 2 <= j <= m,
    P(d at j) = P_base(d at 1) / (m - 1) + (1 - 1 / (m - 1)) P_base(d at j).

    Parameters
    ----------
    base : LoggingPolicy
        The policy whose ranking is intervened on.
    max_rank : int, optional
        Deepest rank swapped with rank 1, >= 2; default the base's ``k``.
        Deeper than ``k``, the top document can leave the shown list.

    Examples
    --------
    >>> import numpy as np
    >>> from policies import Deterministic
    >>> policy = RandPair(Deterministic(lambda X: -X[:, 0], k=3))
    >>> policy.name
    'rand_pair(deterministic, max_rank=3)'
    >>> bound = policy.bind(np.arange(4.0)[:, None], [0, 4])
    >>> bound.placement_probabilities().tolist()
    [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]
    """

    base: LoggingPolicy
    max_rank: Optional[int] = None

    _bound_class = _BoundRandPair

    def __post_init__(self):
        _check_base(self.base)
        if self.max_rank is None:
            if self.base.k < 2:
                raise ValueError(f"max_rank must be an integer >= 2, got None with k={self.base.k}")
        else:
            object.__setattr__(self, "max_rank", _check_int(self.max_rank, "max_rank", 2))

    @property
    def effective_max_rank(self):
        """``max_rank``, or ``k`` when it is None, int."""
        return self.k if self.max_rank is None else self.max_rank

    @property
    def name(self):
        return f"rand_pair({self.base.name}, max_rank={self.effective_max_rank})"


# --------------------------------------------------------------------------

class _BoundRandTopN(_BoundIntervention):
    def _base_depth(self, queries, depth):
        return max(depth, min(self.policy.n, self._max_size))

    def _apply(self, ranking, queries, first_session, key):
        kernels.rand_top_n(ranking, queries, self.query_boundaries, self.policy.n, first_session, key)

    def _placement_depth(self, depth):
        return max(depth, min(self.policy.n, self._max_size))

    def _transform(self, base_placement, doc_sizes, out):
        kernels.rand_top_n_placement(base_placement, doc_sizes, self.policy.n, out)


@dataclass(frozen=True)
class RandTopN(_Intervention):
    """RandTop-n (Joachims et al. 2017): shuffle the top n ranks uniformly.

    With m = min(n, n_q): P(d at j) = sum_{i<=m} P_base(d at i) / m for
    j <= m, and P_base(d at j) below.

    Parameters
    ----------
    base : LoggingPolicy
        The policy whose ranking is intervened on.
    n : int
        Ranks shuffled, in [2, k].

    Examples
    --------
    >>> import numpy as np
    >>> from policies import Deterministic
    >>> bound = RandTopN(Deterministic(lambda X: -X[:, 0], k=3), n=2).bind(np.arange(3.0)[:, None], [0, 3])
    >>> bound.placement_probabilities().tolist()
    [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """

    base: LoggingPolicy
    n: int

    _bound_class = _BoundRandTopN

    def __post_init__(self):
        _check_base(self.base)
        object.__setattr__(self, "n", _check_int(self.n, "n", 2, self.base.k, f"k={self.base.k}"))

    @property
    def name(self):
        return f"rand_top_n({self.base.name}, n={self.n})"


# --------------------------------------------------------------------------

class _BoundReplaceLast(_BoundIntervention):
    def _base_depth(self, queries, depth):
        deepest = int(self._sizes[queries].max()) if queries.size else 1
        return max(depth, deepest)

    def _rank(self, queries, key, first_session, depth):
        if type(self.base) is _BoundDeterministic:
            # The whole base ranking is ``order``: no need to materialise it.
            out = np.empty((queries.size, depth), dtype=np.int32)
            kernels.replace_last_deterministic(
                queries, self.base.order, self.query_boundaries, self.k, first_session,
                _substream(key, self._level), out,
            )
            return out
        return super()._rank(queries, key, first_session, depth)

    def _apply(self, ranking, queries, first_session, key):
        kernels.replace_last(ranking, queries, self.query_boundaries, self.k, first_session, key)

    def _placement_depth(self, depth):
        return max(depth, self.k)

    def _transform(self, base_placement, doc_sizes, out):
        kernels.replace_last_placement(base_placement, doc_sizes, self.k, out)


@dataclass(frozen=True)
class ReplaceLast(_Intervention):
    """Replace-last (Oosterhuis 2020): rank k shows a uniform draw from base ranks >= k.

    The document at rank k is swapped with the one at rank j, j uniform in
    k..n_q; queries with n_q <= k are not changed.  Placement: with
    c = n_q - k + 1, P(d at k) = (1 - sum_{i<k} P_base(d at i)) / c, the
    ranks above k are the base's.

    Parameters
    ----------
    base : LoggingPolicy
        The policy whose ranking is intervened on.

    Examples
    --------
    >>> import numpy as np
    >>> from policies import Deterministic
    >>> bound = ReplaceLast(Deterministic(lambda X: -X[:, 0], k=2)).bind(np.arange(4.0)[:, None], [0, 4])
    >>> np.round(bound.placement_probabilities(), 3).tolist()
    [[1.0, 0.0], [0.0, 0.333], [0.0, 0.333], [0.0, 0.333]]
    """

    base: LoggingPolicy

    _bound_class = _BoundReplaceLast

    def __post_init__(self):
        _check_base(self.base)

    @property
    def name(self):
        return f"replace_last({self.base.name})"


# --------------------------------------------------------------------------

class _BoundSwapToRandomRank(_BoundIntervention):
    def _swap_depth(self):
        return min(self.policy.max_rank, self._max_size)

    def _base_depth(self, queries, depth):
        return max(depth, self._swap_depth())

    def _apply(self, ranking, queries, first_session, key):
        kernels.swap_top(ranking, queries, self.query_boundaries, self.policy.max_rank, 0,
                         first_session, key)

    def _placement_depth(self, depth):
        return max(depth, self._swap_depth())

    def _transform(self, base_placement, doc_sizes, out):
        kernels.swap_to_random_rank_placement(base_placement, doc_sizes, self.policy.max_rank, out)


@dataclass(frozen=True)
class SwapToRandomRank(_Intervention):
    """Swap intervention (Joachims et al. 2017): the top result goes to a uniform rank.

    The documents at rank 1 and rank j, j uniform in 1..min(max_rank, n_q),
    are swapped (j = 1: no change).  The base ranking is computed to depth
    max(k, max_rank) and cut to k after the swap, so the top document can
    leave the shown list.  Placement: with m = min(max_rank, n_q),
    P(d at 1) = sum_{i<=m} P_base(d at i) / m and, for 2 <= j <= m,
    P(d at j) = P_base(d at 1) / m + (1 - 1 / m) P_base(d at j).

    Parameters
    ----------
    base : LoggingPolicy
        The policy whose ranking is intervened on.
    max_rank : int, default=21
        Deepest rank the top result can be swapped to, >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from policies import Deterministic
    >>> policy = SwapToRandomRank(Deterministic(lambda X: -X[:, 0], k=2), max_rank=4)
    >>> bound = policy.bind(np.arange(4.0)[:, None], [0, 4])
    >>> bound.placement_probabilities().tolist()
    [[0.25, 0.25], [0.25, 0.75], [0.25, 0.0], [0.25, 0.0]]
    """

    base: LoggingPolicy
    max_rank: int = 21

    _bound_class = _BoundSwapToRandomRank

    def __post_init__(self):
        _check_base(self.base)
        object.__setattr__(self, "max_rank", _check_int(self.max_rank, "max_rank", 1))

    @property
    def name(self):
        return f"swap_to_random_rank({self.base.name}, max_rank={self.max_rank})"
