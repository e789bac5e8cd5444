"""The shallow position tower: relevance and position bias learned jointly, only relevance served."""

import warnings

import numpy as np

from simulator import pbm_theta

from ._learners import IPS, _cell_tau, _ClickLearner, shown_documents
from ._relevance_model import RelevanceModel

__all__ = ["PositionTower"]

#: Anchors of theta (besides an array of theta per rank).
THETA_ANCHORS = ("ctr", "pbm", "harvesting", "em")


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
    theta is within 4 % and the tower beats naive.  (These measurements are
    of ``dropout=0``, the former default.)

    From a good logger the unidentified theta is a disaster: in the loop of
    the default preset with ``logger.query_fraction = 0.5`` (served NDCG@10
    0.855), the first retrain served 0.492 at eta = 1 with ``dropout=0``:
    theta came out too steep (0.055 at rank 10 for 0.1), so the clicks of
    the low ranks were over-weighted and f learned to invert the logger.
    Measured options (3 seeds, 3 rounds, eta 1 and 2, engagement none and
    ctr; worst round's mean minus the logger's served NDCG@10):

    ================================================  =======
    tower                                             worst
    ================================================  =======
    ``dropout=0`` (former default)                    -0.366
    theta held at PBM eta = 1 (``"pbm"``, ``inf``)    -0.107
    theta held at the truth (eta = 1 only)            -0.108
    theta by harvesting over its history, held        -0.118
    ``dropout=0.5``                                   -0.082
    ``dropout=0.8`` (default)                         -0.070
    ``dropout=0.9``                                   -0.073
    0.8, theta harvested, prior 100 clicks            -0.072
    naive, for comparison                             -0.078
    ================================================  =======

    Anchoring theta alone, even at the truth, does not help enough: a
    debiased learner from 50 sessions a query of a deterministic top 10
    spends its few clicks on the low ranks and loses the logger's ordering
    (oracle IPS 0.741 in issue 15).  Observation dropout keeps the relevance
    step close to the click-through rate (naive, which inherits the logger's
    ordering) while theta is still learned; at 0.8 the tower serves like
    naive or better in every setting (eta = 1: round 1 0.819 against 0.817),
    and both fall more than 0.05 below the logger at eta = 2 with CTR
    engagement (0.788 and 0.780 at round 3).  Over 5 seeds and 5 rounds
    (``experiments/debiasing_study.py --only tower``, logger 0.854) the
    worst round of the tower is -0.034 (eta 1, both engagements), -0.048
    (eta 2, none) and -0.068 (eta 2, ctr; naive -0.073): the last misses the
    issue's 0.05.

    Parameters
    ----------
    n_iter : int, default=5
        Coordinate-ascent iterations (each refits f).
    dropout : float, default=0.8
        Observation dropout (Zhang et al. 2023): for this share of the cells,
        chosen with ``seed``, the relevance step sees the impression-weighted
        mean theta instead of theta_r, so f cannot lean on the position.
    document_prior : float, default=10.0
        Strength of the prior of u_d in impressions; ``numpy.inf`` removes u_d.
    theta : {"ctr", "pbm", "harvesting", "em"} or array-like of shape (k,), default="ctr"
        Anchor of theta: the start of the coordinate ascent and the centre of
        its prior.  ``ctr``: CTR_r / CTR_1 of the statistics; ``pbm``:
        (1/r)^assumed_eta; ``harvesting`` / ``em``: the estimate of
        ``IPS(propensity="estimated")`` from the statistics (intervention
        harvesting over the documents a history of rankers showed at several
        ranks, or EM), the PBM curve where a rank is not identified; an
        array: theta per rank (scaled to theta_1 = 1).
    theta_prior : float, default=0.0
        Strength of a Gaussian prior on log theta_r around the anchor, in
        clicks per rank; 0: free (the anchor is only the start),
        ``numpy.inf``: theta held at the anchor.
    assumed_eta : float, default=1.0
        Exponent of the PBM curve of ``theta="pbm"`` and of the ranks that
        harvesting or EM do not identify.
    relevance : {"pointwise", "listwise"}, default="pointwise"
        The served relevance tower.  ``pointwise``: f of the last
        coordinate-ascent step (the likelihood of the cells).  ``listwise``:
        theta from the ascent (or held at its anchor: then no ascent is run),
        then f refitted with the listwise softmax loss on each shown
        document's clicks C_d with the logit offset log A_d, A_d = sum_r
        theta_r I[d, r] its expected examinations: the softmax of f + log A
        matches the clicks where exp(f_d) is proportional to C_d / A_d (the
        IPS estimate), so f is debiased by theta without dividing the clicks
        by it (the clicks, not their inverse-propensity weights, set each
        document's weight in the loss); theta is clipped per cell as IPS
        clips it.  Measured (``experiments/tower_first_retrain.py``, the 50 %
        logger, eta 2, CTR fed back, 5 seeds): the first retrain -0.043 at
        2 x 10^4 and 2 x 10^6 sessions per round against -0.048 and -0.076
        pointwise; in the default preset +0.006 +- 0.008 served (README).
    backend, n_estimators, num_threads, seed
        As for :class:`Naive`.

    Attributes
    ----------
    theta_ : ndarray of shape (k,)
        Learned examination per rank, scaled so that theta_[0] = 1.
    theta_identified_ : ndarray of bool, shape (k,)
        Ranks the anchor's estimate identified (``harvesting``, ``em``); all
        False for the other anchors.
    """

    name = "tower"

    def __init__(self, n_iter=5, dropout=0.8, document_prior=10.0, theta="ctr", theta_prior=0.0, assumed_eta=1.0,
                 relevance="pointwise", backend="lightgbm", n_estimators=100, num_threads=1, seed=0):
        self.n_iter = n_iter
        self.relevance = relevance
        self.theta = theta
        self.theta_prior = theta_prior
        self.assumed_eta = assumed_eta
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
        if isinstance(self.theta, str) and self.theta not in THETA_ANCHORS:
            raise ValueError(f"theta must be one of {THETA_ANCHORS} or an array, got {self.theta!r}")
        if not self.theta_prior >= 0:
            raise ValueError(f"theta_prior must be >= 0 (numpy.inf holds theta at its anchor), got {self.theta_prior!r}")
        if not (np.isfinite(self.assumed_eta) and self.assumed_eta >= 0):
            raise ValueError(f"assumed_eta must be a finite number >= 0, got {self.assumed_eta!r}")
        if self.relevance not in ("pointwise", "listwise"):
            raise ValueError(f"relevance must be 'pointwise' or 'listwise', got {self.relevance!r}")
        rows, group_sizes, _ = shown_documents(dataset, statistics)
        # The likelihood is a sum over (document, rank) cells with impressions:
        # work on that list, not on the mostly empty (n_rows, k) matrix.
        shown = statistics.values("impressions") > 0
        doc, rank = statistics.cell_index()
        doc, rank = doc[shown], rank[shown]  # row-major order, as np.nonzero of the dense rows
        row = np.searchsorted(rows, doc)
        cells = _Cells(row, rank, statistics.values("clicks")[shown].astype(np.float64),
                       statistics.values("impressions")[shown].astype(np.float64), rows.size)
        k = statistics.k
        rank_imp = np.bincount(rank, weights=cells.imp, minlength=k)
        rank_clk = np.bincount(rank, weights=cells.clk, minlength=k)
        ctr_rank = np.divide(rank_clk, rank_imp, out=np.zeros(k), where=rank_imp > 0)
        theta = np.clip(ctr_rank / max(ctr_rank[0], 1e-12), 1e-3, 1.0)
        theta[rank_imp == 0] = 1.0
        anchor = self._anchor(statistics, theta)
        theta = anchor.copy()
        dropped = np.random.default_rng(self.seed).random(row.size) < self.dropout
        X = dataset.features[rows]
        query = np.repeat(np.arange(group_sizes.size), group_sizes)
        intercept = np.zeros(group_sizes.size)
        effect = np.zeros(rows.size)
        listwise = self.relevance == "listwise"
        # f is refitted n_iter times on the same rows: bin the features once.
        binned = self._model("logistic").bin_features(X)
        ascent = 0 if listwise and not np.isfinite(self.theta_prior) else int(self.n_iter)
        for _ in range(ascent):
            mean_theta = np.sum(theta * rank_imp) / rank_imp.sum()
            t_f = np.where(dropped, mean_theta, theta[rank])
            offset = intercept[query] + effect
            self.model_ = self._model(_TowerLikelihood(cells, t_f)).fit(
                X, np.zeros(rows.size), offset=offset, binned=binned)
            f = self.model_.train_scores_
            intercept, effect = _training_offsets(f, cells, t_f, query, intercept, effect, self.document_prior)
            s = 1.0 / (1.0 + np.exp(-(f + intercept[query] + effect)))
            if np.isfinite(self.theta_prior):
                theta = _theta_step(theta, s, cells, k, anchor, self.theta_prior)
        self.theta_ = theta / theta[0]
        if listwise:
            clicks = np.bincount(cells.row, weights=cells.clk, minlength=rows.size)
            # IPS's per-cell clip: theta_r at least min(1, 1 / sqrt(impressions of the cell))
            examined = np.maximum(self.theta_[cells.rank], _cell_tau("auto", cells.imp))
            examinations = np.bincount(cells.row, weights=cells.imp * examined, minlength=rows.size)
            self.model_ = self._model("softmax").fit(X, clicks, group_sizes=group_sizes,
                                                     offset=np.log(examinations), binned=binned)
        return self

    def _anchor(self, statistics, ctr_theta):
        """theta's anchor, shape (k,): the start of the ascent and the centre of its prior."""
        k = statistics.k
        self.theta_identified_ = np.zeros(k, dtype=bool)
        if not isinstance(self.theta, str):
            theta = np.asarray(self.theta, dtype=np.float64)
            if theta.shape != (k,) or not np.all(np.isfinite(theta)) or np.any(theta <= 0):
                raise ValueError(f"theta array must have shape ({k},) with finite values > 0, got {theta!r}")
            return np.clip(theta / theta[0], 1e-3, 1.0)
        if self.theta == "ctr":
            return ctr_theta
        if self.theta == "pbm":
            return pbm_theta(k, self.assumed_eta)
        # harvesting / em: the estimators IPS(propensity="estimated") uses, with the PBM curve
        # (1/r)^assumed_eta where the statistics do not identify a rank (always, for one deterministic ranker).
        estimator = IPS(propensity="estimated", estimator=self.theta, assumed_eta=self.assumed_eta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            theta = estimator._estimate_theta(statistics)
        self.theta_identified_ = estimator.theta_identified_
        return np.clip(theta, 1e-3, 1.0)


class _Cells:
    """(document row, rank) cells with impressions: ``row`` (ascending), ``rank``, ``clk``, ``imp`` per cell.

    ``row_ptr``: the cells of row d are ``row_ptr[d]:row_ptr[d + 1]``.
    """

    def __init__(self, row, rank, clk, imp, n_rows):
        self.row, self.rank, self.clk, self.imp, self.n_rows = row, rank, clk, imp, n_rows
        if np.any(row[1:] < row[:-1]) or (row.size and (row[0] < 0 or row[-1] >= n_rows)):
            raise ValueError(f"cells must be in ascending row order, with rows in [0, {n_rows})")
        self.row_ptr = np.searchsorted(row, np.arange(n_rows + 1))


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
    from ._tower_kernels import tower_row_sums

    if z.shape != (cells.n_rows,):
        raise ValueError(f"z must hold one logit per row, shape ({cells.n_rows},), got {z.shape}")
    s = 1.0 / (1.0 + np.exp(-z))  # per row: NumPy's exp gives each element the same float wherever it sits
    # per cell: ts = clip(theta s), ratio = (1 - s) / (1 - ts), shared by both terms;
    # gradient (I - c) ts ratio - c (1 - s), Hessian I ts (1 - s) ratio; summed per row in one parallel pass
    grad, hess = np.empty(cells.n_rows), np.empty(cells.n_rows)
    tower_row_sums(s, np.broadcast_to(np.asarray(theta, dtype=np.float64), cells.row.shape), cells.row_ptr,
                   cells.imp, cells.clk, grad, hess)
    return grad, hess


def _theta_step(theta, s, cells, k, anchor, weight, n_newton=5):
    """Newton steps of each theta_r on sum_d c log(theta s_d) + (I - c) log(1 - theta s_d) - w/2 (log theta_r/a_r)^2.

    The last term is a Gaussian prior on log theta_r around the anchor a_r,
    worth ``weight`` clicks (the likelihood's curvature in log theta_r is
    about the clicks at rank r).
    """
    c_r = np.bincount(cells.rank, weights=cells.clk, minlength=k)
    non = cells.imp - cells.clk
    s = s[cells.row]
    for _ in range(n_newton):
        ts = np.clip(theta[cells.rank] * s, 1e-12, 1 - 1e-12)
        dev = np.log(theta / anchor)
        grad = (c_r / theta - np.bincount(cells.rank, weights=non * s / (1.0 - ts), minlength=k)
                - weight * dev / theta)
        hess = (-c_r / theta**2 - np.bincount(cells.rank, weights=non * s**2 / (1.0 - ts) ** 2, minlength=k)
                - weight * (1.0 - dev) / theta**2)
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
