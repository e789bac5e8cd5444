"""Why doubly robust trails IPS at few sessions under deterministic logging (issue 15, the DR row).

The one-round setting of ``experiments/debiasing_study.py`` (default
synthetic data, 75 % served, the logger trained on 1 % of the served
queries' labels, deterministic top 10, PBM eta = 1, 5 seeds).  For each N it
prints, per rank of the logger's list, the mean true attractiveness of the
documents shown there and the mean IPS and DR target (``IPS._targets``,
``DR._targets``, default settings) with the share of targets that are
exactly 0, and the held-out NDCG@10 of the two learners, of DR's
regression alone (clipped to [0, 1], as DR reads it), of DR with a perfect
regression (R_hat = each document's true attractiveness; the paired
difference to IPS with its 95 % t interval) and of the same ranker fitted on
each shown document's true attractiveness (IPS's rows, groups and weights: no
click noise, no bias), each with the share of held-out queries whose first
document is the logger's first.

Under a deterministic logger a shown document's realised impressions are
its expected ones, so DR's target is IPS's wherever the per-cell clip does
not bind, and (1 - A_d / floor) R_hat_d + C_d / floor where it does; the
table shows what that does to the targets within a list.

Usage::

    python experiments/dr_small_n.py [--sizes 1000,10000,100000] [--seeds 0,1,2,3,4]
"""

import numpy as np

from clickloop._arguments import OneLineParser, int_list, seed_list
from debiasing_study import _interval, _Setting  # the study's data, split, logger and interval
from ltr import DR, IPS
from simulator import PBM

K = 10


def per_rank(setting, n):
    """{name: (k, 3) array of mean target, share of zeros, mean true attractiveness} and held-out NDCG@10."""
    stats = setting.simulate("deterministic", K, PBM(eta=1.0), n).statistics
    ips, dr = IPS(seed=setting.seed), DR(seed=setting.seed)
    rows, groups, sessions, ips_targets, weights = ips._targets(setting.train, stats)
    dr_rows, _, _, dr_targets = dr._targets(setting.train, stats)
    if not np.array_equal(rows, dr_rows):
        raise SystemExit("IPS and DR train on different documents")
    rank = np.argmax(stats.take("impressions", rows), axis=1)  # one rank per document: a deterministic list
    truth_all = PBM(eta=1.0).affine_parameters(setting.train.labels, K)[3]
    truth = truth_all[rows]
    out = {}
    for name, targets in (("ips", ips_targets), ("dr", dr_targets)):
        out[name] = np.array([[targets[rank == r].mean(), np.mean(targets[rank == r] == 0),
                               truth[rank == r].mean()] for r in range(K)])
    # DR with a perfect regression: R_hat = the true attractiveness (what no direct model can beat).
    perfect = DR(seed=setting.seed)
    p_rows, p_sizes, p_sessions, p_targets = perfect._targets(setting.train, stats, r_hat=truth_all)
    perfect._fit_targets(setting.train, p_rows, p_sizes, p_sessions, p_targets, p_sessions)
    # No click noise and no bias: IPS's rows, groups and weights fitted on each target's expectation.
    exact = IPS(seed=setting.seed)._fit_targets(setting.train, rows, groups, sessions, truth, weights)
    models = {"ips": ips.fit(setting.train, stats), "dr": dr.fit(setting.train, stats),
              "r_hat": _Clipped(dr.direct_model_), "dr_true_r_hat": perfect, "exact": exact}
    scores = {name: setting.score(model) for name, model in models.items()}
    scores.update({f"{name}_top1": _keeps_first(setting, model) for name, model in models.items()})
    return out, scores


def _keeps_first(setting, model):
    """Share of held-out queries whose top document under ``model`` is the logger's top document."""
    logger, learned = setting.logger.predict(setting.test.features), model.predict(setting.test.features)
    bounds = setting.test.query_boundaries
    same = [np.argmax(logger[a:b]) == np.argmax(learned[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return float(np.mean(same))


LABELS = {"ips": "IPS", "dr": "DR", "r_hat": "DR's regression R_hat alone (clipped to [0, 1])",
          "dr_true_r_hat": "DR with the true attractiveness as R_hat",
          "exact": "fitted on each shown document's true attractiveness"}


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
        names = ("ips", "dr", "r_hat", "dr_true_r_hat", "exact")
        mean = {key: np.mean([s[key] for s in scores]) for key in scores[0]}
        dr_minus_ips = _interval([s["dr_true_r_hat"] - s["ips"] for s in scores])
        print(f"\nN = {n:,} sessions, {len(seeds)} seeds: held-out NDCG@10 (share of held-out queries whose first "
              f"document is the logger's first)")
        for name in names:
            print(f"  {LABELS[name]:<62} {mean[name]:.3f} ({mean[name + '_top1']:.0%})")
        print(f"  DR with the true attractiveness as R_hat minus IPS, paired: {dr_minus_ips[0]:+.3f} "
              f"± {dr_minus_ips[1]:.3f}\n")
        print("| rank | true attractiveness | IPS target | IPS targets = 0 | DR target | DR targets = 0 |")
        print("|---:|---:|---:|---:|---:|---:|")
        for r in range(K):
            print(f"| {r + 1} | {ips[r, 2]:.3f} | {ips[r, 0]:.3f} | {ips[r, 1]:.0%} | {dr[r, 0]:.3f} | "
                  f"{dr[r, 1]:.0%} |")


if __name__ == "__main__":
    main()
