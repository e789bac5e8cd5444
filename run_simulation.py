"""clickloop's main command: run a feedback-loop experiment and write its results.

With no arguments it runs the ``default`` preset (the headline experiment on
built-in synthetic data) into ``results/``::

    python run_simulation.py [--config FILE.toml] [--preset NAME] [--set key.path=value ...]
                             [--seeds N] [--out DIR] [--resume] [--jobs N] [--quiet]
    python run_simulation.py --list-presets
    python run_simulation.py --sweep FILE.toml [--out DIR] [--quiet]
                             [--jobs N | --scheduler ADDR [--scheduler-timeout S] | --dask-local N]

This module is the composition root: it turns a validated
:class:`simulator.ExperimentConfig` into datasets, click models, policies and
learners, runs every (seed, variant) loop as an independent task (in this
process or in ``--jobs`` worker processes), checkpoints every round, and
writes ``OUT/config.toml``, ``OUT/metrics.csv`` (long format
``seed,variant,round,metric,value``), ``OUT/propensity.csv``,
``OUT/summary.md`` and ``OUT/plots/``.

Bad input (an unknown key, a wrong type, a value out of range, an unreadable
data file) prints one line naming what is wrong and exits with code 2,
before anything is written.
"""

import argparse
import csv
import io
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from analysis import METRICS_HEADER, PROPENSITY_HEADER

__all__ = ["main", "run_point_seed", "run_sweep", "run_task"]

_STATE = ".state"
_LOGS = "logs"


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


class TaskFailures(RuntimeError):
    """Some (seed, variant) tasks of a run raised: one line on stderr, exit code 1, no merged outputs."""


# --------------------------------------------------------------------------
# Composition: config -> objects
# --------------------------------------------------------------------------

def build_datasets(config):
    """(served, held-out or None) datasets of the configuration."""
    from simulator import load_letor, make_synthetic

    data = config.data
    if data.source == "synthetic":
        lo, hi = data.docs_per_query
        full = make_synthetic(n_queries=data.n_queries, docs_per_query=(lo, hi) if lo != hi else lo,
                              n_features=data.n_features, relevance=data.relevance, label_noise=data.label_noise,
                              document_share=data.document_share, seed=data.seed)
    else:
        full = load_letor(data.path)
    if data.test_fraction == 0:
        return full, None
    train, test = full.split((1 - data.test_fraction, data.test_fraction), seed=data.seed)
    return train, test


def build_click_model(config):
    from simulator import DBN, UBM, CascadeModel, GradeMapping, TrustBias, click_model, relevance_mapping

    cm = config.click_model
    mapping = (GradeMapping.graded(eps_minus=cm.noise) if cm.relevance == "graded"
               else relevance_mapping(cm.relevance))
    if cm.name in ("pbm", "pbm_eye_tracking"):
        return click_model(cm.name, eta=cm.eta, attractiveness=mapping)
    if cm.name == "ubm":
        return UBM(eta=cm.eta, attractiveness=mapping)
    if cm.name == "trust_vardasbi":
        return TrustBias.vardasbi(eta=cm.eta, n_ranks=max(config.policy.k, 10))
    if cm.name == "cascade":
        return CascadeModel(attractiveness=mapping)
    if cm.name == "dbn":
        return DBN(attractiveness=mapping)
    if cm.name == "sdbn":
        return DBN(attractiveness=mapping, gamma=1.0)
    return click_model(cm.name)  # the DCM presets carry their own click and stop tables


class _Standardised:
    """Scores standardised over the whole data set, so a Plackett-Luce temperature has one meaning."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, features):
        s = np.asarray(self.scorer(features), dtype=np.float64)
        return (s - s.mean()) / (s.std() + 1e-12)


def policy_factory(config):
    """``make_policy(scorer)`` of the configuration's serving policy."""
    from policies import Deterministic, EpsilonGreedy, PlackettLuce

    p = config.policy
    if p.kind == "deterministic":
        return lambda scorer: Deterministic(scorer, p.k)
    if p.kind == "epsilon_greedy":
        return lambda scorer: EpsilonGreedy(scorer, p.k, p.epsilon)
    return lambda scorer: PlackettLuce(_Standardised(scorer), p.k, p.temperature)


