"""Which loss optimises top-N from clicks: five losses x three click targets, one round and in the loop.

Issue 17.  Losses: pointwise logistic, pointwise squared (Gaussian),
listwise softmax (multinomial, Liang et al. 2018), LambdaMART on the
estimates (``LambdaMARTClicks``, LightGBM's lambdarank on estimates binned
to 31 grades, the kind's default) and PL-Rank (``PLRank``, expected DCG@10
of a Plackett-Luce policy, its defaults: 32 samples, learning rate 1,
served deterministically here).  Targets: naive (CTR), IPS (oracle
per-cell propensities, auto clip) and DR (Oosterhuis 2023; with
Plackett-Luce logging the logger's expected placements enter, i.e. the
policy-aware DR, ``simulate_sessions(..., placement=True)``).

One round (the part every learner shares the same logs): the synthetic data
of ``benchmarks/bench_pl_rank.py --compare`` (1,000 queries with 20-40
candidates x 20 features, 20 % held out), a logger trained on 1 % of the
training queries' labels, top-10 logging either deterministic or
Plackett-Luce on its standardised scores (temperature 1), PBM clicks (eta 1
or 2, graded mapping with 10 % noise clicks), ``--sessions`` sessions.  The
click statistics are simulated once per (setting, seed) and all 15 learners
(and the references) are fitted on them.  Reported per learner:

- held-out NDCG@10 (true labels of the held-out queries; queries without a
  relevant document count 1), the top 10 by score;
- calibration of click predictions on fresh held-out sessions (the held-out
  queries served by the same logging policy, ``--calibration-sessions``
  sessions, another seed), per (document, rank) cell: log loss, Brier and
  ECE (``analysis.log_loss/brier/ece``).  A learner's P(click at rank r) is
  a(x) * e_r: a(x) = sigmoid(f) for the logistic loss and clip(f, 0, 1) for
  the squared loss (the Gaussian mean); e_r = 1 for naive targets (they model
  the click-through rate itself, as the loop does) and the true theta_r for
  IPS and DR targets (they model P(click | examined)).  The softmax,
  LambdaMART and PL-Rank give scores, not probabilities: they get no
  calibration of their own; instead every learner is also measured after
  Platt scaling, a(x) = sigmoid(alpha f + beta) with (alpha, beta) fitted on
  the training documents to the learner's own targets (CTR, IPS or DR
  estimates, weighted by impressions), which says how much calibratable
  information the scores keep;
- ``examined`` calibration: a(x) against the true P(click | examined,
  label) of every held-out document (exact, no sampling), the quantity a
  counterfactual ranker needs.

In the loop: ``python -m clickloop`` on the default preset (500 queries,
deterministic top-10 serving, 20,000 sessions per round, CTR engagement
features, 50 boosting rounds) with the 15 learners as ``[variants.NAME]``
tables, ``--loop-rounds`` rounds, PBM eta 1 and 2 (and, in the full run,
Plackett-Luce serving); reported: the final round's exposure Gini, coverage
(share of relevant training documents ever shown) and served and held-out
NDCG@10.

``--investigate``: the must-show of issue 17 (PL-Rank vs the listwise
softmax on DR targets, Plackett-Luce logging, eta 1, 10^6 sessions) with
PL-Rank's settings varied one at a time and the expected NDCG@10 of each
score's Plackett-Luce policy (temperature 1 on the raw scores).

Usage::

    python experiments/loss_study.py [--quick] [--out results/loss_study] [--figure docs/loss_study.png]
    python experiments/loss_study.py --investigate [--seeds 5] [--sessions 1000000]
    python experiments/loss_study.py --loop-report results/pl_rank_loop

``--quick``: 2 seeds, 10^5 sessions, PBM eta 1 and 2 x deterministic and
Plackett-Luce logging, the loop on eta 1 deterministic serving with 3 rounds
and 2 seeds.  The full run: 5 seeds, 10^6 sessions, the loop on eta 1 and 2
x deterministic and Plackett-Luce serving, 5 rounds, 3 seeds.  Writes
``OUT/loss_study.md`` (also printed), ``OUT/one_round.json`` and the figure.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from clickloop._arguments import OneLineParser, existing_folder, output_folder, positive_int, worker_count
from analysis import brier, ece, log_loss, ndcg, read_metrics
from ltr import DR, IPS, FullInformation, LambdaMARTClicks, Naive, PLRank, click_relevance
from policies import Deterministic, PlackettLuce
from simulator import PBM, GradeMapping, make_synthetic, pbm_theta, simulate_sessions

LOSSES = ("logistic", "squared", "softmax", "lambdamart", "pl_rank")
TARGETS = ("naive", "ips", "dr")
LOGGING = ("deterministic", "plackett_luce")
K = 10


def make_learner(loss, targets, seed, threads):
    """The learner of one (loss, targets) cell, with the defaults of its learner kind."""
    if loss in ("logistic", "squared", "softmax"):
        return {"naive": Naive, "ips": IPS, "dr": DR}[targets](loss=loss, num_threads=threads, seed=seed)
    if loss == "lambdamart":
        return LambdaMARTClicks(targets=targets, num_threads=threads, seed=seed)
    return PLRank(targets=targets, num_threads=threads, seed=seed)


class _Standardised:
    """Scores standardised over the scored documents (as the loop serves Plackett-Luce)."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, features):
        s = np.asarray(self.scorer(features), dtype=np.float64)
        return (s - s.mean()) / (s.std() + 1e-12)


