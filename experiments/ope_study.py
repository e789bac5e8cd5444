"""Off-policy evaluation study: every estimator against the exact value of the target ranker.

A small synthetic dataset (50 queries x 10 documents), a logging ranker (the
labels plus heavy noise) served three ways (deterministic, epsilon-greedy,
Plackett-Luce) and a target ranker (the labels plus mild noise).  For each
click model (PBM, cascade) and logging policy, every repetition simulates a
fresh log of N_max sessions (its own seed) and estimates the target's
expected clicks per session on its first N sessions for each N, with every
estimator of :mod:`ltr._ope`.  The truth is :func:`ltr.exact_value` (no
sampling).  Reported per (click model, logger, list setting, N, estimator): bias
(mean estimate - exact) with its standard error over the repetitions, RMSE,
and the coverage of the 95 % interval (with its binomial standard error).

List settings: ``top5`` shows the top 5 of the 10 candidates (item-selection
bias: a stochastic logger shows a target document only sometimes, a
deterministic one maybe never); ``full`` shows all 10 (every document is in
every list, so item-position IPS's assumption holds whatever the logger).

Examination used by the PBM-based estimators: the true theta_r = 1 / r under
PBM clicks; under cascade clicks, the PBM curve fitted by EM
(:func:`ltr.estimate_pbm_em`) on a separate uniformly random log of 10^5
sessions, which is what a practitioner who assumes PBM would use.
Plackett-Luce placement probabilities are computed exactly (dynamic
programming over the subsets of a query's candidates).

Usage::

    python experiments/ope_study.py [--reps 200] [--quick] [--out results/ope_study]

Writes ``OUT/ope_study.csv`` and ``OUT/ope_study.png`` and prints the table.
"""

import csv
import sys
import time
from pathlib import Path

import numpy as np

from clickloop._arguments import OneLineParser, nonnegative_int, output_folder, positive_int
from ltr import estimate_pbm_em
from ltr._ope import (
    cascade_dr_estimate,
    dr_estimate,
    exact_value,
    ips_estimate,
    logging_prefix_probabilities,
    naive_estimate,
    policy_aware_estimate,
)
from policies import Deterministic, EpsilonGreedy, PlackettLuce, UniformRandom
from simulator import PBM, CascadeModel, ClickLog, make_synthetic, simulate_sessions

ESTIMATORS = ("naive", "ips", "policy_aware", "dr", "cascade_dr")
N_QUERIES, DOCS_PER_QUERY = 50, 10
EPSILON, TEMPERATURE = 0.3, 1.0
LOGGER_NOISE, TARGET_NOISE = 1.5, 0.5


def plackett_luce_placement(scores, boundaries, temperature, k):
    """Exact P(d at rank j) of Plackett-Luce, by dynamic programming over the subsets of each query.

    f[S] = P(the first |S| ranks hold the set S); P(d at rank |S| + 1 | S first) = w_d / (W - w(S)).
    Cost O(2^n n) per query of n candidates (n <= 16 here).
    """
    placement = np.zeros((scores.size, k))
    for q in range(boundaries.size - 1):
        lo, hi = boundaries[q], boundaries[q + 1]
        n = hi - lo
        if n > 16:
            raise ValueError(f"exact Plackett-Luce placement needs <= 16 candidates, query {q} has {n}")
        w = np.exp((scores[lo:hi] - scores[lo:hi].max()) / temperature)
        masks = np.arange(1 << n)
        bits = (masks[:, None] >> np.arange(n)) & 1
        size, mass = bits.sum(axis=1), bits @ w
        f = np.zeros(1 << n)
        f[0] = 1.0
        for j in range(min(k, n)):
            level = masks[size == j]
            free = 1 - bits[level]                                   # (m, n): d not yet placed
            step = f[level, None] * free * w / (w.sum() - mass[level])[:, None]
            placement[lo:hi, j] = step.sum(axis=0)
            np.add.at(f, (level[:, None] | (1 << np.arange(n)))[free == 1], step[free == 1])
    return placement


def make_world(k, seed=0):
    """Dataset, logger and target scores, target lists and the three logging policies."""
    data = make_synthetic(n_queries=N_QUERIES, docs_per_query=DOCS_PER_QUERY, n_features=5, seed=seed)
    rng = np.random.default_rng(seed + 1)
    logger_scores = data.labels + LOGGER_NOISE * rng.standard_normal(data.n_docs)
    target_scores = data.labels + TARGET_NOISE * rng.standard_normal(data.n_docs)
    target = Deterministic(lambda X: target_scores, k=k).bind(data.features, data.query_boundaries).fixed_lists()
    scorer = lambda X: logger_scores  # noqa: E731  (the scores are fixed per document row)
    loggers = {
        "deterministic": Deterministic(scorer, k=k),
        "epsilon_greedy": EpsilonGreedy(scorer, k=k, epsilon=EPSILON),
        "plackett_luce": PlackettLuce(scorer, k=k, temperature=TEMPERATURE),
    }
    placement = {}
    for name, policy in loggers.items():
        bound = policy.bind(data.features, data.query_boundaries)
        if name == "plackett_luce":
            exact = plackett_luce_placement(logger_scores, data.query_boundaries, TEMPERATURE, k)
            monte_carlo = bound.placement_probabilities(n_samples=20_000)
            gap = np.abs(exact - monte_carlo).max()
            assert gap < 5 * np.sqrt(0.25 / 20_000), f"exact PL placement differs from Monte Carlo by {gap}"
            placement[name] = exact
        else:
            placement[name] = bound.placement_probabilities()
    return data, target, loggers, placement


