"""Numba kernels of the PBM maximum-likelihood fit: pure functions over arrays.

No validation happens here; :mod:`ltr._propensity` checks the input once and
calls one kernel.  Cells are the shown (document, rank) pairs of a click log,
given as flat arrays sorted by document: ``doc_ptr`` (CSR offsets of each
document's cells), ``cell_doc`` (local document index), ``cell_rank``
(0-based rank), ``cell_clicks`` and ``cell_skips`` (clicked and not clicked
impressions, float64 so that weights can scale them).

The model is the position-based model P(C = 1) = theta_r * alpha_d with
probabilities theta, alpha in [0, 1]; its log-likelihood is
sum over cells of c log(theta_r alpha_d) + s log(1 - theta_r alpha_d).
"""

import numpy as np
from numba import njit

# Extrapolated theta are kept in [_EPS, 1 - _EPS]: at theta = 1 the EM update of theta stays at 1.
_EPS = 1e-10


@njit(cache=True)
def pbm_theta_step(cell_doc, cell_rank, cell_clicks, cell_skips, theta, alpha, out_theta, with_loglik):
    """EM update of theta given alpha (E-step and closed-form M-step), in one pass over the cells.

    With latent examination E ~ theta_r and relevance R ~ alpha_d, a click
    means E = 1; a non-click has P(E = 1 | C = 0) = theta (1 - alpha) / (1 -
    theta alpha).  The M-step divides the expected number of E = 1 at each
    rank by its impressions.

    Returns the log-likelihood of the input (theta, alpha) when
    ``with_loglik`` (its click part summed per rank and per document: one
    logarithm per cell), else 0.
    """
    n_ranks = theta.size
    n_docs = alpha.size
    expected = np.zeros(n_ranks)
    impressions = np.zeros(n_ranks)
    clicks_rank = np.zeros(n_ranks)
    clicks_doc = np.zeros(n_docs)
    loglik = 0.0
    for i in range(cell_doc.size):
        r = cell_rank[i]
        d = cell_doc[i]
        c = cell_clicks[i]
        skipped = cell_skips[i]
        expected[r] += c
        impressions[r] += c + skipped
        if with_loglik:
            clicks_rank[r] += c
            clicks_doc[d] += c
        if skipped > 0.0:
            t = theta[r]
            a = alpha[d]
            q = 1.0 - t * a
            if q > 0.0:
                expected[r] += skipped * t * (1.0 - a) / q
                if with_loglik:
                    loglik += skipped * np.log(q)
            else:
                expected[r] += skipped  # p = 1 with a non-click: impossible, likelihood -inf
                loglik = -np.inf
    for r in range(n_ranks):
        out_theta[r] = expected[r] / impressions[r] if impressions[r] > 0.0 else theta[r]
    if not with_loglik:
        return 0.0
    for r in range(n_ranks):
        if clicks_rank[r] > 0.0:
            loglik += clicks_rank[r] * np.log(theta[r]) if theta[r] > 0.0 else -np.inf
    for d in range(n_docs):
        if clicks_doc[d] > 0.0:
            loglik += clicks_doc[d] * np.log(alpha[d]) if alpha[d] > 0.0 else -np.inf
    return loglik


@njit(cache=True)
def pbm_profile_alpha(doc_ptr, cell_rank, cell_skips, doc_clicks, theta, alpha):
    """Maximise the likelihood over every alpha_d in [0, 1] given theta in [0, 1), in place.

    Each document's log-likelihood is concave in alpha; its derivative
    g(a) = C / a - sum s t / (1 - t a) decreases, so its root is found by
    Newton's method inside a bracket, from the current ``alpha`` (a warm
    start: one or two steps once the outer iteration settles).  A Newton step
    that leaves the bracket is replaced by the Newton step from the bracket's
    right end (g is concave near the pole at 1 / t, so that step cannot
    overshoot the root), and failing that by bisection.  A document never
    clicked gets 0; one whose derivative is still positive at 1 gets 1.
    """
    for d in range(doc_ptr.size - 1):
        lo = doc_ptr[d]
        hi = doc_ptr[d + 1]
        clicks = doc_clicks[d]
        if clicks == 0.0:
            alpha[d] = 0.0
            continue
        left = 0.0
        right = 1.0
        g_right = -np.inf  # derivative at ``right`` once evaluated there
        h_right = -np.inf
        a = alpha[d]
        if not (0.0 < a < 1.0):
            a = 0.5
        at_bound = False
        for _ in range(200):
            g = clicks / a
            h = -clicks / (a * a)
            for i in range(lo, hi):
                skipped = cell_skips[i]
                if skipped > 0.0:
                    t = theta[cell_rank[i]]
                    ratio = t / (1.0 - t * a)
                    g -= skipped * ratio
                    h -= skipped * ratio * ratio
            if g == 0.0:
                break
            if g > 0.0:
                left = a
            else:
                right = a
                g_right = g
                h_right = h
            new = a - g / h
            if abs(new - a) <= 1e-11 * a and new < 1.0:
                a = new
                break
            if new >= 1.0 and g > 0.0:
                # The root may lie at or beyond the bound: test the bound itself.
                g_bound = clicks
                for i in range(lo, hi):
                    skipped = cell_skips[i]
                    if skipped > 0.0:
                        t = theta[cell_rank[i]]
                        g_bound -= skipped * t / (1.0 - t)
                if g_bound >= 0.0:
                    at_bound = True
                    break
            if not (left < new < right) and np.isfinite(g_right):
                new = right - g_right / h_right
            if not (left < new < right):
                new = 0.5 * (left + right)
            a = new
        alpha[d] = 1.0 if at_bound else a