def logging_policy(logger, logging):
    if logging == "deterministic":
        return Deterministic(logger.predict, K)
    return PlackettLuce(_Standardised(logger.predict), K, temperature=1.0)


def direct_probability(loss, scores):
    """a(x) of a loss that gives probabilities (logistic, squared), else None."""
    if loss == "logistic":
        return 1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float64)))
    if loss == "squared":
        return np.clip(scores, 0.0, 1.0)
    return None


def platt(scores, targets, weight, n_iter=50, ridge=1e-6):
    """(alpha, beta) minimising the weighted cross-entropy of sigmoid(alpha * s + beta) against targets.

    Targets may lie outside [0, 1] (IPS, DR estimates): the loss stays
    convex (its curvature does not depend on the target).  Newton's method on
    the standardised scores.

    Examples
    --------
    >>> s = np.linspace(-3, 3, 61)
    >>> a, b = platt(s, 1 / (1 + np.exp(-(2 * s - 1))), np.ones(61))
    >>> round(a, 3), round(b, 3)
    (2.0, -1.0)
    """
    s = np.asarray(scores, dtype=np.float64)
    mu, sd = s.mean(), s.std() + 1e-12
    z = (s - mu) / sd
    x = np.stack([z, np.ones_like(z)], axis=1)
    w = np.asarray(weight, dtype=np.float64) / np.sum(weight)
    theta = np.zeros(2)
    for _ in range(n_iter):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        grad = x.T @ (w * (p - targets)) + ridge * theta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(theta[0] / sd), float(theta[1] - theta[0] * mu / sd)


def expected_ndcg(scores, test, n_samples=1000):
    """Mean expected NDCG@10 of the Plackett-Luce policy softmax(scores) (temperature 1, raw scores)."""
    from ltr import _pl_rank_kernels as kernels
    from simulator.kernels import derive_key

    b = np.asarray(test.query_boundaries, dtype=np.int64)
    gain = 2.0 ** test.labels.astype(np.float64) - 1.0
    discount = 1.0 / np.log2(np.arange(2, K + 2))
    ideal = np.array([np.sum(np.sort(gain[b[q]:b[q + 1]])[::-1][:K] * discount[:min(K, b[q + 1] - b[q])])
                      for q in range(b.size - 1)])
    grad, fisher, value = np.empty(gain.size), np.empty(gain.size), np.empty(b.size - 1)
    kernels.pl_rank_gradient(np.asarray(scores, dtype=np.float64), gain, b, discount, n_samples, derive_key(9),
                             grad, fisher, value)
    return float(np.mean(np.where(ideal > 0, value / np.where(ideal > 0, ideal, 1.0), 1.0)))


