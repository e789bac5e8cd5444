"""clickloop's main command.

Until the multi-round feedback loop lands, this runs the click-simulation demo:
a synthetic data set, a logging ranker of middling quality (rank by
w * y + (1 - w) * U(0, 4), Zhang et al. 2023, w = 0.5) showing the top 10, and
every click-model preset of ../shared/REFERENCE.md simulating the same
sessions.  It prints the click-through rate by rank and writes
``OUT/ctr_by_rank.csv`` and ``OUT/plots/ctr_by_rank.{png,svg}``.

Usage::

    python run_simulation.py [--out results] [--sessions 1000000] [--seed 0]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

K = 10
DEMO_MODELS = ["pbm", "pbm_eye_tracking", "trust_vardasbi", "cascade", "dcm_informational", "dbn", "ubm"]


def _logged_rankings(dataset, n_sessions, seed):
    """Displayed top-K of each session: a uniformly drawn query ranked by a noisy logger."""
    rng = np.random.default_rng(seed)
    sizes = dataset.query_sizes
    starts = dataset.query_boundaries[:-1]
    w = 0.5
    score = w * dataset.labels + (1 - w) * rng.uniform(0, 4, size=dataset.n_docs)
    top = np.full((dataset.n_queries, K), -1, dtype=np.int32)
    for q in range(dataset.n_queries):
        order = np.argsort(-score[starts[q]: starts[q] + sizes[q]], kind="stable")[:K]
        top[q, : order.size] = starts[q] + order
    queries = rng.integers(0, dataset.n_queries, size=n_sessions)
    return top[queries]


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


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def main(argv=None):
    parser = _OneLineParser(description="clickloop click-simulation demo")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--sessions", type=_positive_int, default=1_000_000, help="sessions per click model")
    parser.add_argument("--seed", type=_seed, default=0)
    args = parser.parse_args(argv)

    from analysis import plot_ctr_by_rank
    from simulator import click_model, make_synthetic

    start = time.perf_counter()
    dataset = make_synthetic(n_queries=2000, docs_per_query=(20, 60), seed=args.seed)
    displayed = _logged_rankings(dataset, args.sessions, args.seed)
    ctr = {}
    for i, name in enumerate(DEMO_MODELS):
        sim = click_model(name).simulate(displayed, dataset.labels, seed=args.seed + 1 + i)
        ctr[name] = sim.ctr_by_rank
    elapsed = time.perf_counter() - start

    print(f"{dataset.n_queries} synthetic queries, {dataset.n_docs} documents; "
          f"{args.sessions:,} sessions per click model, top {K} of a noisy logger")
    print("model".ljust(20) + "".join(f"{'@' + str(r):>7}" for r in range(1, K + 1)))
    for name, values in ctr.items():
        print(name.ljust(20) + "".join(f"{v:7.3f}" for v in values))

    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "ctr_by_rank.csv"
    tmp = csv.with_name(csv.name + ".tmp")
    with open(tmp, "w") as f:
        f.write("model,rank,ctr\n")
        for name, values in ctr.items():
            for r, v in enumerate(values, start=1):
                f.write(f"{name},{r},{v:.6f}\n")
    tmp.replace(csv)
    plots = plot_ctr_by_rank(ctr, args.out / "plots" / "ctr_by_rank",
                             title=f"CTR by rank, {args.sessions:,} sessions per click model")
    print(f"wrote {csv} and {', '.join(str(p) for p in plots)} in {elapsed:.1f} s of simulation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