def build_variant(config, name, seed):
    """The :class:`simulator.Variant` of a variant name."""
    from ltr import IPS, FullInformation, LGBMPosition, Naive, PositionTower
    from simulator import Variant

    lc = config.learner
    common = {"n_estimators": lc.n_estimators, "num_threads": lc.num_threads, "seed": seed}
    shared = dict(common, backend=lc.backend)
    if name == "naive":
        return Variant(name, lambda: Naive(loss=lc.loss, **shared))
    if name == "ips":
        clip = "auto" if config.ips.clip < 0 else config.ips.clip
        propensity, assumed = config.ips.propensity, None
        if propensity == "pbm":  # a misspecifiable assumption, e.g. PBM propensities on cascade clicks
            propensity = assumed = (1.0 / np.arange(1, config.policy.k + 1)) ** config.ips.assumed_eta
        return Variant(name, lambda: IPS(propensity=propensity, clip=clip, loss=lc.loss, **shared),
                       debiased=True, assumed_theta=assumed)
    if name == "tower":
        t = config.tower
        return Variant(name, lambda: PositionTower(n_iter=t.n_iter, dropout=t.dropout,
                                                   document_prior=t.document_prior, **shared), debiased=True)
    if name == "lgbm_position":
        g = config.lgbm_position
        return Variant(name, lambda: LGBMPosition(position_bias_regularization=g.position_bias_regularization,
                                                  max_sessions=g.max_sessions, **common),
                       debiased=True, needs_log=True, max_log_sessions=g.max_sessions)
    if name == "skyline":
        return Variant(name, lambda: FullInformation(1.0, backend=lc.backend, **common), static=True)
    if name == "logger":
        return Variant(name, lambda: logger_learner(config, seed), static=True)
    raise ValueError(f"unknown variant {name!r}")


def logger_learner(config, seed):
    from ltr import FullInformation

    lc = config.learner
    return FullInformation(config.logger.query_fraction, min_queries=config.logger.min_queries,
                           backend=lc.backend, n_estimators=lc.n_estimators, num_threads=lc.num_threads, seed=seed)


# --------------------------------------------------------------------------
# One task: one variant's loop for one seed, checkpointed every round
# --------------------------------------------------------------------------

def _task_dir(out, seed, variant):
    return Path(out) / _STATE / f"seed_{seed}" / variant


def _atomic_write_text(path, text):
    """Temporary file in the same folder, then rename (analysis' writer, which also cleans up)."""
    from analysis import atomic_write_text

    return atomic_write_text(path, text)


