"""The ``clickloop`` command: run an experiment or a sweep and write its results.

With no arguments it runs the ``default`` preset (the headline experiment on
built-in synthetic data) into ``results/``::

    clickloop [--config FILE.toml] [--preset NAME] [--set key.path=value ...]
              [--seeds N] [--out DIR] [--resume] [--jobs N] [--quiet]
    clickloop --list-presets
    clickloop --sweep FILE.toml [--out DIR] [--quiet]
              [--jobs N | --scheduler ADDR [--scheduler-timeout S] | --dask-local N]

``python -m clickloop`` and ``python run_simulation.py`` are the same command.
Bad input (an unknown key, a wrong type, a value out of range, an unreadable
data file) prints one line naming what is wrong and exits with code 2,
before anything is written.
"""

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from simulator import LetorFormatError

from ._arguments import OneLineParser, positive_int, worker_count
from ._budget import check_budget
from ._compose import check_data, check_variants
from ._config import PRESETS, ConfigError, load_config
from ._errors import one_line_warnings
from ._executors import DaskBackend, ExecutorError, ProcessBackend, SerialBackend
from ._run import TaskFailures, UsageError, run_experiment
from ._sweep import expand, read_sweep
from ._sweep_run import run_sweep

__all__ = ["main"]


def _sweep_backend(args):
    """The backend of --jobs / --scheduler / --dask-local (at most one of them)."""
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
        points = expand(spec)
        if workers > 1:
            _warn_oversubscription(points, workers)
        check_budget([point.config for point in points], max(1, workers), args.allow_long)
        start = time.perf_counter()
        run = run_sweep(spec, args.out, backend=backend, quiet=args.quiet, force=args.force)
    except (ConfigError, LetorFormatError, UsageError, ExecutorError) as exc:
        print(f"clickloop: error: {_one_line(exc)}", file=sys.stderr)
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


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _folder(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty path")
    return Path(text)


def _parser():
    parser = OneLineParser(prog="clickloop", description="clickloop: feedback loops of learning to rank from clicks")
    parser.add_argument("--config", type=Path, help="experiment configuration (TOML)")
    parser.add_argument("--preset", help="start from a named preset (see --list-presets); default: default")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override one configuration value (repeatable)")
    parser.add_argument("--seeds", type=positive_int, help="number of seeds (0..N-1)")
    parser.add_argument("--out", type=_folder, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--jobs", type=worker_count, default=1, help="worker processes (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary on the terminal")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty --out that holds no clickloop run (nothing in it is deleted)")
    parser.add_argument("--allow-long", action="store_true",
                        help="run what the up-front estimate says would take more than a day")
    # Sweeps (see the "Sweeps" section)
    parser.add_argument("--sweep", type=Path, metavar="FILE.toml",
                        help="run a grid of configurations x seeds (base, [set] and [grid] in the file)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the sweep on a running Dask scheduler")
    parser.add_argument("--scheduler-timeout", type=_positive_float, metavar="SECONDS",
                        help="seconds to wait for the --scheduler connection (default: 10)")
    parser.add_argument("--dask-local", type=worker_count, metavar="N",
                        help="run the sweep on a Dask LocalCluster of N worker processes on 127.0.0.1")
    return parser


def _one_line(exc):
    return " ".join(str(exc).split())


def _terminate(signum, frame):
    """SIGTERM: unwind like Ctrl-C (workers are stopped, the folder's lock released), exit 143."""
    raise SystemExit(128 + signum)


def main(argv=None):
    """The ``clickloop`` command (``python -m clickloop``): 0 done, 1 a task failed, 2 bad input, 130 interrupted."""
    args = _parser().parse_args(argv)
    previous = one_line_warnings()
    try:
        return _main(args)
    finally:  # called in-process (tests, notebooks): the caller's warning format again
        warnings.formatwarning = previous


def _main(args):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    if args.sweep is not None or args.scheduler is not None or args.dask_local is not None \
            or args.scheduler_timeout is not None:
        return sweep_main(args)  # the "Sweeps" section
    if args.list_presets:
        for name, entry in PRESETS.items():
            print(f"{name:14} {entry['description']}")
        return 0
    try:
        preset_name = args.preset if args.preset is not None else (None if args.config else "default")
        config = load_config(args.config, preset_name=preset_name, overrides=args.overrides)
        if args.seeds:  # after the --set values are checked as given (a bad --set seeds is not hidden)
            config = load_config(args.config, preset_name=preset_name,
                                 overrides=[*args.overrides, f"seeds={args.seeds}"])
        workers = min(args.jobs, config.seeds * len(config.loop.variants))
        check_budget([config], workers, args.allow_long)  # before the data is made: n_queries = 10**9 is refused
        n_docs = check_data(config)
        check_variants(config)
        check_budget([config], workers, args.allow_long, n_docs)
        start = time.perf_counter()
        run_experiment(config, args.out, jobs=args.jobs, resume=args.resume, quiet=args.quiet, force=args.force)
    except (ConfigError, LetorFormatError, UsageError) as exc:
        print(f"clickloop: error: {_one_line(exc)}", file=sys.stderr)
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
