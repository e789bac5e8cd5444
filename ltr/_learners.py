"""Learners from clicks behind one interface: ``fit(dataset, statistics, ...)`` then ``predict(features)``.

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

__all__ = ["FullInformation", "IPS", "LGBMPosition", "Naive", "PositionTower", "shown_documents"]


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


class PositionTower(_ClickLearner):
    """Shallow position tower, multiplicative form (PAL, Guo et al. 2019).

    P(click | d at rank r) = theta_r * sigmoid(z_d): theta (the position
    tower) and the relevance logit z (the relevance tower, LightGBM or
    linear) are fitted jointly by coordinate ascent on the likelihood of the
    (document, rank) cells, sum c log(theta s) + (I - c) log(1 - theta s);
    only the relevance tower serves.  Each iteration: (1) f refitted to the
    likelihood's gradient and expected Hessian in z (a custom objective), (2)
    the training offsets of z updated by Newton steps, (3) each theta_r by
    Newton steps given z.

    During training z_d = f(x_d) + b_q + u_d: a free intercept per query
    (b_q absorbs query-level shifts, which a pointwise model otherwise has to
    fit) and a per-document effect with a Gaussian prior (u_d, like an
    item-id embedding: the part of a document's relevance its features do not
    explain).  Both are dropped at serving: b_q is constant within a query and
    u_d exists only for logged documents.

    Identifiable only when documents are seen at several ranks: under a
    deterministic logger position correlates with relevance and the position
    tower can absorb relevance (Zhang et al. 2023); the start, theta_r =
    CTR_r / CTR_1 (exact in expectation under randomised logging), then
    matters.  Measured (tests/ltr/test_learners.py: 600 training queries x 30
    documents, a logger's deterministic top 10, PBM eta = 1, 10^6 sessions, 3
    seeds): theta_10 comes out 0.072 for 0.1 (too steep: the click-through
    rate also falls because the logger ranks the relevant documents first),
    and NDCG@10 is 0.689 +- 0.007 against naive's 0.721 +- 0.005.  Neither
    dropping u_d (``document_prior=numpy.inf``) nor iterating to convergence
    (50 iterations) identifies theta from the documents with similar features
    at different ranks in different queries (theta_10 0.072 again).  With u_d
    nearly free (a document has far more impressions than the prior's 10), u_d
    also takes up relevance that the served f then lacks: with theta fixed at
    the truth, NDCG@10 is 0.714 with u_d and 0.724 without at eta = 1, 0.707
    and 0.740 at eta = 0.  With 30 % of the sessions showing random lists,
    theta is within 4 % and the tower beats naive.

    Parameters
    ----------
    n_iter : int, default=5
        Coordinate-ascent iterations (each refits f).
    dropout : float, default=0.0
        Observation dropout (Zhang et al. 2023): for this share of the cells,
        chosen with ``seed``, the relevance step sees the impression-weighted
        mean theta instead of theta_r, so f cannot lean on the position.
    document_prior : float, default=10.0
        Strength of the prior of u_d in impressions; ``numpy.inf`` removes u_d.
    backend, n_estimators, num_threads, seed
        As for :class:`Naive`.

    Attributes
    ----------
    theta_ : ndarray of shape (k,)
        Learned examination per rank, scaled so that theta_[0] = 1.
    """

    name = "tower"

    def __init__(self, n_iter=5, dropout=0.0, document_prior=10.0, backend="lightgbm", n_estimators=100,
                 num_threads=1, seed=0):
        self.n_iter = n_iter
        self.dropout = dropout
        self.document_prior = document_prior
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def _model(self, loss):
        return RelevanceModel(backend=self.backend, loss=loss, n_estimators=self.n_estimators,
                              num_threads=self.num_threads, seed=self.seed)

    def fit(self, dataset, statistics, log=None):
        if int(self.n_iter) != self.n_iter or self.n_iter < 1:
            raise ValueError(f"n_iter must be an integer >= 1, got {self.n_iter!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        rows, group_sizes, _ = shown_documents(dataset, statistics)
        # The likelihood is a sum over (document, rank) cells with impressions:
        # work on that list, not on the mostly empty (n_rows, k) matrix.
        row, rank = np.nonzero(statistics.impressions[rows])
        cells = _Cells(row, rank, statistics.clicks[rows][row, rank].astype(np.float64),
                       statistics.impressions[rows][row, rank].astype(np.float64), rows.size)
        k = statistics.k
        rank_imp = np.bincount(rank, weights=cells.imp, minlength=k)
        rank_clk = np.bincount(rank, weights=cells.clk, minlength=k)
        ctr_rank = np.divide(rank_clk, rank_imp, out=np.zeros(k), where=rank_imp > 0)
        theta = np.clip(ctr_rank / max(ctr_rank[0], 1e-12), 1e-3, 1.0)
        theta[rank_imp == 0] = 1.0
        dropped = np.random.default_rng(self.seed).random(row.size) < self.dropout
        X = dataset.features[rows]
        query = np.repeat(np.arange(group_sizes.size), group_sizes)
        intercept = np.zeros(group_sizes.size)
        effect = np.zeros(rows.size)
        # f is refitted n_iter times on the same rows: bin the features once.
        binned = self._model("logistic").bin_features(X)
        for _ in range(int(self.n_iter)):
            mean_theta = np.sum(theta * rank_imp) / rank_imp.sum()
            t_f = np.where(dropped, mean_theta, theta[rank])
            offset = intercept[query] + effect
            self.model_ = self._model(_TowerLikelihood(cells, t_f)).fit(
                X, np.zeros(rows.size), offset=offset, binned=binned)
            f = self.model_.train_scores_
            intercept, effect = _training_offsets(f, cells, t_f, query, intercept, effect, self.document_prior)
            s = 1.0 / (1.0 + np.exp(-(f + intercept[query] + effect)))
            theta = _theta_step(theta, s, cells, k)
        self.theta_ = theta / theta[0]
        return self


class _Cells:
    """(document row, rank) cells with impressions: ``row``, ``rank``, ``clk``, ``imp`` per cell."""

    def __init__(self, row, rank, clk, imp, n_rows):
        self.row, self.rank, self.clk, self.imp, self.n_rows = row, rank, clk, imp, n_rows


class _TowerLikelihood:
    """Negative log-likelihood of the cells as a function of the row logits z (offset included)."""

    def __init__(self, cells, theta):
        self.cells, self.theta = cells, theta

    def gradients(self, z):
        return _tower_gradients(z, self.cells, self.theta)

    def value(self, z):
        c = self.cells
        ts = np.clip(self.theta / (1.0 + np.exp(-z[c.row])), 1e-12, 1 - 1e-12)
        return -np.sum(c.clk * np.log(ts) + (c.imp - c.clk) * np.log1p(-ts))


def _tower_gradients(z, cells, theta):
    """Gradient and expected Hessian in z of -sum c log(theta s) + (I - c) log(1 - theta s), s = sigmoid(z).

    ``theta`` holds one value per cell.
    """
    s = 1.0 / (1.0 + np.exp(-z[cells.row]))
    ts = np.clip(theta * s, 1e-12, 1 - 1e-12)
    ratio = (1.0 - s) / (1.0 - ts)            # shared by both terms
    grad_cell = (cells.imp - cells.clk) * ts * ratio - cells.clk * (1.0 - s)
    hess_cell = cells.imp * ts * (1.0 - s) * ratio
    grad = np.bincount(cells.row, weights=grad_cell, minlength=cells.n_rows)
    hess = np.bincount(cells.row, weights=hess_cell, minlength=cells.n_rows)
    return grad, np.maximum(hess, 1e-12)


def _theta_step(theta, s, cells, k, n_newton=5):
    """Newton steps of each theta_r on sum_d c log(theta s_d) + (I - c) log(1 - theta s_d)."""
    c_r = np.bincount(cells.rank, weights=cells.clk, minlength=k)
    non = cells.imp - cells.clk
    s = s[cells.row]
    for _ in range(n_newton):
        ts = np.clip(theta[cells.rank] * s, 1e-12, 1 - 1e-12)
        grad = c_r / theta - np.bincount(cells.rank, weights=non * s / (1.0 - ts), minlength=k)
        hess = -c_r / theta**2 - np.bincount(cells.rank, weights=non * s**2 / (1.0 - ts) ** 2, minlength=k)
        step = np.where(hess < 0, -grad / np.where(hess < 0, hess, -1.0), 0.0)
        theta = np.clip(theta + step, 1e-6, 1.0)
    return theta


def _training_offsets(f, cells, theta, query, intercept, effect, prior, n_newton=3):
    """Per-query intercepts b_q and per-document effects u_d of the relevance logit f + b_q + u_d.

    Newton steps on the tower likelihood; u_d has a Gaussian prior worth
    ``prior`` (in units of the expected Hessian, roughly impressions; ``inf``
    switches it off), so it moves only where a document's own clicks outweigh
    the prior.
    """
    b, u = intercept.copy(), effect.copy()
    n = b.size
    for _ in range(n_newton):
        grad, hess = _tower_gradients(f + b[query] + u, cells, theta)
        b = np.clip(b - np.bincount(query, weights=grad, minlength=n)
                    / np.maximum(np.bincount(query, weights=hess, minlength=n), 1e-9), -30.0, 30.0)
        if np.isfinite(prior):
            grad, hess = _tower_gradients(f + b[query] + u, cells, theta)
            u = np.clip(u - (grad + prior * u) / (hess + prior), -30.0, 30.0)
        else:
            u = np.zeros_like(u)
    return b, u


class FullInformation(_ClickLearner):
    """Trained on the true labels: the skyline (all queries) or the initial logger (a fraction).

    Parameters
    ----------
    query_fraction : float, default=1.0
        Share of the training queries whose labels are used (0.01: the
        "production ranker trained on 1 % of the queries" of ULTRA and
        Oosterhuis 2020).
    min_queries : int, default=20
        At least this many queries are used (Hager 2023 trains on 20).
    backend : {"lightgbm", "linear"}, default="lightgbm"
        LightGBM fits LambdaMART on the grades; linear fits the listwise
        softmax on the gains 2^y - 1.
    n_estimators, num_threads, seed
    """

    name = "skyline"

    def __init__(self, query_fraction=1.0, min_queries=20, backend="lightgbm", n_estimators=100,
                 num_threads=1, seed=0):
        self.query_fraction = query_fraction
        self.min_queries = min_queries
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    @property
    def loss(self):
        return "lambdarank" if self.backend == "lightgbm" else "softmax"

    def fit(self, dataset, statistics=None, log=None):
        if not 0.0 < self.query_fraction <= 1.0:
            raise ValueError(f"query_fraction must be in (0, 1], got {self.query_fraction!r}")
        n = max(int(round(self.query_fraction * dataset.n_queries)), min(self.min_queries, dataset.n_queries))
        data = dataset if n >= dataset.n_queries else dataset.sample_queries(n_queries=n, seed=self.seed)
        labels = data.labels.astype(np.float64)
        targets = labels if self.backend == "lightgbm" else 2.0**labels - 1.0
        self.n_queries_ = data.n_queries
        self.model_ = self._model().fit(data.features, targets, None, data.query_sizes)
        return self


class LGBMPosition(BaseEstimator):
    """LightGBM's position-debiased LambdaMART (``lgb.Dataset(position=...)``, LightGBM >= 4.1).

    LightGBM learns f(x) + g(position) inside its lambdarank objective and
    keeps only f.  The objective is defined on sessions (a group is a
    displayed list, labels are clicks), so this learner takes the session log;
    sessions without a click give no pairs and are skipped, and at most
    ``max_sessions`` of the most recent sessions are used.

    Parameters
    ----------
    position_bias_regularization : float, default=0.0
        ``lambdarank_position_bias_regularization``; keep it in 0..1e-3
        (0.01 and above erase the gain, REFERENCE §4).
    max_sessions : int, default=50_000
    n_estimators, num_threads, seed
    """

    name = "lgbm_position"

    def __init__(self, position_bias_regularization=0.0, max_sessions=50_000, n_estimators=100,
                 num_threads=1, seed=0):
        self.position_bias_regularization = position_bias_regularization
        self.max_sessions = max_sessions
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def fit(self, dataset, statistics=None, log=None):
        import lightgbm as lgb

        if log is None:
            raise ValueError("lgbm_position fits on sessions: pass the click log (simulate with keep_log=True)")
        clicked = np.flatnonzero(log.clicks.any(axis=1))[-int(self.max_sessions):]
        if clicked.size == 0:
            raise ValueError("the click log has no session with a click: nothing to learn from")
        displayed = log.displayed[clicked]
        shown = displayed >= 0
        rows = displayed[shown]
        labels = log.clicks[clicked][shown].astype(np.int32)
        positions = np.broadcast_to(np.arange(displayed.shape[1]), displayed.shape)[shown].astype(np.int32)
        sizes = shown.sum(axis=1)
        params = {
            "objective": "lambdarank", "lambdarank_position_bias_regularization": self.position_bias_regularization,
            "num_threads": self.num_threads, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }
        data = lgb.Dataset(dataset.features[rows], labels, group=sizes, position=positions)
        self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators))
        return self

    def predict(self, features):
        if not hasattr(self, "booster_"):
            raise ValueError("this LGBMPosition is not fitted yet; call fit first")
        # LightGBM's predict does not take the training num_threads (see RelevanceModel.predict).
        return self.booster_.predict(np.asarray(features, dtype=np.float32), num_threads=self.num_threads)