def _csv_text(header, rows):
    """CSV text of a header and rows (floats already formatted)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _compact(counts):
    """Integer counts as int32 when they fit (half the bytes of a checkpoint's index and count columns)."""
    return counts.astype(np.int32) if counts.size == 0 or counts.max() < 2**31 else counts


def _save_record(path, record):
    """A round's record as an npz of the shown cells (impressions > 0), written atomically.

    Uncompressed: zlib took a third of a small sweep task's time (1.7 s of
    5.6 s) for a factor of two in size, on scores that hardly compress.
    """
    stats = record.statistics
    row, rank = np.nonzero(stats.impressions)
    arrays = {
        "n_docs": np.int64(stats.n_docs), "k": np.int64(stats.k), "n_sessions": np.int64(stats.n_sessions),
        "row": _compact(row), "rank": _compact(rank), "impressions": _compact(stats.impressions[row, rank]),
        "clicks": _compact(stats.clicks[row, rank]), "examination": stats.examination[row, rank],
        "inverse_examination_clicks": stats.inverse_examination_clicks[row, rank],
        "scores": record.scores,
    }
    for name in ("test_scores", "theta", "click_probability"):
        value = getattr(record, name)
        if value is not None:
            arrays[name] = value
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _load_record(path, round_, log=None):
    from simulator import ClickStatistics, RoundRecord

    with np.load(path) as z:
        stats = ClickStatistics.empty(int(z["n_docs"]), int(z["k"]))
        row, rank = z["row"], z["rank"]
        for name in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
            getattr(stats, name)[row, rank] = z[name]
        stats.n_sessions = int(z["n_sessions"])
        optional = {name: z[name] for name in ("test_scores", "theta", "click_probability") if name in z.files}
        return RoundRecord(round=round_, statistics=stats, scores=z["scores"], log=log, **optional)


def run_task(config, seed, variant_name, out, numba_threads=None):
    """Run (or continue) one variant's loop for one seed; returns (metric rows, propensity rows).

    Every finished round is checkpointed under ``OUT/.state/seed_S/VARIANT/``;
    a rerun continues after the last checkpoint and, once the task is done,
    returns its saved rows.  The rows are a pure function of (config, seed,
    variant): the same whatever the process, the number of threads or where
    the run was interrupted.
    """
    if numba_threads is not None:
        import numba

        numba.set_num_threads(numba_threads)
    from analysis import loop_metrics
    from simulator import LoopEnvironment, load_click_log, run_loop, save_click_log

    folder = _task_dir(out, seed, variant_name)
    done = folder / "rows.csv"
    if done.exists():
        return _read_rows(done)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = build_datasets(config)
    variant = build_variant(config, variant_name, seed)
    model = build_click_model(config)
    keep_logs = config.output.save_logs
    env = LoopEnvironment(train, test, model, policy_factory(config), config.loop.sessions_per_round,
                          window=config.loop.window, engagement=config.loop.engagement, keep_logs=keep_logs)
    # Round 0 serves the initial logger (a static variant serves its own ranker in every round).
    initial_learner = variant.make_learner() if variant.static else logger_learner(config, seed)
    initial = initial_learner.fit(train)
    completed = []
    # Logs asked for by the user live in OUT/logs/; a log only the learner needs, in the checkpoints.
    log_dir = Path(out) / _LOGS / f"seed_{seed}" / variant_name if keep_logs else folder
    while (folder / f"round_{len(completed)}.npz").exists():
        t = len(completed)
        log_path = log_dir / f"round_{t}.parquet"
        log = load_click_log(log_path) if log_path.exists() else None
        completed.append(_load_record(folder / f"round_{t}.npz", t, log))

    def checkpoint(record):
        if record.log is not None and (keep_logs or variant.needs_log):
            log_dir.mkdir(parents=True, exist_ok=True)
            save_click_log(record.log, log_dir / f"round_{record.round}.parquet")
        _save_record(folder / f"round_{record.round}.npz", record)

    records = run_loop(env, variant, initial, config.loop.rounds, seed, completed=completed, on_round=checkpoint)
    theta = getattr(model, "examination_by_rank", None)
    metrics, propensity = loop_metrics(
        records, train, test, true_theta=theta(config.policy.k) if theta is not None else None,
        ndcg_k=config.evaluation.ndcg_k, relevant_threshold=config.evaluation.relevant_threshold)
    metric_rows = [(seed, variant_name, r, m, v) for r, m, v in metrics]
    propensity_rows = [(seed, variant_name, r, k, t, e) for r, k, t, e in propensity]
    _atomic_write_text(done, _rows_text(metric_rows, propensity_rows))
    return metric_rows, propensity_rows


def _rows_text(metric_rows, propensity_rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in metric_rows:
        writer.writerow(("m",) + tuple(_fmt(v) for v in row))
    for row in propensity_rows:
        writer.writerow(("p",) + tuple(_fmt(v) for v in row))
    return buf.getvalue()


def _read_rows(path):
    metric_rows, propensity_rows = [], []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row[0] == "m":
                metric_rows.append((int(row[1]), row[2], int(row[3]), row[4], float(row[5])))
            else:
                propensity_rows.append((int(row[1]), row[2], int(row[3]), int(row[4]), float(row[5]),
                                        float(row[6])))
    return metric_rows, propensity_rows


def _fmt(value):
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


# --------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------

class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total, enabled):
        self.total, self.done, self.start = total, 0, time.perf_counter()
        self.enabled = enabled and sys.stderr.isatty()

    def advance(self, n, label):
        self.done += n
        if self.enabled:
            width = 30
            filled = int(width * self.done / self.total)
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                             f"rounds  {label:<24} {elapsed:6.0f} s")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def run_experiment(config, out, *, jobs=1, resume=False, quiet=False):
    """Run every (seed, variant) task of ``config`` and write the outputs into ``out``.

    The tasks run through :func:`simulator.execute` (in this process, or in
    ``jobs`` worker processes).  A task that raises does not stop the others;
    if any failed, :class:`TaskFailures` is raised after the rest finished and
    no merged output is written.
    """
    from simulator import ProcessBackend, SerialBackend, config_to_toml, execute

    out = Path(out)
    resolved = config_to_toml(config)
    state = out / _STATE
    if resume and (out / "config.toml").exists():
        previous = (out / "config.toml").read_text()
        if load_config_text(previous) != load_config_text(resolved):
            raise UsageError(f"--resume: {out}/config.toml differs from this configuration; "
                             "use the same configuration or another --out")
    else:  # a fresh run: earlier checkpoints and logs would be of another configuration
        for old in (state, out / _LOGS):
            if old.exists():
                shutil.rmtree(old)
    _atomic_write_text(out / "config.toml", resolved)
    tasks = [(seed, name) for seed in range(config.seeds) for name in config.loop.variants]
    per_task = config.loop.rounds + 1
    progress = _Progress(len(tasks) * per_task, not quiet)

    def done(outcome):
        seed, name = tasks[outcome.index]
        if not outcome.ok:
            progress.close()
            print(f"clickloop: task failed: seed {seed}, variant {name}: {outcome.error}", file=sys.stderr)
        progress.advance(per_task, f"seed {seed} {name}")

    backend = ProcessBackend(jobs) if jobs > 1 else SerialBackend()
    outcomes = execute(run_task, [(config, seed, name, out) for seed, name in tasks], backend, on_done=done)
    progress.close()
    n_failed = sum(not outcome.ok for outcome in outcomes)
    if n_failed:  # no metrics.csv of a part of the tasks; the finished ones are checkpointed
        raise TaskFailures(f"{n_failed} of {len(tasks)} tasks failed (see above); the finished ones are "
                           "checkpointed: run the same command with --resume to retry")
    metric_rows = [row for outcome in outcomes for row in outcome.value[0]]
    propensity_rows = [row for outcome in outcomes for row in outcome.value[1]]
    write_outputs(out, metric_rows, propensity_rows)
    return metric_rows


