"""Counterfactual (off-policy) evaluation of rankers from click logs, and their exact value.

The quantity estimated is a *target* ranker's expected number of clicks per
session, V = E_q sum_r P(C_r = 1 | the target's list of q), the queries
drawn as in the log.  A target ranker is given by its lists: ``target_lists``
of shape (n_queries, k), the global document rows it shows at ranks 1..k of
every query (-1 for an empty slot), e.g. ``Deterministic(...).bind(...).fixed_lists()``.

:func:`exact_value` computes V without sampling from the true click model
(:meth:`simulator.ClickModel.click_probabilities`).  The estimators read a
:class:`~simulator.ClickLog` of another (logging) policy and return an
:class:`OPEEstimate`: the mean over sessions of a per-session score, its
standard error and a normal (CLT over independent sessions) confidence
interval.  Because every estimate keeps its per-session scores, the
improvement of one ranker over another on one log has a paired interval
(:func:`estimate_difference`).

Estimators (see each docstring for its assumptions):

========================  ==================================================
``naive``                 the logged clicks of the documents the target shows
``ips``                   item-position IPS under PBM: theta_target / theta_logged
``policy_aware``          Oosterhuis & de Rijke 2020: theta_target / rho(d)
``dr``                    doubly robust: a cross-fitted direct model + the
                          policy-aware residual
``cascade_dr``            Kiyohara et al. 2022: cascade doubly robust on
                          logged prefixes
========================  ==================================================

A DCG-style value sum_r discount_r alpha(d_r) (the attractiveness of the shown
documents discounted by rank) is the expected clicks of a PBM user whose
examination is the discount: its exact value is ``exact_value`` with
``PBM(theta=dcg_discount(k), attractiveness=...)`` and the PBM-based
estimators take ``target_examination=dcg_discount(k)``.
"""

import inspect
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from simulator.validation import check_int, describe

__all__ = [
    "OPE_ESTIMATORS",
    "OPEEstimate",
    "cascade_dr_estimate",
    "dcg_discount",
    "dr_estimate",
    "estimate_difference",
    "estimate_value",
    "exact_attractiveness",
    "exact_query_values",
    "exact_value",
    "ips_estimate",
    "logging_prefix_probabilities",
    "naive_estimate",
    "policy_aware_estimate",
]


# ----------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True, eq=False)
class OPEEstimate:
    """An estimate of a ranker's expected clicks per session with its confidence interval.

    Attributes
    ----------
    estimator : str
        Name of the estimator.
    value : float
        Mean of the per-session scores.
    standard_error : float
        Sample standard deviation of the scores / sqrt(n_sessions).
    lower, upper : float
        Normal confidence interval value -/+ z standard_error, z the
        (1 + confidence) / 2 quantile of the standard normal.
    confidence : float
        Level of the interval, in (0, 1).
    per_session : ndarray of shape (n_sessions,), float64
        The score of every session of the log (read-only): their mean is
        ``value``; two estimates on one log differ session by session
        (:func:`estimate_difference`).

    Examples
    --------
    >>> est = OPEEstimate.from_scores("naive", [0.0, 1.0, 1.0, 2.0], confidence=0.95)
    >>> est.value, round(est.standard_error, 4), est.n_sessions
    (1.0, 0.4082, 4)
    >>> est.covers(1.5), est.covers(2.0)
    (True, False)
    """

    estimator: str
    value: float
    standard_error: float
    lower: float
    upper: float
    confidence: float
    per_session: np.ndarray

    @classmethod
    def from_scores(cls, estimator, scores, confidence=0.95):
        """The estimate whose per-session scores are ``scores`` (at least two sessions)."""
        confidence = _check_confidence(confidence)
        scores = np.array(scores, dtype=np.float64)
        if scores.ndim != 1 or scores.size < 2:
            raise ValueError(f"an estimate needs the scores of at least 2 sessions, got {describe(scores)}")
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{estimator}: the per-session scores must be finite")
        value = float(scores.mean())
        se = float(scores.std(ddof=1) / np.sqrt(scores.size))
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        scores.flags.writeable = False
        return cls(estimator, value, se, value - z * se, value + z * se, confidence, scores)

    @property
    def n_sessions(self):
        """Number of sessions the estimate averages."""
        return self.per_session.size

    def covers(self, value):
        """Whether ``value`` lies in the confidence interval."""
        return bool(self.lower <= value <= self.upper)

    def __repr__(self):
        return (f"OPEEstimate({self.estimator}: {self.value:.4g} +- {self.standard_error:.2g}, "
                f"{self.confidence:.0%} CI [{self.lower:.4g}, {self.upper:.4g}], n={self.n_sessions})")


