"""Learning to rank from clicks: learners and propensity estimators.

``ltr`` reads the environment's log format (:mod:`simulator` click statistics)
and knows nothing about logging policies or the feedback loop.
"""

from ._examination import (ASSUMED_CLICK_MODELS, assumed_examination, assumed_statistics, estimate_dcm_lambda,
                           estimate_sdbn_satisfaction)
from ._learners import DR, IPS, PROPENSITIES, Naive, served_candidates, shown_documents
from ._ope import (
    OPE_ESTIMATORS,
    OPEEstimate,
    cascade_dr_estimate,
    dcg_discount,
    dr_estimate,
    estimate_difference,
    estimate_value,
    exact_query_values,
    exact_attractiveness,
    exact_value,
    ips_estimate,
    logging_prefix_probabilities,
    naive_estimate,
    policy_aware_estimate,
)
from ._references import FullInformation, LGBMPosition
from ._tower import PositionTower
from ._pl_rank import LambdaMARTClicks, PLRank, click_relevance
from ._propensity import (
    NotIdentifiedError,
    PropensityEstimate,
    estimate_harvesting,
    estimate_pbm_em,
    estimate_ratio,
)
from ._relevance_model import LOSSES, BinnedFeatures, RelevanceModel
from ._stacked import StackedFeatures

__all__ = [
    "ASSUMED_CLICK_MODELS",
    "DR",
    "PROPENSITIES",
    "assumed_examination",
    "assumed_statistics",
    "estimate_dcm_lambda",
    "estimate_sdbn_satisfaction",
    "served_candidates",
    "BinnedFeatures",
    "IPS",
    "LOSSES",
    "FullInformation",
    "LGBMPosition",
    "LambdaMARTClicks",
    "Naive",
    "NotIdentifiedError",
    "PLRank",
    "PositionTower",
    "PropensityEstimate",
    "RelevanceModel",
    "StackedFeatures",
    "click_relevance",
    "estimate_harvesting",
    "estimate_pbm_em",
    "estimate_ratio",
    "shown_documents",
    "OPE_ESTIMATORS",
    "OPEEstimate",
    "cascade_dr_estimate",
    "dcg_discount",
    "dr_estimate",
    "estimate_difference",
    "estimate_value",
    "exact_query_values",
    "exact_attractiveness",
    "exact_value",
    "ips_estimate",
    "logging_prefix_probabilities",
    "naive_estimate",
    "policy_aware_estimate",
]
