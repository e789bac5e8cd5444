"""Engagement features without leakage: which value a never-shown document gets.

Held-out queries are never served, so their documents have no click history;
neither have the served documents no ranker ever put in a top k.  With the
raw CTR both get 0, the value of a document shown and never clicked, and a
ranker that learned "CTR 0 = irrelevant" ranks held-out queries by noise.
This study runs the ``default`` preset (every variant, the same seeds) with
``loop.engagement = "none"`` and with CTR engagement under each way of
telling "never shown" apart:

``zero``      the old raw CTR: 0 for never shown
``missing``   NaN for never shown, routed by LightGBM on its own
``prior10``   CTR smoothed towards the variant's own mean CTR with 10
              pseudo-impressions; never shown = that mean
``both``      smoothed, and NaN for never shown
``dropout``   NaN for never shown, and half of the training documents'
              engagement hidden (NaN) at each refit, so the ranker learns what
              the features alone say for a document without history
``prior_dropout``  smoothed, never shown = the mean, and half of the training
              documents' engagement hidden (set to the mean) at each refit

Usage::

    python experiments/engagement_study.py [--seeds 5] [--jobs 2] [--out results/engagement] [--only NAME ...]

Each setting is a run folder ``OUT/<setting>/`` made by ``python -m clickloop``
(an existing ``metrics.csv`` is reused); ``OUT/engagement.md`` holds the table
(also printed): final-round ``heldout_ndcg@10`` and ``ndcg@10`` per variant
(mean over seeds) and the paired per-seed difference of ``heldout_ndcg@10``
to the same variant without engagement, with its 95 % t interval.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from clickloop._arguments import OneLineParser, output_folder, positive_int, worker_count
from analysis import read_metrics, t_interval

#: name -> (what it is, --set overrides of the default preset)
SETTINGS = {
    "none": ("no engagement features", ["loop.engagement=none"]),
    "zero": ("raw CTR, 0 when never shown (the old default)",
             ["loop.engagement=ctr", "loop.engagement_prior=0.0", "loop.engagement_unseen=estimate",
              "loop.engagement_dropout=0.0"]),
    "missing": ("raw CTR, NaN when never shown",
                ["loop.engagement=ctr", "loop.engagement_prior=0.0", "loop.engagement_unseen=missing",
                 "loop.engagement_dropout=0.0"]),
    "prior10": ("CTR smoothed (10 pseudo-impressions at the variant's mean CTR)",
                ["loop.engagement=ctr", "loop.engagement_prior=10.0", "loop.engagement_unseen=estimate",
                 "loop.engagement_dropout=0.0"]),
    "both": ("smoothed CTR, NaN when never shown",
             ["loop.engagement=ctr", "loop.engagement_prior=10.0", "loop.engagement_unseen=missing",
              "loop.engagement_dropout=0.0"]),
    "dropout": ("raw CTR, NaN when never shown, half the training documents' CTR hidden",
                ["loop.engagement=ctr", "loop.engagement_prior=0.0", "loop.engagement_unseen=missing",
                 "loop.engagement_dropout=0.5"]),
    "prior_dropout": ("smoothed CTR (never shown = the variant's mean), half the training documents' CTR "
                      "hidden (set to that mean)",
                      ["loop.engagement=ctr", "loop.engagement_prior=10.0", "loop.engagement_unseen=estimate",
                       "loop.engagement_dropout=0.5"]),
}
CLICK_TRAINED = ("naive", "ips", "tower", "lgbm_position")


def run(name, out, seeds, jobs):
    """Run one setting into ``out / name`` unless its metrics.csv exists; the path of its metrics.csv."""
    folder = out / name
    if not (folder / "metrics.csv").is_file():
        command = [sys.executable, "-m", "clickloop", "--jobs", str(jobs), "--seeds", str(seeds), "--quiet",
                   "--out", str(folder)]
        for override in SETTINGS[name][1]:
            command += ["--set", override]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return folder / "metrics.csv"


def table(rows_of, names):
    """Markdown table of every setting and click-trained variant (``rows_of``: name -> MetricRows)."""
    lines = ["| setting | variant | heldout_ndcg@10 | ndcg@10 (served) | heldout - same variant without "
             "engagement |", "|---|---|---:|---:|---:|"]
    reference = rows_of.get("none")
    for name in names:
        rows = rows_of[name]
        for variant in CLICK_TRAINED:
            if not rows.has(variant, "heldout_ndcg@10"):
                continue
            _, heldout = rows.final(variant, "heldout_ndcg@10")
            _, served = rows.final(variant, "ndcg@10")
            gap = ""
            if reference is not None and name != "none":
                mean, low, high, _ = t_interval(heldout - reference.final(variant, "heldout_ndcg@10")[1])
                gap = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
            lines.append(f"| {name} | {variant} | {np.mean(heldout):.3f} | {np.mean(served):.3f} | {gap} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--jobs", type=worker_count, default=2)
    parser.add_argument("--out", type=output_folder, default=Path("results/engagement"))
    parser.add_argument("--only", nargs="*", choices=sorted(SETTINGS))
    args = parser.parse_args(argv)
    names = args.only or list(SETTINGS)
    rows_of = {name: read_metrics(run(name, args.out, args.seeds, args.jobs)) for name in names}
    text = (f"Default preset, {args.seeds} seeds, final round (10). Held-out: NDCG@10 on queries never "
            "served; served: on the queries the loop serves and trains on. Gap: paired per-seed difference "
            "with its 95 % t interval.\n\n" + table(rows_of, names))
    (args.out / "engagement.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