def _calibration(a, examination, stats):
    """(log loss, Brier, ECE) of P(click at r) = a_d * e_r on the cells of held-out statistics."""
    p = np.clip(a[:, None] * examination[None, :], 0.0, 1.0)
    cells = stats.impressions > 0
    c, n = stats.clicks[cells], stats.impressions[cells]
    return log_loss(p[cells], c, n), brier(p[cells], c, n), ece(p[cells], c, n)


def _examined(a, truth):
    """(log loss, Brier, ECE) of a_d against the true P(click | examined) of every document."""
    one = np.ones(a.size)
    a = np.clip(a, 0.0, 1.0)
    return log_loss(a, truth, one), brier(a, truth, one), ece(a, truth, one)


def one_round(eta, logging, seed, args, data):
    """Every (loss, targets) learner fitted on the same click statistics of one setting and seed."""
    train, test = data
    mapping = GradeMapping.graded(eps_minus=0.1)
    clicks = PBM(eta=eta, attractiveness=mapping)
    logger = FullInformation(query_fraction=0.01, num_threads=args.threads, seed=seed).fit(train)
    policy = logging_policy(logger, logging)
    placement = logging == "plackett_luce"
    stats = simulate_sessions(train, policy, clicks, args.sessions, seed=seed, placement=placement).statistics
    held = simulate_sessions(test, policy, clicks, args.calibration_sessions, seed=10_000 + seed).statistics
    theta = pbm_theta(K, eta)
    truth = mapping.probabilities[test.labels]
    impressions = stats.impressions.sum(axis=1).astype(np.float64)
    targets_of = {t: click_relevance(t, train, stats, **({} if t == "naive" else
                                                        {"num_threads": args.threads, "seed": seed} if t == "dr"
                                                        else {}))
                  for t in TARGETS}
    rows = []
    fitted = {"logger": logger, "skyline": FullInformation(num_threads=args.threads, seed=seed).fit(train)}
    for name, learner in fitted.items():
        s = learner.predict(test.features)
        rows.append({"loss": name, "targets": "labels", "ndcg": float(np.mean(ndcg(s, test.labels,
                                                                                   test.query_boundaries))),
                     "pl_expected_ndcg": expected_ndcg(s, test)})
    for loss in LOSSES:
        for targets in TARGETS:
            start = time.perf_counter()
            learner = make_learner(loss, targets, seed, args.threads).fit(train, stats)
            seconds = time.perf_counter() - start
            s = learner.predict(test.features)
            row = {"loss": loss, "targets": targets, "seconds": seconds,
                   "ndcg": float(np.mean(ndcg(s, test.labels, test.query_boundaries))),
                   "pl_expected_ndcg": expected_ndcg(s, test)}
            examination = np.ones(K) if targets == "naive" else theta
            a = direct_probability(loss, s)
            if a is not None:
                row["logged"] = _calibration(a, examination, held)
                row["examined"] = _examined(a, truth)
            # Platt scaling on the training documents with an estimate, to the learner's own targets.
            rho = targets_of[targets]
            keep = np.flatnonzero(~np.isnan(rho) & (impressions > 0))
            alpha, beta = platt(learner.predict(train.features[keep]), rho[keep], impressions[keep])
            a = 1.0 / (1.0 + np.exp(-(alpha * s + beta)))
            row["logged_platt"] = _calibration(a, examination, held)
            row["examined_platt"] = _examined(a, truth)
            rows.append(row)
    return rows