def estimate_difference(new, old, confidence=None):
    """Paired estimate of V(new) - V(old) from two estimates on the same log.

    The per-session scores are subtracted session by session, so the interval
    accounts for their correlation (it is much narrower than the two separate
    intervals when the rankers share most documents).

    Parameters
    ----------
    new, old : OPEEstimate
        Estimates made on the same sessions (same number, same order).
    confidence : float, optional
        Level of the interval; default the level of ``new``.

    Returns
    -------
    OPEEstimate
        Named ``"<new> - <old>"``.

    Examples
    --------
    >>> a = OPEEstimate.from_scores("ips", [1.0, 2.0, 3.0])
    >>> b = OPEEstimate.from_scores("ips", [0.5, 1.5, 2.5])
    >>> d = estimate_difference(a, b)
    >>> d.value, d.standard_error
    (0.5, 0.0)
    """
    for name, est in (("new", new), ("old", old)):
        if not isinstance(est, OPEEstimate):
            raise ValueError(f"{name} must be an OPEEstimate, got {describe(est)}")
    if new.n_sessions != old.n_sessions:
        raise ValueError(f"new and old must be estimated on the same sessions, got {new.n_sessions} "
                         f"and {old.n_sessions} sessions")
    confidence = new.confidence if confidence is None else confidence
    return OPEEstimate.from_scores(f"{new.estimator} - {old.estimator}", new.per_session - old.per_session,
                                   confidence)


# ----------------------------------------------------------------------------------------------
# Validation


def _check_confidence(confidence):
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {describe(confidence)}")
    return float(confidence)


def _check_click_model(click_model):
    """The true click model: anything with ``click_probabilities(displayed, labels)``."""
    if not callable(getattr(click_model, "click_probabilities", None)):
        raise ValueError("click_model must be a click model object (e.g. simulator.click_model(name)), "
                         f"got {describe(click_model)}")
    return click_model


def _check_log(log):
    for attr in ("query", "displayed", "clicks"):
        if not hasattr(log, attr):
            raise ValueError(f"log must be a ClickLog (query, displayed, clicks), got {describe(log)}")
    if log.displayed.shape[0] < 2:
        raise ValueError(f"log must hold at least 2 sessions, got {log.displayed.shape[0]}")
    return (np.asarray(log.query, dtype=np.int64), np.asarray(log.displayed, dtype=np.int64),
            np.asarray(log.clicks, dtype=np.float64))


def _check_lists(target_lists, k, n_queries=None, name="target_lists"):
    lists = np.asarray(target_lists)
    if lists.ndim != 2 or lists.shape[1] != k or lists.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n_queries, k={k}), got {describe(lists)}")
    if lists.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer document rows, got {describe(lists)}")
    lists = lists.astype(np.int64)
    if lists.min() < -1:
        raise ValueError(f"{name} must be >= -1 (-1 marks an empty slot), got {lists.min()}")
    if n_queries is not None and lists.shape[0] != n_queries:
        raise ValueError(f"{name} must have one row per query ({n_queries}), got {lists.shape[0]} rows")
    shown = lists[lists >= 0]
    if np.unique(shown).size != shown.size:
        raise ValueError(f"{name} must show every document at most once")
    return lists


def _check_rank_weights(values, k, name, positive):
    arr = np.asarray(values, dtype=np.float64) if not isinstance(values, str) else np.asarray([np.nan])
    if arr.shape != (k,) or not np.all(np.isfinite(arr)) or (np.any(arr <= 0) if positive else np.any(arr < 0)):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {k} finite numbers {bound} (one per rank), got {describe(values)}")
    return arr


def _target_rank(lists, n_rows):
    """rank_of[d] = the target rank of document row d, -1 where the target does not show d."""
    rank_of = np.full(n_rows, -1, dtype=np.int64)
    q, r = np.nonzero(lists >= 0)
    rank_of[lists[q, r]] = r
    return rank_of


def _prepare(log, target_lists):
    queries, displayed, clicks = _check_log(log)
    lists = _check_lists(target_lists, displayed.shape[1])
    if queries.max() >= lists.shape[0]:
        raise ValueError(f"target_lists has {lists.shape[0]} rows but the log has query {queries.max()}")
    n_rows = int(max(displayed.max(), lists.max())) + 1
    rank_of = _target_rank(lists, n_rows)
    rows = np.where(displayed >= 0, displayed, 0)
    t = np.where(displayed >= 0, rank_of[rows], -1)  # target rank of each logged (session, rank)
    return queries, displayed, clicks, lists, rows, t, n_rows


def _rho(logging_placement, theta, n_rows):
    placement = np.asarray(logging_placement, dtype=np.float64)
    k = theta.size
    if placement.ndim != 2 or placement.shape[1] != k or placement.shape[0] < n_rows:
        raise ValueError(f"logging_placement must have shape (n_docs >= {n_rows}, k={k}), got {describe(placement)}")
    if not (placement.min() >= 0.0 and placement.max() <= 1.0):
        raise ValueError("logging_placement must hold probabilities in [0, 1]")
    return (placement * theta).sum(axis=1)


def _policy_aware_weight(rho, rows, t, clicks, w):
    """w[t] / rho(d) at every logged (session, rank) of a target document, 0 elsewhere."""
    in_target = t >= 0
    r = rho[rows]
    if np.any(in_target & (clicks > 0) & (r <= 0)):
        raise ValueError("a clicked document has policy-aware propensity 0: logging_placement does not "
                         "describe the policy that logged these sessions")
    return np.where(in_target & (r > 0), w[np.maximum(t, 0)] / np.where(r > 0, r, 1.0), 0.0)


