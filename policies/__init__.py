"""Logging policies of clickloop: which ranking each session shows.

A policy is built from any scorer (a callable ``scorer(features) -> scores``
or an object with ``.predict(features)``), bound once to a dataset's features
and query boundaries, and then samples rankings for batches of sessions and
gives the exact (or Monte Carlo) probability of every document at every rank,
from which the policy-aware propensity follows.  The session simulator calls a
bound policy by duck typing: ``bind``, ``rank``, ``placement_probabilities``
and ``propensity``.
"""

from ._interventions import RandPair, RandTopN, ReplaceLast, SwapToRandomRank
from ._policies import (
    DEFAULT_N_SAMPLES,
    BoundPolicy,
    Deterministic,
    EpsilonGreedy,
    LoggingPolicy,
    PlackettLuce,
    UniformRandom,
)

__all__ = [
    "DEFAULT_N_SAMPLES",
    "BoundPolicy",
    "Deterministic",
    "EpsilonGreedy",
    "LoggingPolicy",
    "PlackettLuce",
    "RandPair",
    "RandTopN",
    "ReplaceLast",
    "SwapToRandomRank",
    "UniformRandom",
]
