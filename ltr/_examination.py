"""Examination under an assumed click model, for any click log (Vardasbi et al. 2020).

The simulator records the *true* examination of every shown slot (an oracle no
deployed system has).  Here the examination is computed from the log alone
(displayed documents and clicks per session) under a click model the learner
assumes, with given parameters or parameters estimated from the same log:

- ``"pbm"``: theta_r, whatever the clicks;
- ``"cascade"``: 1 if nothing above rank r was clicked, else 0;
- ``"dcm"``: the product over the clicked ranks i < r of lambda_i (the
  probability of going on after a click at rank i);
- ``"dbn"``: the product over the ranks i < r of gamma (1 - sigma_i) where
  clicked and gamma where not; sigma per rank as given, or by default each
  clicked document's own satisfaction estimated from the log (the simplified
  DBN, gamma = 1).

For the cascade family this is the examination given the clicks above, of a
user who examined each rank above unless stopped by the model: the weight
for which the inverse-propensity estimate c_r / e_r is unbiased for the
attractiveness of the document at r (summing over the click histories, the
probabilities of stopping cancel).  It is the same for every impression of a
session's rank, clicked or not ("per impression"); the weight of a click is
its inverse ("per click").  Under the plain cascade a document below a click
gets 0, so no weighting corrects the cascade (the clicks below the first are
never seen): cascade-model IPS is meant for DCM- and DBN-like behaviour.
"""

import warnings

import numpy as np

from simulator import ClickStatistics
from simulator.validation import check_int, check_probability, describe

from . import _examination_kernels as kernels

__all__ = ["ASSUMED_CLICK_MODELS", "assumed_examination", "assumed_statistics", "estimate_dcm_lambda",
           "estimate_sdbn_satisfaction"]

ASSUMED_CLICK_MODELS = ("pbm", "cascade", "dcm", "dbn")
DCM_LAMBDA_METHODS = ("em", "last_click")


def _log_arrays(displayed, clicks):
    displayed = np.asarray(displayed)
    if displayed.ndim != 2 or displayed.dtype.kind not in "iu":
        raise ValueError(f"displayed must be an integer array of shape (n_sessions, k), got {describe(displayed)}")
    clicks = np.asarray(clicks)
    if clicks.shape != displayed.shape:
        raise ValueError(f"clicks must have the shape of displayed {displayed.shape}, got {describe(clicks)}")
    return np.ascontiguousarray(displayed), np.ascontiguousarray(clicks, dtype=np.bool_)


def _n_shown(displayed):
    """Rows the log shows: the largest document shown + 1 (0 for a log without one)."""
    return int(displayed.max()) + 1 if displayed.size and displayed.max() >= 0 else 0


def _per_rank(values, k, name, allow_none=False):
    if values is None and allow_none:
        return None
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(k, float(values))
    if values.shape != (k,) or not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
        raise ValueError(f"{name} must be a probability or an array of shape ({k},) of probabilities, "
                         f"got {describe(values)}")
    return values


