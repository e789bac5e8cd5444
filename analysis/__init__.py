"""Analysis of clickloop runs: ranking metrics on true relevance, plots and summaries."""

from ._click_curves import plot_ctr_by_rank
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
from ._metrics import (
    METRICS,
    arp,
    dcg,
    err,
    evaluate,
    mean_over_queries,
    mrr,
    ndcg,
    precision,
    rank_within_queries,
    top_k,
)

__all__ = [
    "METRICS",
    "arp",
    "brier",
    "coverage",
    "dcg",
    "ece",
    "err",
    "evaluate",
    "exposure_entropy",
    "exposure_gini",
    "kendall_tau",
    "log_loss",
    "mean_over_queries",
    "mrr",
    "ndcg",
    "plot_ctr_by_rank",
    "precision",
    "propensity_error",
    "rank_within_queries",
    "rbo",
    "rich_get_richer_slope",
    "top_k",
]
