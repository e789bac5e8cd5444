"""Throughput of the whole session pipeline: draw a query, rank, click, aggregate.

Two settings of issue "Logging policies, session simulation and persistent
click logs": Plackett-Luce over 50 candidates showing the top 10, and a
deterministic policy (ranking computed once per query); PBM clicks; the
statistics aggregated as the sessions are simulated.  Reported in M sessions/s
(best of ``--repeats``), with the machine load at the start.

Usage::

    python benchmarks/bench_sessions.py [--sessions 10000000] [--json out.json]
"""

import json
import os

import numba
import numpy as np


from policies import Deterministic, PlackettLuce
from simulator import PBM, make_synthetic, simulate_sessions
from clickloop._arguments import OneLineParser, output_file, positive_int
from _timing import best_time


def make_scorer(features):
    """A linear scorer on standardised features with unit-norm weights: scores of a few units,
    so softmax(scores / 1) is a genuinely stochastic Plackett-Luce policy."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-12
    weights = np.linspace(1.0, -1.0, features.shape[1])
    weights /= np.linalg.norm(weights)
    return lambda X: ((X - mean) / std) @ weights


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=10_000_000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--json", type=output_file)
    args = parser.parse_args(argv)
    data = make_synthetic(n_queries=10_000, docs_per_query=50, n_features=20, seed=0)
    model = PBM(eta=1.0)
    scorer = make_scorer(data.features)
    rows = []
    for name, policy in (("plackett_luce(T=1), 50 candidates, top 10", PlackettLuce(scorer, 10, 1.0)),
                         ("deterministic, 50 candidates, top 10", Deterministic(scorer, 10))):
        bound = policy.bind(data.features, data.query_boundaries)
        # the fused kernel (default) and the general pipeline, which give identical statistics
        for fused, label in ((True, name), (False, name + " (general pipeline)")):
            simulate_sessions(data, bound, model, 10_000, seed=0, fused=fused)  # compile outside the timing
            best = best_time(lambda: simulate_sessions(data, bound, model, args.sessions, seed=1, fused=fused),
                             args.repeats)
            rows.append({"pipeline": label, "sessions_per_s": args.sessions / best})
    load = os.getloadavg()[0]
    print(f"{args.sessions:,} sessions, numba threads {numba.get_num_threads()}, load average {load:.2f}")
    print("| pipeline (query draw + rank + PBM clicks + aggregation) | M sessions/s |")
    print("|---|---:|")
    for row in rows:
        print(f"| {row['pipeline']} | {row['sessions_per_s'] / 1e6:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
