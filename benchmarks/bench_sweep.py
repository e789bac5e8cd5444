"""Sweep throughput with 1 and 2 workers: local processes and a Dask LocalCluster, in one script run.

A CPU-bound sweep of 16 grid points (``click_model.eta`` x ``policy.kind``) of
a small configuration, 2 seeds each: 32 independent tasks of about 4 s whose
time goes into LightGBM fits and predictions (one thread each), the tower's
likelihood and the session simulation.  Every
backend runs the same tasks into a fresh folder (nothing skipped), timed from
submission to the last result, worker start-up included; throughput is
tasks/s and the ratio is 2 workers over 1 worker of the same backend.  The
merged rows are checked to be identical across the runs.

Usage::

    python benchmarks/bench_sweep.py [--points 16] [--seeds 2] [--queries 4000]
                                     [--backends processes,processes1,dask] [--json out.json]
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path


from clickloop import DaskBackend, ProcessBackend, execute, expand, run_point_seed, sweep_from_dict

from clickloop._arguments import OneLineParser, choice_list, output_file, positive_int

ETAS = [0.25, 0.5, 1.0, 2.0, 0.75, 1.5, 3.0, 4.0]


def spec(n_points, n_queries, seeds=1):
    n_eta = max(1, n_points // 2)
    return sweep_from_dict({
        "preset": "smoke", "seeds": seeds,
        "set": {"loop.rounds": 3, "loop.variants": ["naive", "ips", "tower"], "data.n_queries": n_queries,
                "loop.sessions_per_round": 20_000, "learner.n_estimators": 40},
        "grid": {"click_model.eta": ETAS[:n_eta], "policy.kind": ["deterministic", "plackett_luce"]},
    })


def timed(backend, points):
    with tempfile.TemporaryDirectory() as out:
        tasks = [(p.config, seed, str(Path(out) / p.id)) for p in points for seed in range(p.config.seeds)]
        start = time.perf_counter()
        outcomes = execute(run_point_seed, tasks, backend)
        seconds = time.perf_counter() - start
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} tasks failed: {failed[0]}")
    return seconds, [o.value for o in outcomes]


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=positive_int, default=16)
    # Enough tasks that the start-up of a worker and the last, unpaired task are small next to the
    # whole sweep (8 tasks of about 4 s: processes 1.93, Dask 1.64; 32 tasks: 1.87-2.00 and 1.78-1.81).
    parser.add_argument("--seeds", type=positive_int, default=2)
    parser.add_argument("--backends", type=choice_list("processes", "processes1", "dask"), default="processes,dask",
                        help="comma-separated: processes, processes1 (one numba thread per worker), dask")
    # Tasks of a few seconds each: a worker's start-up (spawn, importing numba and LightGBM,
    # about 2 s) is paid once per worker and must not dominate the measurement.
    parser.add_argument("--queries", type=positive_int, default=4000, help="queries per grid point (task size)")
    parser.add_argument("--json", type=output_file)
    args = parser.parse_args(argv)
    points = expand(spec(args.points, args.queries, args.seeds))
    n_tasks = sum(p.config.seeds for p in points)
    # Warm numba's on-disk cache (and time one task in this process) before any measurement.
    with tempfile.TemporaryDirectory() as out:
        run_point_seed(points[0].config, 0, str(Path(out) / "warm"))
        start = time.perf_counter()
        run_point_seed(points[1].config, 0, str(Path(out) / "one"))
        one_task = time.perf_counter() - start
    load = os.getloadavg()
    print(f"{len(points)} grid points x {args.seeds} seeds = {n_tasks} tasks; one task in-process {one_task:.2f} s; "
          f"cores {os.cpu_count()}; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| backend | workers | s | tasks/s | ratio 2/1 |")
    print("|---|---:|---:|---:|---:|")
    results, reference = [], None
    # A worker of a 1-worker run has both cores for numba (cores // workers threads), so part of
    # a task is already parallel and 2 workers can gain less; the second row pins one numba
    # thread per worker to measure the scaling of the workers alone.
    known = {"processes": ("processes (--jobs N)", ProcessBackend),
             "processes1": ("processes, 1 numba thread per worker", lambda n: ProcessBackend(n, threads=1)),
             "dask": ("Dask LocalCluster (--dask-local N)", lambda n: DaskBackend(n_workers=n))}
    for key in args.backends:
        name, make = known[key]
        rates = {}
        for workers in (1, 2):
            seconds, rows = timed(make(workers), points)
            if reference is None:
                reference = rows
            elif rows != reference:
                raise AssertionError(f"{name} with {workers} workers gave other rows than the first run")
            rates[workers] = n_tasks / seconds
            ratio = f"{rates[2] / rates[1]:.2f}" if workers == 2 else ""
            print(f"| {name} | {workers} | {seconds:.1f} | {rates[workers]:.3f} | {ratio} |", flush=True)
            results.append({"backend": name, "workers": workers, "seconds": seconds,
                            "tasks_per_s": rates[workers]})
    end_load = os.getloadavg()
    print(f"load average at end {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"load_average_start": load, "load_average_end": end_load,
                                         "one_task_s": one_task, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
