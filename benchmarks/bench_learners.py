"""Fit time of every learner on the aggregated log of 10^6 sessions over 10^4 queries x 50 documents.

Setting: synthetic data (10,000 queries x 50 documents x 20 features), a
deterministic top 10 of a linear scorer, PBM clicks (eta = 1), statistics
aggregated per (document, rank); ``lgbm_position`` gets the session log
(its objective is defined on sessions, at most 50,000 sessions with a
click are used).  Reported: wall seconds of ``fit`` with LightGBM on
``--threads`` threads (default 2).

Usage::

    python benchmarks/bench_learners.py [--sessions 1000000] [--threads 2] [--json out.json]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltr import IPS, FullInformation, LGBMPosition, Naive, PositionTower  # noqa: E402
from policies import Deterministic  # noqa: E402
from simulator import PBM, make_synthetic, simulate_sessions  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
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
    for name, learner in learners.items():
        start = time.perf_counter()
        learner.fit(data, run.statistics, log=run.log)
        rows.append({"learner": name, "seconds": time.perf_counter() - start})
    load = os.getloadavg()[0]
    print(f"{args.sessions:,} sessions over {data.n_queries:,} queries x 50 documents; LightGBM threads {t}; "
          f"load average {load:.2f}")
    print("| learner | fit seconds |")
    print("|---|---:|")
    for row in rows:
        print(f"| {row['learner']} | {row['seconds']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "threads": t, "load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
