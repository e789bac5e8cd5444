"""Fit time of PLRank and LambdaMARTClicks at 10^6 sessions over 10^4 queries x 50 documents.

Setting as in ``benchmarks/bench_learners.py``: synthetic data (10,000
queries x 50 documents x 20 features), a deterministic top 10 of a linear
scorer, PBM clicks (eta = 1), statistics aggregated per (document, rank).
With ``--logging plackett_luce`` the logger samples its top 10 from a
Plackett-Luce policy on the same scores (temperature 1), so more documents
per query are shown.  The naive listwise-softmax learner is timed in the same
process as the baseline.  Reported: wall seconds of ``fit`` with LightGBM on
``--threads`` threads (numba's kernels run on numba's threads, set to the
same number), median and minimum of ``--repeats`` fits, and the process CPU
seconds of the median fit.  The first fit of each learner is preceded by one
untimed small fit, so Numba compilation (cached on disk) is not timed.

Usage::

    python benchmarks/bench_pl_rank.py [--sessions 1000000] [--threads 2] [--repeats 3]
                                       [--logging deterministic] [--json out.json]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltr import LambdaMARTClicks, Naive, PLRank  # noqa: E402
from policies import Deterministic, PlackettLuce  # noqa: E402
from simulator import PBM, make_synthetic, simulate_sessions  # noqa: E402


def _scorer(X):
    return X @ np.linspace(1.0, -1.0, X.shape[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--logging", choices=("deterministic", "plackett_luce"), default="deterministic")
    parser.add_argument("--only", help="fit only the learners whose name contains this text")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    data = make_synthetic(n_queries=10_000, docs_per_query=50, n_features=20, seed=0)
    policy = (Deterministic(_scorer, 10) if args.logging == "deterministic"
              else PlackettLuce(_scorer, 10, temperature=1.0))
    stats = simulate_sessions(data, policy, PBM(eta=1.0), args.sessions, seed=0).statistics
    shown = int(np.count_nonzero(stats.impressions.sum(axis=1)))
    t = args.threads
    learners = {
        "naive (softmax), baseline": Naive(num_threads=t),
        "pl_rank (ips, dcg@10, 32 samples)": PLRank(targets="ips", num_threads=t),
        "pl_rank (ips, ndcg@10, 32 samples)": PLRank(targets="ips", metric="ndcg", num_threads=t),
        "pl_rank (ips, dcg@10, 100 samples)": PLRank(targets="ips", n_samples=100, num_threads=t),
        "lambdamart (ips, binned 31 grades)": LambdaMARTClicks(targets="ips", num_threads=t),
        "lambdamart (ips, real gains)": LambdaMARTClicks(targets="ips", labels="real", num_threads=t),
    }
    warm = make_synthetic(n_queries=20, docs_per_query=10, n_features=20, seed=1)
    warm_stats = simulate_sessions(warm, Deterministic(_scorer, 5), PBM(eta=1.0), 200, seed=0).statistics
    rows = []
    load_before = os.getloadavg()[0]
    for name, learner in learners.items():
        if args.only and args.only not in name:
            continue
        learner.set_params(n_estimators=2).fit(warm, warm_stats)   # compile / load the numba cache
        learner.set_params(n_estimators=100)
        runs = []
        for _ in range(max(args.repeats, 1)):
            start, cpu = time.perf_counter(), time.process_time()
            learner.fit(data, stats)
            runs.append((time.perf_counter() - start, time.process_time() - cpu))
        runs.sort()
        median = runs[len(runs) // 2]
        rows.append({"learner": name, "median_seconds": median[0], "min_seconds": runs[0][0],
                     "median_cpu_seconds": median[1], "seconds": [r[0] for r in runs]})
    load = os.getloadavg()[0]
    print(f"{args.sessions:,} sessions ({args.logging} top-10 logging) over {data.n_queries:,} queries x 50 "
          f"documents, {shown:,} documents shown; LightGBM and numba threads {t}; {args.repeats} fits each; "
          f"load average {load_before:.2f} before, {load:.2f} after")
    print("| learner | fit seconds (median) | fastest | CPU seconds (median fit) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['learner']} | {row['median_seconds']:.1f} | {row['min_seconds']:.1f} "
              f"| {row['median_cpu_seconds']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "threads": t, "logging": args.logging,
                                           "shown_documents": shown, "load_before": load_before,
                                           "load_after": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
