"""Numba kernels of :mod:`ltr._examination`: examination under an assumed click model, given the clicks."""

import numpy as np
from numba import njit


@njit(cache=True)
def chain_examination(displayed, clicks, after_click, by_document, after_skip, out):
    """out[s, r] = prod over the shown ranks i < r of (go-on after a click at i if clicked else after_skip[i]).

    The examination of rank r given the clicks above it, for the cascade
    family (cascade, DCM, DBN): the probability that a user who examined every
    rank above went on past each of them.  The probability of going on after a
    click is ``after_click[i]`` per rank, or ``after_click[d]`` per document d
    clicked when ``by_document`` (DBN's satisfaction belongs to the document).
    Empty slots (-1) get 0 and do not change the product.
    """
    n_sessions, k = displayed.shape
    for s in range(n_sessions):
        e = 1.0
        for r in range(k):
            d = displayed[s, r]
            if d < 0:
                out[s, r] = 0.0
                continue
            out[s, r] = e
            if clicks[s, r]:
                e *= after_click[d] if by_document else after_click[r]
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
def cascade_em(tail_param, tail_docs, tail_count, clicks_per_param, last_per_param, doc_clicks, doc_certain,
               go_on, alpha, prior_count, prior_go_on, max_iter, tol):
    """Exact maximum likelihood of a cascade model with one probability of going on after a click per
    parameter (DCM: per rank; SDBN: per clicked document) and an attractiveness per document, by EM.

    Returns the iterations.  The one latent variable of a session is whether
    the user went on after its last click (with parameter l, the rank or the
    document of that click): then every document below it was examined and
    skipped, else none was.  The sessions are given as their distinct tails
    (``tail_param`` = l, ``tail_docs`` = the documents below the last click,
    -1 padded, ``tail_count`` = how many sessions share it); everything else
    is certain: ``doc_certain`` counts the sure examinations of each document
    (at or above the last click, every rank of a session without clicks),
    ``doc_clicks`` its clicks, ``clicks_per_param`` and ``last_per_param`` the
    clicks and last clicks per parameter.  E-step: p = g_l P / (1 - g_l + g_l
    P), P = prod over the tail of (1 - alpha_d).  M-step: g = (clicks that
    were not last + sum of p over the tails + c g0) / (clicks + c), per
    parameter, with a Beta prior of c = ``prior_count`` pseudo-clicks going on
    with probability g0 = ``prior_go_on`` (c = 0: maximum likelihood; c > 0:
    the posterior mode, EM's MAP form); alpha_d = clicks / (sure examinations
    + sum of p over the tails holding d).
    ``go_on`` and ``alpha`` hold the start and are updated in place; stops when
    no go-on probability moves by more than ``tol``.
    """
    n_tails, width = tail_docs.shape
    n_params = go_on.size
    p = np.zeros(n_tails)
    went_on = np.zeros(n_params)
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
            g = go_on[tail_param[u]]
            denom = 1.0 - g + g * prob
            p[u] = g * prob / denom if denom > 0.0 else 1.0
            went_on[tail_param[u]] += tail_count[u] * p[u]
            for j in range(width):
                d = tail_docs[u, j]
                if d >= 0:
                    exam[d] += tail_count[u] * p[u]
        change = 0.0
        for i in range(n_params):
            if clicks_per_param[i] > 0:
                new = ((clicks_per_param[i] - last_per_param[i] + went_on[i] + prior_count * prior_go_on[i])
                       / (clicks_per_param[i] + prior_count))
                change = max(change, abs(new - go_on[i]))
                go_on[i] = new
        for d in range(alpha.size):
            if exam[d] > 0.0:
                alpha[d] = doc_clicks[d] / exam[d]
        if change <= tol:
            return it + 1
    return max_iter
