"""Deployment gates: a retrained ranker is deployed only if the logs say it is better.

A ranking team estimates, from the logs it has, whether a retrained ranker
beats the one in production, and keeps the old one when it cannot show that.
:class:`OPEGate` does this inside the loop: it estimates the expected clicks
per session of the candidate's and of the current ranker's top-k lists from
the variant's own history of sessions (an off-policy estimator of
:mod:`ltr._ope`), pairs them session by session, and deploys the candidate
only if the lower bound of the improvement's confidence interval is above 0.
A naive variant estimates naively (clicks as observed), so its gate carries
the same position bias as its learner; a debiased variant uses the
configured estimator with its own propensities.

The simulator knows the truth, so every decision is also graded: the exact
improvement in expected clicks per session under the true click model
(:func:`ltr.exact_value`), computed without sampling.

Lists are the deterministic top k of each ranker's scores on the served
queries (the gate judges rankers by their deterministic lists, also for a
stochastic serving policy).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Decision", "OPEGate", "ideal_dcg_weights"]


@dataclass(frozen=True)
class Decision:
    """What a gate decided about a candidate ranker.

    Attributes
    ----------
    deployed : bool
    estimated_improvement : float
        The estimate of V(candidate) - V(current), expected clicks per session.
    lower : float
        Lower bound of its confidence interval (deployed iff > 0).
    exact_improvement : float
        The same difference under the true click model, exact.
    exact_ndcg_improvement : float
        The change in mean NDCG@k of the lists over the served queries, on
        the true labels: what the loop reports, against which any objective
        of the gate can be checked.
    """

    deployed: bool
    estimated_improvement: float
    lower: float
    exact_improvement: float
    exact_ndcg_improvement: float = float("nan")


def top_lists(scores, query_boundaries, k):
    """Each query's top-k rows by score (ties: lower row first), -1 padded: ndarray (n_queries, k)."""
    from policies import Deterministic

    bound = Deterministic(lambda X, s=np.asarray(scores, dtype=np.float64): s, k).bind(
        np.zeros((len(scores), 1), dtype=np.float32), query_boundaries)
    return np.asarray(bound.fixed_lists(), dtype=np.int64)