def estimate_dcm_lambda(displayed, clicks, method="em", max_iter=10_000, tol=1e-8):
    """DCM's probability lambda_r of going on after a click at rank r, estimated from a log.

    ``method="em"``: the maximum-likelihood estimate of the DCM with lambda per
    rank and an attractiveness per document (Guo et al. 2009; Chuklin et al.
    2015), by expectation-maximisation over the one latent variable of a
    session, whether the user went on after its last click (then examined and
    skipped every document below it).  ``method="last_click"``: Guo et al.'s
    closed form lambda_r = 1 - (sessions whose last click is at r) / (clicks at
    r), which counts a user who went on after the last click and clicked
    nothing more as stopped.  It converges to lambda_r (1 - prod over the ranks
    j > r of (1 - alpha_j)), far below lambda_r near the bottom (0 at the last
    rank): on ``dcm_informational`` clicks lambda_9 = 0.44 for 0.79, which
    almost doubles the weight of the clicks at rank 10 in cascade-model IPS.

    Ranks never clicked get 1 (no evidence of stopping), and so do ranks with
    no document below any of their clicks (the last rank: nothing to go on
    to).  Where the log does not identify lambda_r (every click at r the last
    of its session and the documents below never clicked) EM keeps its start,
    0.5; there no click below r is weighted by it.

    Parameters
    ----------
    displayed : ndarray of shape (n_sessions, k), int
        Document rows shown (-1 for empty slots).
    clicks : ndarray of shape (n_sessions, k), bool
    method : {"em", "last_click"}, default="em"
    max_iter : int, default=10_000
        EM iterations at most (a RuntimeWarning if not converged).
    tol : float, default=1e-8
        EM stops when no lambda moves by more than ``tol`` in an iteration.

    Returns
    -------
    ndarray of shape (k,), float64

    Examples
    --------
    >>> from simulator import DCM, GradeMapping
    >>> displayed = np.tile(np.arange(4), (20000, 1))           # one list, lambda = 0.6 at every rank
    >>> clicks = DCM(stop=GradeMapping([0.4] * 5)).simulate(displayed, [3, 0, 2, 1], seed=0).clicks
    >>> estimate_dcm_lambda(displayed, clicks).round(2).tolist()
    [0.59, 0.62, 0.6, 1.0]
    >>> estimate_dcm_lambda(displayed, clicks, method="last_click").round(2).tolist()
    [0.27, 0.25, 0.1, 0.0]
    """
    displayed, clicks = _log_arrays(displayed, clicks)
    if method not in DCM_LAMBDA_METHODS:
        raise ValueError(f"method must be one of {DCM_LAMBDA_METHODS}, got {method!r}")
    k = displayed.shape[1]
    if method == "last_click":
        per_rank, last = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        kernels.last_click_counts(displayed, clicks, per_rank, last)
        with np.errstate(invalid="ignore", divide="ignore"):
            lam = 1.0 - last / per_rank
        return np.where(per_rank > 0, lam, 1.0)
    return _go_on_em(displayed, clicks, "rank", None, max_iter, tol, "estimate_dcm_lambda")


