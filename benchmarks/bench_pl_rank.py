"""Fit time of PLRank and LambdaMARTClicks at 10^6 sessions over 10^4 queries x 50 documents.

Setting as in ``benchmarks/bench_learners.py``: synthetic data (10,000
queries x 50 documents x 20 features), a deterministic top 10 of a linear
scorer, PBM clicks (eta = 1), statistics aggregated per (document, rank).
With ``--logging plackett_luce`` the logger samples its top 10 from a
Plackett-Luce policy on the same scores (temperature 1), so more documents
per query are shown.  The naive listwise-softmax learner is timed in the same
process as the baseline.  On a machine shared with other processes, set
``OMP_WAIT_POLICY=PASSIVE``: OpenMP threads (LightGBM's and numba's) that
spin at barriers while the other pool or another process needs the core
slowed these fits 3-7x at load 5-7 on 2 cores.  Reported: wall seconds of ``fit`` with LightGBM on
``--threads`` threads (numba's kernels run on numba's threads, set to the
same number), median and minimum of ``--repeats`` fits, and the process CPU
seconds of the median fit.  The first fit of each learner is preceded by one
untimed small fit, so Numba compilation (cached on disk) is not timed.

``--compare`` instead runs the one-round comparison of the learners on the
same click statistics: the default experiment's data (1,000 synthetic
queries with 20-40 candidates, 20 % held out), a logger trained on 1 % of the
training queries' labels (``FullInformation(query_fraction=0.01)``), served
as a Plackett-Luce top 10 on its standardised scores (temperature 1, as the
loop serves ``policy.kind = "plackett_luce"``), PBM clicks (eta = 1, graded
mapping with 10 % noise), ``--sessions`` sessions; reported: held-out NDCG@10
(queries without a relevant document count 1) of each learner per seed and
its mean, and the fit seconds.

Usage::

    python benchmarks/bench_pl_rank.py [--sessions 1000000] [--threads 2] [--repeats 3]
                                       [--logging deterministic] [--json out.json]
    python benchmarks/bench_pl_rank.py --compare [--seeds 0 1 2] [--sessions 1000000]
    python benchmarks/bench_pl_rank.py --compare --learning-rates 0.1 0.3 1.0
    python benchmarks/bench_pl_rank.py --compare --n-samples 8 16 32 100
"""

import json
import os
import time

import numba
import numpy as np


from ltr import LambdaMARTClicks, Naive, PLRank
from policies import Deterministic, PlackettLuce
from simulator import PBM, make_synthetic, simulate_sessions
from clickloop._arguments import OneLineParser, nonnegative_int, output_file, positive_int
from _timing import run_times