def _by_query(scores, queries, query_weights, n_queries):
    """Per-session scores times the weight of each session's query (unchanged without weights)."""
    if query_weights is None:
        return scores
    return scores * _check_query_weights(query_weights, n_queries, "query_weights")[queries]


def _check_query_weights(values, n_queries, name):
    weights = np.asarray(values, dtype=np.float64)
    if weights.shape != (n_queries,) or not np.all(np.isfinite(weights)) or weights.min(initial=0.0) < 0:
        raise ValueError(f"{name} must be {n_queries} finite numbers >= 0 (one per query of target_lists), "
                         f"got {describe(values)}")
    return weights


# ----------------------------------------------------------------------------------------------
# Exact value


def dcg_discount(k):
    """The DCG discount 1 / log2(r + 1) of ranks r = 1..k, ndarray of shape (k,).

    Examples
    --------
    >>> dcg_discount(3).round(3).tolist()
    [1.0, 0.631, 0.5]
    """
    return 1.0 / np.log2(np.arange(2, check_int(k, "k", 1) + 2))


def exact_query_values(dataset, target_lists, click_model):
    """Exact expected clicks of the target's list of every query, without sampling.

    Parameters
    ----------
    dataset : RankingDataset
        Its labels are the true grades the click model reads.
    target_lists : array-like of int, shape (n_queries, k)
        Global document row at ranks 1..k of every query, -1 for an empty
        slot; each row must hold documents of its own query.
    click_model : ClickModel
        Anything with ``click_probabilities(displayed, labels)``.

    Returns
    -------
    ndarray of shape (n_queries,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import PBM, RankingDataset
    >>> data = RankingDataset.from_group_sizes(np.zeros((3, 1)), [4, 0, 2], [2, 1])
    >>> exact_query_values(data, [[0, 1], [2, -1]], PBM(eta=1.0)).round(3).tolist()
    [1.05, 0.28]
    """
    _check_click_model(click_model)
    lists = _check_target_lists(dataset, target_lists)
    return click_model.click_probabilities(lists, dataset.labels).sum(axis=1)


def _check_target_lists(dataset, target_lists):
    """``target_lists`` as a checked (n_queries, k) array: one list per query of its own documents."""
    lists = np.asarray(target_lists)
    if lists.ndim != 2:
        raise ValueError(f"target_lists must have shape (n_queries, k), got {describe(lists)}")
    lists = _check_lists(lists, lists.shape[1], dataset.n_queries)
    if lists.max() >= dataset.n_docs:
        raise ValueError(f"target_lists refers to row {lists.max()} but the dataset has {dataset.n_docs} documents")
    owner = dataset.doc_query[np.maximum(lists, 0)]
    foreign = (lists >= 0) & (owner != np.arange(dataset.n_queries)[:, None])
    if foreign.any():
        q, r = np.argwhere(foreign)[0]
        raise ValueError(f"target_lists[{q}, {r}] = {lists[q, r]} is a document of query {owner[q, r]}, not {q}")
    return lists


def exact_attractiveness(dataset, click_model):
    """Each document's exact click probability when shown alone at rank 1, ndarray (n_docs,).

    Under the position-based and cascade families this is its attractiveness
    (theta_1 = 1): the quantity a debiased estimator recovers from clicks.
    """
    _check_click_model(click_model)
    alone = np.arange(dataset.n_docs, dtype=np.int64)[:, None]
    return click_model.click_probabilities(alone, dataset.labels)[:, 0]


def exact_value(dataset, target_lists, click_model, query_weights=None, target_examination=None):
    """Exact expected clicks per session of a ranker under the true click model.

    V = sum_q P(q) sum_r P(C_r = 1 | the target's list of q), with the click
    probabilities of :meth:`~simulator.ClickModel.click_probabilities`
    (closed form or exact dynamic programming, no sampling).

    Parameters
    ----------
    dataset : RankingDataset
    target_lists : array-like of int, shape (n_queries, k)
        As in :func:`exact_query_values`.
    click_model : ClickModel
    query_weights : array-like of shape (n_queries,), optional
        P(q), normalised here; default uniform (the default query
        distribution of :func:`simulator.simulate_sessions`).
    target_examination : array-like of shape (k,), optional
        Rank weights w: the value is then sum_r w_r alpha(d_r), alpha of
        :func:`exact_attractiveness` (with :func:`dcg_discount`, the DCG of
        the attractiveness: what the estimators give with the same weights).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import CascadeModel, RankingDataset
    >>> data = RankingDataset.from_group_sizes(np.zeros((3, 1)), [4, 0, 2], [2, 1])
    >>> round(exact_value(data, [[1, 0], [2, -1]], CascadeModel()), 4)
    0.64
    """
    _check_click_model(click_model)
    if target_examination is None:
        values = exact_query_values(dataset, target_lists, click_model)
    else:
        lists = _check_target_lists(dataset, target_lists)
        w = _check_rank_weights(target_examination, lists.shape[1], "target_examination", positive=False)
        alpha = exact_attractiveness(dataset, click_model)
        values = (np.where(lists >= 0, alpha[np.maximum(lists, 0)], 0.0) * w).sum(axis=1)
    if query_weights is None:
        return float(values.mean())
    weights = np.asarray(query_weights, dtype=np.float64)
    if weights.shape != values.shape or not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"query_weights must be {values.size} finite weights >= 0 with a positive sum, "
                         f"got {describe(query_weights)}")
    return float((weights * values).sum() / weights.sum())