def load_config_text(text):
    """A config read back from its TOML text (for comparing resolved configs)."""
    import tomllib

    from simulator import config_from_dict

    return config_from_dict(tomllib.loads(text))


def write_outputs(out, metric_rows, propensity_rows):
    """metrics.csv, propensity.csv, summary.md and plots/ of a finished run (each written atomically)."""
    from analysis import replot

    formatted = [tuple(_fmt(v) for v in row) for row in metric_rows]
    _atomic_write_text(Path(out) / "metrics.csv", _csv_text(METRICS_HEADER, formatted))
    formatted = [tuple(_fmt(v) for v in row) for row in propensity_rows]
    _atomic_write_text(Path(out) / "propensity.csv", _csv_text(PROPENSITY_HEADER, formatted))
    return replot(out)


# --------------------------------------------------------------------------
# Sweeps: a grid of configurations x seeds on one machine or a Dask cluster
# (run_simulation.py --sweep FILE.toml; the sweep file format is in simulator._sweep)
# --------------------------------------------------------------------------

_RUNS = "runs"


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


def _finished_rows(config, seed, out):
    """(metric rows, propensity rows) of a task whose every variant is done, else None."""
    paths = [_task_dir(out, seed, name) / "rows.csv" for name in config.loop.variants]
    if not all(path.exists() for path in paths):
        return None
    read = [_read_rows(path) for path in paths]
    return [row for rows in read for row in rows[0]], [row for rows in read for row in rows[1]]


