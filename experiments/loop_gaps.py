"""Each variant of a finished run against the logger, round by round, and paired final-round gaps.

For every variant of a run but the logger and the skyline, from its
``metrics.csv``: the served NDCG@10 of each round minus the logger's (the
logger's round 0, per seed; mean over seeds), the worst of those rounds, and
the final round's mean served and held-out NDCG@10.  ``--pair A:B`` (any
number) adds the paired per-seed final-round difference B - A within the run,
``--against OTHER`` the difference OTHER - RUN of every variant both runs
have (the same configuration but one setting, seeds paired), and with it
``--cross A:B`` the difference of B in OTHER minus A in RUN; all with 95 % t
intervals.  A sweep's folder (its ``metrics.csv`` starts with the swept keys)
is reported point by point (``--against`` takes plain runs only).  This is
how the README's loop gaps are printed.

Usage::

    python -m clickloop --config experiments/min_examinations.toml --seeds 10 --jobs 2 --out OUT
    python experiments/loop_gaps.py OUT --seeds 5,6,7,8,9 --pair tower_min0:tower
    python experiments/loop_gaps.py results --against OTHER   # two runs of the default preset
    python experiments/loop_gaps.py OTHER --against results --cross ips:ips_gated
    python experiments/loop_gaps.py SWEEP_OUT --pair tower:tower_smooth      # per grid point
"""

import argparse
import csv
import sys

import numpy as np

from analysis import ResultsError, check_complete, read_metrics, read_sweep_metrics, t_interval
from analysis._results import METRICS_HEADER
from clickloop._arguments import OneLineParser, existing_folder, seed_list

SERVED, HELD_OUT = "ndcg@10", "heldout_ndcg@10"


def _interval(values):
    mean, low, high, _ = t_interval(values)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _final(rows, variant, metric):
    """{seed: final-round value} of one variant's metric."""
    _, seeds, grid = rows.curve(variant, metric)
    last = grid[:, -1]
    return {int(s): float(v) for s, v in zip(seeds, last) if np.isfinite(v)}


def curve_lines(rows):
    """A line per variant: rounds minus the logger, worst round, final served and held-out NDCG@10."""
    if not rows.has("logger", SERVED):
        raise ValueError("the run has no logger variant to compare with")
    rounds, seeds, logger = rows.curve("logger", SERVED)
    reference = dict(zip(seeds.tolist(), logger[:, 0]))
    lines = []
    for variant in rows.variants:
        if variant in ("logger", "skyline") or not rows.has(variant, SERVED):
            continue
        rounds, seeds, grid = rows.curve(variant, SERVED)
        gaps = np.nanmean(grid - np.array([reference[s] for s in seeds.tolist()])[:, None], axis=0)[rounds >= 1]
        worst = int(np.argmin(gaps))
        held = np.mean(list(_final(rows, variant, HELD_OUT).values())) if rows.has(variant, HELD_OUT) else np.nan
        lines.append(f"{variant}: rounds 1..{gaps.size} " + " ".join(f"{g:+.3f}" for g in gaps)
                     + f"; worst {gaps[worst]:+.3f} (round {worst + 1}); final served "
                       f"{np.mean(list(_final(rows, variant, SERVED).values())):.3f}, held-out {held:.3f}")
    return lines


def gap_line(rows_a, a, rows_b, b, label):
    """``label``: the paired per-seed final-round difference b - a, served and held out."""
    parts = []
    for metric, name in ((SERVED, "served"), (HELD_OUT, "held-out")):
        first, second = _final(rows_a, a, metric), _final(rows_b, b, metric)
        seeds = sorted(set(first) & set(second))
        if len(seeds) < 2:
            raise ValueError(f"{label}: fewer than 2 seeds with a final {metric} in both")
        parts.append(f"{name} {_interval(np.array([second[s] - first[s] for s in seeds]))}")
    return f"{label}: " + ", ".join(parts)


def _points(path):
    """[(point label, MetricRows)] of a metrics.csv: one unnamed point for a run, one per grid point of a sweep."""
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    if tuple(header) == METRICS_HEADER:
        return [("", read_metrics(path))]
    sweep = read_sweep_metrics(path)
    return [(", ".join(f"{key}={value}" for key, value in zip(sweep.keys, point)), rows)
            for point, rows in zip(sweep.points, sweep.rows)]


def _pair(text):
    a, sep, b = text.partition(":")
    if not (sep and a and b):
        raise argparse.ArgumentTypeError(f"expected A:B (two variant names), got {text!r}")
    return a, b


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=existing_folder, help="a finished run's folder (with metrics.csv)")
    parser.add_argument("--seeds", type=seed_list, default=None, help="only these seeds (e.g. 5,6,7,8,9)")
    parser.add_argument("--pair", type=_pair, action="append", default=[], metavar="A:B",
                        help="the paired final-round difference B - A of two variants of the run")
    parser.add_argument("--against", type=existing_folder, metavar="OTHER",
                        help="another finished run: OTHER - RUN for every variant both have")
    parser.add_argument("--cross", type=_pair, action="append", default=[], metavar="A:B",
                        help="with --against: B in OTHER minus A in RUN")
    args = parser.parse_args(argv)
    try:
        runs = [args.run] + ([args.against] if args.against is not None else [])
        for run in runs:
            check_complete(run)
        points = _points(args.run / "metrics.csv")
        loaded = [points[0][1]] + ([read_metrics(args.against / "metrics.csv")] if args.against is not None else [])
    except ResultsError as exc:
        parser.error(str(exc))
    if len(points) > 1:
        if args.against is not None:
            parser.error("argument --against: RUN is a sweep; --against compares two plain runs")
        out = []
        for key, rows in points:
            try:
                rows = rows if args.seeds is None else rows.for_seeds(args.seeds)
                out += [f"== {key}"] + curve_lines(rows) + [gap_line(rows, a, rows, b, f"{b} - {a}")
                                                         for a, b in args.pair]
            except (ValueError, IndexError, KeyError) as exc:
                parser.error(f"{key}: {exc}")
        print("\n".join(out))
        return 0
    if args.seeds is not None:
        subsets = []
        for run, rows in zip(runs, loaded):
            try:
                subsets.append(rows.for_seeds(args.seeds))
            except ValueError as exc:
                parser.error(f"argument --seeds: {run} has {exc}")
        loaded = subsets
    rows = loaded[0]
    if args.cross and args.against is None:
        parser.error("argument --cross: needs --against OTHER")
    wanted = [("--pair", args.run, rows, name) for pair in args.pair for name in pair]
    wanted += [("--cross", run, table, name) for a, b in args.cross
               for run, table, name in ((args.run, rows, a), (args.against, loaded[-1], b))]
    for option, run, table, name in wanted:
        if name not in table.variants:
            parser.error(f"argument {option}: {run} has no variant {name!r} (its variants: "
                         f"{', '.join(table.variants)})")
    try:
        lines = curve_lines(rows)
        lines += [gap_line(rows, a, rows, b, f"{b} - {a}") for a, b in args.pair]
        if args.against is not None:
            other = loaded[1]
            lines += [gap_line(rows, v, other, v, f"{v}: {args.against} - {args.run}")
                      for v in rows.variants if v in other.variants and v not in ("logger", "skyline")]
            lines += [gap_line(rows, a, other, b, f"{b} in {args.against} - {a} in {args.run}")
                      for a, b in args.cross]
    except ValueError as exc:
        parser.error(str(exc))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
