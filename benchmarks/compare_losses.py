"""Which proxy loss ranks best? Naive and IPS learners under the three losses.

Liang et al. 2018 (Mult-VAE) argue that the multinomial likelihood (listwise
softmax) suits top-N ranking best because documents compete for probability
mass.  This script tests that claim in clickloop's own setting: a fixed
synthetic dataset (1,000 queries x 30 documents, 75 % for training), an
initial logger trained on 2 % of the training queries showing its
deterministic top 10, PBM clicks with eta in {0, 1}, 10^6 sessions, and NDCG@10
on the held-out queries' true labels, mean and standard deviation over seeds.

A second table adds the position tower (its own pointwise likelihood, with
per-query intercepts) beside naive and IPS under their default softmax loss,
with the largest relative error of the tower's theta_k / theta_1 against
(1/k)^eta over k <= 10: under this deterministic logger theta is confounded
with the logger's ordering (see ``PositionTower``).

Usage::

    python benchmarks/compare_losses.py [--seeds 3] [--sessions 1000000] [--json out.json]
"""

import argparse
import json
from pathlib import Path

import numpy as np


from analysis import ndcg, top_k
from ltr import IPS, FullInformation, Naive, PositionTower
from simulator import PBM, ClickStatistics, aggregate_clicks, make_synthetic

K = 10
LOSSES = ("logistic", "squared", "softmax")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    data = make_synthetic(n_queries=1000, docs_per_query=30, seed=0)
    train, test = data.split((0.75, 0.25), seed=0)
    logger = FullInformation(query_fraction=0.02, seed=0).fit(train)
    lists = top_k(logger.predict(train.features), train.query_boundaries, K)
    results = {}
    for eta in (0.0, 1.0):
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            displayed = lists[rng.integers(0, train.n_queries, size=args.sessions)]
            sim = PBM(eta=eta).simulate(displayed, train.labels, seed=seed)
            stats = ClickStatistics.empty(train.n_docs, K)
            aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
            for loss in LOSSES:
                for name, learner in (("naive", Naive(loss=loss, seed=seed)), ("ips", IPS(loss=loss, seed=seed))):
                    scores = learner.fit(train, stats).predict(test.features)
                    value = float(ndcg(scores, test.labels, test.query_boundaries, k=10).mean())
                    results.setdefault((eta, name, loss), []).append(value)
            tower = PositionTower(seed=seed).fit(train, stats)
            value = float(ndcg(tower.predict(test.features), test.labels, test.query_boundaries, k=10).mean())
            results.setdefault((eta, "tower", "own"), []).append(value)
            truth = (1.0 / np.arange(1, K + 1)) ** eta
            results.setdefault((eta, "tower", "theta_error"), []).append(float(np.max(np.abs(tower.theta_ / truth - 1))))
    logger_ndcg = float(ndcg(logger.predict(test.features), test.labels, test.query_boundaries).mean())
    print(f"NDCG@10 on held-out queries, mean ± sd over {args.seeds} seeds, {args.sessions:,} sessions; "
          f"initial logger {logger_ndcg:.4f}")
    print("| eta | learner | " + " | ".join(LOSSES) + " |")
    print("|---|---|" + "---:|" * len(LOSSES))
    for eta in (0.0, 1.0):
        for name in ("naive", "ips"):
            cells = [f"{np.mean(results[eta, name, loss]):.4f} ± {np.std(results[eta, name, loss], ddof=1):.4f}"
                     for loss in LOSSES]
            print(f"| {eta:g} | {name} | " + " | ".join(cells) + " |")
    print()
    print("| eta | naive (softmax) | ips (softmax) | tower | tower max theta error |")
    print("|---|---:|---:|---:|---:|")
    for eta in (0.0, 1.0):
        cells = [results[eta, "naive", "softmax"], results[eta, "ips", "softmax"], results[eta, "tower", "own"],
                 results[eta, "tower", "theta_error"]]
        print(f"| {eta:g} | " + " | ".join(f"{np.mean(c):.4f} ± {np.std(c, ddof=1):.4f}" for c in cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({f"{e}/{n}/{l}": v for (e, n, l), v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
