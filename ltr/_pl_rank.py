"""Learners that optimise a ranking metric of click-based relevance estimates: PL-Rank and LambdaMART.

Both fit on aggregated :class:`~simulator.ClickStatistics` like the other
click learners: every document d with an estimate (the shown ones; with
IPS's and DR's all-candidate forms, every candidate of a served query) gets
a relevance estimate rho_d from its clicks (``targets``: naive CTR, IPS or DR; IPS and DR estimates can be
negative), and the learner fits LightGBM scores f(x) whose ranking of each
query maximises the (expected) DCG@K or NDCG@K of those estimates, each query
weighted by its number of sessions.

- :class:`PLRank` (kind ``pl_rank``): a Plackett-Luce policy
  pi(y | q) = prod_r exp(f(y_r)) / sum_{d not above r} exp(f(d)) whose expected
  metric is maximised by gradient boosting on the PL-Rank-3 gradient
  (Oosterhuis, SIGIR 2021 and CIKM 2022).
- :class:`LambdaMARTClicks` (kind ``lambdamart``): LambdaMART (Burges 2010) on
  the estimates, either LightGBM's own ``lambdarank`` on estimates binned to
  integer grades or the same lambdas computed with the real-valued (signed)
  estimates as gains in a custom objective.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator

from simulator.kernels import derive_key
from simulator.validation import read_only

from . import _pl_rank_kernels as kernels
from ._learners import IPS
from ._relevance_model import RelevanceModel, task_threads

__all__ = ["LambdaMARTClicks", "PLRank", "click_relevance"]

TARGETS = ("naive", "ips", "dr")
METRICS = ("dcg", "ndcg")
SERVING = ("deterministic", "stochastic")
LABELS = ("binned", "real")


def _naive_relevance(dataset, statistics, params, log):
    if params:
        raise ValueError(f"targets='naive' takes no estimator parameters, got {sorted(params)}")
    impressions = statistics.row_sums("impressions").astype(np.float64)
    clicks = statistics.row_sums("clicks").astype(np.float64)
    return np.divide(clicks, impressions, out=np.full(impressions.shape, np.nan), where=impressions > 0)


def _ips_relevance(dataset, statistics, params, log):
    return IPS(**params).relevance_estimates(dataset, statistics, log)


def _dr_relevance(dataset, statistics, params, log):
    from . import _learners

    estimator = getattr(_learners, "DR", None)
    if estimator is None or not hasattr(estimator, "relevance_estimates"):
        raise NotImplementedError(
            "targets='dr' needs the doubly robust estimator of ltr._learners (a DR learner with a "
            "relevance_estimates(dataset, statistics) method), which does not exist yet; use 'naive' or 'ips'")
    return estimator(**params).relevance_estimates(dataset, statistics, log)


_RELEVANCE = {"naive": _naive_relevance, "ips": _ips_relevance, "dr": _dr_relevance}


def click_relevance(targets, dataset, statistics, log=None, **params):
    """Per-document relevance estimates from click statistics.

    Parameters
    ----------
    targets : {"naive", "ips", "dr"} or callable
        ``naive``: the click-through rate; ``ips``:
        ``IPS(**params).relevance_estimates``; ``dr``:
        ``DR(**params).relevance_estimates`` (the doubly robust estimate).  A
        callable ``f(dataset, statistics)`` returning an array of shape
        (n_docs,) is used as it is.
    dataset : RankingDataset
    statistics : ClickStatistics
    log : ClickLog, optional
        For estimators that need the sessions (IPS with ``propensity="cascade_model"``).
    **params
        Parameters of the estimator (for ``ips`` and ``dr``: ``propensity``,
        ``clip``, ``affine``, ...; see :class:`~ltr.IPS` and :class:`~ltr.DR`).

    Returns
    -------
    ndarray of shape (n_docs,)
        The estimate of every document; NaN where the estimator gives none
        (not shown; for IPS's and DR's all-candidate forms, a query never
        served).  Estimates may be negative (affine IPS, DR).

    Examples
    --------
    >>> from simulator import ClickStatistics
    >>> stats = ClickStatistics.empty(n_docs=2, k=1)
    >>> stats.impressions[:, 0] = [4, 0]
    >>> stats.clicks[:, 0] = [1, 0]
    >>> click_relevance("naive", None, stats).tolist()
    [0.25, nan]
    """
    if callable(targets):
        rho = np.asarray(targets(dataset, statistics), dtype=np.float64)
        if rho.shape != (statistics.n_docs,):
            raise ValueError(f"targets callable must return shape ({statistics.n_docs},), got {rho.shape}")
        return rho
    if not isinstance(targets, str) or targets not in _RELEVANCE:
        raise ValueError(f"targets must be one of {TARGETS} or a callable, got {targets!r}")
    return _RELEVANCE[targets](dataset, statistics, params, log)


def _training_rows(dataset, statistics, rho):
    """Rows with an estimate (query-contiguous), group sizes, and the sessions of each group's query."""
    if statistics.n_docs != dataset.n_docs:
        raise ValueError(f"statistics cover {statistics.n_docs} documents, the dataset has {dataset.n_docs}")
    rows = np.flatnonzero(~np.isnan(rho))
    if rows.size == 0:
        raise ValueError("no document has a relevance estimate (no impression?): nothing to learn from")
    if not np.all(np.isfinite(rho[rows])):
        raise ValueError("relevance estimates must be finite (or NaN for documents left out)")
    query = dataset.doc_query[rows]
    groups, sizes = np.unique(query, return_counts=True)
    impressions = statistics.row_sums("impressions").astype(np.float64)
    per_query = np.bincount(dataset.doc_query, weights=impressions, minlength=dataset.n_queries)
    slots = np.minimum(dataset.query_sizes, statistics.k)
    return rows, sizes.astype(np.int64), per_query[groups] / slots[groups]