def logging_placement(statistics, query_boundaries):
    """P(document at rank r) of the history's mixture of serving policies, ndarray (n_docs, k).

    From the statistics' expected placements (summed over sessions) divided
    by the sessions of each document's query.
    """
    expected = statistics.expected_impressions
    if expected is None:
        raise ValueError("the gate needs the history's expected placements (simulate_sessions(placement=True))")
    sizes = np.diff(query_boundaries)
    # every session of a query places rank 1 once: its documents' expected rank-1 placements sum to its sessions
    sessions = np.add.reduceat(expected[:, 0], query_boundaries[:-1])
    per_doc = np.repeat(sessions, sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(per_doc[:, None] > 0, expected / np.maximum(per_doc[:, None], 1e-300), 0.0)


@dataclass(frozen=True)
class OPEGate:
    """Deploy a candidate only if the estimated improvement's lower confidence bound is positive.

    Parameters
    ----------
    estimator : {"naive", "ips", "policy_aware", "dr"}
        Off-policy estimator of expected clicks per session (:data:`ltr.OPE_ESTIMATORS`).
    confidence : float
        Level of the two-sided interval whose lower bound decides.
    holdout : float, default=0.0
        Share of each round's sessions kept out of the variant's training and
        used by the gate alone.  With 0 the gate estimates on the sessions
        its candidate was fitted to, and rewards the clicks the candidate
        learned by heart (it overestimates the improvement: the winner's curse).
    explore : float, default=0.0
        Epsilon of the held-out sessions: served epsilon-greedy around the
        current ranking, so that documents the current ranker never shows
        have a placement probability (support) in the gate's log.
    objective : {"clicks", "dcg", "ndcg"}, default="clicks"
        What "better" means: expected clicks per session (the target's ranks
        weighted by theta), or the DCG of the attractiveness (weighted by
        1 / log2(r + 1), as NDCG weighs them).  Under theta_r = 1/r more clicks
        can come with a lower NDCG: one better document at rank 1 outweighs
        worse ones below it.  ``"ndcg"``: the DCG of each query divided by the
        estimated range between its ideal and its worst DCG
        (:func:`ideal_dcg_weights`), as NDCG divides it.  The DCG sums over
        queries, so a ranker can gain it on queries with many relevant
        documents while it loses more NDCG on queries with few.
    theta : {"learner", "em"}, default="learner"
        Examination the gate assumes for a variant whose learner estimates its
        own (the tower's ``theta_``): that estimate, or the PBM maximum
        likelihood (:func:`ltr.estimate_pbm_em`) on the gate's held-out
        sessions, identified where they explore (the learner's value at ranks
        they leave unidentified).  Variants without their own theta are
        unaffected.
    direct_model : {"log", "history"}, default="log"
        The doubly robust estimator's direct model (other estimators have
        none): ``"log"``, cross-fitted on the gate's sessions and taken at
        each session's query; ``"history"``, the same with the clicks of the
        variant's training history added (sessions the gate does not judge
        on), and its term averaged exactly over the served queries (the loop
        draws them uniformly), so that only the residuals vary from session
        to session.
    test : {"explore", "split"}, default="explore"
        How the loop serves the held-out sessions (with ``holdout`` > 0):
        ``"explore"``, before the candidate is fitted, epsilon-greedy around
        the current ranking (a pure off-policy test: the candidate's new
        documents have only the exploration's support); ``"split"``, after
        it is fitted, half around the current ranking and half around the
        candidate's (an A/B split judged by the same estimator on the
        mixture: both lists have support).
    reuse : bool, default=False
        Whether the held-out sessions of a round join the variant's
        training history once the gate has judged on them (the next gate
        judges only on sessions drawn after its candidate's data).  Without
        it a gated variant trains on ``1 - holdout`` of the sessions and its
        gate judges on every held-out round of its window.
    """

    estimator: str
    confidence: float
    holdout: float = 0.0
    explore: float = 0.0
    objective: str = "clicks"
    theta: str = "learner"
    direct_model: str = "log"
    test: str = "explore"
    reuse: bool = False

    def decide(self, dataset, click_model, log, placement, theta, current_lists, candidate_lists, reference=None):
        """A :class:`Decision` on the candidate's lists against the current ranker's.

        Parameters
        ----------
        dataset : RankingDataset
            The served queries (for the exact values).
        click_model : ClickModel
            The true users (for the exact improvement only).
        log : ClickLog
            The variant's history of sessions.
        placement : ndarray of shape (n_docs, k)
            The history's logging placement (:func:`logging_placement`).
        theta : ndarray of shape (k,)
            The examination per rank the variant assumes.
        current_lists, candidate_lists : ndarray of shape (n_queries, k)
        reference : ClickStatistics, optional
            Clicks from which ``"ndcg"`` estimates each query's ideal DCG
            (the variant's training history; default: ``log``'s own).
        """
        from analysis import ndcg_of_lists
        from ltr import dcg_discount, estimate_difference, estimate_value, exact_value

        k = np.asarray(current_lists).shape[1]
        weights = dcg_discount(k) if self.objective in ("dcg", "ndcg") else None
        if reference is None and (self.objective == "ndcg" or self.direct_model == "history"):
            reference = log.aggregate(dataset.n_docs)
        queries = None
        if self.objective == "ndcg":
            naive = self.estimator == "naive"  # a naive gate normalises naively too
            queries = ideal_dcg_weights(reference, dataset.query_boundaries, np.ones(k) if naive else theta, k)
        inputs = {"theta": theta, "logging_placement": placement, "confidence": self.confidence,
                  "target_examination": weights, "query_weights": queries}
        if self.direct_model == "history":  # only the doubly robust estimator has a direct model
            inputs["direct_counts"] = (reference.row_sums("clicks").astype(np.float64),
                                       reference.row_sums("impressions", weights=np.asarray(theta, np.float64)))
            inputs["query_probabilities"] = np.full(dataset.n_queries, 1.0 / dataset.n_queries)
        new = estimate_value(self.estimator, log, candidate_lists, **inputs)
        old = estimate_value(self.estimator, log, current_lists, **inputs)
        difference = estimate_difference(new, old, self.confidence)
        exact = exact_value(dataset, candidate_lists, click_model, queries, target_examination=weights) \
            - exact_value(dataset, current_lists, click_model, queries, target_examination=weights)
        lower = float(difference.lower)
        ndcg_change = float(np.mean(ndcg_of_lists(candidate_lists, dataset.labels, dataset.query_boundaries)
                                    - ndcg_of_lists(current_lists, dataset.labels, dataset.query_boundaries)))
        return Decision(bool(lower > 0), float(difference.value), lower, float(exact), ndcg_change)


def ideal_dcg_weights(statistics, query_boundaries, theta, k, floor=0.1):
    """Per-query weights 1 / (estimated ideal DCG@k - estimated worst DCG@k), scaled to mean 1 over the queries.

    Each shown document's attractiveness is estimated from the clicks as
    clicks / (impressions weighted by theta of their ranks).  A query's ideal
    DCG is the DCG@k of its estimates sorted in decreasing order, its worst
    the DCG@k of its lowest k in increasing order (documents never shown take
    no part).  Attractiveness is affine in the gain 2^y - 1 (noise clicks
    add the same amount to every document), so the DCG of the attractiveness
    minus its worst, over its ideal minus its worst, is NDCG up to the
    estimates (exactly so where the worst list has gain 0); dividing by the
    ideal alone would leave the noise clicks in the normaliser.  The range
    is floored at ``floor`` times its mean over the queries, so that a query
    whose documents drew no click does not take all the weight.  The weights
    are fixed before the estimates they weight.

    Examples
    --------
    >>> from simulator import ClickStatistics
    >>> stats = ClickStatistics(np.array([[10, 0], [0, 10], [10, 0], [0, 10]]),
    ...                         np.array([[8, 0], [0, 2], [1, 0], [0, 1]]), np.zeros((4, 2)), 20)
    >>> ideal_dcg_weights(stats, np.array([0, 2, 4]), np.array([1.0, 0.5]), 2).round(3).tolist()
    [0.4, 1.6]
    """
    from ltr import dcg_discount

    theta = np.asarray(theta, dtype=np.float64)
    exposure = statistics.row_sums("impressions", weights=theta)
    clicks = statistics.row_sums("clicks").astype(np.float64)
    alpha = np.where(exposure > 0, clicks / np.maximum(exposure, 1e-300), np.nan)
    discount = dcg_discount(k)
    n_queries = len(query_boundaries) - 1
    query = np.repeat(np.arange(n_queries), np.diff(query_boundaries))
    shown = np.isfinite(alpha)
    alpha, query = alpha[shown], query[shown]
    first = np.searchsorted(query, np.arange(n_queries))  # query is sorted: its first shown document
    spread = np.zeros(n_queries)
    for sign in (1.0, -1.0):  # the ideal (decreasing) adds, the worst (increasing) subtracts
        order = np.lexsort((-sign * alpha, query))
        rank = np.arange(order.size) - first[query[order]]
        top = rank < k
        np.add.at(spread, query[order][top], sign * alpha[order][top] * discount[rank[top]])
    mean = spread.mean()
    spread = np.maximum(spread, floor * mean) if mean > 0 else np.ones_like(spread)
    weights = 1.0 / spread
    return weights / weights.mean()
