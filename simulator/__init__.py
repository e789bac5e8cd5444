"""Environment of clickloop: ranking datasets, click models, sessions, click statistics and logs.

The environment knows nothing about learners or the feedback loop: it turns
displayed rankings into clicks and the true examination probabilities behind
them.  Two small public modules serve the other packages: :mod:`simulator.kernels`
(the counter-based random numbers and the affine click draw, for fused
kernels) and :mod:`simulator.validation` (the argument checks every package
shares); :mod:`simulator.atomic` writes files atomically.
"""

from ._click_models import (
    CLICK_MODELS,
    CLICK_MODEL_PRESETS,
    DBN,
    DCM,
    EYE_TRACKING_THETA,
    PBM,
    UBM,
    ULTRA_UBM_GAMMA,
    CascadeModel,
    ClickModel,
    ClickModelSpec,
    ClickSimulation,
    TrustBias,
    click_model,
    pbm_theta,
)
from ._dataset import RankingDataset
from ._errors import LetorFormatError
from ._grade_mapping import RELEVANCE_MAPPINGS, GradeMapping, relevance_mapping
from ._letor import load_letor, save_letor
from ._rng import derive_key
from ._sessions import QueryDistribution, SessionRun, simulate_sessions
from ._statistics import ClickStatistics, aggregate_clicks
from ._synthetic import make_synthetic

# The click log needs pyarrow (0.1 s to import): loaded on first use.
_CLICK_LOG_NAMES = (
    "CLICK_LOG_SCHEMA_VERSION",
    "ClickLog",
    "ClickLogError",
    "ClickLogWriter",
    "aggregate_click_log",
    "iter_click_log",
    "load_click_log",
    "save_click_log",
)


def __getattr__(name):
    if name in _CLICK_LOG_NAMES:
        from . import _click_log

        return getattr(_click_log, name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


__all__ = [
    "CLICK_LOG_SCHEMA_VERSION",
    "ClickLog",
    "ClickLogError",
    "ClickLogWriter",
    "aggregate_click_log",
    "iter_click_log",
    "load_click_log",
    "save_click_log",
    "CLICK_MODELS",
    "CLICK_MODEL_PRESETS",
    "ClickModelSpec",
    "DBN",
    "DCM",
    "EYE_TRACKING_THETA",
    "PBM",
    "RELEVANCE_MAPPINGS",
    "UBM",
    "ULTRA_UBM_GAMMA",
    "CascadeModel",
    "ClickModel",
    "ClickSimulation",
    "ClickStatistics",
    "LetorFormatError",
    "QueryDistribution",
    "RankingDataset",
    "SessionRun",
    "GradeMapping",
    "TrustBias",
    "aggregate_clicks",
    "click_model",
    "derive_key",
    "load_letor",
    "make_synthetic",
    "pbm_theta",
    "relevance_mapping",
    "save_letor",
    "simulate_sessions",
]