def _check_int(value, name, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _discount(cutoff):
    return 1.0 / np.log2(np.arange(2, cutoff + 2, dtype=np.float64))


def _ideal_dcg(rho, boundaries, discount):
    """DCG@K of each query's estimates sorted in decreasing order."""
    k = discount.size
    ideal = np.zeros(boundaries.size - 1)
    for q in range(ideal.size):
        top = np.sort(rho[boundaries[q]:boundaries[q + 1]])[::-1][:k]
        ideal[q] = float(np.sum(top * discount[:top.size]))
    return ideal


class _ClickRankingLearner(BaseEstimator):
    """Shared validation, targets and serving of the metric-optimising learners."""

    @property
    def needs_log(self):
        """True for IPS targets with ``propensity="cascade_model"`` (examination from each session's clicks)."""
        return self.targets == "ips" and isinstance(self.propensity, str) and self.propensity == "cascade_model"

    def _target_params(self):
        if not isinstance(self.targets, str) or self.targets == "naive":
            if self.target_params:
                raise ValueError("target_params apply to targets 'ips' and 'dr' only")
            return {}
        params = {"propensity": self.propensity, "clip": self.clip, "affine": self.affine}
        if self.targets == "dr":
            params.update(num_threads=self.num_threads, seed=self.seed)
        params.update(self.target_params or {})
        return params

    def _training_data(self, dataset, statistics, log=None, normalise=True):
        """Rows with an estimate, their query boundaries, estimates, the discount and per-query weights.

        A query weighs its number of sessions; with ``metric="ndcg"`` (and
        ``normalise``) the estimates of a query are divided by their ideal
        DCG@K and queries whose ideal is <= 0 weigh 0.
        """
        _check_choice(self.metric, "metric", METRICS)
        if not callable(self.targets):
            _check_choice(self.targets, "targets", TARGETS)
        if self.target_params is not None and not isinstance(self.target_params, dict):
            raise ValueError(f"target_params must be a dict or None, got {self.target_params!r}")
        cutoff = _check_int(self.cutoff, "cutoff", 1)
        _check_int(self.n_estimators, "n_estimators", 1)
        _check_int(self.num_threads, "num_threads", 1)
        rho_all = click_relevance(self.targets, dataset, statistics, log, **self._target_params())
        rows, sizes, weight = _training_rows(dataset, statistics, rho_all)
        rho = rho_all[rows]
        boundaries = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        discount = _discount(cutoff)
        if self.metric == "ndcg" and normalise:
            # NDCG@K is the DCG@K of the estimates divided by their ideal DCG@K: scale rho per query.
            ideal = _ideal_dcg(rho, boundaries, discount)
            scale = np.where(ideal > 0, 1.0 / np.where(ideal > 0, ideal, 1.0), 0.0)
            rho = rho * np.repeat(scale, sizes)
            weight = np.where(ideal > 0, weight, 0.0)
        return rows, boundaries, rho, discount, weight

    def predict(self, features):
        """Scores of documents, ndarray of shape (n_docs,): rank by decreasing score."""
        if not hasattr(self, "model_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")
        return self.model_.predict(features)


class _PLRankObjective:
    """Negative expected metric of the Plackett-Luce policy, for :class:`RelevanceModel` (custom loss)."""

    def __init__(self, rho, boundaries, discount, query_weight, n_samples, seed):
        self.rho, self.boundaries, self.discount = read_only(rho), read_only(boundaries), discount
        self.row_weight = np.repeat(query_weight, np.diff(boundaries))
        self.query_weight = query_weight
        self.n_samples, self.seed = n_samples, seed
        self.calls = 0
        self.values = []

    def _run(self, f):
        grad = np.empty(self.rho.size)
        fisher = np.empty(self.rho.size)
        value = np.empty(self.boundaries.size - 1)
        key = derive_key(self.seed, self.calls)
        self.calls += 1
        kernels.pl_rank_gradient(np.ascontiguousarray(f, dtype=np.float64), self.rho, self.boundaries,
                                 self.discount, self.n_samples, key, grad, fisher, value)
        self.values.append(float(np.sum(self.query_weight * value) / max(np.sum(self.query_weight), 1e-300)))
        return grad, fisher

    def gradients(self, f):
        grad, fisher = self._run(f)
        # LightGBM minimises: the loss is minus the expected metric.
        return -self.row_weight * grad, np.maximum(self.row_weight * fisher, 1e-9)

    def value(self, f):
        return -self.values[-1] if self.values else 0.0


class PLRank(_ClickRankingLearner):
    """PL-Rank: a Plackett-Luce policy over LightGBM scores maximising the expected DCG@K of click estimates.

    The policy samples rankings of a query's documents with
    P(d at rank r | ranks above) = exp(f(x_d)) / sum of exp(f) of the
    documents not yet placed.  Its expected DCG@K (or NDCG@K) under the
    relevance estimates rho (``targets``), summed over queries weighted by
    their sessions, is maximised by gradient boosting: each round the
    gradient in every training score is estimated from ``n_samples`` rankings
    sampled per query with the PL-Rank-3 estimator (Oosterhuis 2022; the
    estimate of PL-Rank-2, Oosterhuis 2021, computed at the cost of the
    sampling), fresh samples each round.  The estimate is unbiased for
    signed rho (IPS, DR).  The documents with an estimate enter (the shown
    ones; with the all-candidate estimators, every candidate of a served query).

    Hessian: LightGBM needs one per row; this learner gives the diagonal of
    the Fisher information of the policy in the scores, sum over the ranks r
    where d is still unplaced of P_r(d) (1 - P_r(d)), estimated from the same
    samples (times the query weight).  A leaf's Newton step is then the
    gradient over the Fisher information, a (diagonal) natural-gradient step;
    a constant Hessian would make the step depend on the number of documents
    per leaf and on the scale of the policy's probabilities.  Such steps are
    in units of the metric (differences of click-rate estimates, about 0.1),
    hence the default ``learning_rate=1.0``: at 0.1 the policy hardly leaves
    the uniform one in 100 rounds.  Measured (``benchmarks/bench_pl_rank.py
    --compare --learning-rates 0.1 0.3 1.0``: default synthetic data,
    Plackett-Luce logging, 10^6 sessions, IPS targets, seed 0): the training
    expected DCG@10 goes from 0.756 to 0.838, 0.990 and 1.179 at 0.1, 0.3 and
    1.0, the score standard deviation on held-out queries is 0.26, 0.72 and
    1.77, the expected NDCG@10 of the policy on held-out queries 0.409,
    0.526 and 0.674; the held-out NDCG@10 of its top 10 by score moves the
    other way, 0.770, 0.769 and 0.766 (deterministic serving gains nothing
    from the sharper policy).

    Parameters
    ----------
    targets : {"naive", "ips", "dr"} or callable, default="ips"
        Relevance estimates (see :func:`click_relevance`); a callable
        ``f(dataset, statistics) -> ndarray (n_docs,)`` is also accepted.
    metric : {"dcg", "ndcg"}, default="dcg"
        ``ndcg`` divides each query's DCG@K by the ideal DCG@K of its
        estimates (queries whose ideal is <= 0 are left out).
    cutoff : int, default=10
        K: ranks that count (the discount is 1 / log2(r + 1) for r <= K).
    n_samples : int, default=32
        Rankings sampled per query and boosting round.
    serving : {"deterministic", "stochastic"}, default="deterministic"
        How the learned ranker is meant to be served: the top-k by score, or
        the Plackett-Luce policy it optimised (``temperature_`` on the raw
        scores).  Recorded for the loop; it does not change the fit.
    propensity, clip, affine
        Of the estimator, as for :class:`~ltr.IPS` and :class:`~ltr.DR`
        (``targets="ips"`` or ``"dr"``).
    target_params : dict, optional
        Further parameters of the estimator (e.g. ``{"assumed_eta": 2.0}``
        with ``propensity="pbm"``, ``{"candidates": "all"}`` for DR).  With
        the all-candidate forms (``policy_aware``, ``policy_oblivious``, DR's
        ``candidates="all"``) the never-shown candidates of served queries
        enter the fit with their estimates.
    n_estimators : int, default=100
    learning_rate : float, default=1.0
        Shrinkage of the natural-gradient steps (see above).
    num_threads : int, default=1
        LightGBM threads (the sampling kernel runs on numba's threads).
    seed : int, default=0
        Seeds LightGBM and the sampled rankings (round t uses ``derive_key(seed, t)``).

    Attributes
    ----------
    model_ : RelevanceModel
        The fitted scorer.
    temperature_ : float
        1.0: the trained policy is Plackett-Luce on the raw scores of
        :meth:`predict` at temperature 1 (no standardisation).
    expected_metric_ : ndarray of shape (n_estimators,)
        Sampled expected metric of the training policy before each boosting
        round (query-weighted mean; in units of the estimates).

    Examples
    --------
    >>> from simulator import PBM, make_synthetic, simulate_sessions
    >>> from policies import Deterministic
    >>> data = make_synthetic(n_queries=50, docs_per_query=10, n_features=5, seed=0)
    >>> policy = Deterministic(lambda X: X[:, 0], 5)
    >>> stats = simulate_sessions(data, policy, PBM(eta=1.0), 5_000, seed=0).statistics
    >>> model = PLRank(targets="ips", n_estimators=10).fit(data, stats)
    >>> model.predict(data.features).shape
    (500,)
    >>> model.temperature_
    1.0
    """

    name = "pl_rank"

    def __init__(self, targets="ips", metric="dcg", cutoff=10, n_samples=32, serving="deterministic",
                 propensity="oracle", clip="auto", affine=None, target_params=None, n_estimators=100,
                 learning_rate=1.0, num_threads=1, seed=0):
        self.targets = targets
        self.metric = metric
        self.cutoff = cutoff
        self.n_samples = n_samples
        self.serving = serving
        self.propensity = propensity
        self.clip = clip
        self.affine = affine
        self.target_params = target_params
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_threads = num_threads
        self.seed = seed

    def fit(self, dataset, statistics, log=None):
        """Fit the scorer to the click statistics.

        Parameters
        ----------
        dataset : RankingDataset
        statistics : ClickStatistics
        log : ClickLog, optional
            Needed only by IPS targets with ``propensity="cascade_model"``.

        Returns
        -------
        self
        """
        _check_choice(self.serving, "serving", SERVING)
        n_samples = _check_int(self.n_samples, "n_samples", 1)
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, Real) or not (
                self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
        rows, boundaries, rho, discount, weight = self._training_data(dataset, statistics, log)
        objective = _PLRankObjective(rho, boundaries, discount, weight, n_samples, self.seed)
        model = RelevanceModel(backend="lightgbm", loss=objective, n_estimators=self.n_estimators,
                               learning_rate=self.learning_rate, num_threads=self.num_threads, seed=self.seed)
        self.model_ = model.fit(dataset.features[rows], np.zeros(rows.size))
        self.expected_metric_ = np.asarray(objective.values)
        self.temperature_ = 1.0
        return self


class LambdaMARTClicks(_ClickRankingLearner):
    """LambdaMART on click-based relevance estimates (learner kind ``lambdamart``).

    LambdaMART (Burges 2010) with the estimates as gains: for each pair of a
    query's shown documents, the logistic pair loss weighted by the change of
    DCG@K (or NDCG@K) when the pair swaps.

    ``labels="binned"`` uses LightGBM's ``lambdarank``, which takes integer
    labels: the estimates are clipped at 0 and binned linearly into
    ``n_grades`` grades over [0, top], top the 99th percentile of the positive
    estimates (higher ones get the top grade), and ``label_gain`` maps grade g
    to g * top / (n_grades - 1), so the gains stay proportional to the
    estimates up to the bin width.  Negative estimates become grade 0.
    ``labels="real"`` computes the same lambdas with the real (signed)
    estimates as gains, in a custom objective (a Numba kernel): no binning, no
    clipping.

    Parameters
    ----------
    targets : {"naive", "ips", "dr"} or callable, default="ips"
    labels : {"binned", "real"}, default="binned"
    n_grades : int, default=31
        Grades of the binned labels (>= 2).
    metric : {"dcg", "ndcg"}, default="ndcg"
        ``labels="real"``: the pair weights are NDCG or DCG changes; with
        ``labels="binned"`` LightGBM's ``lambdarank`` always uses NDCG changes
        (the grades are binned from the raw estimates).
    cutoff : int, default=10
        Truncation of the pair weights (``lambdarank_truncation_level``) and K.
    learning_rate : float, default=0.1
    propensity, clip, affine, target_params, n_estimators, num_threads, seed
        As for :class:`PLRank`.

    Examples
    --------
    >>> from simulator import PBM, make_synthetic, simulate_sessions
    >>> from policies import Deterministic
    >>> data = make_synthetic(n_queries=50, docs_per_query=10, n_features=5, seed=0)
    >>> stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), PBM(eta=1.0), 5_000,
    ...                           seed=0).statistics
    >>> LambdaMARTClicks(n_estimators=10).fit(data, stats).predict(data.features).shape
    (500,)
    """

    name = "lambdamart"

    def __init__(self, targets="ips", labels="binned", n_grades=31, metric="ndcg", cutoff=10,
                 propensity="oracle", clip="auto", affine=None, target_params=None, n_estimators=100,
                 learning_rate=0.1, num_threads=1, seed=0):
        self.targets = targets
        self.labels = labels
        self.n_grades = n_grades
        self.metric = metric
        self.cutoff = cutoff
        self.propensity = propensity
        self.clip = clip
        self.affine = affine
        self.target_params = target_params
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_threads = num_threads
        self.seed = seed

    def fit(self, dataset, statistics, log=None):
        """Fit the scorer to the click statistics (see :meth:`PLRank.fit`)."""
        import lightgbm as lgb

        _check_choice(self.labels, "labels", LABELS)
        n_grades = _check_int(self.n_grades, "n_grades", 2)
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, Real) or not (
                self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
        rows, boundaries, rho, discount, weight = self._training_data(dataset, statistics, log,
                                                                     normalise=self.labels == "real")
        if self.labels == "real":
            objective = _LambdaObjective(rho, boundaries, discount, weight)
            model = RelevanceModel(backend="lightgbm", loss=objective, n_estimators=self.n_estimators,
                                   learning_rate=self.learning_rate, num_threads=self.num_threads,
                                   seed=self.seed)
            self.model_ = model.fit(dataset.features[rows], np.zeros(rows.size))
            return self
        positive = rho[rho > 0]
        top = float(np.quantile(positive, 0.99)) if positive.size else 1.0
        grades = np.clip(np.rint(np.maximum(rho, 0.0) / top * (n_grades - 1)), 0, n_grades - 1).astype(np.int32)
        self.bin_width_ = top / (n_grades - 1)
        params = {
            "objective": "lambdarank", "label_gain": list(np.arange(n_grades) * self.bin_width_),
            "lambdarank_truncation_level": int(self.cutoff), "learning_rate": float(self.learning_rate),
            "num_threads": task_threads(self.num_threads), "seed": int(self.seed), "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }
        # LightGBM weights lambdarank by row; the weight of a query's first row weighs the query.
        data = lgb.Dataset(dataset.features[rows].astype(np.float32), grades, group=np.diff(boundaries),
                           weight=np.repeat(weight, np.diff(boundaries)))
        self.model_ = _Booster(lgb.train(params, data, num_boost_round=int(self.n_estimators)), self.num_threads)
        return self


class _Booster:
    """A LightGBM booster with the ``predict`` of :class:`RelevanceModel` (explicit threads)."""

    def __init__(self, booster, num_threads):
        self.booster, self.num_threads = booster, num_threads

    def predict(self, features):
        return self.booster.predict(np.asarray(features, dtype=np.float32),
                                    num_threads=task_threads(self.num_threads))


class _LambdaObjective:
    """LambdaMART lambdas with real-valued gains, for :class:`RelevanceModel` (custom loss)."""

    def __init__(self, gain, boundaries, discount, query_weight):
        self.gain, self.boundaries, self.discount = read_only(gain), read_only(boundaries), discount
        # For NDCG the gains arrive divided by the ideal DCG of their query (see _training_data).
        self.inv_ideal = query_weight.astype(np.float64)

    def gradients(self, f):
        grad = np.empty(self.gain.size)
        hess = np.empty(self.gain.size)
        kernels.lambdamart_gradient(np.ascontiguousarray(f, dtype=np.float64), self.gain, self.boundaries,
                                    self.discount, self.inv_ideal, grad, hess)
        return grad, np.maximum(hess, 1e-9)

    def value(self, f):
        return 0.0