# ----------------------------------------------------------------------------------------------
# Estimators


def naive_estimate(log, target_lists, *, target_examination=None, query_weights=None, confidence=0.95):
    """Naive estimate: the clicks the log shows on the documents the target shows.

    Score of session s: sum over its ranks r of C_{s,r} 1[d_{s,r} is in the
    target's list of q_s], whatever the rank either ranker gives it.

    Assumptions: none that make it unbiased in general; it is unbiased only
    when the target shows the logger's lists (then it is the on-policy
    mean of the clicks).  It inherits the position bias of the logger (a
    document it shows low gets few clicks) and its selection bias (a
    document it never shows gets none).

    Parameters
    ----------
    log : ClickLog
        Sessions of the logging policy.
    target_lists : array-like of int, shape (n_queries, k)
        The target's list of every query (global rows, -1 for empty slots).
    target_examination : array-like of shape (k,), optional
        Weights of the target's ranks (a click on a document counts w at its
        target rank); default all ones (clicks).
    query_weights : array-like of shape (n_queries,), optional
        Weight u_q of each query in the value, sum_q P(q) u_q V_q (each
        session's score times its query's weight); default 1.
    confidence : float, default=0.95

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0, 0], round=[0, 0], displayed=[[0, 1], [1, 0]],
    ...                clicks=[[True, True], [False, True]], examination=[[1, .5], [1, .5]], policy="p")
    >>> naive_estimate(log, [[0, 2]]).value
    1.0
    """
    queries, displayed, clicks, lists, rows, t, n_rows = _prepare(log, target_lists)
    if target_examination is None:
        scores = (clicks * (t >= 0)).sum(axis=1)
    else:
        w = _check_rank_weights(target_examination, displayed.shape[1], "target_examination", positive=False)
        scores = (clicks * np.where(t >= 0, w[np.maximum(t, 0)], 0.0)).sum(axis=1)
    return OPEEstimate.from_scores("naive", _by_query(scores, queries, query_weights, lists.shape[0]), confidence)


def ips_estimate(log, target_lists, theta, *, target_examination=None, query_weights=None, confidence=0.95):
    """Item-position IPS under the position-based model.

    Score of session s: sum_r C_{s,r} theta_{t(d)} / theta_r over the logged
    ranks r whose document d is in the target's list, at target rank t(d).

    Assumptions: clicks follow a PBM, P(C = 1 | d at r) = theta_r alpha(d),
    with the given theta (theta_r > 0); and every document the target shows
    is displayed by the logger in every session of its query (at any rank),
    e.g. full lists (k = the number of candidates).  Under these,
    E[C theta_t / theta_r] = theta_t alpha(d), the document's clicks in the
    target's list.  A document the logger shows only sometimes (top-k cutoff
    with a stochastic logger) or never is underestimated: item-selection
    bias, which :func:`policy_aware_estimate` corrects.  With theta all ones
    and a target equal to the logger this is :func:`naive_estimate`.

    Parameters
    ----------
    log : ClickLog
    target_lists : array-like of int, shape (n_queries, k)
    theta : array-like of shape (k,)
        Examination probability of each rank (given, or estimated, e.g. by
        :func:`estimate_pbm_em` on a randomised log), > 0.
    target_examination : array-like of shape (k,), optional
        Weights of the target's ranks; default ``theta`` (expected clicks);
        :func:`dcg_discount` gives a DCG-style value.
    query_weights : array-like of shape (n_queries,), optional
        Weight u_q of each query in the value, sum_q P(q) u_q V_q (each
        session's score times its query's weight); default 1.
    confidence : float, default=0.95

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0, 0], round=[0, 0], displayed=[[0, 1], [1, 0]],
    ...                clicks=[[True, True], [False, True]], examination=[[1, .5], [1, .5]], policy="p")
    >>> ips_estimate(log, [[1, 0]], theta=[1.0, 0.5]).per_session.tolist()
    [2.5, 1.0]
    """
    queries, displayed, clicks, lists, rows, t, n_rows = _prepare(log, target_lists)
    k = displayed.shape[1]
    theta = _check_rank_weights(theta, k, "theta", positive=True)
    w = theta if target_examination is None else _check_rank_weights(target_examination, k, "target_examination",
                                                                       positive=False)
    weight = np.where(t >= 0, w[np.maximum(t, 0)] / theta, 0.0)
    return OPEEstimate.from_scores("ips", _by_query((clicks * weight).sum(axis=1), queries, query_weights,
                                                    lists.shape[0]), confidence)


