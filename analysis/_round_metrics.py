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

__all__ = ["loop_metrics"]


def loop_metrics(records, train, test=None, *, true_theta=None, ndcg_k=10, relevant_threshold=3):
    """Metrics of every round of one variant.

    Parameters
    ----------
    records : sequence of RoundRecord
        Rounds 0..R of one variant, in order.
    train, test : RankingDataset
        The served and the held-out queries (``test`` may be None).
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
        if test is not None and record.test_scores is not None:
            rows.append((f"heldout_ndcg@{ndcg_k}", mean_over_queries(
                ndcg(record.test_scores, test.labels, test.query_boundaries, k=ndcg_k))))
        impressions = stats.impressions.sum()
        rows.append(("ctr", float(stats.clicks.sum() / impressions) if impressions else float("nan")))
        exposure += stats.examination.sum(axis=1)
        rows.append(("exposure_gini", exposure_gini(exposure, boundaries)))
        rows.append(("exposure_entropy", exposure_entropy(exposure, boundaries)))
        shown = stats.impressions.sum(axis=1) > 0
        shown_ever |= shown
        rows.append(("coverage", coverage(shown_ever, train.labels, threshold=relevant_threshold)))
        rows.append(("coverage_round", coverage(shown, train.labels, threshold=relevant_threshold)))
        if previous is not None:
            rows.append(("kendall_tau", kendall_tau(previous.scores, record.scores, boundaries)))
            rows.append((f"rbo@{stats.k}", rbo(top_k(previous.scores, boundaries, stats.k),
                                               top_k(record.scores, boundaries, stats.k))))
            rows.append(("rich_get_richer", rich_get_richer_slope(
                previous.statistics.examination.sum(axis=1), stats.clicks.sum(axis=1))))
        if record.theta is not None:
            estimated = np.asarray(record.theta, dtype=np.float64)
            if true_theta is not None:
                truth = np.asarray(true_theta, dtype=np.float64)[: estimated.size]
                rows.append(("propensity_error", propensity_error(estimated, truth)))
                for r in range(estimated.size):
                    propensity.append((t, r + 1, float(truth[r] / truth[0]), float(estimated[r] / estimated[0])))
        if record.click_probability is not None:
            cells = stats.impressions > 0
            p = record.click_probability[cells]
            c, n = stats.clicks[cells], stats.impressions[cells]
            rows.append(("log_loss", log_loss(p, c, n)))
            rows.append(("brier", brier(p, c, n)))
            rows.append(("ece", ece(p, c, n)))
        metrics.extend((t, name, float(value)) for name, value in rows)
        previous = record
    return metrics, propensity