def estimate_sdbn_satisfaction(displayed, clicks, n_docs=None, max_iter=10_000, tol=1e-8, *, prior_count=0.0,
                               prior_satisfaction=None):
    """SDBN's satisfaction sigma_d (stop after a click on document d), estimated from a log.

    The simplified DBN (Chapelle & Zhang 2009, gamma = 1): a user scans down,
    clicks an examined document with its attractiveness, and after a click on
    document d stops with probability sigma_d, the document's own satisfaction,
    instead of DCM's per-rank lambda.  The maximum-likelihood estimate with an
    attractiveness per document, by the EM of :func:`estimate_dcm_lambda` with
    the probability of going on indexed by the clicked document (a row of the
    data set, i.e. a query-document pair).  The usual closed form, sessions
    whose last click is on d over the clicks on d, counts a user who went on
    and clicked nothing more as satisfied (biased up, as Guo's last-click
    lambda is biased down).

    Documents never clicked, or never clicked above another shown document,
    get 0 (no evidence of stopping; nothing below would be weighted by it).

    Under deterministic logging a document low in a fixed list is rarely
    examined without a click above, so its attractiveness and the
    satisfaction of the documents above it are barely told apart; a Beta
    prior of ``prior_count`` pseudo-clicks at ``prior_satisfaction`` (the
    posterior mode, by the same EM) pulls those estimates toward a pooled
    rate.

    Parameters
    ----------
    displayed : ndarray of shape (n_sessions, k), int
        Document rows shown (-1 for empty slots).
    clicks : ndarray of shape (n_sessions, k), bool
    n_docs : int, optional
        Length of the result; default: the largest document shown + 1.
    max_iter : int, default=10_000
        EM iterations at most (a RuntimeWarning if not converged).
    tol : float, default=1e-8
        EM stops when no probability moves by more than ``tol`` in an iteration.
    prior_count : float, default=0
        Pseudo-clicks of the Beta prior on each sigma_d (0: maximum likelihood).
    prior_satisfaction : float, optional
        The prior's satisfaction; default one minus the click-weighted mean of
        DCM's lambda over the ranks above the last (:func:`estimate_dcm_lambda`,
        the same EM with one parameter per rank).

    Returns
    -------
    ndarray of shape (n_docs,), float64

    Examples
    --------
    >>> from simulator import DCM, GradeMapping
    >>> displayed = np.tile(np.arange(4), (40000, 1))   # DCM stopping by the clicked document's grade
    >>> clicks = DCM(stop=GradeMapping([0.1, 0.2, 0.3, 0.5, 0.8])).simulate(displayed, [3, 0, 2, 1], seed=0).clicks
    >>> estimate_sdbn_satisfaction(displayed, clicks).round(2).tolist()
    [0.5, 0.09, 0.3, 0.0]
    """
    displayed, clicks = _log_arrays(displayed, clicks)
    shown = _n_shown(displayed)
    n_docs = max(shown, 1) if n_docs is None else check_int(n_docs, "n_docs", 1)
    if n_docs < shown:
        raise ValueError(f"the log shows document {shown - 1} but n_docs is {n_docs}")
    if not np.isfinite(prior_count) or prior_count < 0:
        raise ValueError(f"prior_count must be >= 0, got {prior_count!r}")
    if prior_satisfaction is None:
        if prior_count > 0:
            lam = _go_on_em(displayed, clicks, "rank", None, max_iter, tol, "estimate_sdbn_satisfaction")
            per_rank = (clicks & (displayed >= 0))[:, :-1].sum(axis=0)
            prior_satisfaction = 1.0 - (lam[:-1] @ per_rank / per_rank.sum() if per_rank.sum() else 1.0)
        else:
            prior_satisfaction = 0.0
    prior_satisfaction = check_probability(prior_satisfaction, "prior_satisfaction")
    return 1.0 - _go_on_em(displayed, clicks, "document", n_docs, max_iter, tol, "estimate_sdbn_satisfaction",
                           float(prior_count), 1.0 - prior_satisfaction)


def _go_on_em(displayed, clicks, by, n_docs, max_iter, tol, caller, prior_count=0.0, prior_go_on=None):
    """Probability of going on after a click, per rank or per clicked document, by exact maximum likelihood."""
    max_iter = check_int(max_iter, "max_iter", 1)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    k = displayed.shape[1]
    if n_docs is None:
        n_docs = max(_n_shown(displayed), 1)
    clicks = clicks & (displayed >= 0)
    clicked = clicks.any(axis=1)
    last_rank = np.where(clicked, k - 1 - np.argmax(clicks[:, ::-1], axis=1), k)
    below = (np.arange(k) > last_rank[:, None]) & (displayed >= 0)  # uncertain: below the last click
    sure = (displayed >= 0) & ~below
    doc_certain = np.bincount(displayed[sure], minlength=n_docs).astype(np.float64)
    doc_clicks = np.bincount(displayed[clicks], minlength=n_docs).astype(np.float64)
    if by == "rank":
        param = last_rank[clicked]
        per_param = np.bincount(np.nonzero(clicks)[1], minlength=k).astype(np.float64)
        n_params = k
    else:
        param = displayed[clicked, last_rank[clicked]]
        per_param = doc_clicks
        n_params = n_docs
    last = np.bincount(param, minlength=n_params).astype(np.float64)
    tails = np.concatenate([param[:, None], np.where(below, displayed, -1)[clicked]], axis=1)
    tails, counts = np.unique(tails, axis=0, return_counts=True) if tails.size else (tails, np.zeros(0, np.int64))
    tail_param = np.ascontiguousarray(tails[:, 0])
    tail_docs = np.ascontiguousarray(tails[:, 1:])
    # Start from the click-through rate (below 1 unless every impression was clicked): a start of 1
    # where a document was skipped would be absorbing (its tails would never be examined).
    impressions = np.bincount(displayed[displayed >= 0], minlength=n_docs)
    alpha = doc_clicks / np.maximum(impressions, 1)
    go_on = np.full(n_params, 0.5)
    if prior_count > 0:
        prior = np.ascontiguousarray(np.broadcast_to(np.asarray(prior_go_on, dtype=np.float64), (n_params,)))
    else:
        prior = np.zeros(n_params)
    n_iter = kernels.cascade_em(tail_param, tail_docs, counts.astype(np.float64), per_param, last, doc_clicks,
                                doc_certain, go_on, alpha, float(prior_count), prior, max_iter, float(tol))
    if n_iter >= max_iter:
        warnings.warn(f"{caller}: EM did not converge in max_iter={max_iter} iterations (tol={tol})",
                      RuntimeWarning, stacklevel=3)
    has_below = np.zeros(n_params, dtype=bool)
    has_below[tail_param[(tail_docs >= 0).any(axis=1)]] = True
    return np.where((per_param > 0) & has_below, go_on, 1.0)


