"""clickloop's application layer: the feedback loop, its configuration, sweeps, executors and the CLI.

The environment (:mod:`simulator`), the logging policies (:mod:`policies`),
the learners (:mod:`ltr`) and the metrics (:mod:`analysis`) know nothing of
this package; it composes them.  One dependency direction: ``clickloop``
imports those four, none of them imports ``clickloop``.

- :func:`run_loop`, :class:`LoopEnvironment`, :class:`Variant`,
  :class:`RoundRecord`: one variant's loop of serving, clicks and retraining;
- :func:`load_config`, :func:`preset`, :class:`ExperimentConfig`: the TOML
  configuration, its presets and user-named variants (``[variants.NAME]``);
- :func:`run_experiment`, :func:`run_task`: a run's tasks, checkpoints and outputs;
- :func:`read_sweep`, :func:`expand`, :func:`run_sweep`: grids of configurations;
- :func:`execute` with :class:`SerialBackend`, :class:`ProcessBackend`,
  :class:`DaskBackend`: where tasks run;
- :func:`clickloop.cli.main`: the ``clickloop`` command (``python -m clickloop``).
"""

from ._compose import build_click_model, build_datasets, build_variant, policy_factory
from ._config import (
    LEARNER_KINDS,
    PRESETS,
    VARIANTS,
    ConfigError,
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    config_value,
    load_config,
    preset,
    variant_settings,
)
from ._executors import DaskBackend, ExecutorError, ProcessBackend, SerialBackend, TaskOutcome, execute
from ._loop import LoopEnvironment, RoundRecord, Variant, engagement_features, run_loop
from ._run import TaskFailures, UsageError, run_experiment, write_outputs
from ._sweep import GridPoint, SweepSpec, expand, format_value, read_sweep, sweep_from_dict
from ._sweep_run import SweepRun, run_sweep
from ._tasks import run_point_seed, run_task

__all__ = [
    "LEARNER_KINDS",
    "PRESETS",
    "VARIANTS",
    "ConfigError",
    "DaskBackend",
    "ExecutorError",
    "ExperimentConfig",
    "GridPoint",
    "LoopEnvironment",
    "ProcessBackend",
    "RoundRecord",
    "SerialBackend",
    "SweepRun",
    "SweepSpec",
    "TaskFailures",
    "TaskOutcome",
    "UsageError",
    "Variant",
    "build_click_model",
    "build_datasets",
    "build_variant",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "config_value",
    "engagement_features",
    "execute",
    "expand",
    "format_value",
    "load_config",
    "policy_factory",
    "preset",
    "read_sweep",
    "run_experiment",
    "run_loop",
    "run_point_seed",
    "run_sweep",
    "run_task",
    "sweep_from_dict",
    "variant_settings",
    "write_outputs",
]
