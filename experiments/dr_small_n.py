"""Why doubly robust trails IPS at few sessions under deterministic logging (issue 15, the DR row).

The one-round setting of ``experiments/debiasing_study.py`` (default
synthetic data, 75 % served, the logger trained on 1 % of the served
queries' labels, deterministic top 10, PBM eta = 1, 5 seeds).  For each N it
prints, per rank of the logger's list, the mean true attractiveness of the
documents shown there and the mean IPS and DR target (``IPS._targets``,
``DR._targets``, default settings) with the share of targets that are
exactly 0, and the held-out NDCG@10 of the two learners and of DR's
regression alone (clipped to [0, 1], as DR reads it).

Under a deterministic logger a shown document's realised impressions are
its expected ones, so DR's target is IPS's wherever the per-cell clip does
not bind, and (1 - A_d / floor) R_hat_d + C_d / floor where it does; the
table shows what that does to the targets within a list.

Usage::

    python experiments/dr_small_n.py [--sizes 1000,10000,100000] [--seeds 0,1,2,3,4]
"""

import numpy as np

from clickloop._arguments import OneLineParser, int_list, seed_list
from debiasing_study import _Setting  # the study's data, split and logger per seed
from ltr import DR, IPS
from simulator import PBM

K = 10


def per_rank(setting, n):
    """{name: (k, 3) array of mean target, share of zeros, mean true attractiveness} and held-out NDCG@10."""
    stats = setting.simulate("deterministic", K, PBM(eta=1.0), n).statistics
    ips, dr = IPS(seed=setting.seed), DR(seed=setting.seed)
    rows, _, _, ips_targets, _ = ips._targets(setting.train, stats)
    dr_rows, _, _, dr_targets = dr._targets(setting.train, stats)
    if not np.array_equal(rows, dr_rows):
        raise SystemExit("IPS and DR train on different documents")
    rank = np.argmax(stats.take("impressions", rows), axis=1)  # one rank per document: a deterministic list
    truth = PBM(eta=1.0).affine_parameters(setting.train.labels, K)[3][rows]
    out = {}
    for name, targets in (("ips", ips_targets), ("dr", dr_targets)):
        out[name] = np.array([[targets[rank == r].mean(), np.mean(targets[rank == r] == 0),
                               truth[rank == r].mean()] for r in range(K)])
    scores = {"ips": setting.score(ips.fit(setting.train, stats)), "dr": setting.score(dr.fit(setting.train, stats)),
              "r_hat": setting.score(_Clipped(dr.direct_model_))}
    return out, scores


class _Clipped:
    """The regression R_hat as DR reads it: its prediction clipped to [0, 1]."""

    def __init__(self, model):
        self.model = model

    def predict(self, features):
        return np.clip(self.model.predict(features), 0.0, 1.0)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default="1000,10000,100000")
    parser.add_argument("--seeds", type=seed_list, default="0,1,2,3,4")
    args = parser.parse_args(argv)
    sizes, seeds = args.sizes, args.seeds
    for n in sizes:
        tables, scores = [], []
        for seed in seeds:
            table, score = per_rank(_Setting.get(seed), n)
            tables.append(table)
            scores.append(score)
        ips = np.mean([t["ips"] for t in tables], axis=0)
        dr = np.mean([t["dr"] for t in tables], axis=0)
        ndcg = {name: np.mean([s[name] for s in scores]) for name in ("ips", "dr", "r_hat")}
        print(f"\nN = {n:,} sessions, {len(seeds)} seeds: held-out NDCG@10 IPS {ndcg['ips']:.3f}, "
              f"DR {ndcg['dr']:.3f}, DR's regression R_hat alone {ndcg['r_hat']:.3f}\n")
        print("| rank | true attractiveness | IPS target | IPS targets = 0 | DR target | DR targets = 0 |")
        print("|---:|---:|---:|---:|---:|---:|")
        for r in range(K):
            print(f"| {r + 1} | {ips[r, 2]:.3f} | {ips[r, 0]:.3f} | {ips[r, 1]:.0%} | {dr[r, 0]:.3f} | "
                  f"{dr[r, 1]:.0%} |")


if __name__ == "__main__":
    main()
