"""Click learners on per-document targets: naive and IPS, and the fitting they share.

Every learner of :mod:`ltr` has one interface: ``fit(dataset, statistics,
log=None)`` then ``predict(features)``.  The position tower is in
:mod:`ltr._tower`, the references (full information, LightGBM's position
debiasing) in :mod:`ltr._references`.

All click learners fit on aggregated :class:`~simulator.ClickStatistics`
(impressions, clicks and oracle examination per (document, rank)), so the cost
of a fit does not grow with the number of sessions once the shown documents
are covered.  The exception is ``LGBMPosition``, whose LightGBM objective is
defined on sessions and therefore takes the session log.

Per-document targets (d a shown document, r its ranks, I_d its impressions):

- naive:  sum_r clicks[d, r] / I_d (the click-through rate);
- IPS:    sum_r clicks[d, r] / max(p[d, r], tau) / I_d, with p the mean oracle
  examination of the cell, a given theta_r, or per click (``per_click``:
  the exact sum of 1 / examination over the clicks, for cascade models);
- affine: sum_r (clicks[d, r] - beta_r I[d, r]) / alpha_r / I_d (trust bias).

With propensities all 1, IPS equals naive exactly.  Rows are weighted by I_d
for the pointwise losses; for the listwise softmax the targets of a query are
weighted by its number of sessions.
"""

import numpy as np
from sklearn.base import BaseEstimator

from ._relevance_model import RelevanceModel

__all__ = ["IPS", "Naive", "shown_documents"]


def shown_documents(dataset, statistics):
    """Rows of the documents shown at least once, their query group sizes and query sessions.

    Returns
    -------
    rows : ndarray of int64
        Shown document rows, in dataset order (so each query's rows are contiguous).
    group_sizes : ndarray of int64
        Number of shown documents per query that has any.
    query_sessions : ndarray of float64, shape (rows.size,)
        Number of sessions of each row's query (impressions of the query / shown slots).
    """
    if statistics.n_docs != dataset.n_docs:
        raise ValueError(f"statistics cover {statistics.n_docs} documents, the dataset has {dataset.n_docs}")
    impressions = statistics.impressions.sum(axis=1)
    rows = np.flatnonzero(impressions > 0)
    if rows.size == 0:
        raise ValueError("the click statistics hold no impression: nothing to learn from")
    query = dataset.doc_query[rows]
    _, group_sizes = np.unique(query, return_counts=True)
    per_query = np.bincount(query, weights=impressions[rows], minlength=dataset.n_queries)
    slots = np.minimum(dataset.query_sizes, statistics.k)
    query_sessions = per_query[query] / slots[query]
    return rows, group_sizes, query_sessions


class _ClickLearner(BaseEstimator):
    """Shared fitting of a relevance model to per-document targets."""

    def _model(self):
        return RelevanceModel(backend=self.backend, loss=self.loss, n_estimators=self.n_estimators,
                              num_threads=self.num_threads, seed=self.seed)

    def _fit_targets(self, dataset, rows, group_sizes, query_sessions, targets, impressions):
        if self.loss == "softmax":
            targets = np.maximum(targets, 0.0)
            weight = query_sessions
        else:
            weight = impressions
        self.model_ = self._model().fit(dataset.features[rows], targets, weight, group_sizes)
        return self

    def predict(self, features):
        """Relevance scores of documents, ndarray of shape (n_docs,)."""
        if not hasattr(self, "model_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")
        return self.model_.predict(features)


class Naive(_ClickLearner):
    """Clicks taken as relevance labels: the per-document click-through rate.

    Parameters
    ----------
    loss : {"softmax", "logistic", "squared"}, default="softmax"
        Listwise softmax is the default: on the synthetic data pointwise
        losses must also fit each query's level of relevance and rank worse
        (``benchmarks/compare_losses.py``).
    backend : {"lightgbm", "linear"}, default="lightgbm"
    n_estimators : int, default=100
    num_threads : int, default=1
    seed : int, default=0
    """

    name = "naive"
    #: Its pointwise probabilities are of a click at whatever rank (the CTR), not of attractiveness.
    predicts_clicks = True

    def __init__(self, loss="softmax", backend="lightgbm", n_estimators=100, num_threads=1, seed=0):
        self.loss = loss
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def fit(self, dataset, statistics, log=None):
        rows, sizes, sessions = shown_documents(dataset, statistics)
        impressions = statistics.impressions[rows].sum(axis=1).astype(np.float64)
        targets = statistics.clicks[rows].sum(axis=1) / impressions
        return self._fit_targets(dataset, rows, sizes, sessions, targets, impressions)


