"""The headline map: naive against its logger, debiased against naive, gated against ungated.

Runs ``experiments/headline_map.toml`` (logger quality x position-bias strength x engagement feedback,
5 seeds, 10 retrainings of the default preset) as a clickloop sweep, then writes, from the sweep's
``metrics.csv``:

- ``OUT/headline_map.md``: per grid point, the final-round NDCG@10 (served queries) and held-out NDCG@10
  of every variant and the paired per-seed gaps (naive - logger, best debiased - naive, gated -
  ungated) with 95 % t intervals, and the worst round of every variant relative to the logger;
- ``OUT/headline_map.png``: the phase diagram (naive - logger and debiased - naive over logger quality
  x eta, one panel per engagement setting) and the per-round curves of every grid point.

Usage::

    python experiments/headline_map.py --jobs 2 --out results/headline_map   # the full map
    python experiments/headline_map.py --draw results/headline_map           # redraw from metrics.csv
"""

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from clickloop._arguments import OneLineParser, existing_folder, output_folder, positive_int, worker_count

HERE = Path(__file__).resolve().parent
SWEEP = HERE / "headline_map.toml"
KEYS = ("logger.query_fraction", "click_model.eta", "loop.engagement")
DEBIASED = ("ips", "dr", "tower")
GATED = {"naive_gated": "naive", "ips_gated": "ips", "dr_gated": "dr", "tower_gated": "tower"}


QUICK = (("loop.rounds", 3), ("loop.sessions_per_round", 5000), ("data.n_queries", 200))


def run(out, jobs, seeds, quick=False):
    import dataclasses

    from clickloop import ProcessBackend, SerialBackend, read_sweep, run_sweep

    spec = read_sweep(SWEEP)
    if quick:  # a look at the machinery, not a result: 3 rounds of 5,000 sessions on 200 queries
        spec = dataclasses.replace(spec, fixed=spec.fixed + QUICK, seeds=seeds or 2)
    if seeds:
        spec = dataclasses.replace(spec, seeds=seeds)
    backend = ProcessBackend(jobs) if jobs > 1 else SerialBackend()
    result = run_sweep(spec, out, backend=backend, quiet=False)
    if result.failures:
        raise SystemExit(f"{len(result.failures)} tasks failed; see {out}/failures.csv")


def read(out):
    """{(point, variant, metric): {seed: [value per round]}} from the sweep's metrics.csv."""
    table = defaultdict(lambda: defaultdict(dict))
    with open(Path(out) / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            point = tuple(row[key] for key in KEYS)
            table[(point, row["variant"], row["metric"])][int(row["seed"])][int(row["round"])] = float(row["value"])
    return table


def final(table, point, variant, metric="ndcg@10"):
    """Per-seed final-round values (seed order)."""
    cells = table[(point, variant, metric)]
    return np.array([cells[s][max(cells[s])] for s in sorted(cells)])


def interval(values):
    from analysis import t_interval

    mean, low, high, _ = t_interval(values)
    return mean, low, high


def fmt(values):
    mean, low, high = interval(values)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]" if math.isfinite(low) else f"{mean:+.3f}"


def debiased(table, point):
    """The debiased variants the map ran at ``point``."""
    return [v for v in DEBIASED if (point, v, "ndcg@10") in table]


def worst_round(table, point, variant):
    """Lowest round (1..) of the variant's mean curve over seeds minus the logger's mean."""
    cells = table[(point, variant, "ndcg@10")]
    curve = np.mean([[cells[s][t] for t in sorted(cells[s])] for s in sorted(cells)], axis=0)
    return curve[1:].min() - final(table, point, "logger").mean()


