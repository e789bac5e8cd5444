"""Mechanism ablation and negative controls of the headline experiment.

Each setting is the ``default`` preset with one change (a mechanism of the
feedback loop removed or strengthened, or a control where debiasing should
not win).  Every setting runs the same seeds; because all variants of a seed
share the sessions of round 0 and the random numbers of every round, the
gap between a debiased variant and ``naive`` is compared per seed (paired),
and its 95 % t interval says whether it exceeds the seed-to-seed spread.

Usage::

    python experiments/ablation.py [--seeds 5] [--jobs 2] [--out results/ablation] [--only NAME ...]

Writes ``OUT/<setting>/`` (a full run folder each) and ``OUT/ablation.md``
(the table, also printed).
"""

import sys
import time
from pathlib import Path

import numpy as np


from clickloop._arguments import OneLineParser, output_folder, positive_int, worker_count
import clickloop
from analysis import read_metrics, t_interval
from clickloop import preset

VARIANTS = "loop.variants=['skyline', 'logger', 'naive', 'ips', 'tower']"

#: name -> (what changes, overrides of the default preset)
SETTINGS = {
    "default": ("all mechanisms: deterministic top-10, PBM eta 1, 10 % noise clicks, CTR fed back", []),
    "no_engagement": ("no engagement features fed back", ["loop.engagement=none"]),
    "no_noise": ("no noise clicks (irrelevant documents never clicked)", ["click_model.noise=0.0"]),
    "stochastic": ("stochastic serving: Plackett-Luce, T = 0.5 on standardised scores",
                   ["policy.kind=plackett_luce", "policy.temperature=0.5"]),
    "eta_2": ("stronger position bias, eta 2", ["click_model.eta=2.0"]),
    "eta_2_no_engagement": ("eta 2, no engagement features", ["click_model.eta=2.0", "loop.engagement=none"]),
    "good_logger": ("a good production ranker to start from (30 % of the labels)",
                    ["logger.query_fraction=0.3"]),
    "control_eta_0": ("negative control: no position bias (eta 0)", ["click_model.eta=0.0"]),
    "control_cascade_pbm": ("negative control: cascade clicks, IPS with PBM propensities (eta 1)",
                            ["click_model.name=cascade", "ips.propensity=pbm"]),
}


def final_round(rows, variant, metric="ndcg@10"):
    _, values = rows.final(variant, metric)
    return values


def row_of(name, description, rows):
    cells = {v: final_round(rows, v) for v in ("skyline", "logger", "naive", "ips", "tower")}
    rbo = final_round(rows, "naive", "rbo@10")
    out = [name, description]
    for v in ("skyline", "logger", "naive", "ips", "tower"):
        out.append(f"{np.mean(cells[v]):.3f}")
    for v in ("ips", "tower"):
        mean, low, high, n = t_interval(cells[v] - cells["naive"])
        out.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
    out.append(f"{np.mean(rbo):.3f}")
    return "| " + " | ".join(out) + " |"


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--jobs", type=worker_count, default=2)
    parser.add_argument("--out", type=output_folder, default=Path("results/ablation"))
    parser.add_argument("--only", nargs="*", choices=sorted(SETTINGS))
    args = parser.parse_args(argv)
    names = args.only or list(SETTINGS)
    lines = [
        f"Final-round NDCG@10 on true labels (round 10), mean over {args.seeds} seeds; gaps are the paired "
        "per-seed difference to naive with its 95 % t interval; RBO@10 of naive's top 10 between its last "
        "two rankers (1 = locked in).",
        "",
        "| setting | change from default | skyline | logger | naive | ips | tower | ips - naive | "
        "tower - naive | naive RBO@10 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        description, overrides = SETTINGS[name]
        config = preset("default", overrides=[VARIANTS, f"seeds={args.seeds}", *overrides])
        start = time.perf_counter()
        clickloop.run_experiment(config, args.out / name, jobs=args.jobs, quiet=True)
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
        lines.append(row_of(name, description, read_metrics(args.out / name / "metrics.csv")))
    text = "\n".join(lines) + "\n"
    (args.out / "ablation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