class IPS(_ClickLearner):
    """Clicks reweighted by inverse propensities (Joachims et al. 2017).

    Parameters
    ----------
    propensity : "oracle", "per_click" or array-like of shape (k,), default="oracle"
        ``oracle``: the mean true examination of each (document, rank) cell
        (exact for PBM and trust bias, and for cascade models under a fixed
        ranking); ``per_click``: the exact 1 / examination of every click
        (cascade-aware IPS with the conditional examination); an array: theta
        per rank, e.g. from a propensity estimator.
    clip : float or "auto", default="auto"
        Propensities are clipped at ``max(p, clip)``; ``auto`` is
        10 / sqrt(n_sessions) (Oosterhuis 2023), at most 1.
    affine : tuple of two arrays (alpha, beta) of shape (k,), optional
        Trust-bias correction: click = alpha_r * R + beta_r in expectation; the
        target is (clicks - beta_r I) / alpha_r.  Replaces ``propensity``.
    loss, backend, n_estimators, num_threads, seed
        As for :class:`Naive`.
    """

    name = "ips"

    def __init__(self, propensity="oracle", clip="auto", affine=None, loss="softmax", backend="lightgbm",
                 n_estimators=100, num_threads=1, seed=0):
        self.propensity = propensity
        self.clip = clip
        self.affine = affine
        self.loss = loss
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def _tau(self, statistics):
        if self.clip == "auto":
            return min(1.0, 10.0 / np.sqrt(max(statistics.n_sessions, 1)))
        if not 0.0 <= float(self.clip) <= 1.0:
            raise ValueError(f"clip must be in [0, 1] or 'auto', got {self.clip!r}")
        return float(self.clip)

    def weighted_clicks(self, statistics):
        """Inverse-propensity-weighted clicks per (document, rank), ndarray (n_docs, k)."""
        k = statistics.k
        clicks = statistics.clicks.astype(np.float64)
        if self.affine is not None:
            alpha, beta = (np.asarray(a, dtype=np.float64) for a in self.affine)
            if alpha.shape != (k,) or beta.shape != (k,) or np.any(alpha <= 0):
                raise ValueError(f"affine must be two arrays of shape ({k},) with alpha > 0")
            return (clicks - beta * statistics.impressions) / alpha
        tau = self._tau(statistics)
        if isinstance(self.propensity, str):
            if self.propensity == "oracle":
                with np.errstate(invalid="ignore", divide="ignore"):
                    p = statistics.examination / statistics.impressions
                return np.where(statistics.impressions > 0, clicks / np.maximum(np.nan_to_num(p), max(tau, 1e-12)), 0.0)
            if self.propensity == "per_click":
                cap = clicks / tau if tau > 0 else np.inf
                return np.minimum(statistics.inverse_examination_clicks, cap)
            raise ValueError(f"propensity must be 'oracle', 'per_click' or an array, got {self.propensity!r}")
        theta = np.asarray(self.propensity, dtype=np.float64)
        if theta.shape != (k,) or not np.all(np.isfinite(theta)) or np.any(theta < 0):
            raise ValueError(f"propensity array must have shape ({k},) with finite values >= 0, got {theta!r}")
        return clicks / np.maximum(theta, max(tau, 1e-12))

    def fit(self, dataset, statistics, log=None):
        rows, sizes, sessions = shown_documents(dataset, statistics)
        impressions = statistics.impressions[rows].sum(axis=1).astype(np.float64)
        targets = self.weighted_clicks(statistics)[rows].sum(axis=1) / impressions
        return self._fit_targets(dataset, rows, sizes, sessions, targets, impressions)
