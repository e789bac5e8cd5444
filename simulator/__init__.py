"""Environment of clickloop: ranking datasets and click models.

The environment knows nothing about learners: it turns displayed rankings into
clicks and the true examination probabilities behind them.
"""

from ._config import PRESETS, VARIANTS, ConfigError, ExperimentConfig, config_from_dict, config_to_dict, config_to_toml, load_config, preset
from ._click_models import (
    CLICK_MODEL_PRESETS,
    DBN,
    DCM,
    EYE_TRACKING_THETA,
    PBM,
    UBM,
    ULTRA_UBM_GAMMA,
    CascadeModel,
    ClickModel,
    ClickSimulation,
    TrustBias,
    click_model,
)
from ._dataset import RankingDataset
from ._grade_mapping import RELEVANCE_MAPPINGS, GradeMapping, relevance_mapping
from ._letor import LetorFormatError, load_letor, save_letor
from ._loop import LoopEnvironment, RoundRecord, Variant, engagement_features, run_loop
from ._rng import derive_key
from ._sessions import QueryDistribution, SessionRun, simulate_sessions
from ._statistics import ClickStatistics, aggregate_clicks
from ._sweep import GridPoint, SweepSpec, expand, format_value, read_sweep, sweep_from_dict
from ._executors import DaskBackend, ExecutorError, ProcessBackend, SerialBackend, TaskOutcome, execute
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
    "PRESETS",
    "VARIANTS",
    "ConfigError",
    "ExperimentConfig",
    "LoopEnvironment",
    "RoundRecord",
    "Variant",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "engagement_features",
    "load_config",
    "preset",
    "run_loop",
    "CLICK_LOG_SCHEMA_VERSION",
    "ClickLog",
    "ClickLogError",
    "ClickLogWriter",
    "aggregate_click_log",
    "iter_click_log",
    "load_click_log",
    "save_click_log",
    "CLICK_MODEL_PRESETS",
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
    "relevance_mapping",
    "save_letor",
    "simulate_sessions",
    "GridPoint",
    "SweepSpec",
    "expand",
    "format_value",
    "read_sweep",
    "sweep_from_dict",
    "DaskBackend",
    "ExecutorError",
    "ProcessBackend",
    "SerialBackend",
    "TaskOutcome",
    "execute",
]
