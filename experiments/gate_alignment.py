"""Does the deployment gate judge what the loop reports?  Its objective against the exact change in NDCG@10.

For every gate decision the loop records the exact improvement in the gate's
objective (``exact_improvement``) and the exact change in NDCG@10 of the
candidate's top-10 lists on the true labels (``exact_ndcg_improvement``).  This
study runs the gated IPS and tower twins beside the logger at the four
good-logger points of the headline map (``logger.query_fraction = 0.5``, eta
1/2, engagement none/ctr) and on the default preset, once per gate objective
(``dcg``, ``ndcg``; both with ``deployment.theta = "em"``), and with the
``ndcg`` objective and ``theta = "learner"`` (the tower's gate assuming the
tower's own theta), 5 seeds, 10 retrainings, and reports per point and setting:

- the correlation of the exact objective improvement with the exact NDCG@10
  change over all decisions, and how many of them disagree in sign;
- the deployed candidates, and how many of those lost NDCG@10 (exact);
- the worst served round of each gated variant relative to the logger (mean
  over seeds), and the final served NDCG@10.

Writes ``OUT/gate_alignment.md`` (and keeps each run's folder under OUT).

Usage::

    python experiments/gate_alignment.py [--out results/gate_alignment] [--jobs 2] [--seeds 5]
"""

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from clickloop._arguments import OneLineParser, output_folder, positive_int, worker_count

POINTS = [("default", [])] + [
    (f"logger 0.5, eta {eta:g}, {engagement}",
     ["logger.query_fraction=0.5", f"click_model.eta={eta}", f"loop.engagement={engagement}"])
    for eta in (1.0, 2.0) for engagement in ("none", "ctr")]
SETTINGS = (("dcg", "em"), ("ndcg", "em"), ("ndcg", "learner"))  # (deployment.objective, deployment.theta)
GATED = ("ips_gated", "tower_gated")


def _run(out, sets, jobs, seeds):
    command = [sys.executable, "-m", "clickloop", "--preset", "default", "--jobs", str(jobs), "--seeds",
               str(seeds), "--out", str(out), "--quiet", "--force",
               "--set", 'loop.variants=["logger","ips_gated","tower_gated"]']
    for s in sets:
        command += ["--set", s]
    subprocess.run(command, check=True)


def _read(out):
    values = defaultdict(dict)
    with open(out / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            values[(row["variant"], row["metric"])][(int(row["seed"]), int(row["round"]))] = float(row["value"])
    return values


def _summary(values, variant):
    decisions = sorted(values[(variant, "deployed")])
    exact = np.array([values[(variant, "exact_improvement")][d] for d in decisions])
    ndcg = np.array([values[(variant, "exact_ndcg_improvement")][d] for d in decisions])
    deployed = np.array([values[(variant, "deployed")][d] for d in decisions]) == 1
    served, logger = values[(variant, "ndcg@10")], values[("logger", "ndcg@10")]
    seeds = sorted({s for s, _ in served})
    rounds = sorted({r for _, r in served})
    curve = [np.mean([served[(s, r)] - logger[(s, 0)] for s in seeds]) for r in rounds]
    corr = float(np.corrcoef(exact, ndcg)[0, 1]) if exact.std() > 0 and ndcg.std() > 0 else float("nan")
    return {"decisions": len(decisions), "corr": corr, "sign": int(np.sum((exact > 0) != (ndcg > 0))),
            "deployed": int(deployed.sum()), "deployed_loss": int(np.sum(deployed & (ndcg < 0))),
            "worst_loss": float(ndcg[deployed].min()) if deployed.any() else float("nan"),
            "worst": float(min(curve[1:])), "final": float(np.mean([served[(s, rounds[-1])] for s in seeds]))}


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default=Path("results/gate_alignment"))
    parser.add_argument("--jobs", type=worker_count, default=2)
    parser.add_argument("--seeds", type=positive_int, default=5)
    args = parser.parse_args(argv)
    lines = [f"Gate objective against the exact change in NDCG@10 ({args.seeds} seeds, 10 retrainings; "
             "`python experiments/gate_alignment.py`).", "",
             "| point | objective, theta | variant | decisions | corr(exact objective, exact NDCG change) | sign "
             "disagreements | deployed | deployed with an NDCG loss (worst) | worst round - logger | final NDCG@10 |",
             "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for name, sets in POINTS:
        for objective, theta in SETTINGS:
            out = args.out / f"{name.replace(' ', '').replace(',', '_')}_{objective}_{theta}"
            _run(out, [*sets, f"deployment.objective={objective}", f"deployment.theta={theta}"], args.jobs,
                 args.seeds)
            values = _read(out)
            for variant in GATED:
                s = _summary(values, variant)
                loss = f"{s['deployed_loss']} ({s['worst_loss']:+.3f})" if s["deployed_loss"] else "0"
                if theta == "learner" and variant != "tower_gated":
                    continue  # theta applies to the tower's gate only: the IPS rows would repeat
                lines.append(f"| {name} | {objective}, {theta} | {variant} | {s['decisions']} | {s['corr']:.2f} | {s['sign']} "
                             f"| {s['deployed']} | {loss} | {s['worst']:+.3f} | {s['final']:.3f} |")
            print(f"{name}, {objective}, {theta}: done", file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gate_alignment.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
