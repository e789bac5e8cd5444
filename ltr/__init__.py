"""Learning to rank from clicks: learners and propensity estimators.

``ltr`` reads the environment's log format (:mod:`simulator` click statistics)
and knows nothing about logging policies or the feedback loop.
"""

from ._learners import IPS, Naive, shown_documents
from ._references import FullInformation, LGBMPosition
from ._tower import PositionTower
from ._pl_rank import LambdaMARTClicks, PLRank, click_relevance
from ._propensity import (
    PropensityEstimate,
    estimate_harvesting,
    estimate_pbm_em,
    estimate_ratio,
)
from ._relevance_model import LOSSES, BinnedFeatures, RelevanceModel

__all__ = [
    "BinnedFeatures",
    "IPS",
    "LOSSES",
    "FullInformation",
    "LGBMPosition",
    "LambdaMARTClicks",
    "Naive",
    "PLRank",
    "PositionTower",
    "PropensityEstimate",
    "RelevanceModel",
    "click_relevance",
    "estimate_harvesting",
    "estimate_pbm_em",
    "estimate_ratio",
    "shown_documents",
]
