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

__all__ = ["Decision", "OPEGate"]


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
    """

    deployed: bool
    estimated_improvement: float
    lower: float
    exact_improvement: float


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
    objective : {"clicks", "dcg"}, default="clicks"
        What "better" means: expected clicks per session (the target's ranks
        weighted by theta), or the DCG of the attractiveness (weighted by
        1 / log2(r + 1), as NDCG weighs them).  Under theta_r = 1/r more clicks
        can come with a lower NDCG: one better document at rank 1 outweighs
        worse ones below it.
    """

    estimator: str
    confidence: float
    holdout: float = 0.0
    explore: float = 0.0
    objective: str = "clicks"

    def decide(self, dataset, click_model, log, placement, theta, current_lists, candidate_lists):
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
        """
        from ltr import dcg_discount, estimate_difference, estimate_value, exact_value

        weights = dcg_discount(np.asarray(current_lists).shape[1]) if self.objective == "dcg" else None
        inputs = {"theta": theta, "logging_placement": placement, "confidence": self.confidence,
                  "target_examination": weights}
        new = estimate_value(self.estimator, log, candidate_lists, **inputs)
        old = estimate_value(self.estimator, log, current_lists, **inputs)
        difference = estimate_difference(new, old, self.confidence)
        exact = exact_value(dataset, candidate_lists, click_model, target_examination=weights) \
            - exact_value(dataset, current_lists, click_model, target_examination=weights)
        lower = float(difference.lower)
        return Decision(bool(lower > 0), float(difference.value), lower, float(exact))
