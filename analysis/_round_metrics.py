"""Per-round metrics of one variant's feedback loop, from its round records.

Each round t is described by the ranker deployed in it and the sessions it
served (a :class:`simulator.RoundRecord`): its quality on true labels, what
users did (``ctr``), how concentrated the exposure was, how much of the
relevant catalogue was ever shown, how much the ranking changed since round
t - 1, whether exposure bred clicks, and, where the ranker has them, its
position-bias estimate and click predictions.

Metric names (the ``metric`` column of ``metrics.csv``):

==================  ==========================================================
``ndcg@K``          NDCG@K of the deployed ranker on the served queries, true labels
``heldout_ndcg@K``  the same on held-out queries (never served)
``ctr``             clicks per impression (shown slot) in the round
``exposure_gini``   Gini of the exposure (summed true examination) of rounds 0..t among each query's
                    candidates, mean over queries (cumulative: under deterministic top-k serving one
                    round's exposure always has the same shape; what concentrates is who gets it)
``exposure_entropy``  normalised entropy of the same cumulative exposure
``coverage``        share of relevant documents (grade >= threshold) shown at least once, rounds 0..t
``coverage_round``  the same for round t alone
``kendall_tau``     Kendall tau-b between the rankers of rounds t - 1 and t, mean over queries (t >= 1)
``rbo@K``           rank-biased overlap (p = 0.9) of their top-K lists (t >= 1)
``rich_get_richer`` slope of log1p(clicks in t) on log1p(exposure in t - 1) over documents (t >= 1)
``propensity_error``  mean relative error of the ranker's theta_k / theta_1 (k >= 2) against the truth
``log_loss``, ``brier``, ``ece``  calibration of the ranker's click predictions on the round's clicks
``deployed``        gated variants, t >= 1: 1 if the ranker retrained after round t - 1 serves round t, 0 if the
                    gate kept the previous one
``estimated_improvement``  the gate's off-policy estimate of that ranker's improvement in its objective
                    (``deployment.objective``) over the current one (its own history; naive for a naive variant)
``exact_improvement``  the same improvement under the true click model, exact (``ltr.exact_value``)
``exact_ndcg_improvement``  the change in NDCG@k of that ranker's top-k lists over the current one's on the
                    served queries, on the true labels (what the loop reports; the gate cannot see it)
``candidate_heldout_ndcg@K``  gated variants, t >= 1: ``heldout_ndcg@K`` of that ranker, deployed or not (what
                    the gate's decision costs or saves on queries it never judged)
``labelled_queries``  round 0 only: served queries whose true labels trained the ranker deployed in
                    round 0 (the logger's labelled queries, after its ``min_queries`` floor; the skyline's)
``confounder_share@K``  share of the top-K documents whose confounding feature (a column independent of
                    relevance that a confounded logger ranks by) is above the median of their query's
                    candidates, mean over queries: 0.5 = no preference, 1 = ranked by the confounder
``popularity_share@K``  the same for the popularity prior (log1p of the clicks from before the study)
==================  ==========================================================
"""

import numpy as np

from ._degeneracy import (
    brier,
    coverage,
    ece,
    exposure_entropy,
    exposure_gini,
    kendall_tau,
    log_loss,
    propensity_error,
    rbo,
    rich_get_richer_slope,
)
from ._metrics import ndcg, mean_over_queries, top_k

#: Observable logger columns a data set may name (``ObservedDataset``) and the metric of each.
_SHARE_COLUMNS = (("confounder_column", "confounder_share"), ("popularity_column", "popularity_share"))


def feature_share(scores, feature, query_boundaries, k):
    """Share of each query's top k whose ``feature`` is above the query's median, mean over queries.

    A ranker indifferent to the feature scores about 0.5 (exactly 0.5 in
    expectation for a feature independent of the scores); a ranker sorting by
    it scores 1.  Queries of at most ``k`` candidates (the whole list is
    shown) are left out; NaN if none is left.

    Parameters
    ----------
    scores : ndarray of shape (n_docs,)
    feature : ndarray of shape (n_docs,)
    query_boundaries : ndarray of shape (n_queries + 1,)
    k : int

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> feature = np.array([0.1, 0.9, 0.8, 0.2, 0.5, 0.3, 0.7, 0.6])
    >>> float(feature_share(feature, feature, np.array([0, 4, 8]), k=2))
    1.0
    >>> float(feature_share(-feature, feature, np.array([0, 4, 8]), k=2))
    0.0
    """
    feature = np.asarray(feature, dtype=np.float64)
    bounds = np.asarray(query_boundaries)
    rows = top_k(scores, bounds, k)
    shares = []
    for q in range(bounds.size - 1):
        lo, hi = bounds[q], bounds[q + 1]
        if hi - lo <= k:
            continue
        above = feature[rows[q]] > np.median(feature[lo:hi])
        shares.append(above.mean())
    return float(np.mean(shares)) if shares else float("nan")

