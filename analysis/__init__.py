"""Analysis of clickloop runs: ranking metrics on true relevance, plots and summaries."""

from ._click_curves import plot_ctr_by_rank
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
    "dcg",
    "err",
    "evaluate",
    "mean_over_queries",
    "mrr",
    "ndcg",
    "plot_ctr_by_rank",
    "precision",
    "rank_within_queries",
    "top_k",
]
