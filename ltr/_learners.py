"""Click learners on per-document targets: naive, IPS and doubly robust, and the fitting they share.

Every learner of :mod:`ltr` has one interface: ``fit(dataset, statistics,
log=None)`` then ``predict(features)``.  The position tower is in
:mod:`ltr._tower`, the references (full information, LightGBM's position
debiasing) in :mod:`ltr._references`.

All click learners fit on aggregated :class:`~simulator.ClickStatistics`
(impressions, clicks and oracle examination per (document, rank)), so the cost
of a fit does not grow with the number of sessions once the shown documents
are covered.  The exceptions take the session log: ``LGBMPosition`` (its
LightGBM objective is defined on sessions) and IPS with
``propensity="cascade_model"`` (the examination of an assumed cascade-family
model depends on each session's clicks); their ``needs_log`` is True.

Per-document targets (d a document, r its ranks, I_d its impressions, n_q the
sessions of its query, tau the clip):

- naive:  sum_r clicks[d, r] / I_d (the click-through rate);
- IPS:    sum_r clicks[d, r] / max(p[d, r], tau) / I_d, with p the mean oracle
  examination of the cell (``oracle``), theta_r of an assumed PBM (``pbm``),
  of an estimate (``estimated``) or given (an array), or per click (the
  exact sum of 1 / examination over the clicks: ``oracle_per_click``, the
  generating model's own conditional examination; ``cascade_model``: that
  of an assumed cascade-family model computed from the log,
  :mod:`ltr._examination`);
- affine: sum_r (clicks[d, r] - beta_r I[d, r]) / alpha_r / I_d (trust bias);
- policy-oblivious IPS (all candidates of a served query, never-shown ones
  with 0): sum_r clicks[d, r] / max(theta_r, tau) / n_q;
- policy-aware IPS (all candidates): sum_r clicks[d, r] /
  max(sum_r X[d, r] theta_r, tau n_q), X the expected impressions under the
  logging policy (``ClickStatistics.expected_impressions``), i.e. the clicks
  per session divided by rho(d) = sum_r P(d at r) theta_r;
- doubly robust: see :class:`DR`.

With propensities all 1, IPS equals naive exactly.  Rows are weighted by I_d
(by n_q for the all-candidate forms) for the pointwise losses; for the
listwise softmax the targets of a query are weighted by its number of
sessions.  Targets may be negative (affine, DR) and are used as they are.

Clipping (``clip="auto"``): tau of a cell is min(1, 1 / sqrt(n)), n the
impressions of the cell (the sessions of the query for the all-candidate
forms): a weight is at most sqrt(n), so the variance of a cell's weighted
click rate is at most about 1 / sqrt(n) and falls with n, and the clip's
bias (only cells with p < tau) vanishes as n grows.  The former rule, 10 /
sqrt(total sessions) (Oosterhuis 2023), is ``clip="global"``; it depends on
the number of queries the sessions are spread over, and on the default
synthetic data it clips hard at 10^3 sessions and not at all at 10^4, so IPS
was not monotone in N (``benchmarks/bench_debiased.py --clip-study``).
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator

from simulator import pbm_theta
from simulator.validation import check_nonnegative

from ._relevance_model import RelevanceModel

__all__ = ["DR", "IPS", "Naive", "PROPENSITIES", "served_candidates", "shown_documents"]

#: The values of ``propensity`` (besides an array of theta per rank).
PROPENSITIES = ("oracle", "oracle_per_click", "pbm", "estimated", "policy_aware", "policy_oblivious",
                "cascade_model")
ESTIMATORS = ("harvesting", "em")
CLIPS = ("auto", "global")


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
    impressions = statistics.row_sums("impressions")
    rows = np.flatnonzero(impressions > 0)
    if rows.size == 0:
        raise ValueError("the click statistics hold no impression: nothing to learn from")
    query = dataset.doc_query[rows]
    _, group_sizes = np.unique(query, return_counts=True)
    per_query = np.bincount(query, weights=impressions[rows], minlength=dataset.n_queries)
    slots = np.minimum(dataset.query_sizes, statistics.k)
    query_sessions = per_query[query] / slots[query]
    return rows, group_sizes, query_sessions


def served_candidates(dataset, statistics):
    """Rows of every candidate of the queries served at least once (shown or not).

    Returns
    -------
    rows : ndarray of int64
        Candidate rows of the served queries, in dataset order.
    group_sizes : ndarray of int64
        Number of candidates per served query.
    query_sessions : ndarray of float64, shape (rows.size,)
        Number of sessions of each row's query.

    Examples
    --------
    >>> from simulator import ClickStatistics, make_synthetic
    >>> data = make_synthetic(n_queries=3, docs_per_query=4, n_features=2, seed=0)
    >>> stats = ClickStatistics.empty(data.n_docs, 2)
    >>> stats.impressions[[0, 1], [0, 1]] = 5     # query 0 served 5 times, its top 2 shown
    >>> rows, sizes, sessions = served_candidates(data, stats)
    >>> rows.tolist(), sizes.tolist(), sessions.tolist()
    ([0, 1, 2, 3], [4], [5.0, 5.0, 5.0, 5.0])
    """
    if statistics.n_docs != dataset.n_docs:
        raise ValueError(f"statistics cover {statistics.n_docs} documents, the dataset has {dataset.n_docs}")
    impressions = statistics.row_sums("impressions")
    if not np.any(impressions > 0):
        raise ValueError("the click statistics hold no impression: nothing to learn from")
    per_query = np.bincount(dataset.doc_query, weights=impressions, minlength=dataset.n_queries)
    sessions = per_query / np.minimum(dataset.query_sizes, statistics.k)
    served = sessions > 0
    rows = np.flatnonzero(served[dataset.doc_query])
    return rows, dataset.query_sizes[served].astype(np.int64), sessions[dataset.doc_query[rows]]


def _same_impressions(a, b):
    """Whether two statistics hold the same impressions in every (document, rank) cell."""
    shown_a, shown_b = a.values("impressions") > 0, b.values("impressions") > 0
    return a.shape == b.shape and np.array_equal(a.cells[shown_a], b.cells[shown_b]) and np.array_equal(
        a.values("impressions")[shown_a], b.values("impressions")[shown_b])


#: Rows per block of the per-row target sums (bounds the dense (rows x k) temporaries to a few MB).
_BLOCK_ROWS = 65_536


def _cell_tau(clip, n):
    """Clip per cell with ``n`` impressions (array), or the scalar of a given clip."""
    if clip == "auto":
        return np.minimum(1.0, 1.0 / np.sqrt(np.maximum(n, 1.0)))
    return clip


class _ClickLearner(BaseEstimator):
    """Shared fitting of a relevance model to per-document targets."""

    #: Whether ``fit`` needs the session log (``fit(..., log=...)``).
    needs_log = False

    def _model(self):
        return RelevanceModel(backend=self.backend, loss=self.loss, n_estimators=self.n_estimators,
                              num_threads=self.num_threads, seed=self.seed)

    def _fit_targets(self, dataset, rows, group_sizes, query_sessions, targets, impressions):
        weight = query_sessions if self.loss == "softmax" else impressions
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
        (``experiments/loss_study.py``: below the softmax in every setting).
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
        impressions = statistics.row_sums("impressions")[rows].astype(np.float64)
        targets = statistics.row_sums("clicks")[rows] / impressions
        return self._fit_targets(dataset, rows, sizes, sessions, targets, impressions)


class _Propensities(_ClickLearner):
    """Propensity choices shared by IPS and DR: clip, theta per rank, estimation."""

    def _check_clip(self):
        if isinstance(self.clip, str):
            if self.clip not in CLIPS:
                raise ValueError(f"clip must be in [0, 1], 'auto' or 'global', got {self.clip!r}")
            return self.clip
        if not 0.0 <= float(self.clip) <= 1.0:
            raise ValueError(f"clip must be in [0, 1], 'auto' or 'global', got {self.clip!r}")
        return float(self.clip)

    def _clip(self, statistics):
        """'auto' (per cell, resolved later) or the scalar tau."""
        clip = self._check_clip()
        if clip == "global":
            return min(1.0, 10.0 / np.sqrt(max(statistics.n_sessions, 1)))
        return clip

    def _affine(self, k):
        alpha, beta = (np.asarray(a, dtype=np.float64) for a in self.affine)
        if alpha.shape != (k,) or beta.shape != (k,) or np.any(alpha <= 0):
            raise ValueError(f"affine must be two arrays of shape ({k},) with alpha > 0")
        return alpha, beta

    def _check_propensity(self, allowed):
        if isinstance(self.propensity, str):
            if self.propensity == "per_click":
                raise ValueError("propensity='per_click' was renamed 'oracle_per_click' (it reads the generating "
                                 "model's own examination, an oracle); for an assumed click model use "
                                 "'cascade_model'")
            if self.propensity not in allowed:
                raise ValueError(f"propensity must be one of {allowed} or an array, got {self.propensity!r}")

    def _rank_theta(self, statistics):
        """Examination per rank: given, assumed PBM, estimated, or the oracle mean per rank."""
        k = statistics.k
        if not isinstance(self.propensity, str):
            theta = np.asarray(self.propensity, dtype=np.float64)
            if theta.shape != (k,) or not np.all(np.isfinite(theta)) or np.any(theta < 0):
                raise ValueError(f"propensity array must have shape ({k},) with finite values >= 0, got {theta!r}")
            return theta
        if self.propensity == "pbm":
            return pbm_theta(k, check_nonnegative(self.assumed_eta, "assumed_eta"))
        if self.propensity == "estimated":
            self.theta_ = self._estimate_theta(statistics)
            return self.theta_
        if getattr(self, "theta", None) is not None:
            theta = np.asarray(self.theta, dtype=np.float64)
            if theta.shape != (k,) or not np.all(np.isfinite(theta)) or np.any(theta < 0):
                raise ValueError(f"theta must have shape ({k},) with finite values >= 0, got {theta!r}")
            return theta
        impressions = statistics.rank_sums("impressions")
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = statistics.rank_sums("examination") / impressions
        return np.where(impressions > 0, theta, 1.0)

    def _estimate_theta(self, statistics):
        """theta_r / theta_1 from the statistics themselves (harvesting or EM); the assumed PBM
        curve where they do not identify a rank, with a warning."""
        from ._propensity import NotIdentifiedError, _fit_allpairs, _interventional_pairs, estimate_pbm_em

        k = statistics.k
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        fallback = pbm_theta(k, check_nonnegative(self.assumed_eta, "assumed_eta"))
        theta = np.full(k, np.nan)
        try:
            if self.estimator == "em":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    theta = estimate_pbm_em(statistics).theta.copy()
            else:
                # AllPairs on the pooled (document, rank) cells: a document shown at two ranks
                # (by two rankers of the pooled history) is an intervention.
                # Per document: the shown ones hold every pair (a document never shown has none).
                shown = np.flatnonzero(statistics.row_sums("impressions") > 0)
                impressions = statistics.take("impressions", shown)
                clicks = statistics.take("clicks", shown)
                doc, rank_a, rank_b, n_a, n_b, c_a, c_b = _interventional_pairs(impressions, clicks)
                if np.any((rank_a == 0) & (c_a + c_b > 0)):
                    theta, _ = _fit_allpairs(rank_a, rank_b, np.log(n_a / n_b), c_a.astype(np.float64),
                                             c_b.astype(np.float64), k, np.zeros(k), 100, 1e-9)
        except NotIdentifiedError:
            pass
        self.theta_identified_ = np.isfinite(theta) & (theta > 0)
        if not self.theta_identified_[1:].all():  # rank 1 is 1 by definition: not among the ranks to estimate
            missing = (np.flatnonzero(~self.theta_identified_[1:]) + 2).tolist()
            warnings.warn(f"{type(self).__name__}(propensity='estimated', estimator={self.estimator!r}): ranks "
                          f"{missing} are not identified by the statistics (no document shown there and at a rank "
                          f"linked to rank 1); they take the assumed PBM curve (1/r)^{self.assumed_eta}",
                          RuntimeWarning, stacklevel=3)
        theta = np.where(self.theta_identified_, theta, fallback)
        theta[0] = 1.0
        return theta


class IPS(_Propensities):
    """Clicks reweighted by inverse propensities (Joachims et al. 2017; Oosterhuis & de Rijke 2020).

    Parameters
    ----------
    propensity : str or array-like of shape (k,), default="oracle"
        ``oracle``: the mean true examination of each (document, rank) cell
        (exact for PBM and trust bias, and for cascade models under a fixed
        ranking); ``oracle_per_click``: the exact 1 / examination of every
        click as the simulator recorded it (the generating model's own
        conditional examination, an oracle); ``pbm``: theta_r = (1/r)^assumed_eta;
        ``estimated``: theta estimated from the statistics themselves with
        ``estimator`` (``theta_`` after the fit); ``policy_oblivious`` and
        ``policy_aware``: every candidate of a served query enters, weighted
        by theta of its rank or by rho(d) = sum_r P_log(d at r) theta_r (needs
        ``statistics.expected_impressions``), theta from ``theta`` or the
        oracle mean examination per rank; ``cascade_model``: the examination
        of an assumed ``click_model`` computed from the session log (needs
        ``fit(..., log=...)``); an array: theta per rank.  ``per_click`` is an
        error (renamed ``oracle_per_click``).
    clip : float, "auto" or "global", default="auto"
        Propensities are clipped at max(p, tau).  ``auto``: tau = min(1,
        1/sqrt(n)) per cell, n its impressions (its query's sessions for the
        all-candidate forms); ``global``: 10 / sqrt(total sessions), at most 1
        (Oosterhuis 2023); a float: that tau.
    affine : tuple of two arrays (alpha, beta) of shape (k,), optional
        Trust-bias correction: click = alpha_r * R + beta_r in expectation; the
        target is (clicks - beta_r I) / alpha_r (signed).  Replaces ``propensity``.
    assumed_eta : float, default=1.0
        PBM strength for ``propensity="pbm"``, and the fallback curve of
        ``estimated`` at ranks the statistics do not identify.
    estimator : {"harvesting", "em"}, default="harvesting"
        For ``estimated``: intervention harvesting over the pooled (document,
        rank) cells (AllPairs, Agarwal et al. 2019: every document the
        rankers of the history showed at two ranks is an intervention) or
        PBM-EM (Wang et al. 2018); see :mod:`ltr._propensity`.
    theta : array-like of shape (k,), optional
        Examination per rank for ``policy_aware``/``policy_oblivious``;
        default the oracle mean examination per rank of the statistics.
    click_model : {"dcm", "dbn", "cascade", "pbm"}, default="dcm"
        The assumed model of ``cascade_model``.
    click_model_params : dict, optional
        Its parameters (``lambdas``; ``gamma`` and ``sigma``; ``theta``), see
        :func:`ltr.assumed_examination`; DCM's lambda is estimated from the
        log by default.
    loss, backend, n_estimators, num_threads, seed
        As for :class:`Naive`.

    Attributes
    ----------
    model_ : RelevanceModel
    theta_ : ndarray of shape (k,)
        Only for ``propensity="estimated"``: the estimate, theta_1 = 1.

    Examples
    --------
    >>> from policies import Deterministic
    >>> from simulator import PBM, make_synthetic, simulate_sessions
    >>> data = make_synthetic(n_queries=40, docs_per_query=10, n_features=5, seed=0)
    >>> stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), PBM(), 4000).statistics
    >>> ips = IPS(propensity="policy_oblivious", n_estimators=5).fit(data, stats)
    >>> ips.predict(data.features).shape
    (400,)
    """

    name = "ips"

    def __init__(self, propensity="oracle", clip="auto", affine=None, assumed_eta=1.0, estimator="harvesting",
                 theta=None, click_model="dcm", click_model_params=None, loss="softmax", backend="lightgbm",
                 n_estimators=100, num_threads=1, seed=0):
        self.propensity = propensity
        self.clip = clip
        self.affine = affine
        self.assumed_eta = assumed_eta
        self.estimator = estimator
        self.theta = theta
        self.click_model = click_model
        self.click_model_params = click_model_params
        self.loss = loss
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    @property
    def needs_log(self):
        """True for ``propensity="cascade_model"``: the examination is computed from each session's clicks."""
        return self.affine is None and isinstance(self.propensity, str) and self.propensity == "cascade_model"

    def _all_candidates(self):
        return self.affine is None and isinstance(self.propensity, str) and self.propensity in (
            "policy_aware", "policy_oblivious")

    def weighted_clicks(self, statistics, log=None, rows=None):
        """Inverse-propensity-weighted clicks per (document, rank), ndarray (n_docs, k) or (rows.size, k).

        For the per-cell forms (not ``policy_aware``/``policy_oblivious``,
        whose weights depend on the query's sessions: use
        :meth:`relevance_estimates`).  ``log`` is needed by ``cascade_model``;
        ``rows`` (document rows) restricts the result to them (default: all).
        """
        rows = np.arange(statistics.n_docs) if rows is None else np.asarray(rows)
        return self._click_weigher(statistics, log)(rows)

    def _click_weigher(self, statistics, log):
        """:meth:`weighted_clicks` as a function of the document rows.

        What the weights take from the whole statistics (the clip, the
        estimated theta, an assumed click model's examination: an EM over the
        statistics or the log) is computed here, once, however many blocks of
        rows are weighted.
        """
        k = statistics.k

        def cells(rows):
            return statistics.take("impressions", rows), statistics.take("clicks", rows).astype(np.float64)

        if self.affine is not None:
            self._check_clip()
            alpha, beta = self._affine(k)

            def affine(rows):
                impressions, clicks = cells(rows)
                return (clicks - beta * impressions) / alpha
            return affine
        self._check_propensity(PROPENSITIES)
        if self._all_candidates():
            raise ValueError(f"propensity={self.propensity!r} weights clicks per query session: use "
                             "relevance_estimates(dataset, statistics)")
        tau = self._clip(statistics)
        if isinstance(self.propensity, str) and self.propensity in ("oracle_per_click", "cascade_model"):
            examined = self._assumed_statistics(statistics, log) if self.propensity == "cascade_model" else statistics

            def per_click(rows):
                impressions, clicks = cells(rows)
                cell_tau = _cell_tau(tau, impressions)
                cap = np.where(cell_tau > 0, clicks / np.maximum(cell_tau, 1e-300), np.inf)
                return np.minimum(examined.take("inverse_examination_clicks", rows), cap)
            return per_click
        if isinstance(self.propensity, str) and self.propensity == "oracle":
            def oracle(rows):
                impressions, clicks = cells(rows)
                cell_tau = np.maximum(_cell_tau(tau, impressions), 1e-12)
                with np.errstate(invalid="ignore", divide="ignore"):
                    p = statistics.take("examination", rows) / impressions
                return np.where(impressions > 0, clicks / np.maximum(np.nan_to_num(p), cell_tau), 0.0)
            return oracle
        theta = self._rank_theta(statistics)

        def per_rank(rows):
            impressions, clicks = cells(rows)
            return clicks / np.maximum(theta, np.maximum(_cell_tau(tau, impressions), 1e-12))
        return per_rank

    def _assumed_statistics(self, statistics, log):
        from ._examination import assumed_statistics

        if log is None:
            raise ValueError("propensity='cascade_model' computes the examination from each session's clicks: "
                             "pass the session log, fit(dataset, statistics, log=...)")
        params = dict(self.click_model_params or {})
        assumed = assumed_statistics(log, statistics.n_docs, self.click_model, **params)
        if not _same_impressions(assumed, statistics):
            raise ValueError("the session log does not match the statistics (other impressions)")
        return assumed

    def _targets(self, dataset, statistics, log=None):
        """(rows, group sizes, query sessions, targets, row weights) of the fit."""
        if not self._all_candidates():
            rows, sizes, sessions = shown_documents(dataset, statistics)
            impressions = statistics.row_sums("impressions")[rows].astype(np.float64)
            # In blocks of rows: the (rows x k) temporaries of weighted_clicks stay small (the same sums).
            blocks = [rows[i:i + _BLOCK_ROWS] for i in range(0, rows.size, _BLOCK_ROWS)]
            weigh = self._click_weigher(statistics, log) if blocks else None
            sums = np.concatenate([weigh(block).sum(axis=1) for block in blocks] or [np.zeros(0)])
            return rows, sizes, sessions, sums / impressions, impressions
        rows, sizes, sessions = served_candidates(dataset, statistics)
        theta = self._rank_theta(statistics)
        tau = self._clip(statistics)
        clicks = statistics.take("clicks", rows).astype(np.float64)
        if self.propensity == "policy_oblivious":
            cell_tau = np.maximum(_cell_tau(tau, statistics.take("impressions", rows)), 1e-12)
            targets = (clicks / np.maximum(theta, cell_tau)).sum(axis=1) / sessions
        else:
            if not statistics.has_expected:
                raise ValueError("propensity='policy_aware' needs the logging policy's expected placements: "
                                 "simulate with simulate_sessions(..., placement=True)")
            exposure = (statistics.take("expected_impressions", rows) * theta).sum(axis=1)  # rho(d) * n_q
            floor = np.maximum(_cell_tau(tau, sessions), 1e-12) * sessions
            targets = clicks.sum(axis=1) / np.maximum(exposure, floor)
        return rows, sizes, sessions, targets, sessions

    def relevance_estimates(self, dataset, statistics, log=None):
        """The IPS estimate of every document's relevance, ndarray of shape (n_docs,).

        NaN for the documents that do not enter the fit (not shown; or, for
        the all-candidate forms, of a query never served).
        """
        rows, _, _, targets, _ = self._targets(dataset, statistics, log)
        out = np.full(dataset.n_docs, np.nan)
        out[rows] = targets
        return out

    def fit(self, dataset, statistics, log=None):
        return self._fit_targets(dataset, *self._targets(dataset, statistics, log))


