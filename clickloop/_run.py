"""A whole run: every (seed, variant) task of one configuration, and its outputs.

``OUT/config.toml`` (the resolved configuration), ``OUT/metrics.csv``,
``OUT/propensity.csv``, ``OUT/summary.md`` and ``OUT/plots/``; the
checkpoints under ``OUT/.state/``, the click logs a user asked for under
``OUT/logs/``, and the run manifest ``OUT/clickloop-run.json`` that says
which configuration the folder's results are of and whether they are complete
(:class:`clickloop._outdir.OutputFolder`).
"""

import tomllib
from pathlib import Path

from simulator.atomic import atomic_write_text

from ._checkpoints import task_dir
from ._config import config_from_dict, config_to_toml
from ._errors import TaskFailures, UsageError
from ._executors import ProcessBackend, SerialBackend, execute
from ._outdir import LOGS, STATE, OutputFolder
from ._progress import RoundProgress
from ._tasks import run_task

__all__ = ["TaskFailures", "UsageError", "load_config_text", "resolved_table", "run_experiment", "write_outputs"]

#: What a run writes at the top of its folder (and ``logs`` with ``output.save_logs``): a folder without a
#: manifest that holds one of them is refused.
RUN_OUTPUTS = ("config.toml", STATE, "metrics.csv", "propensity.csv", "summary.md", "plots")


def load_config_text(text):
    """A config read back from its TOML text (for comparing resolved configs)."""
    return config_from_dict(tomllib.loads(text))


def resolved_table(text, *, seeds=True):
    """The table of a resolved config.toml, checked to be a valid configuration; without ``seeds`` if False.

    Resolved configurations are compared as these tables, not as the
    configurations they load into: a file written before a key existed lacks
    it, and loading it would fill in the present default, which may not be
    what that run used.
    """
    table = tomllib.loads(text)
    load_config_text(text)
    if not seeds:
        table.pop("seeds", None)
    return table


def _same_config(path, resolved):
    """Whether a folder's config.toml is this configuration (a damaged file is a UsageError)."""
    try:
        return resolved_table(path.read_text(encoding="utf-8")) == resolved_table(resolved)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
        raise UsageError(f"--resume: {path} is not a readable configuration ({type(exc).__name__}); "
                         "run without --resume to start afresh") from None


def run_experiment(config, out, *, jobs=1, resume=False, quiet=False, force=False):
    """Run every (seed, variant) task of ``config`` and write the outputs into ``out``.

    The tasks run through :func:`clickloop.execute` (in this process, or in
    ``jobs`` worker processes).  A task that raises does not stop the others;
    if any failed, :class:`TaskFailures` is raised after the rest finished and
    no merged output is written.  The folder is held for the run (a second
    run on it exits 2), and its manifest is marked complete only once every
    output is written.

    Parameters
    ----------
    config : ExperimentConfig
    out : str or pathlib.Path
    jobs : int, default=1
    resume : bool, default=False
        Continue the run in ``out`` (its configuration must be this one).
    quiet : bool, default=False
    force : bool, default=False
        Write into a non-empty folder that holds no clickloop run (nothing in
        it is deleted or overwritten: a folder that holds a file of the
        run's names, :data:`RUN_OUTPUTS`, is refused).

    Returns
    -------
    list of tuple
        The metric rows, as written to ``metrics.csv``.
    """
    resolved = config_to_toml(config)
    if resume and (Path(out) / "config.toml").is_file() and not _same_config(Path(out) / "config.toml", resolved):
        raise UsageError(f"--resume: {Path(out) / 'config.toml'} differs from this configuration; "
                         "use the same configuration or another --out")
    writes = RUN_OUTPUTS + ((LOGS,) if config.output.save_logs else ())
    with OutputFolder(out, "run", resolved, resume=resume, force=force, writes=writes) as folder:
        out = folder.out
        folder.add("config.toml", STATE, *[f"{LOGS}/seed_{s}" for s in range(config.seeds)
                                           if config.output.save_logs])
        atomic_write_text(out / "config.toml", resolved)
        tasks = [(seed, name) for seed in range(config.seeds) for name in config.loop.variants]
        folders = [task_dir(out, seed, name) for seed, name in tasks]
        with RoundProgress(folders, config.loop.rounds + 1, not quiet) as progress:
            def done(outcome):
                if not outcome.ok:
                    seed, name = tasks[outcome.index]
                    progress.write(f"clickloop: task failed: seed {seed}, variant {name}: {outcome.error}")

            backend = ProcessBackend(jobs) if jobs > 1 else SerialBackend()
            outcomes = execute(run_task, [(config, seed, name, out) for seed, name in tasks], backend,
                               on_done=done)
        n_failed = sum(not outcome.ok for outcome in outcomes)
        if n_failed:  # no metrics.csv of a part of the tasks; the finished ones are checkpointed
            raise TaskFailures(f"{n_failed} of {len(tasks)} tasks failed (see above); the finished ones are "
                               "checkpointed: run the same command with --resume to retry")
        metric_rows = [row for outcome in outcomes for row in outcome.value[0]]
        propensity_rows = [row for outcome in outcomes for row in outcome.value[1]]
        folder.add("metrics.csv", "propensity.csv", "summary.md")
        folder.add(*write_outputs(out, metric_rows, propensity_rows))
        folder.complete()
    return metric_rows


def write_outputs(out, metric_rows, propensity_rows):
    """metrics.csv, propensity.csv, summary.md and plots/ of a finished run (each written atomically).

    Returns
    -------
    list of pathlib.Path
        Every file written.
    """
    from analysis import replot, write_metrics, write_propensity

    written = [write_metrics(Path(out) / "metrics.csv", metric_rows),
               write_propensity(Path(out) / "propensity.csv", propensity_rows)]
    return written + list(replot(out))