def policy_aware_estimate(log, target_lists, theta, logging_placement, *, target_examination=None,
                          query_weights=None, confidence=0.95):
    """Policy-aware IPS (Oosterhuis and de Rijke 2020).

    Score of session s: sum_r C_{s,r} theta_{t(d)} / rho(d) over the logged
    ranks whose document d the target shows at rank t(d), with the
    policy-aware propensity rho(d) = sum_j P_log(d at rank j | q) theta_j.

    Assumptions: clicks follow a PBM with the given theta; the logging
    placement probabilities are the logging policy's; and every document the
    target shows has rho(d) > 0 (the logger shows it in the top k with
    positive probability: true for Plackett-Luce and epsilon-greedy, false
    for a deterministic logger beyond its top k).  Then
    E[sum_r 1[d at r] C_r] = rho(d) alpha(d) and the estimate is unbiased.
    Documents with rho(d) = 0 contribute nothing (biased down).

    Parameters
    ----------
    log : ClickLog
    target_lists : array-like of int, shape (n_queries, k)
    theta : array-like of shape (k,)
        Examination probability of each rank, > 0.
    logging_placement : array-like of shape (n_docs, k)
        P(document d at rank j) under the logging policy
        (``BoundPolicy.placement_probabilities()``).
    target_examination : array-like of shape (k,), optional
        Default ``theta``.
    query_weights : array-like of shape (n_queries,), optional
        Weight u_q of each query in the value, sum_q P(q) u_q V_q (each
        session's score times its query's weight); default 1.
    confidence : float, default=0.95

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0, 0], round=[0, 0], displayed=[[0, 1], [1, 0]],
    ...                clicks=[[True, True], [False, True]], examination=[[1, .5], [1, .5]], policy="p")
    >>> placement = [[0.5, 0.5], [0.5, 0.5]]     # a uniform shuffle of two documents
    >>> policy_aware_estimate(log, [[1, 0]], [1.0, 0.5], placement).per_session.round(3).tolist()
    [2.0, 0.667]
    """
    queries, displayed, clicks, lists, rows, t, n_rows = _prepare(log, target_lists)
    k = displayed.shape[1]
    theta = _check_rank_weights(theta, k, "theta", positive=True)
    w = theta if target_examination is None else _check_rank_weights(target_examination, k, "target_examination",
                                                                       positive=False)
    weight = _policy_aware_weight(_rho(logging_placement, theta, n_rows), rows, t, clicks, w)
    return OPEEstimate.from_scores("policy_aware", _by_query((clicks * weight).sum(axis=1), queries, query_weights,
                                                             lists.shape[0]), confidence)


def _folds(n, n_folds, seed):
    n_folds = check_int(n_folds, "n_folds", 2, n, high_name=f"n_sessions={n}")
    fold = np.arange(n) % n_folds
    np.random.default_rng(seed).shuffle(fold)
    return fold, n_folds


def _attractiveness_by_fold(displayed, rows, clicks, theta, fold, n_folds, n_rows, prior_strength,
                            direct_counts=None):
    """alpha_hat[f, d]: click / examination ratio of document d fitted on the sessions outside fold f.

    alpha_hat(d) = (clicks_d + m a0) / (sum_r theta_r impressions_{d,r} + m), shrunk by m =
    ``prior_strength`` pseudo-examinations to the pooled ratio a0 of the training sessions.
    ``direct_counts`` (clicks, examinations) of sessions outside the log are added to every fold's.
    """
    shown = displayed >= 0
    exam = np.where(shown, theta, 0.0)
    alpha = np.empty((n_folds, n_rows))
    clicks_by_fold = np.stack([np.bincount(rows[fold == f].ravel(), clicks[fold == f].ravel(), n_rows)
                               for f in range(n_folds)])
    exam_by_fold = np.stack([np.bincount(rows[fold == f].ravel(), exam[fold == f].ravel(), n_rows)
                             for f in range(n_folds)])
    extra_clicks, extra_exam = (0.0, 0.0) if direct_counts is None else direct_counts
    for f in range(n_folds):
        c = clicks_by_fold.sum(axis=0) - clicks_by_fold[f] + extra_clicks
        e = exam_by_fold.sum(axis=0) - exam_by_fold[f] + extra_exam
        pooled = c.sum() / e.sum() if e.sum() > 0 else 0.0
        alpha[f] = np.clip((c + prior_strength * pooled) / (e + prior_strength), 0.0, 1.0) if prior_strength > 0 \
            else np.where(e > 0, np.clip(c / np.where(e > 0, e, 1.0), 0.0, 1.0), pooled)
    return alpha


def _check_prior(prior_strength):
    if isinstance(prior_strength, (bool, np.bool_)) or not isinstance(prior_strength, (int, float, np.floating)) \
            or not np.isfinite(prior_strength) or prior_strength < 0:
        raise ValueError(f"prior_strength must be a finite number >= 0, got {describe(prior_strength)}")
    return float(prior_strength)


