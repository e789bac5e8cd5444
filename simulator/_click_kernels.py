"""Numba kernels of the click models.

Pure functions over arrays and scalars: no validation, no objects.  Every
kernel simulates ``n_sessions`` sessions in parallel blocks and writes into the
caller's ``clicks`` and ``examination`` arrays.  Randomness comes from
:mod:`simulator._rng`: draw ``c`` of session ``s`` is a hash of ``(key, s, c)``,
so the output is independent of the block size and of the thread count.

Conventions shared by all kernels
---------------------------------
displayed : int array (n_sessions, k)
    Row index (into the per-document arrays) of the document shown at each
    rank; a negative entry is an empty slot (fewer candidates than k): it is
    never clicked, its examination is 0, and it does not change the state of a
    cascade user.
first_session : int
    Global index of the first row, so that consecutive blocks of one run draw
    fresh numbers.
marginal : bool
    False: ``examination[s, r]`` is P(E_r = 1 | shown documents, clicks above
    r), the probability given what the user did above (what a cascade-aware
    estimator can compute from a log).  True: P(E_r = 1 | shown documents),
    averaged over the clicks above.  For PBM and trust bias both are theta_r.

Counters: draw ``2 r`` decides the click at rank r, draw ``2 r + 1`` whether a
cascade user continues after rank r.
"""

import numpy as np
from numba import njit, prange

from ._rng import session_key, uniform

BLOCK = 2048


@njit(cache=True, inline="always")
def affine_click(skey, r, theta, eps_minus, eps_slope, relevance_d):
    """Click at rank r of the affine model, P = theta_r * (eps_minus_r + eps_slope_r * R_d) (draw 2 r)."""
    return uniform(skey, 2 * r) < theta[r] * (eps_minus[r] + eps_slope[r] * relevance_d)


@njit(cache=True, parallel=True)
def affine_clicks(displayed, first_session, key, theta, eps_minus, eps_slope,
                  relevance, clicks, examination):
    """PBM and trust bias: P(C_r) = theta_r * (eps_minus_r + eps_slope_r * R_d)."""
    n_sessions, k = displayed.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            skey = session_key(key, first_session + s)
            for r in range(k):
                d = displayed[s, r]
                if d < 0:
                    clicks[s, r] = False
                    examination[s, r] = 0.0
                    continue
                clicks[s, r] = affine_click(skey, r, theta, eps_minus, eps_slope, relevance[d])
                examination[s, r] = theta[r]


@njit(cache=True, parallel=True)
def cascade_clicks(displayed, first_session, key, attractiveness,
                   continue_after_click, continue_after_skip, marginal,
                   clicks, examination):
    """Cascade family (CM, DCM, DBN, SDBN).

    The user examines rank 1, clicks an examined document d with probability
    ``attractiveness[d]``, and then examines the next rank with probability
    ``continue_after_click[d]`` after a click and ``continue_after_skip``
    otherwise.  CM: (0, 1); DCM: (1 - stop(y), 1); DBN: ((1 - sigma_d) gamma,
    gamma).
    """
    n_sessions, k = displayed.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        for s in range(b * BLOCK, stop):
            skey = session_key(key, first_session + s)
            examined = True       # latent state of the simulated user
            p_cond = 1.0          # P(E_r | clicks above r)
            p_marg = 1.0          # P(E_r)
            for r in range(k):
                d = displayed[s, r]
                if d < 0:
                    clicks[s, r] = False
                    examination[s, r] = 0.0
                    continue
                a = attractiveness[d]
                examination[s, r] = p_marg if marginal else p_cond
                click = False
                if examined:
                    click = uniform(skey, 2 * r) < a
                    if click:
                        examined = uniform(skey, 2 * r + 1) < continue_after_click[d]
                    else:
                        examined = uniform(skey, 2 * r + 1) < continue_after_skip
                clicks[s, r] = click
                # Forward filtering of P(E | clicks above) and the marginal.
                if click:
                    p_cond = continue_after_click[d]
                else:
                    denom = 1.0 - p_cond * a
                    posterior = p_cond * (1.0 - a) / denom if denom > 0.0 else 0.0
                    p_cond = posterior * continue_after_skip
                p_marg = p_marg * (a * continue_after_click[d] + (1.0 - a) * continue_after_skip)


@njit(cache=True, parallel=True)
def ubm_clicks(displayed, first_session, key, gamma, attractiveness, marginal,
               clicks, examination):
    """UBM: P(E_r) = gamma[r, r - last - 1], last the 0-based rank of the last click above (-1 if none)."""
    n_sessions, k = displayed.shape
    n_blocks = (n_sessions + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        stop = min(n_sessions, (b + 1) * BLOCK)
        # state[j + 1] = P(last click above the current rank is at j), j = -1..k-1
        state = np.zeros(k + 1)
        for s in range(b * BLOCK, stop):
            skey = session_key(key, first_session + s)
            last = -1
            if marginal:
                state[:] = 0.0
                state[0] = 1.0
            for r in range(k):
                d = displayed[s, r]
                if d < 0:
                    clicks[s, r] = False
                    examination[s, r] = 0.0
                    continue
                a = attractiveness[d]
                e = gamma[r, r - last - 1]
                click = uniform(skey, 2 * r) < e * a
                clicks[s, r] = click
                if click:
                    last = r
                if marginal:
                    e_marg = 0.0
                    for j in range(-1, r):
                        g = gamma[r, r - j - 1] * state[j + 1]
                        e_marg += g
                        state[j + 1] -= g * a
                    state[r + 1] = e_marg * a
                    examination[s, r] = e_marg
                else:
                    examination[s, r] = e


# --------------------------------------------------------------------------
# Fused paths of the session simulator (fixed lists x affine clicks)
# --------------------------------------------------------------------------

@njit(cache=True)
def affine_probability_table(table, theta, eps_minus, eps_slope, relevance, out):
    """out[l, r] = the affine click probability of list l at rank r (-1: empty slot, never clicked).

    The same expression as :func:`affine_click`, so ``uniform < out[l, r]``
    is the click decision of :func:`affine_clicks` bit for bit.
    """
    n_lists, k = table.shape
    for l in range(n_lists):
        for r in range(k):
            d = table[l, r]
            out[l, r] = theta[r] * (eps_minus[r] + eps_slope[r] * relevance[d]) if d >= 0 else -1.0


@njit(cache=True, parallel=True)
def fixed_list_affine_counts(queries, first_session, key, probability, sessions, clicks):
    """Click sessions that show fixed lists (affine model) and count per (list, rank).

    Session s shows list ``queries[s]`` and clicks rank r when draw ``2 r`` of
    its key is below ``probability[queries[s], r]`` (as :func:`affine_clicks`).
    Chunk c of the sessions adds to ``sessions[c, l]`` and ``clicks[c, l, r]``
    (int32 partial counts; the caller sums them over c): integer counts, so
    the sum is the same for any number of chunks or threads.
    """
    n = queries.size
    n_chunks = sessions.shape[0]
    k = probability.shape[1]
    per = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for s in range(c * per, min(n, (c + 1) * per)):
            q = queries[s]
            skey = session_key(key, first_session + s)
            sessions[c, q] += 1
            for r in range(k):
                clicks[c, q, r] += uniform(skey, 2 * r) < probability[q, r]