def _prepare_point(point, out):
    """``OUT/runs/<id>/config.toml``; checkpoints of another configuration there are removed.

    The number of seeds is left out of the comparison: the rows of seed s do
    not depend on how many seeds there are, so a sweep re-run with more seeds
    keeps the finished ones.
    """
    import dataclasses

    from simulator import config_to_toml

    folder = Path(out) / _RUNS / point.id
    resolved = config_to_toml(point.config)
    previous = folder / "config.toml"
    if previous.exists():
        try:
            same = (dataclasses.replace(load_config_text(previous.read_text()), seeds=1)
                    == dataclasses.replace(point.config, seeds=1))
        except Exception:  # an unreadable or outdated config.toml: start the point afresh
            same = False
        if not same and (folder / _STATE).exists():
            shutil.rmtree(folder / _STATE)
    _atomic_write_text(previous, resolved)
    return folder


class SweepRun:
    """What :func:`run_sweep` did: the grid points, the tasks run, skipped and failed."""

    def __init__(self, points, n_tasks, n_skipped, failures):
        self.points, self.n_tasks, self.n_skipped, self.failures = points, n_tasks, n_skipped, failures

    def __repr__(self):
        return (f"SweepRun(points={len(self.points)}, tasks={self.n_tasks}, skipped={self.n_skipped}, "
                f"failed={len(self.failures)})")


def run_sweep(spec, out, *, backend=None, quiet=False, task=None):
    """Run every (grid point, seed) task of a sweep and merge the results into ``out``.

    Parameters
    ----------
    spec : simulator.SweepSpec
    out : str or pathlib.Path
        Output folder: ``runs/<point id>/`` (config.toml and checkpoints of
        every point), ``metrics.csv`` (the swept keys as leading columns,
        then ``seed,variant,round,metric,value``), ``propensity.csv`` (the
        swept keys, then ``seed,variant,round,rank,true,estimated``),
        ``failures.csv`` (only if a task failed), ``summary.md`` and ``plots/``.
    backend : simulator.SerialBackend, ProcessBackend or DaskBackend, optional
        Default: serial, in this process.
    quiet : bool, default=False
        No progress bar.
    task : callable, optional
        The task function, default :func:`run_point_seed` (tests pass a
        wrapper to inject failures).

    Returns
    -------
    SweepRun
        ``failures`` lists (point, seed, error) of every failed task; the other
        tasks' results are merged all the same. Tasks whose every variant has
        finished (in an earlier run) are read back, not run.
    """
    from analysis import write_sweep_summary
    from simulator import execute, expand, format_value

    task = run_point_seed if task is None else task
    out = Path(out)
    points = expand(spec)  # every grid point validated before anything is written
    for config in {point.config.data: point.config for point in points}.values():
        _check_data(config)
    folders = {point.index: _prepare_point(point, out) for point in points}
    tasks = [(point, seed) for point in points for seed in range(point.config.seeds)]
    results, pending = {}, []
    for point, seed in tasks:
        rows = _finished_rows(point.config, seed, folders[point.index])
        if rows is None:
            pending.append((point, seed))
        else:
            results[(point.index, seed)] = rows
    per_task = {point.index: len(point.config.loop.variants) * (point.config.loop.rounds + 1) for point in points}
    progress = _Progress(sum(per_task[p.index] for p, _ in pending) or 1, not quiet)
    failures = []

    def done(outcome):
        point, seed = pending[outcome.index]
        if outcome.ok:
            results[(point.index, seed)] = outcome.value
        else:
            failures.append((point, seed, outcome.error))
            progress.close()
            print(f"clickloop: task failed: {point.label}, seed {seed}: {outcome.error}", file=sys.stderr)
        progress.advance(per_task[point.index], f"{point.id[:18]} seed {seed}")

    execute(task, [(point.config, seed, str(folders[point.index])) for point, seed in pending], backend,
            on_done=done)
    progress.close()
    keys = [key for key, _ in spec.grid]
    for part, (name, header) in enumerate((("metrics.csv", METRICS_HEADER), ("propensity.csv", PROPENSITY_HEADER))):
        merged = [tuple(format_value(value) for _, value in point.values) + tuple(_fmt(v) for v in row)
                  for point, seed in tasks if (point.index, seed) in results
                  for row in results[(point.index, seed)][part]]
        _atomic_write_text(out / name, _csv_text(keys + list(header), merged))
    failures.sort(key=lambda f: (f[0].index, f[1]))
    if failures:
        _atomic_write_text(out / "failures.csv", _csv_text(
            keys + ["seed", "error"],
            [tuple(format_value(v) for _, v in p.values) + (seed, error) for p, seed, error in failures]))
    elif (out / "failures.csv").exists():
        (out / "failures.csv").unlink()
    write_sweep_summary(out)
    return SweepRun(points, len(tasks), len(tasks) - len(pending), failures)


