"""Analysis of clickloop runs: plots and summaries of simulated clicks."""

from ._click_curves import plot_ctr_by_rank

__all__ = ["plot_ctr_by_rank"]