@njit(cache=True)
def _profile_map(doc_ptr, cell_doc, cell_rank, cell_clicks, cell_skips, doc_clicks, theta, alpha, out_theta,
                 with_loglik):
    """G(theta): alpha <- argmax given theta (in place), then the EM update of theta.

    Returns the profile log-likelihood of the input theta when ``with_loglik``.
    """
    pbm_profile_alpha(doc_ptr, cell_rank, cell_skips, doc_clicks, theta, alpha)
    return pbm_theta_step(cell_doc, cell_rank, cell_clicks, cell_skips, theta, alpha, out_theta, with_loglik)


@njit(cache=True)
def _max_normalised_change(old, new):
    change = 0.0
    for r in range(old.size):
        change = max(change, abs(new[r] / new[0] - old[r] / old[0]))
    return change


@njit(cache=True)
def pbm_em_fit(doc_ptr, cell_doc, cell_rank, cell_clicks, cell_skips, theta, alpha, max_iter, tol):
    """Maximum likelihood of the PBM by ECME accelerated with SQUAREM; updates theta, alpha in place.

    ECME (Liu and Rubin 1994): theta gets the EM update (E-step, closed-form
    M-step) while every alpha_d is set to its exact conditional maximiser,
    which turns the iteration into a fixed-point map G on the k values of
    theta.  SQUAREM (scheme S3 of Varadhan and Roland 2008) accelerates G:
    x1 = G(x0), x2 = G(x1), x' = x0 + 2 s r + s^2 v with r = x1 - x0,
    v = x2 - 2 x1 + x0 and s = |r| / |v|, clipped into (0, 1); then
    x3 = G(x').  x3 is kept if the profile likelihood at x' is at least that
    at x1, else x2, so the profile likelihood never decreases.  Stops when
    theta / theta[0] moves by less than ``tol`` in a cycle.  ``theta`` must
    start inside (0, 1).

    Returns
    -------
    n_maps : int
        Number of evaluations of G (each: one alpha profile and one EM pass).
    converged : bool
    """
    n_ranks = theta.size
    n_docs = alpha.size
    doc_clicks = np.zeros(n_docs)
    for i in range(cell_doc.size):
        doc_clicks[cell_doc[i]] += cell_clicks[i]
    t1 = np.empty(n_ranks)
    t2 = np.empty(n_ranks)
    te = np.empty(n_ranks)
    t3 = np.empty(n_ranks)
    n_maps = 0
    converged = False
    while n_maps < max_iter:
        _profile_map(doc_ptr, cell_doc, cell_rank, cell_clicks, cell_skips, doc_clicks, theta, alpha, t1, False)
        loglik_1 = _profile_map(doc_ptr, cell_doc, cell_rank, cell_clicks, cell_skips, doc_clicks, t1, alpha, t2,
                                True)
        n_maps += 2
        r2 = 0.0
        v2 = 0.0
        for j in range(n_ranks):
            r = t1[j] - theta[j]
            v = t2[j] - 2.0 * t1[j] + theta[j]
            r2 += r * r
            v2 += v * v
        s = np.sqrt(r2 / v2) if v2 > 0.0 else 1.0
        accepted = False
        if s > 1.0:
            for j in range(n_ranks):
                r = t1[j] - theta[j]
                v = t2[j] - 2.0 * t1[j] + theta[j]
                te[j] = min(max(theta[j] + 2.0 * s * r + s * s * v, _EPS), 1.0 - _EPS)
            loglik_e = _profile_map(doc_ptr, cell_doc, cell_rank, cell_clicks, cell_skips, doc_clicks, te, alpha,
                                    t3, True)
            n_maps += 1
            accepted = loglik_e >= loglik_1
        new = t3 if accepted else t2
        change = _max_normalised_change(theta, new)
        for j in range(n_ranks):
            theta[j] = min(new[j], 1.0 - _EPS)
        if change < tol:
            converged = True
            break
    pbm_profile_alpha(doc_ptr, cell_rank, cell_skips, doc_clicks, theta, alpha)
    return n_maps, converged
