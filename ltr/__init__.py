"""Learning to rank from clicks: propensity estimators (learners follow).

``ltr`` reads the environment's log format (:mod:`simulator` click statistics)
and knows nothing about logging policies or the feedback loop.
"""

from ._propensity import (
    PropensityEstimate,
    estimate_harvesting,
    estimate_pbm_em,
    estimate_ratio,
)

__all__ = [
    "PropensityEstimate",
    "estimate_harvesting",
    "estimate_pbm_em",
    "estimate_ratio",
]