def _sweep_backend(args):
    """The backend of --jobs / --scheduler / --dask-local (at most one of them)."""
    from simulator import DaskBackend, ProcessBackend, SerialBackend

    given = [flag for flag, on in (("--jobs", args.jobs > 1), ("--scheduler", args.scheduler is not None),
                                   ("--dask-local", args.dask_local is not None)) if on]
    if len(given) > 1:
        raise UsageError(f"give one of --jobs, --scheduler and --dask-local, not {' and '.join(given)}")
    if args.scheduler is not None:
        if "://" not in args.scheduler:
            raise UsageError(f"--scheduler expects an address like tcp://HOST:PORT, got {args.scheduler!r}")
        return DaskBackend(scheduler=args.scheduler, timeout=args.scheduler_timeout or 10.0)
    if args.scheduler_timeout is not None:
        raise UsageError("--scheduler-timeout applies to --scheduler only")
    if args.dask_local is not None:
        return DaskBackend(n_workers=args.dask_local)
    return ProcessBackend(args.jobs) if args.jobs > 1 else SerialBackend()


def _warn_oversubscription(points, workers):
    """LightGBM's threads come from the config (changing them could change the fits): warn, do not change."""
    threads = max(point.config.learner.num_threads for point in points)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers * threads > cores:
        print(f"clickloop: warning: {workers} workers x learner.num_threads = {threads} exceeds the {cores} cores; "
              "set learner.num_threads in the sweep's [set] to avoid oversubscription", file=sys.stderr)