def dr_estimate(log, target_lists, theta, logging_placement, *, target_examination=None, n_folds=2,
                prior_strength=1.0, seed=0, direct_counts=None, query_probabilities=None, query_weights=None,
                confidence=0.95):
    """Doubly robust estimate: a cross-fitted direct model plus the policy-aware residual.

    The direct model is a per-document attractiveness alpha_hat(d) (clicks
    over theta-weighted impressions, shrunk towards the pooled ratio) fitted on
    the other folds of the sessions (cross-fitting, so the model is
    independent of the sessions it corrects).  Score of session s:

        sum_t w_t alpha_hat(target_t)  +  sum_r (C_{s,r} - theta_r alpha_hat(d)) w_{t(d)} / rho(d)

    the second sum over the logged ranks whose document the target shows.

    Assumptions: as :func:`policy_aware_estimate` (PBM clicks with the given
    theta, the logging placement, rho(d) > 0 for the target's documents);
    then it is unbiased whatever alpha_hat, and its variance is lower the
    better alpha_hat fits.  A target document with rho(d) = 0 gets the direct
    model's value alone (biased by alpha_hat's error instead of dropped).

    Parameters
    ----------
    log : ClickLog
    target_lists : array-like of int, shape (n_queries, k)
    theta : array-like of shape (k,)
    logging_placement : array-like of shape (n_docs, k)
    target_examination : array-like of shape (k,), optional
        Default ``theta``.
    n_folds : int, default=2
        Cross-fitting folds (sessions assigned at random from ``seed``).
    prior_strength : float, default=1.0
        Pseudo-examinations shrinking alpha_hat towards the pooled click ratio.
    seed : int, default=0
    direct_counts : (ndarray, ndarray) of shape (n_docs,) each, optional
        Clicks and theta-weighted impressions of every document in sessions
        outside the log (e.g. the training history of the rankers judged),
        added to every fold's counts: a better direct model, still
        independent of the sessions it corrects.
    query_probabilities : array-like of shape (n_queries,), optional
        The known P(q) of the log's sessions (summing to 1).  The direct term
        then enters every session as its exact mean over the queries,
        sum_q P(q) sum_t w_t alpha_hat(target_t of q), instead of the value of
        the session's own query: the variance of which queries the sessions
        drew leaves the estimate, and only the residuals' remains.
    query_weights : array-like of shape (n_queries,), optional
        Weight u_q of each query in the value, sum_q P(q) u_q V_q (every
        session's score times the weight of its query); default 1.
    confidence : float, default=0.95

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0] * 4, round=[0] * 4, displayed=[[0, 1], [1, 0]] * 2,
    ...                clicks=[[True, False], [False, True]] * 2, examination=[[1, .5]] * 4, policy="p")
    >>> est = dr_estimate(log, [[0, 1]], [1.0, 0.5], np.full((2, 2), 0.5))
    >>> est.estimator, est.n_sessions
    ('dr', 4)
    """
    queries, displayed, clicks, lists, rows, t, n_rows = _prepare(log, target_lists)
    k = displayed.shape[1]
    theta = _check_rank_weights(theta, k, "theta", positive=True)
    w = theta if target_examination is None else _check_rank_weights(target_examination, k, "target_examination",
                                                                       positive=False)
    weight = _policy_aware_weight(_rho(logging_placement, theta, n_rows), rows, t, clicks, w)
    fold, n_folds = _folds(displayed.shape[0], n_folds, seed)
    alpha = _attractiveness_by_fold(displayed, rows, clicks, theta, fold, n_folds, n_rows,
                                    _check_prior(prior_strength), _check_direct_counts(direct_counts, n_rows))
    n_queries = lists.shape[0]
    u = np.ones(n_queries) if query_weights is None else _check_query_weights(query_weights, n_queries,
                                                                              "query_weights")
    predicted = np.where(displayed >= 0, theta * alpha[fold[:, None], rows], 0.0)
    residual = ((clicks - predicted) * weight).sum(axis=1) * u[queries]
    if query_probabilities is None:
        target = lists[queries]
        direct = (np.where(target >= 0, alpha[fold[:, None], np.maximum(target, 0)], 0.0) * w).sum(axis=1)
        direct = direct * u[queries]
    else:  # the direct model's exact mean over the known query distribution, per fold
        p = _check_query_weights(query_probabilities, n_queries, "query_probabilities")
        if not np.isclose(p.sum(), 1.0):
            raise ValueError(f"query_probabilities must sum to 1, got {p.sum()!r}")
        per_query = (np.where(lists >= 0, alpha[:, np.maximum(lists, 0)], 0.0) * w).sum(axis=2)
        direct = (per_query * (p * u)).sum(axis=1)[fold]  # not ``@``: BLAS sums depend on its thread count
    return OPEEstimate.from_scores("dr", direct + residual, confidence)


def _check_direct_counts(direct_counts, n_rows):
    """(clicks, examinations) per document, cut to the ``n_rows`` the log and lists refer to, or None."""
    if direct_counts is None:
        return None
    if not isinstance(direct_counts, (tuple, list)) or len(direct_counts) != 2:
        raise ValueError(f"direct_counts must be a pair (clicks, examinations), got {describe(direct_counts)}")
    pair = [np.asarray(x, dtype=np.float64) for x in direct_counts]
    for name, values in zip(("clicks", "examinations"), pair):
        if values.ndim != 1 or values.size < n_rows or not np.all(np.isfinite(values)) or values.min(initial=0) < 0:
            raise ValueError(f"direct_counts {name} must be >= {n_rows} finite counts >= 0 (one per document), "
                             f"got {describe(values)}")
    return pair[0][:n_rows], pair[1][:n_rows]


