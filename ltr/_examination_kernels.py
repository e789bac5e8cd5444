"""Numba kernels of :mod:`ltr._examination`: examination under an assumed click model, given the clicks."""

import numpy as np
from numba import njit


@njit(cache=True)
def chain_examination(displayed, clicks, after_click, after_skip, out):
    """out[s, r] = prod over the shown ranks i < r of (after_click[i] if clicked else after_skip[i]).

    The examination of rank r given the clicks above it, for the cascade
    family (cascade, DCM, DBN): the probability that a user who examined every
    rank above went on past each of them.  Empty slots (-1) get 0 and do not
    change the product.
    """
    n_sessions, k = displayed.shape
    for s in range(n_sessions):
        e = 1.0
        for r in range(k):
            if displayed[s, r] < 0:
                out[s, r] = 0.0
                continue
            out[s, r] = e
            if clicks[s, r]:
                e *= after_click[r]
            else:
                e *= after_skip[r]


@njit(cache=True)
def last_click_counts(displayed, clicks, clicks_per_rank, last_per_rank):
    """Clicks per rank and sessions whose last click is at that rank (DCM's estimate of lambda)."""
    n_sessions, k = displayed.shape
    for s in range(n_sessions):
        last = -1
        for r in range(k):
            if displayed[s, r] >= 0 and clicks[s, r]:
                clicks_per_rank[r] += 1
                last = r
        if last >= 0:
            last_per_rank[last] += 1


@njit(cache=True)
def aggregate_assumed(displayed, clicks, examination, floor, examination_sum, inverse_sum):
    """Sum of the examination per impression and of 1 / max(examination, floor) per click, per (document, rank)."""
    n_sessions, k = displayed.shape
    for s in range(n_sessions):
        for r in range(k):
            d = displayed[s, r]
            if d < 0:
                continue
            e = examination[s, r]
            examination_sum[d, r] += e
            if clicks[s, r]:
                inverse_sum[d, r] += 1.0 / max(e, floor)