def sweep_main(args):
    """``--sweep FILE.toml``: exit 0 when every task finished, 1 if one failed, 2 for bad input."""
    import dataclasses

    from simulator import ConfigError, ExecutorError, LetorFormatError, expand, read_sweep

    try:
        if args.sweep is None:
            raise UsageError("--scheduler, --scheduler-timeout and --dask-local run a sweep: give --sweep FILE.toml")
        if args.config is not None or args.preset is not None or args.overrides:
            raise UsageError("--sweep takes its base and overrides from the sweep file "
                             "(preset/config and [set]), not from --config, --preset or --set")
        backend = _sweep_backend(args)
        spec = read_sweep(args.sweep)
        backend.check()  # an unreachable scheduler is bad input: exit 2 before anything is written
        if args.seeds:
            spec = dataclasses.replace(spec, seeds=args.seeds)
        workers = args.dask_local or (args.jobs if args.scheduler is None else 0)
        if workers > 1:
            _warn_oversubscription(expand(spec), workers)
        start = time.perf_counter()
        # run_point_seed by reference from an importable module (not __main__), for the worker processes.
        import run_simulation

        run = run_sweep(spec, args.out, backend=backend, quiet=args.quiet, task=run_simulation.run_point_seed)
    except (ConfigError, LetorFormatError, UsageError, ExecutorError) as exc:
        print(f"clickloop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clickloop: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    if not args.quiet:
        print((args.out / "summary.md").read_text())
        print(f"{run.n_tasks} tasks ({run.n_skipped} already done, {len(run.failures)} failed); wrote "
              f"{args.out}/metrics.csv, summary.md and plots/ in {time.perf_counter() - start:.0f} s")
    if run.failures:
        print(f"clickloop: {len(run.failures)} of {run.n_tasks} tasks failed (see {args.out}/failures.csv); "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

class _OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr naming what is wrong, exit code 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _parser():
    parser = _OneLineParser(prog="clickloop", description="clickloop: feedback loops of learning to rank from clicks")
    parser.add_argument("--config", type=Path, help="experiment configuration (TOML)")
    parser.add_argument("--preset", help="start from a named preset (see --list-presets); default: default")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override one configuration value (repeatable)")
    parser.add_argument("--seeds", type=_positive_int, help="number of seeds (0..N-1)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--jobs", type=_positive_int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary on the terminal")
    # Sweeps (see the "Sweeps" section)
    parser.add_argument("--sweep", type=Path, metavar="FILE.toml",
                        help="run a grid of configurations x seeds (base, [set] and [grid] in the file)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the sweep on a running Dask scheduler")
    parser.add_argument("--scheduler-timeout", type=_positive_float, metavar="SECONDS",
                        help="seconds to wait for the --scheduler connection (default: 10)")
    parser.add_argument("--dask-local", type=_positive_int, metavar="N",
                        help="run the sweep on a Dask LocalCluster of N worker processes on 127.0.0.1")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.sweep is not None or args.scheduler is not None or args.dask_local is not None \
            or args.scheduler_timeout is not None:
        return sweep_main(args)  # the "Sweeps" section
    from simulator import PRESETS, ConfigError, LetorFormatError, load_config

    if args.list_presets:
        for name, entry in PRESETS.items():
            print(f"{name:14} {entry['description']}")
        return 0
    try:
        overrides = list(args.overrides) + ([f"seeds={args.seeds}"] if args.seeds else [])
        preset_name = args.preset or (None if args.config else "default")
        config = load_config(args.config, preset_name=preset_name, overrides=overrides)
        _check_data(config)
        start = time.perf_counter()
        run_experiment(config, args.out, jobs=args.jobs, resume=args.resume, quiet=args.quiet)
    except (ConfigError, LetorFormatError, UsageError) as exc:
        print(f"clickloop: error: {exc}", file=sys.stderr)
        return 2
    except TaskFailures as exc:
        print(f"clickloop: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clickloop: interrupted; continue with --resume", file=sys.stderr)
        return 130
    if not args.quiet:
        print((args.out / "summary.md").read_text())
        print(f"wrote {args.out}/metrics.csv, summary.md and plots/ in {time.perf_counter() - start:.0f} s")
    return 0


def _check_data(config):
    """Read the data once before anything is written, so a bad file fails with exit 2 and no output."""
    from simulator import ConfigError

    if config.data.source == "letor":
        path = Path(config.data.path)
        if not path.is_file():
            raise ConfigError(f"data.path: no such file {str(path)!r}")
        train, _ = build_datasets(config)
        if train.n_queries < 2:
            raise ConfigError(f"data.path: {path} holds too few queries ({train.n_queries}) to serve")


if __name__ == "__main__":
    sys.exit(main())