def summary(table, points, variants):
    lines = ["# The headline map", "",
             "Final-round NDCG@10 on the served queries (mean over seeds), and paired per-seed gaps with 95 % t "
             "intervals; `worst` is the lowest round of the mean curve minus the logger.", ""]
    head = ["logger share", "eta", "engagement"] + list(variants) + ["naive - logger", "best debiased - naive",
                                                                     "gated - ungated"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in points:
        cells = list(point)
        for v in variants:
            cells.append(f"{final(table, point, v).mean():.3f}" if (point, v, "ndcg@10") in table else "")
        naive, logger = final(table, point, "naive"), final(table, point, "logger")
        cells.append(fmt(naive - logger))
        best = max(debiased(table, point), key=lambda v: final(table, point, v).mean())
        cells.append(f"{best}: {fmt(final(table, point, best) - naive)}")
        cells.append(", ".join(f"{u}: {fmt(final(table, point, g) - final(table, point, u))}"
                               for g, u in GATED.items() if u != "naive" and (point, g, "ndcg@10") in table))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Worst round relative to the logger (mean over seeds; rounds 1..10):", ""]
    head = ["logger share", "eta", "engagement"] + [v for v in variants if v not in ("skyline", "logger")]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in points:
        cells = list(point) + [f"{worst_round(table, point, v):+.3f}" for v in head[3:]]
        lines.append("| " + " | ".join(cells) + " |")
    good = [p for p in points if float(p[0]) == max(float(q[0]) for q in points)]
    gated = [g for g, u in GATED.items() if u != "naive" and any((p, g, "ndcg@10") in table for p in good)]
    if good and gated:
        worst = min((worst_round(table, p, g), p, g) for p in good for g in gated)
        verdict = "PASS" if worst[0] >= -0.01 else "FAIL"
        lines += ["", f"From the best logger (share {good[0][0]}), the worst round of any gated debiased variant "
                      f"({', '.join(gated)}) is {worst[0]:+.3f} below the logger ({worst[2]} at eta {worst[1][1]}, "
                      f"engagement {worst[1][2]}); criterion >= -0.010: {verdict}."]
    lines += ["", "Held-out NDCG@10 (queries never served, final round, mean over seeds) and paired gaps:", ""]
    head = ["logger share", "eta", "engagement"] + list(variants) + ["naive - logger", "best debiased - naive"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in points:
        cells = list(point)
        for v in variants:
            present = (point, v, "heldout_ndcg@10") in table
            cells.append(f"{final(table, point, v, 'heldout_ndcg@10').mean():.3f}" if present else "")
        naive = final(table, point, "naive", "heldout_ndcg@10")
        cells.append(fmt(naive - final(table, point, "logger", "heldout_ndcg@10")))
        best = max(debiased(table, point), key=lambda v: final(table, point, v, "heldout_ndcg@10").mean())
        cells.append(f"{best}: {fmt(final(table, point, best, 'heldout_ndcg@10') - naive)}")
        lines.append("| " + " | ".join(cells) + " |")
    deployed = []
    for point in points:
        for v in GATED:
            d = table.get((point, v, "deployed"))
            e = table.get((point, v, "estimated_improvement"))
            x = table.get((point, v, "exact_improvement"))
            if d:
                rounds = [(d[s][t], e[s][t], x[s][t]) for s in d for t in d[s]]
                rate = np.mean([r[0] for r in rounds])
                wrong = np.mean([(r[1] > 0) != (r[2] > 0) for r in rounds])
                deployed.append((point, v, rate, wrong, np.mean([r[1] for r in rounds]), np.mean([r[2] for r in rounds])))
    lines += ["", "What the gates did (all rounds and seeds): share of retrained rankers deployed, share of rounds "
              "whose estimated and exact improvements disagree in sign, mean estimated and exact improvement "
              "in the gate's objective (`deployment.objective`; by default the DCG of the attractiveness of "
              "each query over the estimated range between its ideal and worst DCG, mean 1 weight per query):", "",
              "| logger share | eta | engagement | gated variant | deployed | sign wrong | estimated | exact |",
              "|---|---|---|---|---:|---:|---:|---:|"]
    for point, v, rate, wrong, est, exact in deployed:
        lines.append(f"| {' | '.join(point)} | {v} | {rate:.2f} | {wrong:.2f} | {est:+.4f} | {exact:+.4f} |")
    return "\n".join(lines) + "\n"


COLOURS = {"skyline": "#000000", "logger": "#E69F00", "naive": "#D55E00", "ips": "#0072B2", "dr": "#56B4E9",
           "tower": "#009E73"}


def draw(table, points, variants, path):
    """Top row: the phase diagram (two gaps x engagement); below: every grid point's mean curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = sorted({p[0] for p in points}, key=float)
    etas = sorted({p[1] for p in points}, key=float)
    engagements = sorted({p[2] for p in points})
    columns = max(4, (len(points) + 1) // 2)
    fig = plt.figure(figsize=(3.2 * columns, 10.5), constrained_layout=True)
    grid = fig.add_gridspec(3, columns, height_ratios=[1.2, 1, 1])
    gaps = (("naive - logger", lambda p: final(table, p, "naive") - final(table, p, "logger")),
            ("best debiased - naive", lambda p: max(final(table, p, v).mean() for v in debiased(table, p))
             - final(table, p, "naive")))
    panel = 0
    for title, gap in gaps:
        for engagement in engagements:
            ax = fig.add_subplot(grid[0, panel])
            panel += 1
            values = np.array([[np.mean(gap((s, e, engagement))) for e in etas] for s in shares])
            limit = max(0.02, float(np.abs(values).max()))
            image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, origin="lower", aspect="auto")
            for i in range(len(shares)):
                for j in range(len(etas)):
                    ax.text(j, i, f"{values[i, j]:+.3f}", ha="center", va="center", fontsize=9)
            ax.set_xticks(range(len(etas)), [f"eta {e}" for e in etas])
            ax.set_yticks(range(len(shares)), [f"logger {float(s):.0%}" for s in shares])
            ax.set_title(f"{title}, engagement {engagement}\n(final NDCG@10, mean over seeds)", fontsize=9)
            fig.colorbar(image, ax=ax, shrink=0.9)
    for index, point in enumerate(points):
        ax = fig.add_subplot(grid[1 + index // columns, index % columns])
        for v in variants:
            cells = table.get((point, v, "ndcg@10"))
            if not cells:
                continue
            curve = np.mean([[cells[s][t] for t in sorted(cells[s])] for s in sorted(cells)], axis=0)
            base = GATED.get(v, v)
            ax.plot(curve, label=v, color=COLOURS.get(base, "#999999"), linestyle="--" if v in GATED else "-",
                    linewidth=1.0 if v in GATED else 1.6, marker="." if v in GATED else None)
        ax.set_title(f"logger {float(point[0]):.0%}, eta {point[1]}, engagement {point[2]}", fontsize=8)
        ax.set_xlabel("round", fontsize=7)
        ax.tick_params(labelsize=7)
        if index % columns == 0:
            ax.set_ylabel("NDCG@10 (served)", fontsize=8)
    handles, labels = fig.axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default=Path("results/headline_map"))
    parser.add_argument("--jobs", type=worker_count, default=2)
    parser.add_argument("--seeds", type=positive_int, help="override the sweep's 5 seeds (fewer: a quick look)")
    parser.add_argument("--draw", type=existing_folder, metavar="OUT", help="only redraw from OUT/metrics.csv")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5,000 sessions on 200 queries, 2 seeds")
    args = parser.parse_args(argv)
    if args.draw is not None and not (args.draw / "metrics.csv").is_file():
        parser.error(f"argument --draw: no file {str(args.draw / 'metrics.csv')!r}")
    out = args.draw or args.out
    if args.draw is None:
        run(out, args.jobs, args.seeds, args.quick)
    table = read(out)
    points = sorted({key[0] for key in table}, key=lambda p: (float(p[0]), float(p[1]), p[2]))
    variants = [v for v in ("skyline", "logger", "naive", *DEBIASED, *GATED) if any((p, v, "ndcg@10") in table
                                                                                     for p in points)]
    (out / "headline_map.md").write_text(summary(table, points, variants))
    draw(table, points, variants, out / "headline_map.png")
    print((out / "headline_map.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