def cascade_dr_estimate(log, target_lists, theta, prefix_probability, *, n_folds=2, prior_strength=1.0, seed=0,
                        query_weights=None, confidence=0.95):
    """Cascade doubly robust estimate (Kiyohara et al. 2022, WSDM) of a deterministic ranker.

    With the cascade weights w_l = 1[the logged top l equals the target's top
    l] / pi_log(logged top l | q) (w_0 = 1) and a reward model q_hat, the
    score of session s is

        sum_l  w_l (C_l - q_hat_l(logged d_l))  +  w_{l-1} q_hat_l(target d_l).

    q_hat_l(d) = theta_l alpha_hat(d) is a PBM fit, cross-fitted as in
    :func:`dr_estimate`; it need not be right.

    Assumptions: the cascade assumption, that the click at rank l depends
    only on the documents at ranks 1..l (true of PBM, the cascade model, DCM
    and DBN; false of a user who looks below before clicking); the logging
    prefix probabilities are the logging policy's; and every prefix of the
    target's lists has positive logging probability (Plackett-Luce,
    epsilon-greedy; not a deterministic logger that differs from the
    target).  Then it is unbiased for any click model of that kind, at the
    price of a variance that grows with the depth at which the prefixes
    stop matching.  It estimates expected clicks (all ranks weigh 1).

    Parameters
    ----------
    log : ClickLog
    target_lists : array-like of int, shape (n_queries, k)
    theta : array-like of shape (k,)
        Examination of the reward model, > 0.
    prefix_probability : array-like of shape (n_sessions, k)
        pi_log(the logged documents at ranks 1..l | q) of every session and l
        (:func:`logging_prefix_probabilities`).
    n_folds, prior_strength, seed : as in :func:`dr_estimate`
    query_weights : as in :func:`dr_estimate`
    confidence : float, default=0.95

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0] * 4, round=[0] * 4, displayed=[[0, 1], [1, 0]] * 2,
    ...                clicks=[[True, False], [False, True]] * 2, examination=[[1, .5]] * 4, policy="p")
    >>> est = cascade_dr_estimate(log, [[0, 1]], [1.0, 0.5], np.full((4, 2), 0.5))
    >>> est.per_session.round(3).tolist()          # doc 0 always clicked, doc 1 never
    [1.0, 1.0, 1.0, 1.0]
    """
    queries, displayed, clicks, lists, rows, t, n_rows = _prepare(log, target_lists)
    n, k = displayed.shape
    theta = _check_rank_weights(theta, k, "theta", positive=True)
    prefix = np.asarray(prefix_probability, dtype=np.float64)
    if prefix.shape != (n, k) or not (prefix.min() >= 0.0 and prefix.max() <= 1.0):
        raise ValueError(f"prefix_probability must be probabilities of shape (n_sessions, k) = ({n}, {k}), "
                         f"got {describe(prefix_probability)}")
    target = lists[queries]
    match = np.cumprod(displayed == target, axis=1).astype(bool)
    if np.any(match & (prefix <= 0)):
        raise ValueError("a logged prefix has prefix_probability 0: it does not describe the logging policy")
    w = np.where(match, 1.0 / np.where(match, prefix, 1.0), 0.0)
    w_prev = np.concatenate([np.ones((n, 1)), w[:, :-1]], axis=1)
    fold, n_folds = _folds(n, n_folds, seed)
    alpha = _attractiveness_by_fold(displayed, rows, clicks, theta, fold, n_folds, n_rows,
                                    _check_prior(prior_strength))
    q_logged = np.where(displayed >= 0, theta * alpha[fold[:, None], rows], 0.0)
    q_target = np.where(target >= 0, theta * alpha[fold[:, None], np.maximum(target, 0)], 0.0)
    scores = (w * (clicks - q_logged) + w_prev * q_target).sum(axis=1)
    return OPEEstimate.from_scores("cascade_dr", _by_query(scores, queries, query_weights, lists.shape[0]),
                                   confidence)


