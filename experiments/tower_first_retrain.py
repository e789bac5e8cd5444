"""Where the position tower's first retrain from a good logger loses (issue 15, the tower row).

Runs ``experiments/tower_first_retrain.toml`` (the 50 % logger, PBM eta 2,
CTR fed back, deterministic top 10, 5 seeds) at 2 x 10^4 and 2 x 10^6
sessions per round and prints each variant's round-1 served NDCG@10 minus
the logger's, per seed paired, mean and 95 % t interval.  A loss that
shrinks with the sessions is variance; one that stays or grows is bias.

Usage::

    python experiments/tower_first_retrain.py [--out results/tower_first_retrain] [--jobs 2]
"""

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from clickloop._arguments import OneLineParser, output_folder, worker_count

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "tower_first_retrain.toml"
SIZES = (20_000, 2_000_000)


def round_one(metrics_csv):
    """{variant: {seed: served NDCG@10 of round 1}} and the logger's {seed: NDCG@10}."""
    values = defaultdict(dict)
    with open(metrics_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["metric"] == "ndcg@10" and row["round"] == "1":
                values[row["variant"]][int(row["seed"])] = float(row["value"])
    return values.pop("logger"), values


def interval(values):
    v = np.asarray(values, dtype=np.float64)
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return f"{v.mean():+.3f} [{v.mean() - half:+.3f}, {v.mean() + half:+.3f}]"


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default=Path("results/tower_first_retrain"))
    parser.add_argument("--jobs", type=worker_count, default=2)
    args = parser.parse_args(argv)
    table = {}
    for n in SIZES:
        out = args.out / f"sessions_{n}"
        subprocess.run([sys.executable, "-m", "clickloop", "--config", str(CONFIG), "--jobs", str(args.jobs),
                        "--out", str(out), "--quiet", "--force", "--allow-long",
                        "--set", f"loop.sessions_per_round={n}"], check=True, cwd=ROOT)
        logger, variants = round_one(out / "metrics.csv")
        for name, by_seed in variants.items():
            table.setdefault(name, {})[n] = interval([by_seed[s] - logger[s] for s in sorted(logger)])
    print("| round 1 minus the logger | " + " | ".join(f"{n:,} sessions" for n in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(row[n] for n in SIZES) + " |")


if __name__ == "__main__":
    main()
