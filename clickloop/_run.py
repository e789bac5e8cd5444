"""A whole run: every (seed, variant) task of one configuration, and its outputs.

``OUT/config.toml`` (the resolved configuration), ``OUT/metrics.csv``,
``OUT/propensity.csv``, ``OUT/summary.md`` and ``OUT/plots/``; the
checkpoints under ``OUT/.state/`` and the click logs a user asked for under
``OUT/logs/``.
"""

import shutil
import tomllib
from pathlib import Path

from simulator.atomic import atomic_write_text

from ._checkpoints import STATE, task_dir
from ._config import config_from_dict, config_to_toml
from ._executors import ProcessBackend, SerialBackend, execute
from ._progress import RoundProgress
from ._tasks import LOGS, run_task

__all__ = ["TaskFailures", "UsageError", "load_config_text", "run_experiment", "write_outputs"]


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


class TaskFailures(RuntimeError):
    """Some (seed, variant) tasks of a run raised: one line on stderr, exit code 1, no merged outputs."""


def load_config_text(text):
    """A config read back from its TOML text (for comparing resolved configs)."""
    return config_from_dict(tomllib.loads(text))


def run_experiment(config, out, *, jobs=1, resume=False, quiet=False):
    """Run every (seed, variant) task of ``config`` and write the outputs into ``out``.

    The tasks run through :func:`clickloop.execute` (in this process, or in
    ``jobs`` worker processes).  A task that raises does not stop the others;
    if any failed, :class:`TaskFailures` is raised after the rest finished and
    no merged output is written.

    Returns
    -------
    list of tuple
        The metric rows, as written to ``metrics.csv``.
    """
    out = Path(out)
    resolved = config_to_toml(config)
    state = out / STATE
    if resume and (out / "config.toml").exists():
        previous = (out / "config.toml").read_text()
        if load_config_text(previous) != load_config_text(resolved):
            raise UsageError(f"--resume: {out}/config.toml differs from this configuration; "
                             "use the same configuration or another --out")
    else:  # a fresh run: earlier checkpoints and logs would be of another configuration
        for old in (state, out / LOGS):
            if old.exists():
                shutil.rmtree(old)
    atomic_write_text(out / "config.toml", resolved)
    tasks = [(seed, name) for seed in range(config.seeds) for name in config.loop.variants]
    folders = [task_dir(out, seed, name) for seed, name in tasks]
    with RoundProgress(folders, config.loop.rounds + 1, not quiet) as progress:
        def done(outcome):
            if not outcome.ok:
                seed, name = tasks[outcome.index]
                progress.write(f"clickloop: task failed: seed {seed}, variant {name}: {outcome.error}")

        backend = ProcessBackend(jobs) if jobs > 1 else SerialBackend()
        outcomes = execute(run_task, [(config, seed, name, out) for seed, name in tasks], backend, on_done=done)
    n_failed = sum(not outcome.ok for outcome in outcomes)
    if n_failed:  # no metrics.csv of a part of the tasks; the finished ones are checkpointed
        raise TaskFailures(f"{n_failed} of {len(tasks)} tasks failed (see above); the finished ones are "
                           "checkpointed: run the same command with --resume to retry")
    metric_rows = [row for outcome in outcomes for row in outcome.value[0]]
    propensity_rows = [row for outcome in outcomes for row in outcome.value[1]]
    write_outputs(out, metric_rows, propensity_rows)
    return metric_rows


def write_outputs(out, metric_rows, propensity_rows):
    """metrics.csv, propensity.csv, summary.md and plots/ of a finished run (each written atomically)."""
    from analysis import replot, write_metrics, write_propensity

    write_metrics(Path(out) / "metrics.csv", metric_rows)
    write_propensity(Path(out) / "propensity.csv", propensity_rows)
    return replot(out)
