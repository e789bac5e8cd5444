"""Throughput of ``BoundPolicy.rank`` for the deterministic and Plackett-Luce policies.

2,000 queries of 50 candidates each (features standard normal, a linear
scorer), ``k`` = 10, ``--sessions`` sessions (default 2 * 10^6) with uniformly
drawn queries; ``rank`` alone (no clicks), in M sessions/s, best of
``--repeats``, with 1 and 2 numba threads (capped at the threads numba has),
next to the smallest process CPU time per session (summed over threads: less
sensitive than the wall clock to other work on shared cores).
Plackett-Luce is measured at T = 1 (the scores' standard deviation is about
2.7, so the weights are peaked) and at T = 20 (nearly uniform weights).  The
machine's load average is printed before and after, since the cores may be
shared.

Usage::

    python benchmarks/bench_policies.py [--sessions 2000000] [--repeats 3] [--json out.json]
"""

import json
import os
import platform

import numba
import numpy as np


from policies import Deterministic, PlackettLuce
from clickloop._arguments import OneLineParser, output_file, positive_int
from _timing import run_times

N_QUERIES = 2_000
CANDIDATES = 50
N_FEATURES = 20
K = 10


def scorer(features):
    return features @ np.linspace(1.0, -1.0, features.shape[1])


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=2_000_000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--json", type=output_file)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    features = rng.normal(size=(N_QUERIES * CANDIDATES, N_FEATURES))
    boundaries = np.arange(0, N_QUERIES * CANDIDATES + 1, CANDIDATES, dtype=np.int64)
    queries = rng.integers(0, N_QUERIES, size=args.sessions).astype(np.int64)
    policies = {
        "deterministic": Deterministic(scorer, K),
        "plackett_luce(T=1)": PlackettLuce(scorer, K, temperature=1.0),
        "plackett_luce(T=20)": PlackettLuce(scorer, K, temperature=20.0),
    }
    thread_counts = sorted({min(t, numba.config.NUMBA_NUM_THREADS) for t in (1, 2)})
    load_before = os.getloadavg()
    rows = []
    before = numba.get_num_threads()
    try:
        for name, policy in policies.items():
            bound = policy.bind(features, boundaries)
            bound.rank(queries[:10_000], seed=0)  # compile (or load the cache) outside the timing
            for threads in thread_counts:
                numba.set_num_threads(threads)
                runs = run_times(lambda: bound.rank(queries, seed=1), args.repeats)
                wall, cpu = runs[0][0], min(c for _, c in runs)  # smallest wall and smallest CPU time
                rows.append({"policy": name, "threads": threads, "seconds": wall, "cpu_seconds": cpu,
                             "sessions_per_s": args.sessions / wall,
                             "cpu_ns_per_session": cpu / args.sessions * 1e9})
    finally:
        numba.set_num_threads(before)
    load_after = os.getloadavg()

    print(f"rank(): {args.sessions:,} sessions, {N_QUERIES:,} queries x {CANDIDATES} candidates, k = {K}, "
          f"best of {args.repeats}; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print(f"load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}")
    print("| policy | numba threads | M sessions/s (wall) | CPU ns/session (all threads) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['policy']} | {row['threads']} | {row['sessions_per_s'] / 1e6:.2f} | "
              f"{row['cpu_ns_per_session']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({
            "sessions": args.sessions, "queries": N_QUERIES, "candidates": CANDIDATES, "k": K,
            "repeats": args.repeats, "load_before": load_before, "load_after": load_after, "rows": rows,
        }, indent=2))


if __name__ == "__main__":
    main()
