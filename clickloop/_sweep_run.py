"""A sweep: every (grid point, seed) task of a sweep file, run on a backend and merged.

Each grid point runs into ``OUT/runs/<point id>/`` (its ``config.toml`` and
checkpoints), so a re-run skips the finished tasks; the merged
``OUT/metrics.csv`` and ``OUT/propensity.csv`` carry the swept keys as their
leading columns; ``OUT/failures.csv`` lists failed tasks; ``OUT/summary.md``
and ``OUT/plots/`` compare the grid.
"""

import csv
import io
import shutil
from pathlib import Path

from simulator.atomic import atomic_write_text

from ._checkpoints import task_dir
from ._compose import check_data, check_variants
from ._config import config_to_toml
from ._executors import execute
from ._outdir import STATE, OutputFolder
from ._progress import RoundProgress
from ._run import resolved_table
from ._sweep import expand, format_value
from ._tasks import finished_rows, run_point_seed

__all__ = ["RUNS", "SweepRun", "run_sweep"]

#: Folder of the grid points inside a sweep's output folder.
RUNS = "runs"


def _csv_text(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _prepare_point(point, out):
    """``OUT/runs/<id>/config.toml``; checkpoints of another configuration there are removed.

    The number of seeds is left out of the comparison: the rows of seed s do
    not depend on how many seeds there are, so a sweep re-run with more seeds
    keeps the finished ones.
    """
    folder = Path(out) / RUNS / point.id
    resolved = config_to_toml(point.config)
    previous = folder / "config.toml"
    if previous.exists():
        try:
            same = resolved_table(previous.read_text(), seeds=False) == resolved_table(resolved, seeds=False)
        except Exception:  # an unreadable or outdated config.toml: start the point afresh
            same = False
        if not same and (folder / STATE).exists():
            shutil.rmtree(folder / STATE)
    atomic_write_text(previous, resolved)
    return folder


class SweepRun:
    """What :func:`run_sweep` did: the grid points, the tasks run, skipped and failed."""

    def __init__(self, points, n_tasks, n_skipped, failures):
        self.points, self.n_tasks, self.n_skipped, self.failures = points, n_tasks, n_skipped, failures

    def __repr__(self):
        return (f"SweepRun(points={len(self.points)}, tasks={self.n_tasks}, skipped={self.n_skipped}, "
                f"failed={len(self.failures)})")


def run_sweep(spec, out, *, backend=None, quiet=False, task=None, force=False):
    """Run every (grid point, seed) task of a sweep and merge the results into ``out``.

    Parameters
    ----------
    spec : clickloop.SweepSpec
    out : str or pathlib.Path
        Output folder: ``runs/<point id>/`` (config.toml and checkpoints of
        every point), ``metrics.csv`` (the swept keys as leading columns,
        then ``seed,variant,round,metric,value``), ``propensity.csv`` (the
        swept keys, then ``seed,variant,round,rank,true,estimated``),
        ``failures.csv`` (only if a task failed), ``summary.md`` and ``plots/``.
    backend : clickloop.SerialBackend, ProcessBackend or DaskBackend, optional
        Default: serial, in this process.
    quiet : bool, default=False
        No progress bar.
    task : callable, optional
        The task function, default :func:`run_point_seed` (tests pass a
        wrapper to inject failures).
    force : bool, default=False
        Write into a non-empty folder that holds no clickloop output.

    Returns
    -------
    SweepRun
        ``failures`` lists (point, seed, error) of every failed task; the other
        tasks' results are merged all the same. Tasks whose every variant has
        finished (in an earlier run) are read back, not run.
    """
    from analysis import write_metrics, write_propensity, write_sweep_summary

    task = run_point_seed if task is None else task
    points = expand(spec)  # every grid point validated before anything is written
    # once per distinct data, policy.k, backend and click model: what check_data judges
    for config in {(p.config.data, p.config.policy.k, p.config.learner.backend, p.config.click_model): p.config
                   for p in points}.values():
        check_data(config)
    for point in points:
        check_variants(point.config)
    text = "".join(config_to_toml(point.config) for point in points)
    with OutputFolder(out, "sweep", text, force=force,
                      writes=(RUNS, "metrics.csv", "propensity.csv", "failures.csv", "summary.md", "plots")) as owner:
        out = owner.out
        owner.add(RUNS, "metrics.csv", "propensity.csv", "failures.csv", "summary.md")
        folders = {point.index: _prepare_point(point, out) for point in points}
        tasks = [(point, seed) for point in points for seed in range(point.config.seeds)]
        results, pending = {}, []
        for point, seed in tasks:
            rows = finished_rows(point.config, seed, folders[point.index])
            if rows is None:
                pending.append((point, seed))
            else:
                results[(point.index, seed)] = rows
        per_task = {point.index: point.config.loop.rounds + 1 for point in points}
        folders_of = [task_dir(folders[point.index], seed, name) for point, seed in pending
                      for name in point.config.loop.variants]
        rounds_of = [per_task[point.index] for point, seed in pending for _ in point.config.loop.variants]
        failures = []
        with RoundProgress(folders_of, rounds_of, not quiet) as progress:
            def done(outcome):
                point, seed = pending[outcome.index]
                if outcome.ok:
                    results[(point.index, seed)] = outcome.value
                else:
                    failures.append((point, seed, outcome.error))
                    progress.write(f"clickloop: task failed: {point.label}, seed {seed}: {outcome.error}")

            execute(task, [(point.config, seed, str(folders[point.index])) for point, seed in pending], backend,
                    on_done=done)
        keys = [key for key, _ in spec.grid]
        for part, write in enumerate((write_metrics, write_propensity)):
            merged = [tuple(format_value(value) for _, value in point.values) + tuple(row)
                      for point, seed in tasks if (point.index, seed) in results
                      for row in results[(point.index, seed)][part]]
            write(out / ("metrics.csv", "propensity.csv")[part], merged, leading=keys)
        failures.sort(key=lambda f: (f[0].index, f[1]))
        if failures:
            atomic_write_text(out / "failures.csv", _csv_text(
                keys + ["seed", "error"],
                [tuple(format_value(v) for _, v in p.values) + (seed, error) for p, seed, error in failures]))
        elif (out / "failures.csv").exists():
            (out / "failures.csv").unlink()
        owner.add(*write_sweep_summary(out))
        if not failures:  # a sweep with failed tasks stays "running" until a re-run finishes them
            owner.complete()
    return SweepRun(points, len(tasks), len(tasks) - len(pending), failures)
