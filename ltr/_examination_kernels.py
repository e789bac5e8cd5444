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


@njit(cache=True)
def dcm_em(tail_last, tail_docs, tail_count, clicks_per_rank, last_per_rank, doc_clicks, doc_certain,
           lam, alpha, max_iter, tol):
    """Exact maximum likelihood of DCM (lambda per rank, alpha per document) by EM; returns the iterations.

    The one latent variable of a DCM session is whether the user went on after
    its last click (at rank l): then every document below l was examined and
    skipped, else none was.  The sessions are given as their distinct tails
    (``tail_last`` = l, ``tail_docs`` = the documents below l, -1 padded,
    ``tail_count`` = how many sessions share it); everything else is certain:
    ``doc_certain`` counts the sure examinations of each document (at or above
    the last click, every rank of a session without clicks), ``doc_clicks`` its
    clicks, ``clicks_per_rank`` and ``last_per_rank`` the clicks and last clicks
    per rank.  E-step: p = lambda_l P / (1 - lambda_l + lambda_l P), P = prod
    over the tail of (1 - alpha_d).  M-step: lambda_r = (clicks at r that were
    not last + sum of p over the tails at r) / clicks at r; alpha_d = clicks /
    (sure examinations + sum of p over the tails holding d).  ``lam`` and
    ``alpha`` hold the start and are updated in place; stops when no lambda
    moves by more than ``tol``.
    """
    n_tails, width = tail_docs.shape
    k = lam.size
    p = np.zeros(n_tails)
    went_on = np.zeros(k)
    exam = np.zeros(alpha.size)
    for it in range(max_iter):
        went_on[:] = 0.0
        exam[:] = doc_certain
        for u in range(n_tails):
            prob = 1.0
            for j in range(width):
                d = tail_docs[u, j]
                if d >= 0:
                    prob *= 1.0 - alpha[d]
            lam_l = lam[tail_last[u]]
            denom = 1.0 - lam_l + lam_l * prob
            p[u] = lam_l * prob / denom if denom > 0.0 else 1.0
            went_on[tail_last[u]] += tail_count[u] * p[u]
            for j in range(width):
                d = tail_docs[u, j]
                if d >= 0:
                    exam[d] += tail_count[u] * p[u]
        change = 0.0
        for r in range(k):
            if clicks_per_rank[r] > 0:
                new = (clicks_per_rank[r] - last_per_rank[r] + went_on[r]) / clicks_per_rank[r]
                change = max(change, abs(new - lam[r]))
                lam[r] = new
        for d in range(alpha.size):
            if exam[d] > 0.0:
                alpha[d] = doc_clicks[d] / exam[d]
        if change <= tol:
            return it + 1
    return max_iter
