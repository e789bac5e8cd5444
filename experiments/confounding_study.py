"""Confounded and popularity-driven loggers: does a retrained ranker inherit what the logger ranked by?

Production rankers rank by more than relevance (popularity, freshness,
business rules).  Clicks on their rankings then reflect those signals through
position bias, and a learner trained naively on the clicks learns them back:
algorithmic confounding (Chaney, Stewart and Engelhardt 2018, "How
algorithmic confounding in recommendation systems increases homogeneity and
decreases utility", RecSys).  Two loggers of the configuration:

``logger.confounding = w``
    The logger's score is ``(1 - w) z(f(x)) + w z(c)`` with ``c`` an
    observable feature independent of relevance (appended to every learner's
    features, so a learner can pick it up).
``logger.popularity = w``
    The same with ``c`` = log1p of each document's clicks from before the
    study: its pre-study exposure (log-normal) times its click probability
    when examined, so it carries some relevance and much exposure luck (the
    popularity prior of production systems, which feeds rich-get-richer).

Usage::

    python experiments/confounding_study.py [--seeds 5] [--rounds 5] [--jobs 2] [--out results/confounding]

Runs the ``default`` preset with each logger (skyline, logger, naive, IPS,
tower) and prints, per round, the share of each variant's top 10 whose
confounding (popularity) feature is above its query's median
(``confounder_share@10``, ``popularity_share@10``; 0.5 = no preference),
then the final-round NDCG@10 on served and held-out queries.  Writes
``OUT/<setting>/`` (run folders) and ``OUT/confounding.md``.
"""

import subprocess
import sys
import time
from pathlib import Path


from clickloop._arguments import OneLineParser, output_folder, positive_int, worker_count
from analysis import read_metrics, t_interval

VARIANTS = "loop.variants=['skyline', 'logger', 'naive', 'ips', 'tower']"
#: name -> (--set overrides, the share metric)
SETTINGS = {
    "confounding_0.7": (["logger.confounding=0.7"], "confounder_share@10"),
    "popularity_0.7": (["logger.popularity=0.7"], "popularity_share@10"),
}
SHOWN = ("skyline", "logger", "naive", "ips", "tower")


def cell(values):
    mean, low, high, n = t_interval(values)
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]" if n > 1 else f"{mean:.3f}"


def report(name, rows, metric):
    """Markdown: the share per round and variant, then the final NDCG@10 served and held out."""
    rounds = sorted(set(int(r) for r in rows.round))
    lines = [f"### {name}: `{metric}` per round (mean and 95 % t interval over seeds)", "",
             "| round | " + " | ".join(SHOWN) + " |", "|---:|" + "---:|" * len(SHOWN)]
    for t in rounds:
        cells = []
        for variant in SHOWN:
            r, seeds, values = rows.curve(variant, metric)
            cells.append(cell(values[:, list(r).index(t)]) if t in r else "")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines += ["", "| variant | ndcg@10 (served) | heldout_ndcg@10 | share - naive's (paired, final round) |",
              "|---|---:|---:|---:|"]
    _, naive = rows.final("naive", metric)
    for variant in SHOWN:
        _, served = rows.final(variant, "ndcg@10")
        _, heldout = rows.final(variant, "heldout_ndcg@10")
        _, share = rows.final(variant, metric)
        gap = cell(share - naive) if variant not in ("naive", "skyline", "logger") else ""
        lines.append(f"| {variant} | {cell(served)} | {cell(heldout)} | {gap} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--jobs", type=worker_count, default=2)
    parser.add_argument("--out", type=output_folder, default=Path("results/confounding"))
    parser.add_argument("--only", nargs="*", choices=sorted(SETTINGS))
    args = parser.parse_args(argv)
    parts = []
    for name in args.only or list(SETTINGS):
        overrides, metric = SETTINGS[name]
        folder = args.out / name
        if not (folder / "metrics.csv").is_file():
            command = [sys.executable, "-m", "clickloop", "--jobs", str(args.jobs), "--seeds", str(args.seeds),
                       "--quiet", "--out", str(folder), "--set", VARIANTS, "--set", f"loop.rounds={args.rounds}"]
            for override in overrides:
                command += ["--set", override]
            start = time.perf_counter()
            subprocess.run(command, check=True)
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
        parts.append(report(name, read_metrics(folder / "metrics.csv"), metric))
    text = "\n".join(parts)
    (args.out / "confounding.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