def run_one_round(args):
    full = make_synthetic(n_queries=1000, docs_per_query=(20, 40), n_features=20, seed=0)
    data = full.split((0.8, 0.2), seed=0)
    results = {}
    for eta in args.etas:
        for logging in LOGGING:
            for seed in range(args.seeds):
                start, load = time.perf_counter(), os.getloadavg()[0]
                results[f"{eta:g}/{logging}/{seed}"] = one_round(eta, logging, seed, args, data)
                print(f"one round eta {eta:g}, {logging}, seed {seed}: {time.perf_counter() - start:.0f} s "
                      f"(load {load:.1f} -> {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return results


def _cells(results, key, metric, index=None):
    """Values over seeds of one metric of every (eta, logging, loss, targets)."""
    out = {}
    for setting, rows in results.items():
        eta, logging, _ = setting.split("/")
        for row in rows:
            if metric not in row:
                continue
            value = row[metric] if index is None else row[metric][index]
            out.setdefault((eta, logging, row["loss"], row["targets"]), []).append(value)
    return out


def _fmt(values, digits=4):
    values = np.asarray(values, dtype=np.float64)
    if values.size > 1:
        return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"
    return f"{values.mean():.{digits}f}"


def one_round_tables(results, args):
    lines = []
    settings = sorted({tuple(k.split("/")[:2]) for k in results})
    ndcg_cells = _cells(results, None, "ndcg")
    lines.append(f"### One round: held-out NDCG@10 (mean ± sd over {args.seeds} seeds, {args.sessions:,} "
                 f"sessions)\n")
    lines.append("| loss | targets | " + " | ".join(f"eta {e}, {lg}" for e, lg in settings) + " |")
    lines.append("|---|---|" + "---:|" * len(settings))
    for loss, targets in [("logger", "labels"), ("skyline", "labels")] + [(l, t) for l in LOSSES for t in TARGETS]:
        lines.append(f"| {loss} | {targets} | " + " | ".join(_fmt(ndcg_cells[(e, lg, loss, targets)])
                                                              for e, lg in settings) + " |")
    lines.append("\nRank of each loss within its targets (1 = best mean NDCG@10), per setting:\n")
    lines.append("| targets | " + " | ".join(f"eta {e}, {lg}" for e, lg in settings) + " |")
    lines.append("|---|" + "---:|" * len(settings))
    for targets in TARGETS:
        cells = []
        for e, lg in settings:
            means = {loss: np.mean(ndcg_cells[(e, lg, loss, targets)]) for loss in LOSSES}
            cells.append(" > ".join(sorted(means, key=means.get, reverse=True)))
        lines.append(f"| {targets} | " + " | ".join(cells) + " |")
    for kind, what in (("logged", "fresh held-out sessions of the same logger, per (document, rank) cell"),
                       ("examined", "P(click | examined) of every held-out document against the truth")):
        lines.append(f"\n### Calibration ({what}); mean over the {len(settings)} settings x {args.seeds} seeds\n")
        lines.append("| loss | targets | log loss | Brier | ECE | log loss (Platt) | Brier (Platt) | ECE (Platt) |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for loss in LOSSES:
            for targets in TARGETS:
                direct = [_cells(results, None, kind, i) for i in range(3)]
                scaled = [_cells(results, None, kind + "_platt", i) for i in range(3)]
                cells = []
                for table in direct + scaled:
                    values = [v for (e, lg, l, t), vs in table.items() if l == loss and t == targets for v in vs]
                    cells.append(f"{np.mean(values):.4f}" if values else "—")
                lines.append(f"| {loss} | {targets} | " + " | ".join(cells) + " |")
    fit = _cells(results, None, "seconds")
    lines.append("\nMean fit seconds over every setting and seed: " + ", ".join(
        f"{loss} {np.mean([v for (e, lg, l, t), vs in fit.items() if l == loss for v in vs]):.1f}"
        for loss in LOSSES) + ".")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Feedback loop
# ---------------------------------------------------------------------------------------------------

def variant_name(loss, targets):
    return f"{loss}_{targets}"


def loop_config(eta, serving, rounds):
    """TOML text of one loop setting: the default preset with the 15 learners as variants."""
    names = [variant_name(loss, t) for loss in LOSSES for t in TARGETS]
    lines = ['preset = "default"', "", "[click_model]", f"eta = {eta!r}", "", "[policy]", f'kind = "{serving}"', "",
             "[loop]", f"rounds = {rounds}", "variants = [" + ", ".join(f'"{n}"' for n in ["skyline", "logger", *names])
             + "]", ""]
    for loss in LOSSES:
        for targets in TARGETS:
            lines.append(f"[variants.{variant_name(loss, targets)}]")
            if loss in ("logistic", "squared", "softmax"):
                lines += [f'learner = "{targets}"', f'loss = "{loss}"']
            else:
                lines += [f'learner = "{loss}"', f'targets = "{targets}"']
            lines.append("")
    return "\n".join(lines)


def run_loops(args):
    out = {}
    for eta, serving in args.loop_settings:
        folder = args.out / f"loop_eta{eta:g}_{serving}"
        if not (folder / "metrics.csv").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            config = args.out / f"loop_eta{eta:g}_{serving}.toml"
            config.write_text(loop_config(eta, serving, args.loop_rounds))
            start, load = time.perf_counter(), os.getloadavg()[0]
            subprocess.run([sys.executable, "-m", "clickloop", "--config", str(config), "--out", str(folder),
                            "--seeds", str(args.loop_seeds), "--jobs", str(args.jobs), "--quiet", "--force"],
                           check=True)
            print(f"loop eta {eta:g} {serving}: {time.perf_counter() - start:.0f} s (load {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        out[(eta, serving)] = read_metrics(folder / "metrics.csv")
    return out


LOOP_METRICS = ("exposure_gini", "coverage", "ndcg@10", "heldout_ndcg@10")


def loop_tables(loops, args):
    lines = []
    for (eta, serving), rows in loops.items():
        final, _ = rows.final("logger", "coverage")
        lines.append(f"\n### Feedback loop, PBM eta {eta:g}, {serving} serving: round {final} "
                     f"(mean ± sd over {args.loop_seeds} seeds)\n")
        lines.append("| loss | targets | " + " | ".join(LOOP_METRICS) + " |")
        lines.append("|---|---|" + "---:|" * len(LOOP_METRICS))
        for loss, targets in [("skyline", ""), ("logger", "")] + [(l, t) for l in LOSSES for t in TARGETS]:
            name = variant_name(loss, targets) if targets else loss
            cells = [_fmt(rows.final(name, m)[1], 3) for m in LOOP_METRICS]
            lines.append(f"| {loss} | {targets or 'labels'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------------

def figure(results, loops, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({tuple(k.split("/")[:2]) for k in results})
    ndcg_cells = _cells(results, None, "ndcg")
    fig, axes = plt.subplots(2, max(len(settings), 3), figsize=(4.2 * max(len(settings), 3), 8.2))
    colors = {"naive": "#999999", "ips": "#1f77b4", "dr": "#d62728"}
    width = 0.26
    x = np.arange(len(LOSSES))
    for ax, (eta, logging) in zip(axes[0], settings):
        for j, targets in enumerate(TARGETS):
            values = [ndcg_cells[(eta, logging, loss, targets)] for loss in LOSSES]
            ax.bar(x + (j - 1) * width, [np.mean(v) for v in values], width,
                   yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in values], color=colors[targets],
                   label=targets, capsize=2)
        for ref, style in (("logger", ":"), ("skyline", "--")):
            ax.axhline(np.mean(ndcg_cells[(eta, logging, ref, "labels")]), color="k", ls=style, lw=1, label=ref)
        lows = [np.mean(v) for k, v in ndcg_cells.items() if k[:2] == (eta, logging)]
        ax.set_ylim(min(lows) - 0.02, max(lows) + 0.02)
        ax.set_xticks(x, LOSSES, rotation=20)
        ax.set_title(f"held-out NDCG@10: PBM eta {eta}, {logging} logging", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower left")
    for ax in axes[0][len(settings):]:
        ax.axis("off")
    # Calibration: ECE on held-out logged sessions, direct (logistic, squared) and after Platt scaling.
    ax = axes[1][0]
    for j, targets in enumerate(TARGETS):
        direct = _cells(results, None, "logged", 2)
        scaled = _cells(results, None, "logged_platt", 2)
        d = [np.mean([v for k, vs in direct.items() if k[2:] == (loss, targets) for v in vs] or [np.nan])
             for loss in LOSSES]
        s = [np.mean([v for k, vs in scaled.items() if k[2:] == (loss, targets) for v in vs]) for loss in LOSSES]
        ax.bar(x + (j - 1) * width, d, width, color=colors[targets], label=f"{targets}")
        ax.scatter(x + (j - 1) * width, s, marker="_", s=120, color="k", zorder=3,
                   label="after Platt scaling" if j == 0 else None)
    ax.set_xticks(x, LOSSES, rotation=20)
    ax.set_title("click-prediction ECE, held-out sessions\n(bars: the loss's own probabilities)", fontsize=9)
    ax.legend(fontsize=7)
    # Loop: coverage and exposure Gini at the final round, first loop setting(s).
    for ax, ((eta, serving), rows) in zip(axes[1][1:], list(loops.items())[:max(len(settings), 3) - 1]):
        markers = {"logistic": "o", "squared": "s", "softmax": "^", "lambdamart": "D", "pl_rank": "*"}
        for loss in LOSSES:
            for targets in TARGETS:
                name = variant_name(loss, targets)
                ax.scatter(np.mean(rows.final(name, "exposure_gini")[1]), np.mean(rows.final(name, "coverage")[1]),
                           marker=markers[loss], color=colors[targets], s=60 if loss == "pl_rank" else 35,
                           label=loss if targets == "ips" else None)
        for ref in ("logger", "skyline"):
            ax.scatter(np.mean(rows.final(ref, "exposure_gini")[1]), np.mean(rows.final(ref, "coverage")[1]),
                       marker="x", color="k")
            ax.annotate(ref, (np.mean(rows.final(ref, "exposure_gini")[1]), np.mean(rows.final(ref, "coverage")[1])),
                        fontsize=7)
        ax.set_xlabel("exposure Gini (final round)")
        ax.set_ylabel("coverage of relevant documents")
        ax.set_title(f"feedback loop: PBM eta {eta:g}, {serving} serving\n(colour = targets, marker = loss)",
                     fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[1][1 + len(loops):]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# The must-show: PL-Rank vs the listwise softmax on DR targets, Plackett-Luce logging, 10^6 sessions
# ---------------------------------------------------------------------------------------------------

def investigate(args):
    full = make_synthetic(n_queries=1000, docs_per_query=(20, 40), n_features=20, seed=0)
    train, test = full.split((0.8, 0.2), seed=0)
    clicks = PBM(eta=1.0, attractiveness=GradeMapping.graded(eps_minus=0.1))
    t = args.threads
    learners = {
        "softmax DR": lambda seed: DR(num_threads=t, seed=seed),
        "pl_rank DR (defaults: dcg, 32 samples, lr 1, 100 trees)": lambda seed: PLRank(targets="dr", num_threads=t,
                                                                                        seed=seed),
        "pl_rank DR, metric ndcg": lambda seed: PLRank(targets="dr", metric="ndcg", num_threads=t, seed=seed),
        "pl_rank DR, 128 samples": lambda seed: PLRank(targets="dr", n_samples=128, num_threads=t, seed=seed),
        "pl_rank DR, lr 0.3": lambda seed: PLRank(targets="dr", learning_rate=0.3, num_threads=t, seed=seed),
        "pl_rank DR, lr 0.3, 300 trees": lambda seed: PLRank(targets="dr", learning_rate=0.3, n_estimators=300,
                                                             num_threads=t, seed=seed),
        "pl_rank DR, cutoff 40 (whole list)": lambda seed: PLRank(targets="dr", cutoff=40, num_threads=t, seed=seed),
        "lambdamart DR (real gains)": lambda seed: LambdaMARTClicks(targets="dr", labels="real", num_threads=t,
                                                                    seed=seed),
    }
    rows = {}
    for placement in (True, False):
        for seed in range(args.seeds):
            logger = FullInformation(query_fraction=0.01, num_threads=t, seed=seed).fit(train)
            policy = logging_policy(logger, "plackett_luce")
            stats = simulate_sessions(train, policy, clicks, args.sessions, seed=seed, placement=placement).statistics
            load = os.getloadavg()[0]
            for name, make in learners.items():
                if not placement and not name.startswith(("softmax", "pl_rank DR (defaults")):
                    continue
                start = time.perf_counter()
                learner = make(seed).fit(train, stats)
                seconds = time.perf_counter() - start
                s = learner.predict(test.features)
                row = rows.setdefault((placement, name), {"ndcg": [], "pl": [], "sd": [], "train": [], "s": []})
                row["ndcg"].append(float(np.mean(ndcg(s, test.labels, test.query_boundaries))))
                row["pl"].append(expected_ndcg(s, test))
                row["sd"].append(float(np.mean([np.std(s[a:b]) for a, b in
                                                zip(test.query_boundaries[:-1], test.query_boundaries[1:])])))
                row["train"].append(float(learner.expected_metric_[-1]) if hasattr(learner, "expected_metric_")
                                    else np.nan)
                row["s"].append(seconds)
            print(f"investigate placement={placement} seed {seed} done (load {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    lines = [f"PL-Rank vs the listwise softmax on DR targets: Plackett-Luce logging (T = 1, standardised 1 % logger), "
             f"PBM eta 1, {args.sessions:,} sessions, {args.seeds} seeds (mean ± sd; paired difference to softmax "
             "DR of the same placement and seed)\n",
             "| DR form | learner | held-out NDCG@10 (top 10 by score) | minus softmax DR | PL policy (T = 1) "
             "expected NDCG@10 | within-query score sd | training expected DCG@10 (last round) | fit s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (placement, name), row in rows.items():
        base = np.asarray(rows[(placement, "softmax DR")]["ndcg"])
        diff = np.asarray(row["ndcg"]) - base
        form = "policy-aware (expected placements)" if placement else "realised impressions (= IPS on shown)"
        lines.append(f"| {form} | {name} | {_fmt(row['ndcg'])} | {_fmt(diff)} | {_fmt(row['pl'])} | "
                     f"{_fmt(row['sd'], 2)} | {_fmt(row['train'], 3)} | {np.mean(row['s']):.1f} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "investigate.md").write_text(text)
    (args.out / "investigate.json").write_text(json.dumps({f"{p}/{n}": r for (p, n), r in rows.items()}, indent=1))
    print(text)


def loop_report(folder):
    """Per-round numbers of a run of ``experiments/pl_rank_loop.toml`` (item 2 of issue 17).

    Besides the loop's own metrics (``ndcg@10`` is the top 10 by score of the
    deployed ranker on the served queries, whatever the variant serves),
    ``served_ndcg@10`` is the NDCG@10 users actually see: the expected NDCG@10
    of PL on the raw scores at temperature 1 (from the scores the run
    checkpointed) for a variant that serves stochastically from round 1 on,
    the top 10 otherwise.
    """
    from clickloop._compose import build_datasets
    from clickloop._config import load_config, variant_settings

    folder = Path(folder)
    config = load_config(folder / "config.toml")
    train, _ = build_datasets(config)
    rows = read_metrics(folder / "metrics.csv")
    names = [n for n in config.loop.variants if n not in ("skyline",)]
    stochastic = {n for n in names if variant_settings(config, n)[0] == "pl_rank"
                  and variant_settings(config, n)[1]["serving"] == "stochastic"}
    metrics = ("ndcg@10", "served_ndcg@10", "heldout_ndcg@10", "ctr", "coverage", "exposure_gini")
    lines = [f"Run {folder} ({config.seeds} seeds; mean over seeds per round)\n"]
    for metric in metrics:
        lines.append(f"\n{metric}\n")
        rounds = None
        table = {}
        for name in names:
            if metric == "served_ndcg@10":
                if name not in stochastic:
                    r, _, values = rows.curve(name, "ndcg@10")
                else:
                    r = np.arange(config.loop.rounds + 1)
                    values = np.array([[expected_ndcg(np.load(folder / ".state" / f"seed_{seed}" / name /
                                                              f"round_{t}.npz")["scores"], train)
                                        if t > 0 else np.nan for t in r] for seed in range(config.seeds)])
                    values[:, 0] = rows.curve(name, "ndcg@10")[2][:, 0]
            else:
                r, _, values = rows.curve(name, metric)
            rounds = r
            table[name] = np.nanmean(values, axis=0)
        lines.append("| variant | " + " | ".join(f"r{t}" for t in rounds) + " |")
        lines.append("|---|" + "---:|" * len(rounds))
        for name, values in table.items():
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    return text


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 10^5 sessions, a small loop")
    parser.add_argument("--investigate", action="store_true", help="the PL-Rank vs softmax DR must-show")
    parser.add_argument("--seeds", type=positive_int)
    parser.add_argument("--sessions", type=positive_int)
    parser.add_argument("--calibration-sessions", type=positive_int, default=100_000)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--jobs", type=worker_count, default=2, help="worker processes of the loop runs")
    parser.add_argument("--no-loop", action="store_true")
    parser.add_argument("--loop-report", type=existing_folder, metavar="RUN",
                        help="per-round table of a run of experiments/pl_rank_loop.toml, then exit")
    parser.add_argument("--out", type=output_folder, default=Path("results/loss_study"))
    parser.add_argument("--figure", type=Path, default=Path("docs/loss_study.png"))
    args = parser.parse_args(argv)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    args.seeds = args.seeds or (2 if args.quick else 5)
    args.sessions = args.sessions or (100_000 if args.quick else 1_000_000)
    if args.loop_report:
        return loop_report(args.loop_report)
    if args.investigate:
        return investigate(args)
    args.etas = (1.0, 2.0)
    args.loop_rounds = 3 if args.quick else 5
    args.loop_seeds = 2 if args.quick else 3
    args.loop_settings = [] if args.no_loop else ([(1.0, "deterministic")] if args.quick else
                                                  [(1.0, "deterministic"), (2.0, "deterministic"),
                                                   (1.0, "plackett_luce"), (2.0, "plackett_luce")])
    args.out.mkdir(parents=True, exist_ok=True)
    start, load = time.perf_counter(), os.getloadavg()[0]
    cache = args.out / "one_round.json"
    stamp = {"seeds": args.seeds, "sessions": args.sessions, "calibration_sessions": args.calibration_sessions}
    if cache.is_file() and json.loads(cache.read_text()).get("settings") == stamp:
        results = json.loads(cache.read_text())["results"]
    else:
        results = run_one_round(args)
        cache.write_text(json.dumps({"settings": stamp, "results": results}, indent=1))
    loops = run_loops(args)
    text = (f"# Loss study ({'--quick' if args.quick else 'full'}): `python experiments/loss_study.py"
            f"{' --quick' if args.quick else ''}`\n\n" + one_round_tables(results, args)
            + (loop_tables(loops, args) if loops else "")
            + f"\nWall time {time.perf_counter() - start:.0f} s; load average {load:.1f} at the start, "
              f"{os.getloadavg()[0]:.1f} at the end (2 cores, shared).\n")
    (args.out / "loss_study.md").write_text(text)
    figure(results, loops, args.figure)
    print(text)


if __name__ == "__main__":
    main()
