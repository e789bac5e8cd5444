"""Plain-Python reference implementations the kernels are compared with.

Nothing here is fast or clever: each click model is written as its generative
story (latent examination, click, continuation) and the exact joint
distribution of click patterns is obtained by enumerating the latent paths,
merging paths that agree on (clicks so far, latent state).
"""

from collections import defaultdict

import numpy as np


def _pbm_steps(theta, click_given_exam):
    """Independent ranks: examined with theta_r, click with click_given_exam[r]."""
    def step(state, r):
        t, q = theta[r], click_given_exam[r]
        return [(t * q, True, True, state), (t * (1 - q), True, False, state), (1 - t, False, False, state)]
    return None, step


def _cascade_steps(attract, after_click, after_skip):
    """state = whether the user examines the current rank."""
    def step(examining, r):
        if not examining:
            return [(1.0, False, False, False)]
        a, cc = attract[r], after_click[r]
        return [
            (a * cc, True, True, True), (a * (1 - cc), True, True, False),
            ((1 - a) * after_skip, True, False, True), ((1 - a) * (1 - after_skip), True, False, False),
        ]
    return True, step


def _ubm_steps(gamma, attract):
    """state = 0-based rank of the last click above (-1 if none); gamma[r][dist-1]."""
    def step(last, r):
        g, a = gamma[r][r - last - 1], attract[r]
        return [(g * a, True, True, r), (g * (1 - a), True, False, last), (1 - g, False, False, last)]
    return -1, step


def exact_click_distribution(kind, k, **params):
    """Exact distribution of a click model on one displayed list of k documents.

    Parameters
    ----------
    kind : {"pbm", "cascade", "ubm"}
        ``pbm`` takes ``theta`` and ``click_given_exam`` (per rank, already
        combining the document and, for trust bias, the rank); ``cascade``
        takes ``attract``, ``after_click`` (per rank) and ``after_skip``;
        ``ubm`` takes ``gamma`` (rows of the lower triangle) and ``attract``.

    Returns
    -------
    dict with
        ``pattern_prob``: ndarray (2**k,), probability of each click pattern,
        pattern code = sum_r click_r 2**r;
        ``ctr``: ndarray (k,), P(C_r = 1);
        ``exam_marginal``: ndarray (k,), P(E_r = 1);
        ``exam_conditional``: ndarray (k, 2**k), P(E_r = 1 | clicks above r),
        indexed by the code of the clicks above r (nan where impossible).
    """
    init, step = {"pbm": _pbm_steps, "cascade": _cascade_steps, "ubm": _ubm_steps}[kind](**params)
    dist = {(0, init): 1.0}
    ctr = np.zeros(k)
    exam_marginal = np.zeros(k)
    exam_conditional = np.full((k, 2**k), np.nan)
    for r in range(k):
        new = defaultdict(float)
        joint_exam = defaultdict(float)
        prefix_prob = defaultdict(float)
        for (code, state), p in dist.items():
            prefix_prob[code] += p
            for q, examined, click, next_state in step(state, r):
                if q == 0.0:
                    continue
                if examined:
                    joint_exam[code] += p * q
                    exam_marginal[r] += p * q
                if click:
                    ctr[r] += p * q
                new[(code | (int(click) << r), next_state)] += p * q
        for code, p in prefix_prob.items():
            if p > 0:
                exam_conditional[r, code] = joint_exam[code] / p
        dist = new
    pattern_prob = np.zeros(2**k)
    for (code, _), p in dist.items():
        pattern_prob[code] += p
    return {
        "pattern_prob": pattern_prob,
        "ctr": ctr,
        "exam_marginal": exam_marginal,
        "exam_conditional": exam_conditional,
    }