class DR(_Propensities):
    """Doubly robust relevance estimates (Oosterhuis 2023, TOIS), for PBM and trust bias.

    Clicks follow c = alpha_r R_d + beta_r in expectation at rank r (PBM:
    alpha = theta, beta = 0; trust bias: ``affine``).  A direct-method
    regression R_hat(x) is fitted first, then every candidate d of a served
    query (n_q sessions) gets the target::

        R_hat_d + (C_d - R_hat_d A_d - B_d) / max(X_d, tau n_q)

    with C_d its clicks, A_d = sum_r alpha_r I[d, r] and B_d = sum_r beta_r
    I[d, r] over its realised impressions, and X_d = sum_r alpha_r E[d, r]
    over its expected impressions under the logging policy (rho(d) n_q; the
    realised impressions where ``statistics.expected_impressions`` is None,
    which is exact for a deterministic logger).  The correction has
    expectation R_d - R_hat_d wherever rho(d) > tau, so the target is
    unbiased if the propensities are right (whatever R_hat), and equals
    R_hat where d is never shown (``candidates="all"``).  Under a deterministic logger A_d = X_d and
    the target of a shown document is the IPS estimate (C_d - B_d) / A_d:
    the regression then only fills the documents never shown.

    The regression is a pointwise squared-error fit of c on alpha_r R_hat +
    beta_r over the (document, rank) cells, i.e. of the per-document target
    sum_r alpha_r (C - beta_r I) / sum_r alpha_r^2 I with weight
    sum_r alpha_r^2 I (the Gaussian likelihood of the clicks), clipped to
    [0, 1]; it is fitted on the same statistics (no cross-fitting).

    Where the clip binds (X_d < tau n_q) the target is the clipped IPS
    estimate plus (1 - X_d / (tau n_q)) R_hat_d: the regression fills the
    share of relevance the clipped weights cannot see, and the target's mean
    stays near the truth where IPS's falls with the rank.  With few sessions
    per query that is every rank but the first, where the target stays IPS's
    all-or-nothing C_d / A_d; ``experiments/dr_small_n.py`` (the one-round
    study at 10^3 sessions, 5 seeds) measures it: the logger's first
    document has target 0 in half the queries, the nine below it almost
    never, which pushes the ranker to demote it, and DR scores 0.450 held out
    against 0.644 for IPS (R_hat alone, clipped, 0.350; R_hat = 0 gives IPS
    exactly), whose clipped clicks keep the logger's order.

    Parameters
    ----------
    propensity : {"oracle", "pbm", "estimated", "policy_aware"} or array-like, default="oracle"
        theta per rank as for :class:`IPS` (``oracle``: the mean true
        examination per rank); ``policy_aware`` is ``oracle`` that requires
        the expected impressions.  Ignored with ``affine``.
    clip : float, "auto" or "global", default="auto"
        As for :class:`IPS`, applied to rho(d) (per document, n = n_q).
    affine : tuple of two arrays (alpha, beta) of shape (k,), optional
        Trust bias (alpha_r, beta_r).
    assumed_eta, estimator, theta
        As for :class:`IPS`.
    candidates : {"shown", "all"}, default="shown"
        Fit the final model on the shown documents, or on every candidate of
        a served query (the never-shown ones at R_hat).  ``all`` ranks worse
        on the one-round study (deterministic top 10 of a 1 % logger, 10^5
        sessions, seed 0: NDCG@10 0.622 against 0.692 for ``shown``): the
        regression, fitted on the logger's top 10 only, extrapolates badly
        to the documents it never showed (correlation 0.18 with the true
        attractiveness there, mean 0.24 for 0.17).
    dm_n_estimators : int, default=100
        Boosting rounds of the regression.
    loss, backend, n_estimators, num_threads, seed
        As for :class:`Naive` (the final model).

    Attributes
    ----------
    model_ : RelevanceModel
    direct_model_ : RelevanceModel or None
        The regression R_hat (squared loss); None after targets computed
        from a given ``r_hat``.
    theta_ : ndarray of shape (k,)
        Only for ``propensity="estimated"``.

    Examples
    --------
    >>> from policies import Deterministic
    >>> from simulator import PBM, make_synthetic, simulate_sessions
    >>> data = make_synthetic(n_queries=40, docs_per_query=10, n_features=5, seed=0)
    >>> stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), PBM(), 4000).statistics
    >>> dr = DR(n_estimators=5, dm_n_estimators=5)
    >>> estimates = dr.relevance_estimates(data, stats)
    >>> shown = stats.impressions.sum(axis=1) > 0  # the others have no estimate (NaN) with candidates="shown"
    >>> estimates.shape, bool(np.isfinite(estimates[shown]).all()), bool(np.isnan(estimates[~shown]).all())
    ((400,), True, True)
    """

    name = "dr"

    def __init__(self, propensity="oracle", clip="auto", affine=None, assumed_eta=1.0, estimator="harvesting",
                 theta=None, candidates="shown", dm_n_estimators=100, loss="softmax", backend="lightgbm",
                 n_estimators=100, num_threads=1, seed=0):
        self.propensity = propensity
        self.clip = clip
        self.affine = affine
        self.assumed_eta = assumed_eta
        self.estimator = estimator
        self.theta = theta
        self.candidates = candidates
        self.dm_n_estimators = dm_n_estimators
        self.loss = loss
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def _targets(self, dataset, statistics, r_hat=None):
        """Rows, group sizes, query sessions and DR targets; ``r_hat`` (per document, shape (n_docs,))
        replaces the fitted regression (a study's hook: e.g. the true attractiveness as a perfect one)."""
        if self.candidates not in ("all", "shown"):
            raise ValueError(f"candidates must be 'all' or 'shown', got {self.candidates!r}")
        k = statistics.k
        tau = self._clip(statistics)
        if self.affine is not None:
            alpha, beta = self._affine(k)
        else:
            self._check_propensity(("oracle", "pbm", "estimated", "policy_aware"))
            alpha, beta = self._rank_theta(statistics), np.zeros(k)
        expected = statistics.has_expected
        if not expected and isinstance(self.propensity, str) and self.propensity == "policy_aware" \
                and self.affine is None:
            raise ValueError("propensity='policy_aware' needs the logging policy's expected placements: "
                             "simulate with simulate_sessions(..., placement=True)")
        if self.candidates == "all":
            rows, sizes, sessions = served_candidates(dataset, statistics)
        else:
            rows, sizes, sessions = shown_documents(dataset, statistics)
        if r_hat is None:
            r_hat = np.clip(self._fit_direct_model(dataset, statistics, alpha, beta).predict(
                dataset.features[rows]), 0.0, 1.0)
        else:
            r_hat = np.asarray(r_hat, dtype=np.float64)
            if r_hat.shape != (dataset.n_docs,) or not np.isfinite(r_hat).all():
                raise ValueError(f"r_hat must be finite and of shape ({dataset.n_docs},), got shape {r_hat.shape}")
            r_hat = r_hat[rows]
            self.direct_model_ = None  # no regression was fitted for these targets (nor a previous one kept)
        impressions = statistics.take("impressions", rows).astype(np.float64)
        c = statistics.row_sums("clicks")[rows].astype(np.float64)
        a = (impressions * alpha).sum(axis=1)
        b = (impressions * beta).sum(axis=1)
        x = a if not expected else (statistics.take("expected_impressions", rows) * alpha).sum(axis=1)
        floor = np.maximum(_cell_tau(tau, sessions), 1e-12) * sessions
        targets = r_hat + (c - r_hat * a - b) / np.maximum(x, floor)
        return rows, sizes, sessions, targets

    @staticmethod
    def direct_targets(dataset, statistics, alpha, beta):
        """What the direct method regresses: per shown document, the weighted least-squares fit of its clicks
        on alpha_r R + beta_r over its impressions.

        Returns
        -------
        rows : ndarray of int64
            Documents with a positive weight (shown at a rank with alpha_r > 0), in dataset order.
        targets, weights : ndarray of float64
            The estimate of R per row and its weight sum_r impressions_r alpha_r^2.
        """
        shown, _, _ = shown_documents(dataset, statistics)
        impressions = statistics.take("impressions", shown).astype(np.float64)
        clicks = statistics.take("clicks", shown).astype(np.float64)
        weight = (impressions * alpha**2).sum(axis=1)
        keep = weight > 0
        targets = (alpha * (clicks - beta * impressions)).sum(axis=1)[keep] / weight[keep]
        return shown[keep], targets, weight[keep]

    def _fit_direct_model(self, dataset, statistics, alpha, beta):
        """Direct method: a regression of :meth:`direct_targets` on the features (squared loss)."""
        rows, targets, weights = self.direct_targets(dataset, statistics, alpha, beta)
        self.direct_model_ = RelevanceModel(backend=self.backend, loss="squared", n_estimators=self.dm_n_estimators,
                                            num_threads=self.num_threads, seed=self.seed)
        return self.direct_model_.fit(dataset.features[rows], targets, weights)

    def relevance_estimates(self, dataset, statistics, log=None):
        """The doubly robust estimate of every document's relevance, ndarray of shape (n_docs,).

        NaN for the documents of queries never served (and, with
        ``candidates="shown"``, for documents never shown).  Fits the
        regression (``direct_model_``) as a side effect, not the final model.
        """
        rows, _, _, targets = self._targets(dataset, statistics)
        out = np.full(dataset.n_docs, np.nan)
        out[rows] = targets
        return out

    def fit(self, dataset, statistics, log=None):
        rows, sizes, sessions, targets = self._targets(dataset, statistics)
        return self._fit_targets(dataset, rows, sizes, sessions, targets, sessions)