__all__ = ["feature_share", "loop_metrics"]


def loop_metrics(records, train, test=None, *, true_theta=None, ndcg_k=10, relevant_threshold=3):
    """Metrics of every round of one variant.

    Parameters
    ----------
    records : sequence of RoundRecord
        Rounds 0..R of one variant, in order.
    train, test : RankingDataset
        The served and the held-out queries (``test`` may be None).  A
        ``train`` with ``confounder_column`` or ``popularity_column`` >= 0
        (clickloop's ``ObservedDataset``) gets ``confounder_share@K`` or
        ``popularity_share@K``.
    true_theta : ndarray of shape (k,), optional
        True examination per rank of the click model (PBM-like models); needed
        for ``propensity_error``.
    ndcg_k : int, default=10
    relevant_threshold : int, default=3

    Returns
    -------
    metrics : list of (round, name, value)
    propensity : list of (round, rank, true, estimated)
        theta_k / theta_1 per rank (1-based) for rankers that estimate it.
    """
    metrics, propensity = [], []
    boundaries = train.query_boundaries
    shown_ever = np.zeros(train.n_docs, dtype=bool)
    exposure = np.zeros(train.n_docs)
    previous = None
    for record in records:
        t = record.round
        stats = record.statistics
        rows = []
        rows.append((f"ndcg@{ndcg_k}", mean_over_queries(ndcg(record.scores, train.labels, boundaries, k=ndcg_k))))
        for name, scores in (("heldout_ndcg", record.test_scores),
                             ("candidate_heldout_ndcg", getattr(record, "candidate_test_scores", None))):
            if test is not None and scores is not None:
                rows.append((f"{name}@{ndcg_k}", mean_over_queries(
                    ndcg(scores, test.labels, test.query_boundaries, k=ndcg_k))))
        for attribute, name in _SHARE_COLUMNS:
            column = getattr(train, attribute, -1)
            if column >= 0:
                rows.append((f"{name}@{stats.k}", feature_share(record.scores, train.features[:, column],
                                                                boundaries, stats.k)))
        if getattr(record, "labelled_queries", None) is not None:
            rows.append(("labelled_queries", record.labelled_queries))
        for name in ("deployed", "estimated_improvement", "exact_improvement", "exact_ndcg_improvement"):  # a gate's
            if getattr(record, name, None) is not None:
                rows.append((name, float(getattr(record, name))))
        impressions = stats.total("impressions")
        rows.append(("ctr", float(stats.total("clicks") / impressions) if impressions else float("nan")))
        exposure += stats.row_sums("examination")
        rows.append(("exposure_gini", exposure_gini(exposure, boundaries)))
        rows.append(("exposure_entropy", exposure_entropy(exposure, boundaries)))
        shown = stats.row_sums("impressions") > 0
        shown_ever |= shown
        rows.append(("coverage", coverage(shown_ever, train.labels, threshold=relevant_threshold)))
        rows.append(("coverage_round", coverage(shown, train.labels, threshold=relevant_threshold)))
        if previous is not None:
            rows.append(("kendall_tau", kendall_tau(previous.scores, record.scores, boundaries)))
            rows.append((f"rbo@{stats.k}", rbo(top_k(previous.scores, boundaries, stats.k),
                                               top_k(record.scores, boundaries, stats.k))))
            rows.append(("rich_get_richer", rich_get_richer_slope(
                previous.statistics.row_sums("examination"), stats.row_sums("clicks"))))
        if record.theta is not None:
            estimated = np.asarray(record.theta, dtype=np.float64)
            if true_theta is not None:
                truth = np.asarray(true_theta, dtype=np.float64)[: estimated.size]
                rows.append(("propensity_error", propensity_error(estimated, truth)))
                for r in range(estimated.size):
                    propensity.append((t, r + 1, float(truth[r] / truth[0]), float(estimated[r] / estimated[0])))
        if record.click_probability is not None:
            n = stats.values("impressions")
            shown = n > 0  # stored cells in (document, rank) order, as a dense row-major mask reads them
            p = record.click_probability.of_cells(stats.cells[shown], stats.k)
            c, n = stats.values("clicks")[shown], n[shown]
            rows.append(("log_loss", log_loss(p, c, n)))
            rows.append(("brier", brier(p, c, n)))
            rows.append(("ece", ece(p, c, n)))
        metrics.extend((t, name, float(value)) for name, value in rows)
        previous = record
    return metrics, propensity
