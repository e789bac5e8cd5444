"""Fit time of the debiased learners, and the one-round study of IPS and DR against the number of sessions.

Fit times (default): 10^6 sessions over 10^4 queries x 50 documents x 20
features (as ``bench_learners.py``), a deterministic top 10 of a linear
scorer and PBM clicks (eta = 1), or Plackett-Luce logging with
``placement=True`` for the policy-aware learners; the median and minimum
wall seconds of ``--repeats`` fits of each new learner, naive timed in the
same process.  Cascade-model IPS gets the session log (DCM clicks).

One-round study (``--clip-study``): synthetic data (1000 queries x 50
documents, 75 % train / 25 % test by query), a logger trained on 1 % of the
training labels (``FullInformation(query_fraction=0.01)``), its
deterministic top 10, PBM clicks (eta = 1), N = 10^3 .. 10^6 sessions,
held-out NDCG@10 per seed; the logger and the skyline (all labels) as
references.

Usage::

    python benchmarks/bench_debiased.py [--sessions 1000000] [--threads 2] [--repeats 3]
    python benchmarks/bench_debiased.py --clip-study [--seeds 0 1 2]
"""

import time

import numpy as np


from analysis import ndcg
from ltr import DR, IPS, FullInformation, Naive
from policies import Deterministic, PlackettLuce
from simulator import DCM, PBM, make_synthetic, simulate_sessions
from clickloop._arguments import OneLineParser, nonnegative_int, positive_int
from _timing import run_times


def _time(learner, data, stats, log, repeats):
    runs = run_times(lambda: learner.fit(data, stats, log=log), repeats)
    return runs[len(runs) // 2][0], runs[0][0]


def fit_times(args):
    data = make_synthetic(n_queries=10_000, docs_per_query=50, n_features=20, seed=0)
    scorer = lambda X: X @ np.linspace(1.0, -1.0, X.shape[1])  # noqa: E731
    t = args.threads
    start = time.perf_counter()
    det = simulate_sessions(data, Deterministic(scorer, 10), PBM(eta=1.0), args.sessions, seed=0).statistics
    pl = simulate_sessions(data, PlackettLuce(scorer, 10), PBM(eta=1.0), args.sessions, seed=0,
                           placement=True).statistics
    half = args.sessions // 2  # two rankers for harvesting: the linear scorer and its noisy copy
    noisy = lambda X: scorer(X) + 0.5 * X[:, 0]  # noqa: E731
    pooled = (simulate_sessions(data, Deterministic(scorer, 10), PBM(eta=1.0), half, seed=1).statistics
              + simulate_sessions(data, Deterministic(noisy, 10), PBM(eta=1.0), half, seed=2,
                                  first_session=half).statistics)
    dcm = simulate_sessions(data, Deterministic(scorer, 10), DCM(), args.sessions, seed=0, keep_log=True)
    print(f"simulation of the logs: {time.perf_counter() - start:.1f} s")
    cases = [
        ("naive (softmax), deterministic log", Naive(num_threads=t), det, None),
        ("ips oracle (softmax)", IPS(num_threads=t), det, None),
        ("ips policy_oblivious", IPS(propensity="policy_oblivious", num_threads=t), det, None),
        ("ips policy_aware (Plackett-Luce log)", IPS(propensity="policy_aware", num_threads=t), pl, None),
        ("ips estimated harvesting (2 rankers)", IPS(propensity="estimated", num_threads=t), pooled, None),
        ("ips estimated em (Plackett-Luce log)", IPS(propensity="estimated", estimator="em", num_threads=t), pl,
         None),
        ("ips cascade_model dcm (DCM log)", IPS(propensity="cascade_model", num_threads=t), dcm.statistics,
         dcm.log),
        ("dr oracle (deterministic log)", DR(num_threads=t), det, None),
        ("dr policy_aware (Plackett-Luce log)", DR(propensity="policy_aware", num_threads=t), pl, None),
    ]
    print(f"{args.sessions:,} sessions over {data.n_queries:,} queries x 50 documents; LightGBM threads {t}; "
          f"median of {args.repeats} fits")
    print("| learner | fit seconds (median) | fastest |")
    print("|---|---:|---:|")
    for name, learner, stats, log in cases:
        median, fastest = _time(learner, data, stats, log, args.repeats)
        print(f"| {name} | {median:.2f} | {fastest:.2f} |", flush=True)


def clip_study(args):
    sizes = [10**e for e in range(3, 7)]
    learners = {
        "naive": lambda s: Naive(seed=s),
        "ips auto": lambda s: IPS(seed=s),
        "ips global": lambda s: IPS(clip="global", seed=s),
        "dr auto": lambda s: DR(seed=s),
    }
    results = {}
    refs = {}
    for seed in args.seeds:
        data = make_synthetic(seed=seed)
        train, test = data.split((0.75, 0.25), seed=seed)
        score = lambda model: float(ndcg(model.predict(test.features), test.labels, test.query_boundaries,  # noqa
                                         k=10).mean())
        logger = FullInformation(query_fraction=0.01, seed=seed).fit(train)
        refs[seed] = (score(logger), score(FullInformation(seed=seed).fit(train)))
        policy = Deterministic(logger.predict, 10)
        for n in sizes:
            stats = simulate_sessions(train, policy, PBM(eta=1.0), n, seed=seed).statistics
            for name, make in learners.items():
                results[name, n, seed] = score(make(seed).fit(train, stats))
            print(seed, n, {name: round(results[name, n, seed], 4) for name in learners}, flush=True)
    logger, skyline = np.mean([r[0] for r in refs.values()]), np.mean([r[1] for r in refs.values()])
    print(f"\nlogger {logger:.4f}, skyline {skyline:.4f} (mean of seeds {list(args.seeds)})")
    print("| learner | " + " | ".join(f"N = 10^{int(np.log10(n))}" for n in sizes) + " | Spearman |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name in learners:
        means = [np.mean([results[name, n, s] for s in args.seeds]) for n in sizes]
        sds = [np.std([results[name, n, s] for s in args.seeds], ddof=1) for n in sizes]
        rho = np.corrcoef(np.argsort(np.argsort(means)), np.arange(len(sizes)))[0, 1]
        print(f"| {name} | " + " | ".join(f"{m:.4f} +- {sd:.4f}" for m, sd in zip(means, sds)) + f" | {rho:.2f} |")
    for name in learners:
        gap = (np.mean([results[name, sizes[-1], s] for s in args.seeds]) - logger) / (skyline - logger)
        print(f"{name}: share of the logger-to-skyline gap closed at 10^6: {100 * gap:.1f} %")


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=1_000_000)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--clip-study", action="store_true")
    parser.add_argument("--seeds", type=nonnegative_int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    clip_study(args) if args.clip_study else fit_times(args)


if __name__ == "__main__":
    main()