def pbm_curve(data, click_model, k, seed):
    """Examination the PBM-based estimators use: PBM's own, or an EM fit on a uniformly random log."""
    if isinstance(click_model, PBM):
        return click_model.examination_by_rank(k)
    stats = simulate_sessions(data, UniformRandom(k=k), click_model, 100_000, seed=seed).statistics
    return np.asarray(estimate_pbm_em(stats).theta, dtype=np.float64)


class _Rankings:
    """A bound policy seen only through ``rank`` and ``k``, so that ``simulate_sessions(keep_log=True)``
    does not recompute (Monte Carlo) placement probabilities for every log: the study has them exactly."""

    def __init__(self, bound, name):
        self.bound, self.k, self.name = bound, bound.k, name

    def rank(self, queries, seed, first_session=0, out=None):
        return self.bound.rank(queries, seed, first_session, out=out)


def estimate_all(log, n, target, theta, placement, prefix, seed):
    """Every estimator on the first n sessions of the log: {name: OPEEstimate}."""
    part = log if n >= log.n_sessions else ClickLog(
        query=log.query[:n], round=log.round[:n], displayed=log.displayed[:n], clicks=log.clicks[:n],
        examination=log.examination[:n], policy=log.policy, policy_index=log.policy_index[:n])
    return {
        "naive": naive_estimate(part, target),
        "ips": ips_estimate(part, target, theta),
        "policy_aware": policy_aware_estimate(part, target, theta, placement),
        "dr": dr_estimate(part, target, theta, placement, seed=seed),
        "cascade_dr": cascade_dr_estimate(part, target, theta, prefix[:n], seed=seed),
    }


def assumptions_hold(data, target, policy, placement, theta, click_model):
    """{estimator: whether its assumptions hold} for this target, logger and click model.

    naive: the target shows the logger's lists (never here); ips: PBM clicks and every target document
    shown in every session; policy_aware and dr: PBM clicks and rho(d) > 0 for every target document;
    cascade_dr: clicks of the cascade kind (PBM and the cascade model both are) and every prefix of the
    target's lists has positive logging probability.
    """
    shown = target[target >= 0]
    pbm = isinstance(click_model, PBM)
    prefix = logging_prefix_probabilities(policy, data.features, data.query_boundaries,
                                          np.arange(data.n_queries), target)
    return {
        "naive": False,
        "ips": pbm and bool(np.all(np.isclose(placement[shown].sum(axis=1), 1.0))),
        "policy_aware": pbm and bool(np.all((placement[shown] * theta).sum(axis=1) > 0)),
        "dr": pbm and bool(np.all((placement[shown] * theta).sum(axis=1) > 0)),
        "cascade_dr": bool(np.all(prefix > 0)),
    }