def logging_prefix_probabilities(policy, features, query_boundaries, queries, displayed):
    """pi_log(the documents at ranks 1..l | q) of every logged session and depth l.

    Exact for the policies of :mod:`policies`, recognised by their public
    parameters (this module does not import the policies):
    ``temperature`` (Plackett-Luce: prod_j w_{d_j} / (W_q - sum_{i<j} w_{d_i}),
    w = exp(score / T)), ``epsilon`` (epsilon-greedy: (1 - eps) 1[prefix is
    the greedy one] + eps prod_j 1 / (n_q - j)), a ``scorer`` alone
    (deterministic: 1 on its own lists) or neither (uniform random).
    Greedy and deterministic lists sort by score, ties by lower row, as the
    policies do.

    Parameters
    ----------
    policy : LoggingPolicy
        The (unbound) policy that logged the sessions.
    features : array-like of shape (n_docs, n_features)
    query_boundaries : array-like of int, shape (n_queries + 1,)
    queries : array-like of int, shape (n_sessions,)
    displayed : array-like of int, shape (n_sessions, k)

    Returns
    -------
    ndarray of shape (n_sessions, k), float64
        Non-increasing along each row; an empty slot (-1) keeps the
        probability of the prefix above it.

    Examples
    --------
    >>> import numpy as np
    >>> from policies import PlackettLuce
    >>> policy = PlackettLuce(lambda X: X[:, 0], k=2, temperature=1.0)
    >>> X = np.log([[1.0], [2.0], [1.0]])              # weights 1, 2, 1
    >>> logging_prefix_probabilities(policy, X, [0, 3], [0], [[1, 0]]).tolist()
    [[0.5, 0.25]]
    """
    boundaries = np.asarray(query_boundaries, dtype=np.int64)
    queries = np.asarray(queries, dtype=np.int64)
    displayed = np.asarray(displayed, dtype=np.int64)
    n, k = displayed.shape
    sizes = np.diff(boundaries)
    doc_query = np.repeat(np.arange(sizes.size), sizes)
    depth = np.arange(k)
    n_q = sizes[queries][:, None]
    uniform_step = np.where(depth < n_q, 1.0 / np.maximum(n_q - depth, 1), 1.0)
    uniform = np.cumprod(uniform_step, axis=1)
    scorer = getattr(policy, "scorer", None)
    if scorer is None:
        return uniform
    scores = np.asarray(scorer.predict(features) if hasattr(scorer, "predict") else scorer(features), dtype=np.float64)
    if hasattr(policy, "temperature"):
        top = np.maximum.reduceat(scores, boundaries[:-1])
        weight = np.exp((scores - top[doc_query]) / float(policy.temperature))
        total = np.add.reduceat(weight, boundaries[:-1])[queries]
        shown = displayed >= 0
        w = np.where(shown, weight[np.maximum(displayed, 0)], 0.0)
        remaining = total[:, None] - np.concatenate([np.zeros((n, 1)), np.cumsum(w, axis=1)[:, :-1]], axis=1)
        step = np.where(shown, w / np.where(remaining > 0, remaining, 1.0), 1.0)
        return np.cumprod(step, axis=1)
    order = np.lexsort((np.arange(scores.size), -scores, doc_query))  # by query, score desc, row asc
    rank_in_query = np.empty(scores.size, dtype=np.int64)
    rank_in_query[order] = np.arange(scores.size) - boundaries[doc_query[order]]
    rank = np.where(displayed >= 0, rank_in_query[np.maximum(displayed, 0)], depth)
    greedy = np.cumprod(rank == depth, axis=1).astype(np.float64)
    if hasattr(policy, "epsilon"):
        eps = float(policy.epsilon)
        return (1.0 - eps) * greedy + eps * uniform
    return greedy


#: Name -> estimator function; every estimator returns an :class:`OPEEstimate`.
OPE_ESTIMATORS = {
    "naive": naive_estimate,
    "ips": ips_estimate,
    "policy_aware": policy_aware_estimate,
    "dr": dr_estimate,
    "cascade_dr": cascade_dr_estimate,
}


def estimate_value(estimator, log, target_lists, **inputs):
    """Run the estimator named ``estimator`` with the inputs it accepts among ``inputs``.

    One call for every estimator (a deployment gate passes everything it
    has: ``theta``, ``logging_placement``, ``prefix_probability``,
    ``confidence``, ...; each estimator takes what it needs).

    Parameters
    ----------
    estimator : str
        One of :data:`OPE_ESTIMATORS`.
    log : ClickLog
    target_lists : array-like of int, shape (n_queries, k)
    **inputs
        Keyword inputs; those the estimator does not accept are ignored.

    Returns
    -------
    OPEEstimate

    Examples
    --------
    >>> from simulator import ClickLog
    >>> log = ClickLog(query=[0, 0], round=[0, 0], displayed=[[0, 1], [1, 0]],
    ...                clicks=[[True, True], [False, True]], examination=[[1, .5], [1, .5]], policy="p")
    >>> estimate_value("ips", log, [[1, 0]], theta=[1.0, 0.5], logging_placement=None).value
    1.75
    >>> estimate_value("snips", log, [[1, 0]])
    Traceback (most recent call last):
    ...
    ValueError: unknown estimator 'snips'; choose one of ['cascade_dr', 'dr', 'ips', 'naive', 'policy_aware']
    """
    if estimator not in OPE_ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {sorted(OPE_ESTIMATORS)}")
    function = OPE_ESTIMATORS[estimator]
    accepted = inspect.signature(function).parameters
    missing = [name for name, p in accepted.items()
               if p.default is inspect.Parameter.empty and name not in ("log", "target_lists") and name not in inputs]
    if missing:
        raise ValueError(f"estimator {estimator!r} needs {', '.join(missing)}")
    return function(log, target_lists, **{name: value for name, value in inputs.items() if name in accepted})
