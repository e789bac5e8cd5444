"""Tasks: one variant's loop for one seed (a run's unit of work) and one (grid point, seed) of a sweep.

A task is a pure function of (configuration, seed, variant): it gives the
same rows whatever the process, the number of threads or where it was
interrupted.  Every finished round is checkpointed (:mod:`clickloop._checkpoints`);
a rerun continues after the last checkpoint and, once the task is done,
returns its saved rows.
"""

import sys
from pathlib import Path

from ._checkpoints import CheckpointError, load_record, read_rows, save_record, task_dir, write_rows
from ._compose import build_click_model, build_datasets, build_variant, initial_logger, policy_factory
from ._loop import LoopEnvironment, run_loop
from ._outdir import LOGS

__all__ = ["run_point_seed", "run_task"]


def run_task(config, seed, variant_name, out, numba_threads=None):
    """Run (or continue) one variant's loop for one seed; returns (metric rows, propensity rows).

    Parameters
    ----------
    config : ExperimentConfig
    seed : int
    variant_name : str
        A name of ``config.loop.variants``.
    out : str or pathlib.Path
        The output folder; checkpoints go to ``OUT/.state/seed_S/VARIANT/``.
    numba_threads : int, optional
        Numba's thread budget in this process (set by the executors).

    Returns
    -------
    metric_rows : list of tuple
        ``(seed, variant, round, metric, value)``.
    propensity_rows : list of tuple
        ``(seed, variant, round, rank, true, estimated)``.
    """
    if numba_threads is not None:
        import numba

        numba.set_num_threads(numba_threads)
    from analysis import loop_metrics
    from simulator import ClickLogError, load_click_log, save_click_log

    folder = task_dir(out, seed, variant_name)
    done = folder / "rows.csv"
    if done.exists():
        try:
            return read_rows(done)
        except CheckpointError as exc:  # recomputed from the round checkpoints, never read as empty
            _warn(f"{exc}; recomputing the task's metrics")
            done.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    train, test = build_datasets(config)
    variant = build_variant(config, variant_name, seed)
    model = build_click_model(config)
    keep_logs = config.output.save_logs
    env = LoopEnvironment(train, test, model, policy_factory(config), config.loop.sessions_per_round,
                          window=config.loop.window, engagement=config.loop.engagement, keep_logs=keep_logs)
    # Round 0 serves the initial logger (a static variant serves its own ranker in every round).
    initial = variant.make_learner().fit(train) if variant.static else initial_logger(config, seed, train)
    completed = []
    # Logs asked for by the user live in OUT/logs/; a log only the learner needs, in the checkpoints.
    log_dir = Path(out) / LOGS / f"seed_{seed}" / variant_name if keep_logs else folder
    while (folder / f"round_{len(completed)}.npz").exists():
        t = len(completed)
        log_path = log_dir / f"round_{t}.parquet"
        try:
            log = load_click_log(log_path) if log_path.exists() else None
            if variant.needs_log and log is None:
                raise CheckpointError(f"{log_path}: missing (the learner needs the round's log)")
            completed.append(load_record(folder / f"round_{t}.npz", t, log))
        except (CheckpointError, ClickLogError) as exc:
            _warn(f"{' '.join(str(exc).split())}; recomputing from round {t}")
            for later in folder.glob("round_*.npz"):  # this round and every later one
                if int(later.stem.split("_")[1]) >= t:
                    later.unlink()
            break

    def checkpoint(record):
        if record.log is not None and (keep_logs or variant.needs_log):
            log_dir.mkdir(parents=True, exist_ok=True)
            save_click_log(record.log, log_dir / f"round_{record.round}.parquet")
        save_record(folder / f"round_{record.round}.npz", record)

    records = run_loop(env, variant, initial, config.loop.rounds, seed, completed=completed, on_round=checkpoint)
    theta = getattr(model, "examination_by_rank", None)
    metrics, propensity = loop_metrics(
        records, train, test, true_theta=theta(config.policy.k) if theta is not None else None,
        ndcg_k=config.evaluation.ndcg_k, relevant_threshold=config.evaluation.relevant_threshold)
    metric_rows = [(seed, variant_name, r, m, v) for r, m, v in metrics]
    propensity_rows = [(seed, variant_name, r, k, t, e) for r, k, t, e in propensity]
    write_rows(done, metric_rows, propensity_rows)
    return metric_rows, propensity_rows


def _warn(message):
    print(f"clickloop: warning: {message}", file=sys.stderr, flush=True)


def run_point_seed(config, seed, out, numba_threads=None):
    """One sweep task: every variant of ``config.loop.variants`` for one seed.

    Each variant goes through :func:`run_task` with ``out`` as its output
    folder (checkpoints under ``out/.state/``), so a finished variant is read
    back, not run again.  Returns (metric rows, propensity rows) of all the
    variants, as :func:`run_task` does for one.
    """
    metric_rows, propensity_rows = [], []
    for name in config.loop.variants:
        metrics, propensity = run_task(config, seed, name, out, numba_threads)
        metric_rows.extend(metrics)
        propensity_rows.extend(propensity)
    return metric_rows, propensity_rows


def finished_rows(config, seed, out):
    """(metric rows, propensity rows) of a sweep task whose every variant is done, else None."""
    paths = [task_dir(out, seed, name) / "rows.csv" for name in config.loop.variants]
    if not all(path.exists() for path in paths):
        return None
    try:
        read = [read_rows(path) for path in paths]
    except CheckpointError:  # run_task names it and recomputes
        return None
    return [row for rows in read for row in rows[0]], [row for rows in read for row in rows[1]]
