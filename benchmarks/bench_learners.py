"""Fit time of every learner on the aggregated log of 10^6 sessions over 10^4 queries x 50 documents.

Setting: synthetic data (10,000 queries x 50 documents x 20 features), a
deterministic top 10 of a linear scorer, PBM clicks (eta = 1), statistics
aggregated per (document, rank); ``lgbm_position`` gets the session log
(its objective is defined on sessions, at most 50,000 sessions with a
click are used).  Reported: wall seconds of ``fit`` with LightGBM on
``--threads`` threads (default 2: the target is "10 s on 2 cores"), the
median and the minimum of ``--repeats`` fits, and the process CPU seconds of
the median fit, with the load average before the first and after the last fit.

On a machine shared with other processes the wall time of a 2-thread
LightGBM fit is not stable: when another process holds one of the cores,
every OpenMP barrier waits for a descheduled thread and a fit can take 10x
longer with CPU time close to wall time.  The minimum is the time on two
free cores; the median shows what the load did.

Usage::

    python benchmarks/bench_learners.py [--sessions 1000000] [--threads 2] [--repeats 3] [--json out.json]
"""

import json
import os

import numpy as np


from ltr import IPS, FullInformation, LGBMPosition, Naive, PositionTower
from policies import Deterministic
from simulator import PBM, make_synthetic, simulate_sessions
from clickloop._arguments import OneLineParser, output_file, positive_int
from _timing import run_times


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=1_000_000)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--only", help="fit only the learners whose name contains this text")
    parser.add_argument("--json", type=output_file)
    args = parser.parse_args(argv)
    data = make_synthetic(n_queries=10_000, docs_per_query=50, n_features=20, seed=0)
    policy = Deterministic(lambda X: X @ np.linspace(1.0, -1.0, X.shape[1]), 10)
    run = simulate_sessions(data, policy, PBM(eta=1.0), args.sessions, seed=0, keep_log=True)
    t = args.threads
    learners = {
        "naive (softmax)": Naive(num_threads=t),
        "naive (logistic)": Naive(loss="logistic", num_threads=t),
        "ips (softmax)": IPS(num_threads=t),
        "ips (squared)": IPS(loss="squared", num_threads=t),
        "tower (5 iterations)": PositionTower(num_threads=t),
        "lgbm_position": LGBMPosition(num_threads=t),
        "skyline (lambdarank, all labels)": FullInformation(num_threads=t),
        "naive (linear backend)": Naive(backend="linear"),
    }
    rows = []
    load_before = os.getloadavg()[0]
    for name, learner in learners.items():
        if args.only and args.only not in name:
            continue
        runs = run_times(lambda: learner.fit(data, run.statistics, log=run.log), args.repeats)
        median = runs[len(runs) // 2]
        rows.append({"learner": name, "median_seconds": median[0], "min_seconds": runs[0][0],
                     "median_cpu_seconds": median[1], "seconds": [r[0] for r in runs]})
    load = os.getloadavg()[0]
    print(f"{args.sessions:,} sessions over {data.n_queries:,} queries x 50 documents; LightGBM threads {t}; "
          f"{args.repeats} fits each; load average {load_before:.2f} before, {load:.2f} after")
    print("| learner | fit seconds (median) | fastest | CPU seconds (median fit) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['learner']} | {row['median_seconds']:.1f} | {row['min_seconds']:.1f} "
              f"| {row['median_cpu_seconds']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "threads": t, "load_before": load_before,
                                           "load_after": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