def assumed_examination(displayed, clicks, model, *, theta=None, lambdas=None, gamma=None, sigma=None,
                        document_sigma=None):
    """Examination of every shown slot of a log under an assumed click model.

    Parameters
    ----------
    displayed : ndarray of shape (n_sessions, k), int
        Document rows shown (-1 for empty slots).
    clicks : ndarray of shape (n_sessions, k), bool
    model : {"pbm", "cascade", "dcm", "dbn"}
    theta : array-like of shape (k,), optional
        PBM examination per rank (required for ``"pbm"``).
    lambdas : float or array-like of shape (k,), optional
        DCM: probability of going on after a click at each rank; default
        :func:`estimate_dcm_lambda` of this log.
    gamma : float, optional
        DBN perseverance; default 1 (the simplified DBN).
    sigma : float or array-like of shape (k,), optional
        DBN satisfaction after a click at each rank; default (with gamma = 1)
        each clicked document's own satisfaction, :func:`estimate_sdbn_satisfaction`
        of this log.
    document_sigma : array-like of shape (n_docs,), optional
        DBN satisfaction of each document row (given, e.g. the truth or a
        prior's estimate), in place of ``sigma``.

    Returns
    -------
    ndarray of shape (n_sessions, k), float64
        Examination given the clicks above (0 in empty slots).

    Examples
    --------
    >>> displayed, clicks = [[0, 1, 2]], [[True, False, True]]
    >>> assumed_examination(displayed, clicks, "cascade").tolist()
    [[1.0, 0.0, 0.0]]
    >>> assumed_examination(displayed, clicks, "dcm", lambdas=0.5).tolist()
    [[1.0, 0.5, 0.5]]
    >>> assumed_examination(displayed, clicks, "dbn", gamma=0.9, sigma=0.5).round(3).tolist()
    [[1.0, 0.45, 0.405]]
    """
    displayed, clicks = _log_arrays(displayed, clicks)
    n, k = displayed.shape
    if model not in ASSUMED_CLICK_MODELS:
        raise ValueError(f"model must be one of {ASSUMED_CLICK_MODELS}, got {model!r}")
    out = np.zeros((n, k), dtype=np.float64)
    if model == "pbm":
        if theta is None:
            raise ValueError("model='pbm' needs theta, the examination of each rank")
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (k,) or not np.all(np.isfinite(theta)) or np.any(theta < 0):
            raise ValueError(f"theta must be an array of shape ({k},) of finite values >= 0, got {describe(theta)}")
        out[...] = np.where(displayed >= 0, theta, 0.0)
        return out
    by_document = False
    if model == "cascade":
        after_click, after_skip = np.zeros(k), np.ones(k)
    elif model == "dcm":
        lam = estimate_dcm_lambda(displayed, clicks) if lambdas is None else _per_rank(lambdas, k, "lambdas")
        after_click, after_skip = lam, np.ones(k)
    else:
        g = 1.0 if gamma is None else check_probability(gamma, "gamma")
        if document_sigma is not None:
            if sigma is not None:
                raise ValueError("model='dbn' takes sigma (per rank) or document_sigma (per document), not both")
            document_sigma = np.asarray(document_sigma, dtype=np.float64)
            shown = _n_shown(displayed)
            if (document_sigma.ndim != 1 or document_sigma.size < shown or not np.all(np.isfinite(document_sigma))
                    or np.any(document_sigma < 0) or np.any(document_sigma > 1)):
                raise ValueError(f"document_sigma must be probabilities, one per document row (at least {shown}), "
                                 f"got {describe(document_sigma)}")
            after_click, by_document = g * (1.0 - document_sigma), True
        elif sigma is None:
            if g != 1.0:
                raise ValueError(f"model='dbn' with gamma={gamma!r} needs sigma (satisfaction): the estimate "
                                 "from the log is the simplified DBN's (gamma = 1)")
            after_click, by_document = 1.0 - estimate_sdbn_satisfaction(displayed, clicks), True
        else:
            after_click = g * (1.0 - _per_rank(sigma, k, "sigma"))
        after_skip = np.full(k, g)
    kernels.chain_examination(displayed, clicks, np.ascontiguousarray(after_click), by_document,
                              np.ascontiguousarray(after_skip), out)
    return out