def run(reps, sizes, list_settings, click_models, seed=2024, progress=True):
    rows = []
    root = np.random.SeedSequence(seed)
    for setting, k in list_settings.items():
        data, target, loggers, placement = make_world(k)
        for model_name, model in click_models.items():
            truth = exact_value(data, target, model)
            theta = pbm_curve(data, model, k, seed=int(root.generate_state(1)[0]))
            for logger_name, policy in loggers.items():
                start = time.perf_counter()
                estimates = {(n, e): [] for n in sizes for e in ESTIMATORS}
                holds = assumptions_hold(data, target, policy, placement[logger_name], theta, model)
                ranker = _Rankings(policy.bind(data.features, data.query_boundaries), logger_name)
                seeds = np.random.SeedSequence([seed, len(rows)]).spawn(reps)
                for rep in range(reps):
                    log = simulate_sessions(data, ranker, model, max(sizes), seed=seeds[rep], keep_log=True).log
                    prefix = logging_prefix_probabilities(policy, data.features, data.query_boundaries, log.query,
                                                          log.displayed)
                    for n in sizes:
                        for name, est in estimate_all(log, n, target, theta, placement[logger_name], prefix,
                                                      seed=rep).items():
                            estimates[n, name].append((est.value, est.standard_error, est.covers(truth)))
                for (n, name), values in estimates.items():
                    value, se, covered = (np.array(v, dtype=float) for v in zip(*values))
                    rows.append(dict(
                        lists=setting, click_model=model_name, logger=logger_name, n_sessions=n, estimator=name,
                        assumptions_hold=holds[name], reps=reps, exact=truth, mean_estimate=value.mean(),
                        bias=value.mean() - truth,
                        bias_se=value.std(ddof=1) / np.sqrt(reps), rmse=np.sqrt(np.mean((value - truth) ** 2)),
                        sd_estimate=value.std(ddof=1), mean_se=se.mean(), coverage=covered.mean(),
                        coverage_se=np.sqrt(covered.mean() * (1 - covered.mean()) / reps),
                    ))
                if progress:
                    print(f"  {setting} {model_name} {logger_name}: {time.perf_counter() - start:.1f} s",
                          file=sys.stderr, flush=True)
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def table(rows):
    lines = ["| lists | clicks | logger | N | estimator | holds | exact | bias +- se | bias/se | RMSE | mean SE | "
             "coverage |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        z = r["bias"] / r["bias_se"] if r["bias_se"] > 0 else float("nan")
        lines.append(f"| {r['lists']} | {r['click_model']} | {r['logger']} | {r['n_sessions']} | {r['estimator']} | "
                     f"{'yes' if r['assumptions_hold'] else 'no'} | {r['exact']:.4f} | "
                     f"{r['bias']:+.4f} +- {r['bias_se']:.4f} | {z:+.1f} | {r['rmse']:.4f} | {r['mean_se']:.4f} | "
                     f"{r['coverage']:.3f} |")
    return "\n".join(lines)


def must_show(rows):
    """Rows whose assumptions hold: coverage in [0.90, 0.99] and |bias| <= 2 SE, per estimator."""
    lines = ["Where the assumptions hold (coverage in [0.90, 0.99]; |bias| <= 2 SE):"]
    for name in ESTIMATORS:
        sel = [r for r in rows if r["assumptions_hold"] and r["estimator"] == name]
        if not sel:
            lines.append(f"  {name}: holds in no setting")
            continue
        covered = sum(0.90 <= r["coverage"] <= 0.99 for r in sel)
        unbiased = sum(abs(r["bias"]) <= 2 * r["bias_se"] for r in sel)
        lines.append(f"  {name}: coverage in range {covered}/{len(sel)}, bias within 2 SE {unbiased}/{len(sel)}; "
                     f"coverage {min(r['coverage'] for r in sel):.3f}..{max(r['coverage'] for r in sel):.3f}")
    return "\n".join(lines)


def figure(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({(r["lists"], r["click_model"]) for r in rows}, key=lambda s: (s[0] != "top5", s[1] != "pbm"))
    loggers = list(dict.fromkeys(r["logger"] for r in rows))
    fig, axes = plt.subplots(2 * len(settings), len(loggers), figsize=(4.2 * len(loggers), 3.0 * 2 * len(settings)),
                             squeeze=False, sharex=True)
    for i, (lists, model) in enumerate(settings):
        for j, logger in enumerate(loggers):
            ax_bias, ax_cov = axes[2 * i, j], axes[2 * i + 1, j]
            for name in ESTIMATORS:
                sel = sorted((r for r in rows if (r["lists"], r["click_model"], r["logger"], r["estimator"])
                              == (lists, model, logger, name)), key=lambda r: r["n_sessions"])
                n = np.array([r["n_sessions"] for r in sel])
                rel = np.array([r["bias"] / r["exact"] for r in sel])
                err = np.array([2 * r["bias_se"] / r["exact"] for r in sel])
                ax_bias.errorbar(n, rel, yerr=err, marker="o", capsize=3, label=name)
                ax_cov.plot(n, [r["coverage"] for r in sel], marker="o", label=name)
            ax_bias.axhline(0, color="k", lw=0.8)
            ax_cov.axhspan(0.9, 0.99, color="0.9")
            ax_cov.axhline(0.95, color="k", lw=0.8, ls="--")
            ax_cov.set_ylim(0, 1.02)
            for ax in (ax_bias, ax_cov):
                ax.set_xscale("log")
            ax_bias.set_title(f"{model} clicks, {lists}, {logger}", fontsize=9)
            if j == 0:
                ax_bias.set_ylabel("relative bias (+- 2 SE)")
                ax_cov.set_ylabel("95 % CI coverage")
            if i == len(settings) - 1:
                ax_cov.set_xlabel("sessions N")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=positive_int, default=200, help="repetitions (logs) per setting, default 200")
    parser.add_argument("--quick", action="store_true", help="20 repetitions, N up to 10^4, top-5 lists only")
    parser.add_argument("--out", type=output_folder, default=Path("results/ope_study"))
    parser.add_argument("--seed", type=nonnegative_int, default=2024)
    args = parser.parse_args(argv)
    if args.reps < 2:
        parser.error(f"--reps must be >= 2, got {args.reps}")
    reps = 20 if args.quick else args.reps
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    list_settings = {"top5": 5} if args.quick else {"top5": 5, "full": 10}
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = run(reps, sizes, list_settings, {"pbm": PBM(eta=1.0), "cascade": CascadeModel()}, seed=args.seed)
    write_csv(rows, args.out / "ope_study.csv")
    figure(rows, args.out / "ope_study.png")
    print(table(rows))
    print()
    print(must_show(rows))
    print(f"\n{reps} repetitions per row; {time.perf_counter() - start:.0f} s; wrote {args.out / 'ope_study.csv'} "
          f"and {args.out / 'ope_study.png'}")


if __name__ == "__main__":
    main()