def _scorer(X):
    return X @ np.linspace(1.0, -1.0, X.shape[1])


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=1_000_000)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--logging", choices=("deterministic", "plackett_luce"), default="deterministic")
    parser.add_argument("--only", help="fit only the learners whose name contains this text")
    parser.add_argument("--json", type=output_file)
    parser.add_argument("--compare", action="store_true", help="held-out NDCG@10 comparison instead of timing")
    parser.add_argument("--seeds", type=nonnegative_int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--learning-rates", type=float, nargs="+",
                        help="with --compare: PLRank (IPS, DCG@10) at these learning rates instead (first seed)")
    parser.add_argument("--n-samples", type=positive_int, nargs="+",
                        help="with --compare: PLRank (IPS, DCG@10) with these sample counts instead (first seed)")
    args = parser.parse_args(argv)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.compare:
        return compare(args)
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
        runs = run_times(lambda: learner.fit(data, stats), args.repeats)
        median = runs[len(runs) // 2]
        rows.append({"learner": name, "median_seconds": median[0], "min_seconds": runs[0][0],
                     "median_cpu_seconds": median[1], "seconds": [r[0] for r in runs]})
    load = os.getloadavg()[0]
    print(f"{args.sessions:,} sessions ({args.logging} top-10 logging) over {data.n_queries:,} queries x 50 "
          f"documents, {shown:,} documents shown; LightGBM and numba threads {t}; {args.repeats} fits each; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
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


class _Standardised:
    """Scores standardised over the whole data set (as the loop serves Plackett-Luce)."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, features):
        s = np.asarray(self.scorer(features), dtype=np.float64)
        return (s - s.mean()) / (s.std() + 1e-12)


def compare(args):
    from analysis._metrics import ndcg
    from ltr import DR, IPS, FullInformation
    from simulator import GradeMapping

    full = make_synthetic(n_queries=1000, docs_per_query=(20, 40), n_features=20, seed=0)
    train, test = full.split((0.8, 0.2), seed=0)
    clicks = PBM(eta=1.0, attractiveness=GradeMapping.graded(eps_minus=0.1))
    t = args.threads
    learners = {
        "naive (softmax)": lambda seed: Naive(num_threads=t, seed=seed),
        "ips (softmax)": lambda seed: IPS(num_threads=t, seed=seed),
        "dr (softmax)": lambda seed: DR(num_threads=t, seed=seed),
        "pl_rank (dr, dcg@10)": lambda seed: PLRank(targets="dr", num_threads=t, seed=seed),
        "pl_rank (dr, ndcg@10)": lambda seed: PLRank(targets="dr", metric="ndcg", num_threads=t, seed=seed),
        "lambdamart (dr, real gains)": lambda seed: LambdaMARTClicks(targets="dr", labels="real", num_threads=t,
                                                                     seed=seed),
        "pl_rank (ips, dcg@10)": lambda seed: PLRank(targets="ips", num_threads=t, seed=seed),
        "pl_rank (ips, ndcg@10)": lambda seed: PLRank(targets="ips", metric="ndcg", num_threads=t, seed=seed),
        "lambdamart (ips, binned 31 grades)": lambda seed: LambdaMARTClicks(num_threads=t, seed=seed),
        "lambdamart (ips, binned 5 grades)": lambda seed: LambdaMARTClicks(n_grades=5, num_threads=t, seed=seed),
        "lambdamart (ips, real gains)": lambda seed: LambdaMARTClicks(labels="real", num_threads=t, seed=seed),
        "skyline (lambdarank, all labels)": lambda seed: FullInformation(num_threads=t, seed=seed),
    }
    if args.learning_rates:
        args.seeds = args.seeds[:1]
        learners = {f"pl_rank (ips, dcg@10, learning_rate {lr:g})":
                    (lambda seed, lr=lr: PLRank(targets="ips", learning_rate=lr, num_threads=t, seed=seed))
                    for lr in args.learning_rates}
    if args.n_samples:
        args.seeds = args.seeds[:1]
        learners = {f"pl_rank (ips, dcg@10, {n} samples)":
                    (lambda seed, n=n: PLRank(targets="ips", n_samples=n, num_threads=t, seed=seed))
                    for n in args.n_samples}
    scores = {name: [] for name in ["logger", *learners]}
    stochastic = {name: [] for name in ["logger", *learners]}
    seconds = {name: [] for name in learners}
    for seed in args.seeds:
        logger = FullInformation(query_fraction=0.01, num_threads=t, seed=seed).fit(train)
        policy = PlackettLuce(_Standardised(logger.predict), 10, temperature=1.0)
        stats = simulate_sessions(train, policy, clicks, args.sessions, seed=seed).statistics
        fitted = {"logger": logger}
        for name, make in learners.items():
            start = time.perf_counter()
            fitted[name] = make(seed).fit(train, stats)
            seconds[name].append(time.perf_counter() - start)
        for name, learner in fitted.items():
            s = learner.predict(test.features)
            if hasattr(learner, "expected_metric_"):
                print(f"{name}: training expected DCG@10 {learner.expected_metric_[0]:.3f} before the first "
                      f"round, {learner.expected_metric_[-1]:.3f} before the last; held-out score std "
                      f"{np.std(s):.2f}")
            scores[name].append(float(np.mean(ndcg(s, test.labels, test.query_boundaries))))
            stochastic[name].append(expected_ndcg(s, test))
        print(f"seed {seed}: " + ", ".join(f"{n} {v[-1]:.4f}" for n, v in scores.items()), flush=True)
    print(f"{args.sessions:,} sessions, Plackett-Luce top-10 logging (T = 1 on standardised logger scores), "
          f"PBM eta 1; held-out NDCG@10 over {test.n_queries} queries; seeds {args.seeds}")
    print("Last column: expected NDCG@10 of the Plackett-Luce policy softmax(scores) at temperature 1 on the raw "
          "scores (PL-Rank's own policy; for the others a policy at an arbitrary scale), 1000 rankings per query")
    print("| learner | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | mean | fit seconds (mean) | PL(T=1) expected NDCG@10 (mean) |")
    print("|---|" + "---:|" * (len(args.seeds) + 3))
    for name, values in scores.items():
        fit = f"{np.mean(seconds[name]):.1f}" if name in seconds else ""
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values)
              + f" | {np.mean(values):.4f} | {fit} | {np.mean(stochastic[name]):.4f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "seeds": args.seeds, "ndcg10": scores,
                                           "pl_expected_ndcg10": stochastic, "fit_seconds": seconds}, indent=2))


def expected_ndcg(scores, test, n_samples=1000, cutoff=10):
    """Mean over queries of the expected NDCG@cutoff of softmax(scores) sampled without replacement.

    Queries without a relevant document count 1 (as ``analysis.ndcg``).
    """
    from ltr import _pl_rank_kernels as kernels
    from simulator.kernels import derive_key

    b = np.asarray(test.query_boundaries, dtype=np.int64)
    gain = 2.0 ** test.labels.astype(np.float64) - 1.0
    discount = 1.0 / np.log2(np.arange(2, cutoff + 2))
    ideal = np.array([np.sum(np.sort(gain[b[q]:b[q + 1]])[::-1][:cutoff] * discount[:min(cutoff, b[q + 1] - b[q])])
                      for q in range(b.size - 1)])
    grad, fisher, value = np.empty(gain.size), np.empty(gain.size), np.empty(b.size - 1)
    kernels.pl_rank_gradient(np.asarray(scores, dtype=np.float64), gain, b, discount, n_samples, derive_key(9),
                             grad, fisher, value)
    return float(np.mean(np.where(ideal > 0, value / np.where(ideal > 0, ideal, 1.0), 1.0)))


if __name__ == "__main__":
    main()