def assumed_statistics(log, n_docs, model, *, floor=1e-6, **params):
    """Click statistics of a log with the examination of an assumed click model in place of the truth.

    Parameters
    ----------
    log : ClickLog or object with ``displayed`` and ``clicks``
        The session log (``fit(..., log=...)`` of the learners).
    n_docs : int
        Number of document rows of the dataset.
    model : {"pbm", "cascade", "dcm", "dbn"}
    floor : float, default=1e-6
        A click whose assumed examination is below ``floor`` is weighted
        1 / floor (the model says it could not happen; clip it further in
        the learner).
    **params
        ``theta``, ``lambdas``, ``gamma``, ``sigma`` as in :func:`assumed_examination`.

    Returns
    -------
    ClickStatistics
        Impressions and clicks of the log; ``examination`` sums the assumed
        examination of every impression and ``inverse_examination_clicks`` the
        inverse assumed examination of every click.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> log = SimpleNamespace(displayed=np.array([[0, 1], [1, 0]]), clicks=np.array([[True, True], [False, True]]))
    >>> stats = assumed_statistics(log, 2, "dcm", lambdas=0.5)
    >>> stats.inverse_examination_clicks.tolist(), stats.examination.tolist()
    ([[1.0, 1.0], [0.0, 2.0]], [[1.0, 1.0], [1.0, 0.5]])
    """
    n_docs = check_int(n_docs, "n_docs", 1)
    if not hasattr(log, "displayed") or not hasattr(log, "clicks"):
        raise ValueError(f"log must be a ClickLog (displayed and clicks per session), got {describe(log)}")
    displayed, clicks = _log_arrays(log.displayed, log.clicks)
    if displayed.size and displayed.max() >= n_docs:
        raise ValueError(f"the log shows document {displayed.max()} but n_docs is {n_docs}")
    if not 0 < floor <= 1:
        raise ValueError(f"floor must be in (0, 1], got {floor!r}")
    exam = assumed_examination(displayed, clicks, model, **params)
    stats = log.aggregate(n_docs) if hasattr(log, "aggregate") else _counts(displayed, clicks, n_docs)
    examination_sum = np.zeros((n_docs, displayed.shape[1]))
    inverse_sum = np.zeros((n_docs, displayed.shape[1]))
    kernels.aggregate_assumed(displayed, clicks, exam, float(floor), examination_sum, inverse_sum)
    return ClickStatistics(stats.impressions, stats.clicks, examination_sum, stats.n_sessions, inverse_sum)


def _counts(displayed, clicks, n_docs):
    from simulator import aggregate_clicks

    stats = ClickStatistics.empty(n_docs, displayed.shape[1])
    aggregate_clicks(stats, displayed, clicks, np.zeros(displayed.shape, dtype=np.float32))
    return stats
