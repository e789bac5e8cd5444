"""The literature results of issue 15, measured: one command, one Markdown table.

Each row is a published result about counterfactual learning to rank, the
criterion it implies on clickloop's synthetic data, the measured numbers (mean
and 95 % t interval over seeds) and PASS/FAIL:

1. ``one_round``: one round of clicks, N = 10^3..10^6 sessions, PBM eta = 1,
   a deterministic top 10 of a logger trained on 1 % of the labels: IPS and
   DR non-decreasing in N (Spearman >= 0.9), DR >= IPS - 0.005 at every N,
   and at 10^6 the best debiased learner closes >= 80 % of the
   logger-to-skyline gap on held-out queries (Joachims et al. 2017).  Mechanism rows: the
   ceiling on exact targets, the selection's cost, and DR with R_hat as the
   target of every never-shown candidate (its own and a query-offset
   regression).
2. ``oosterhuis2023``: trust bias of Oosterhuis 2023 (TOIS), top 5,
   Plackett-Luce logging: DR (affine, policy-aware exposure) reaches with at
   most 10^5 sessions the NDCG@10 that affine IPS reaches at 10^6.
3. ``trust``: ``trust_vardasbi`` clicks (Vardasbi et al. 2020): the affine
   correction (IPS and DR) beats PBM-IPS beyond the 95 % interval of the
   paired difference over seeds at 10^6 sessions (and 10^7 with ``--big``).
4. ``crossed``: DCM clicks: cascade-model IPS (DCM lambda estimated from the
   log by maximum likelihood) beats PBM-IPS; PBM clicks: PBM-IPS at least as
   good (Vardasbi et al. 2020).  Both rows also for the simplified DBN with
   each document's satisfaction estimated by maximum likelihood (the
   simulator's DCM stops by the clicked document's grade, which a per-rank
   lambda cannot express).  PBM-IPS takes the mean true examination per
   rank over the log, the best a per-rank propensity can be.
   ``crossed_explore``: the same two arms with an epsilon-greedy logger (a
   uniformly random list in ``EPSILON`` = 10 % of the sessions, the
   deterministic one in the others).  ``crossed_pl`` (mechanism, no
   verdict): the DCM arm under Plackett-Luce logging of the same logger at
   temperature 1 and 0.3, where documents move between ranks.
5. ``topk``: deterministic top-5 logging leaves policy-oblivious IPS below
   full-ranking feedback; Plackett-Luce top-5 logging with policy-aware IPS
   ends within 0.005 of full-ranking feedback at 10^6 (Oosterhuis & de Rijke
   2020).  Full-ranking feedback: the same policy showing all candidates.
6. ``loop_estimated``: the feedback loop of the default preset (5 seeds, 10
   rounds): IPS with propensities estimated from its own history (intervention
   harvesting over its deployed rankers) ends within 0.01 NDCG@10 of IPS with
   the true ones (Agarwal et al. 2019).
7. ``tower``: the loop from a good logger (``logger.query_fraction = 0.5``),
   eta 1 and 2, engagement none and ctr: no round of the position tower more
   than 0.05 below the logger (served NDCG@10; Zhang et al. 2023 on the
   tower's failure under a good logger); beside it (mechanism) the tower with
   the true theta held fixed, and the tower fed every shown document's CTR
   (``engagement_min_examinations = 0``; the default hides the CTR of a
   document examined fewer than 20 times).
8. ``tower_prior`` (mechanism, no verdict): the same loop with CTR fed back
   at eta 1 and 2, every shown document's CTR (``engagement_min_examinations
   = 0``), the debiased and raw CTR features smoothed towards the
   variant's mean CTR with ``loop.engagement_prior`` = 0, 5, 20 and 50
   pseudo-impressions: the worst round of naive, IPS and the tower against
   the logger, and the default preset's final round (served and held-out)
   with priors 0 and 20.
9. ``tower_listwise`` (mechanism, no verdict): the loop of ``tower`` with the
   tower's relevance part listwise (``relevance = "listwise"``: the softmax
   of f + log A_d on the clicks) beside the pointwise tower, worst and final
   round against the logger, and both towers' final round in the default
   preset.

Items 1-5 are one-round studies built from :mod:`simulator`, :mod:`policies`
and :mod:`ltr` directly (1000 synthetic queries x 50 documents, 75 % / 25 %
train / held-out split by query, held-out NDCG@10); items 6-9 run
``python -m clickloop`` with user-named variants and read ``metrics.csv``.

Usage::

    python experiments/debiasing_study.py --quick [--only one_round tower] [--out results/debiasing]
    python experiments/debiasing_study.py            # full: 5 seeds (8 for trust), N up to 10^6
    python experiments/debiasing_study.py --big      # also 10^7 sessions for the trust row
    python experiments/debiasing_study.py --only crossed_explore --seeds 5,6,7,8,9   # other seeds

Writes ``OUT/table.md`` (the table) and ``OUT/rows.csv`` (every number per
seed) and prints the table.
"""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

from clickloop._arguments import OneLineParser, output_folder, seed_list
from analysis import ndcg
from ltr import DR, IPS, FullInformation, Naive, RelevanceModel, estimate_sdbn_satisfaction, served_candidates
from policies import Deterministic, EpsilonGreedy, PlackettLuce
from simulator import PBM, RankingDataset, click_model, make_synthetic, simulate_sessions

ITEMS = ("one_round", "oosterhuis2023", "trust", "crossed", "crossed_explore", "crossed_pl", "topk", "loop_estimated",
         "tower", "tower_prior", "tower_listwise")
ROOT = Path(__file__).resolve().parents[1]
#: Share of the sessions an epsilon-greedy logger shows a uniformly random list (``crossed_explore``).
EPSILON = 0.1


# ------------------------------------------------------------------------------------------
# Shared one-round machinery
# ------------------------------------------------------------------------------------------


class _Setting:
    """Data, logger and references of one seed (cached: every item of a seed shares them)."""

    _cache = {}

    @classmethod
    def get(cls, seed):
        if seed not in cls._cache:
            cls._cache[seed] = cls(seed)
        return cls._cache[seed]

    def __init__(self, seed):
        self.seed = seed
        data = make_synthetic(seed=seed)
        self.train, self.test = data.split((0.75, 0.25), seed=seed)
        self.logger = FullInformation(query_fraction=0.01, seed=seed).fit(self.train)
        self.logger_ndcg = self.score(self.logger)
        self.skyline_ndcg = self.score(FullInformation(seed=seed).fit(self.train))
        s = self.logger.predict(self.train.features)
        self.scores = (s - s.mean()) / (s.std() + 1e-12)  # Plackett-Luce at temperature 1 on standardised scores

    def score(self, model):
        """Held-out NDCG@10 of a fitted model."""
        return float(ndcg(model.predict(self.test.features), self.test.labels, self.test.query_boundaries,
                          k=10).mean())

    def policy(self, kind, k, temperature=1.0):
        """The logger's scores served deterministically, by Plackett-Luce at ``temperature``, or epsilon-greedy
        (a uniformly random list in ``EPSILON`` of the sessions)."""
        scorer = lambda X, s=self.scores: s  # noqa: E731  (the train set's logger scores)
        if kind == "deterministic":
            return Deterministic(scorer, k)
        if kind == "epsilon_greedy":
            return EpsilonGreedy(scorer, k, EPSILON)
        return PlackettLuce(scorer, k, temperature)

    def simulate(self, kind, k, model, n, *, log=False, placement=False, stream=0, temperature=1.0):
        seed = np.random.SeedSequence(self.seed, spawn_key=(stream, n, k))
        return simulate_sessions(self.train, self.policy(kind, k, temperature), model, n, seed=seed, keep_log=log,
                                 placement=placement)


def _affine(model, k):
    theta, eps_minus, slope, _ = model.affine_parameters(np.zeros(1, dtype=np.int64), k)
    return theta * slope, theta * eps_minus


def _rank_theta(statistics):
    """Mean true examination per rank over the log: the best per-rank (PBM) propensity."""
    imp = statistics.impressions.sum(axis=0)
    return np.where(imp > 0, statistics.examination.sum(axis=0) / np.maximum(imp, 1), 1.0)


def _interval(values):
    """(mean, half-width of the 95 % t interval) over seeds."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def _fmt(values):
    m, h = _interval(values)
    return f"{m:.4f} ± {h:.4f}"


def _spearman(x):
    return float(sps.spearmanr(np.arange(len(x)), x).statistic)


def _exp(n):
    return f"10^{int(round(np.log10(n)))}"


# ------------------------------------------------------------------------------------------
# The items
# ------------------------------------------------------------------------------------------


def one_round(cfg, rows):
    sizes = cfg["sizes"]
    res = {}
    refs = {"logger": [], "skyline": []}
    for seed in cfg["seeds"]:
        st = _Setting.get(seed)
        refs["logger"].append(st.logger_ndcg)
        refs["skyline"].append(st.skyline_ndcg)
        for n in sizes:
            stats = st.simulate("deterministic", 10, PBM(eta=1.0), n).statistics
            for name, learner in (("naive", Naive(seed=seed)), ("ips", IPS(seed=seed)), ("dr", DR(seed=seed))):
                res.setdefault((name, n), []).append(st.score(learner.fit(st.train, stats)))
        # The ceiling of any unbiased click learner on this log: IPS fitted on the exact expectation of its
        # targets (each shown document's attractiveness), the same rows, groups and weights as at the top N.
        learner = IPS(seed=seed)
        shown, groups, sessions, _, weights = learner._targets(st.train, stats)
        attractiveness = PBM(eta=1.0).affine_parameters(st.train.labels, 10)[3]
        res.setdefault(("ips_expected", sizes[-1]), []).append(st.score(
            learner._fit_targets(st.train, shown, groups, sessions, attractiveness[shown], weights)))
        # What the selection costs: the same exact targets on every candidate of the served queries (as if
        # all were shown), and the skyline's own learner (LambdaMART on the grades) on the shown documents.
        every, every_groups, every_sessions = served_candidates(st.train, stats)
        res.setdefault(("ips_expected_all", sizes[-1]), []).append(st.score(IPS(seed=seed)._fit_targets(
            st.train, every, every_groups, every_sessions, attractiveness[every], every_sessions)))
        shown_only = RankingDataset.from_group_sizes(st.train.features[shown], st.train.labels[shown], groups)
        res.setdefault(("skyline_shown", sizes[-1]), []).append(st.score(FullInformation(seed=seed).fit(shown_only)))
        # The one remedy for the selection a DR has: R_hat as the target of every never-shown candidate
        # (candidates="all"), with its own regression and with a query-offset one.
        res.setdefault(("dr_all", sizes[-1]), []).append(st.score(DR(candidates="all", seed=seed).fit(st.train,
                                                                                                      stats)))
        r_hat, ranker = _query_offset_r_hat(st, stats)
        dr_all = DR(candidates="all", seed=seed)
        rows_all, groups_all, sessions_all, targets = dr_all._targets(st.train, stats, r_hat=r_hat)
        res.setdefault(("dr_all_query_offset", sizes[-1]), []).append(st.score(dr_all._fit_targets(
            st.train, rows_all, groups_all, sessions_all, targets, sessions_all)))
        res.setdefault(("query_offset_alone", sizes[-1]), []).append(st.score(ranker))
        _progress("one_round", seed)
    for key, v in res.items():
        rows.append(("one_round", f"{key[0]} N={key[1]}", v))
    for key, v in refs.items():
        rows.append(("one_round", key, v))
    means = {name: [np.mean(res[name, n]) for n in sizes] for name in ("naive", "ips", "dr")}
    curve = lambda name: ", ".join(f"{_exp(n)}: {_fmt(res[name, n])}" for n in sizes)  # noqa: E731
    out = []
    for name in ("ips", "dr"):
        rho = _spearman(means[name])
        out.append((f"{name.upper()} improves with more clicks (Joachims et al. 2017)",
                    "Spearman(N, mean NDCG@10) >= 0.9", f"{curve(name)}; Spearman {rho:.2f}", rho >= 0.9))
    diffs = {n: np.array(res["dr", n]) - np.array(res["ips", n]) for n in sizes}
    ok = all(np.mean(diffs[n]) >= -0.005 for n in sizes)
    out.append(("DR is never worse than IPS (Oosterhuis 2023)", "mean DR - IPS >= -0.005 at every N",
                "; ".join(f"{_exp(n)}: {_fmt(diffs[n])}" for n in sizes), ok))
    top = sizes[-1]
    lg, sk = np.array(refs["logger"]), np.array(refs["skyline"])
    closed = {name: (np.array(res[name, top]) - lg) / (sk - lg) for name in ("ips", "dr")}
    best = max(closed, key=lambda name: closed[name].mean())
    out.append((f"at {_exp(top)} the best debiased learner nears the skyline",
                ">= 80 % of the logger-to-skyline gap closed (held out)",
                f"logger {_fmt(lg)}, skyline {_fmt(sk)}; closed: IPS {100 * closed['ips'].mean():.1f} %, "
                f"DR {100 * closed['dr'].mean():.1f} % (naive at {_exp(top)}: {_fmt(res['naive', top])})",
                closed[best].mean() >= 0.8))
    closes = lambda name: 100 * ((np.array(res[name, top]) - lg) / (sk - lg)).mean()  # noqa: E731
    out.append((f"(mechanism) IPS on the exact expectation of its targets, {_exp(top)}'s shown documents",
                "no verdict", f"{_fmt(res['ips_expected', top])}: closes {closes('ips_expected'):.1f} % of the gap",
                None))
    out.append(("(mechanism) what the selection costs: the same exact targets on every candidate of the served "
                "queries; the skyline's learner on the grades of the shown documents only", "no verdict",
                f"every candidate {_fmt(res['ips_expected_all', top])} (closes {closes('ips_expected_all'):.1f} %); "
                f"skyline on the shown {_fmt(res['skyline_shown', top])} (closes {closes('skyline_shown'):.1f} %)",
                None))
    out.append(("(mechanism) DR on every candidate of the served queries (candidates = all: R_hat is the target of "
                "the never-shown ones), with its own regression; with a query-offset regression (within-query "
                "feature ranks, a per-query intercept from the shown documents' clicks); that regression alone",
                "no verdict", f"own regression {_fmt(res['dr_all', top])} (closes {closes('dr_all'):.1f} %); "
                f"query offset {_fmt(res['dr_all_query_offset', top])} (closes {closes('dr_all_query_offset'):.1f} %);"
                f" alone {_fmt(res['query_offset_alone', top])} (IPS {_fmt(res['ips', top])})", None))
    return out


class _QueryOffsetRanker:
    """Scores of the query-offset regression's within-query part on any dataset."""

    def __init__(self, model, dataset):
        self.model, self.dataset = model, dataset

    def predict(self, features):
        return self.model.predict(_within_query_features(self.dataset, features))


def _within_query_features(dataset, features):
    """Each feature's percentile rank within its query (free of the per-query shift and of the column's
    monotone transform), beside the raw features."""
    ranks = np.empty(features.shape, dtype=np.float64)
    for i in range(dataset.n_queries):
        block = features[dataset.query_slice(i)]
        ranks[dataset.query_slice(i)] = (block.argsort(axis=0).argsort(axis=0) + 0.5) / len(block)
    return np.column_stack([ranks, features])


def _query_offset_r_hat(st, stats):
    """(R_hat of every training document, the within-query ranker) of a regression with a per-query intercept.

    The synthetic grades carry a per-query difficulty offset no feature explains (``make_synthetic``), so a
    pointwise regression across queries is off by it on every never-shown candidate.  Here h is a weighted
    least-squares LightGBM regression of each shown document's PBM estimate (DR's direct-model targets) minus its
    query's weighted mean on within-query features, and R_hat = h + b_q with b_q the query's weighted mean
    residual over its shown documents, clipped to [0, 1].
    """
    train = st.train
    theta = DR()._rank_theta(stats)
    rows, target, weight = DR.direct_targets(train, stats, theta, np.zeros_like(theta))
    query = train.doc_query[rows]

    def query_mean(values):
        return np.bincount(query, values * weight, train.n_queries) / np.maximum(
            np.bincount(query, weight, train.n_queries), 1e-12)

    features = _within_query_features(train, train.features)
    model = RelevanceModel(loss="squared", seed=st.seed).fit(features[rows], target - query_mean(target)[query],
                                                             weight)
    h = model.predict(features)
    offset = query_mean(target - h[rows])
    return np.clip(h + offset[train.doc_query], 0.0, 1.0), _QueryOffsetRanker(model, st.test)


def oosterhuis2023(cfg, rows):
    k = 5
    model = click_model("trust_oosterhuis2023", n_ranks=k)
    affine = _affine(model, k)
    ips, dr, dm = {}, {}, {}
    sizes = [n for n in cfg["sizes"] if n <= 10**5]
    top = 10**6
    for seed in cfg["seeds"]:
        st = _Setting.get(seed)
        for n in sizes + [top]:
            stats = st.simulate("plackett_luce", k, model, n, placement=True).statistics
            ips.setdefault(n, []).append(st.score(IPS(affine=affine, seed=seed).fit(st.train, stats)))
            dr.setdefault(n, []).append(st.score(DR(affine=affine, seed=seed).fit(st.train, stats)))
            if n == sizes[-1]:
                _dr_better_regressions(st, stats, model, affine, k, dm)
        _progress("oosterhuis2023", seed)
    for name, curve in (("ips", ips), ("dr", dr)):
        for n, v in curve.items():
            rows.append(("oosterhuis2023", f"{name} affine N={n}", v))
    target = np.mean(ips[top])
    reached = [n for n in sizes if np.mean(dr[n]) >= target]
    both = sizes + [top]
    return [("DR needs far fewer clicks than IPS (Oosterhuis 2023; trust bias, top 5, Plackett-Luce)",
             "DR at <= 10^5 sessions >= IPS at 10^6 (means)",
             f"IPS 10^6: {_fmt(ips[top])}; DR " + ", ".join(f"{_exp(n)}: {_fmt(dr[n])}" for n in sizes)
             + f"; first N reaching it: {_exp(reached[0]) if reached else 'none'}", bool(reached)),
            ("(mechanism) both curves, the same sessions for both learners at each N", "no verdict",
             "; ".join(f"{_exp(n)}: IPS {np.mean(ips[n]):.4f}, DR {np.mean(dr[n]):.4f}, DR - IPS "
                       f"{_fmt(np.array(dr[n]) - np.array(ips[n]))}" for n in both)
             + f"; skyline {_fmt([_Setting.get(s).skyline_ndcg for s in cfg['seeds']])}", None),
            (f"(mechanism) DR at {_exp(sizes[-1])} with better regressions R_hat: a LightGBM regression (default "
             "settings) fitted on every training document's true attractiveness, and the true attractiveness itself",
             "no verdict", f"its own {_fmt(dr[sizes[-1]])}; fitted on the truth {_fmt(dm['fitted'])} (R_hat's "
             f"in-sample RMSE {np.mean(dm['rmse']):.3f}); the truth {_fmt(dm['truth'])}", None)]


def _dr_better_regressions(st, stats, model, affine, k, out):
    """Held-out NDCG@10 of DR with R_hat fitted on the true attractiveness of every training document, and
    with R_hat the truth, on the same sessions (appended to ``out``)."""
    truth = model.affine_parameters(st.train.labels, k)[3]
    regression = RelevanceModel(loss="squared", seed=st.seed).fit(st.train.features, truth)
    fitted = np.clip(regression.predict(st.train.features), 0.0, 1.0)
    out.setdefault("rmse", []).append(float(np.sqrt(np.mean((fitted - truth) ** 2))))
    for name, r_hat in (("fitted", fitted), ("truth", truth)):
        learner = DR(affine=affine, seed=st.seed)
        rows, sizes, sessions, targets = learner._targets(st.train, stats, r_hat=r_hat)
        out.setdefault(name, []).append(st.score(learner._fit_targets(st.train, rows, sizes, sessions, targets,
                                                                      sessions)))


def trust(cfg, rows):
    model = click_model("trust_vardasbi")
    k = 10
    affine = _affine(model, k)
    out = []
    for n in cfg["trust_sizes"]:
        res = {}
        for seed in cfg["trust_seeds"]:
            st = _Setting.get(seed)
            stats = st.simulate("deterministic", k, model, n).statistics
            theta = _rank_theta(stats)
            for name, learner in (("pbm_ips", IPS(propensity=theta, seed=seed)),
                                  ("affine_ips", IPS(affine=affine, seed=seed)),
                                  ("affine_dr", DR(affine=affine, seed=seed))):
                res.setdefault(name, []).append(st.score(learner.fit(st.train, stats)))
            for name, value in _trust_without_noise(st, stats, model, theta, affine, seed).items():
                res.setdefault(name, []).append(value)
            _progress(f"trust {_exp(n)}", seed)
        for name, v in res.items():
            rows.append(("trust", f"{name} N={n}", v))
        for name in ("affine_ips", "affine_dr"):
            diff = np.array(res[name]) - np.array(res["pbm_ips"])
            m, h = _interval(diff)
            out.append((f"affine correction beats PBM-IPS under trust bias (Vardasbi et al. 2020), {_exp(n)}",
                        f"{name} - pbm_ips > 0 beyond the 95 % interval ({len(diff)} seeds)",
                        f"pbm_ips {_fmt(res['pbm_ips'])}, {name} {_fmt(res[name])}; difference {m:+.4f} ± {h:.4f}",
                        m - h > 0))
        diff = np.array(res["affine_ips_expected"]) - np.array(res["pbm_ips_expected"])
        m, h = _interval(diff)
        out.append(("(mechanism) the same IPS fits on their exact expected targets (no click noise), "
                    f"{_exp(n)}'s shown documents", "no verdict",
                    f"pbm_ips {_fmt(res['pbm_ips_expected'])} (its targets eps-_r + slope_r R: biased), "
                    f"affine_ips {_fmt(res['affine_ips_expected'])} (its targets R: exact); difference "
                    f"{m:+.4f} ± {h:.4f}; skyline {_fmt([_Setting.get(s).skyline_ndcg for s in cfg['trust_seeds']])}",
                    None))
    return out


def _trust_without_noise(st, stats, model, theta, affine, seed):
    """Held-out NDCG@10 of PBM-IPS and affine IPS fitted on the expectations of their targets.

    The same rows, groups and weights as their fits on clicks, but each
    target replaced by its exact expectation under the click model: for
    PBM-IPS sum_r I_dr theta_r (eps-_r + slope_r R_d) / theta_hat_r / I_d
    (biased: the rank's trust offset stays), for the affine correction R_d.
    Any difference is then the bias's, not the variance's.
    """
    k = stats.k
    true_theta, eps_minus, slope, relevance = model.affine_parameters(st.train.labels, k)
    out = {}
    for name, learner in (("pbm_ips", IPS(propensity=theta, seed=seed)), ("affine_ips", IPS(affine=affine, seed=seed))):
        rows, sizes, sessions, _, weights = learner._targets(st.train, stats)
        impressions = stats.take("impressions", rows).astype(np.float64)
        if name == "pbm_ips":
            per_rank = true_theta * (eps_minus + slope * relevance[rows, None]) / np.maximum(theta, 1e-12)
            expected = (impressions * per_rank).sum(axis=1) / impressions.sum(axis=1)
        else:
            expected = relevance[rows]
        out[f"{name}_expected"] = st.score(learner._fit_targets(st.train, rows, sizes, sessions, expected, weights))
    return out


def crossed(cfg, rows):
    return _crossed(cfg, rows, "crossed", "deterministic")


def crossed_explore(cfg, rows):
    """The crossed design with an epsilon-greedy logger: the deterministic list in 90 % of the sessions."""
    return _crossed(cfg, rows, "crossed_explore", "epsilon_greedy")


def _crossed(cfg, rows, item, logging):
    k = 10
    n = cfg["crossed_n"]
    out = []
    shown_as = "" if logging == "deterministic" else f", {logging.replace('_', '-')} {EPSILON} logging"
    for clicks_name, model in (("dcm", click_model("dcm_informational")), ("pbm", PBM(eta=1.0))):
        res = {}
        for seed in cfg["seeds"]:
            st = _Setting.get(seed)
            run = st.simulate(logging, k, model, n, log=True)
            theta = _rank_theta(run.statistics)
            pbm = IPS(propensity=theta, seed=seed).fit(st.train, run.statistics)
            res.setdefault("pbm_ips", []).append(st.score(pbm))
            variants = [("cascade_ips", "dcm", None), ("sdbn_ips", "dbn", None)]
            if clicks_name == "dcm" and logging == "deterministic":  # why estimated SDBN fails: vs the truth
                displayed, clicks = run.log.displayed, run.log.clicks
                sigma = estimate_sdbn_satisfaction(displayed, clicks, n_docs=st.train.n_docs)
                truth = model.stop(st.train.labels)
                rank = np.full(st.train.n_docs, -1)
                rank[displayed] = np.arange(k)  # deterministic logging: each shown document has one rank
                for r in range(k - 1):
                    clicked = (rank == r) & (np.bincount(displayed[clicks], minlength=rank.size) > 0)
                    res.setdefault(f"sigma_error_rank_{r + 1}", []).append(float(np.abs(sigma - truth)[clicked].mean()))
                variants += [("sdbn_ips_true_sigma", "dbn", {"document_sigma": truth}),
                             ("sdbn_ips_prior_10", "dbn", {"document_sigma": estimate_sdbn_satisfaction(
                                 displayed, clicks, n_docs=st.train.n_docs, prior_count=10)})]
            elif clicks_name == "dcm":
                variants.append(("sdbn_ips_true_sigma", "dbn", {"document_sigma": model.stop(st.train.labels)}))
            for name, assumed, params in variants:
                cas = IPS(propensity="cascade_model", click_model=assumed, click_model_params=params, seed=seed)
                res.setdefault(name, []).append(st.score(cas.fit(st.train, run.statistics, log=run.log)))
            _progress(f"{item} {clicks_name}", seed)
        for name, v in res.items():
            rows.append((item, f"{clicks_name} clicks: {name} N={n}", v))
        for name, label in (("cascade_ips", "cascade-IPS (DCM, lambda per rank)"),
                            ("sdbn_ips", "cascade-IPS (SDBN, sigma per document)")):
            diff = np.array(res[name]) - np.array(res["pbm_ips"])
            m, h = _interval(diff)
            numbers = (f"PBM-IPS {_fmt(res['pbm_ips'])}, {label} {_fmt(res[name])}; "
                       f"difference {m:+.4f} ± {h:.4f}")
            if clicks_name == "dcm":
                out.append((f"on DCM clicks {label} beats PBM-IPS (Vardasbi et al. 2020), {_exp(n)}{shown_as}",
                            "cascade - PBM > 0 beyond the 95 % interval", numbers, m - h > 0))
                if name == "sdbn_ips" and logging == "deterministic":
                    errors = ", ".join(f"{np.mean(res[f'sigma_error_rank_{r}']):.3f}" for r in range(1, k))
                    out.append(("mechanism (no verdict): SDBN-IPS with the true satisfaction, and with a prior",
                                "the same weighting with sigma known, and with a Beta prior of 10 pseudo-clicks",
                                f"true sigma {_fmt(res['sdbn_ips_true_sigma'])}, prior 10 "
                                f"{_fmt(res['sdbn_ips_prior_10'])}; mean absolute sigma error of the clicked documents "
                                f"at ranks 1-{k - 1}: {errors}", None))
                elif name == "sdbn_ips":
                    out.append((f"mechanism (no verdict): SDBN-IPS with the true satisfaction{shown_as}",
                                "true sigma - PBM-IPS", _fmt(np.array(res["sdbn_ips_true_sigma"])
                                                             - np.array(res["pbm_ips"])), None))
            else:
                out.append((f"on PBM clicks PBM-IPS is at least as good as {label}, {_exp(n)}{shown_as}",
                            "PBM - cascade >= 0 within the 95 % interval", numbers, m - h <= 0))
    return out


def crossed_pl(cfg, rows):
    """DCM clicks as in ``crossed``, logged by Plackett-Luce over the same logger's scores (top 10), at
    temperature 1 and 0.3 (closer to the deterministic list)."""
    k, n = 10, cfg["crossed_n"]
    model = click_model("dcm_informational")
    out = []
    for temperature in (1.0, 0.3):
        res = {}
        for seed in cfg["seeds"]:
            st = _Setting.get(seed)
            run = st.simulate("plackett_luce", k, model, n, log=True, temperature=temperature)
            res.setdefault("pbm_ips", []).append(st.score(
                IPS(propensity=_rank_theta(run.statistics), seed=seed).fit(st.train, run.statistics)))
            for name, assumed, params in (("cascade_ips", "dcm", None), ("sdbn_ips", "dbn", None),
                                          ("sdbn_ips_true_sigma", "dbn",
                                           {"document_sigma": model.stop(st.train.labels)})):
                cas = IPS(propensity="cascade_model", click_model=assumed, click_model_params=params, seed=seed)
                res.setdefault(name, []).append(st.score(cas.fit(st.train, run.statistics, log=run.log)))
            _progress(f"crossed_pl {temperature}", seed)
        for name, v in res.items():
            rows.append(("crossed_pl", f"dcm clicks, plackett-luce {temperature}: {name} N={n}", v))
        gaps = "; ".join(f"{label} {_fmt(np.array(res[name]) - np.array(res['pbm_ips']))}" for name, label in (
            ("cascade_ips", "DCM lambda"), ("sdbn_ips", "SDBN sigma"), ("sdbn_ips_true_sigma", "SDBN true sigma")))
        out.append((f"(mechanism) the DCM arm under Plackett-Luce logging at temperature {temperature}, {_exp(n)}",
                    "no verdict: cascade - PBM", f"PBM-IPS {_fmt(res['pbm_ips'])}; {gaps}", None))
    return out


def topk(cfg, rows):
    n = cfg["topk_n"]
    model = PBM(eta=1.0)
    res = {}
    for seed in cfg["seeds"]:
        st = _Setting.get(seed)
        full_k = int(st.train.query_sizes.max())
        det5 = st.simulate("deterministic", 5, model, n).statistics
        det_full = st.simulate("deterministic", full_k, model, n).statistics
        pl5 = st.simulate("plackett_luce", 5, model, n, placement=True).statistics
        pl_full = st.simulate("plackett_luce", full_k, model, n, placement=True).statistics
        fits = {
            "det top-5 oblivious": IPS(propensity="policy_oblivious", seed=seed).fit(st.train, det5),
            "det full oblivious": IPS(propensity="policy_oblivious", seed=seed).fit(st.train, det_full),
            "pl top-5 aware": IPS(propensity="policy_aware", seed=seed).fit(st.train, pl5),
            "pl full aware": IPS(propensity="policy_aware", seed=seed).fit(st.train, pl_full),
        }
        for name, model_ in fits.items():
            res.setdefault(name, []).append(st.score(model_))
        _progress("topk", seed)
    for name, v in res.items():
        rows.append(("topk", f"{name} N={n}", v))
    d1 = np.array(res["det top-5 oblivious"]) - np.array(res["det full oblivious"])
    d2 = np.array(res["pl top-5 aware"]) - np.array(res["pl full aware"])
    m1, h1 = _interval(d1)
    m2, _ = _interval(d2)
    return [
        (f"deterministic top-k: policy-oblivious IPS falls short (Oosterhuis & de Rijke 2020), {_exp(n)}",
         "top-5 - full < 0 beyond the 95 % interval",
         f"top-5 {_fmt(res['det top-5 oblivious'])}, full {_fmt(res['det full oblivious'])}; "
         f"difference {m1:+.4f} ± {h1:.4f}", m1 + h1 < 0),
        (f"Plackett-Luce top-k: policy-aware IPS matches full-ranking feedback, {_exp(n)}",
         "mean top-5 - full >= -0.005",
         f"top-5 {_fmt(res['pl top-5 aware'])}, full {_fmt(res['pl full aware'])}; difference {_fmt(d2)}",
         m2 >= -0.005),
    ]


# ------------------------------------------------------------------------------------------
# Loop items: python -m clickloop with user-named variants
# ------------------------------------------------------------------------------------------


def _clickloop(out, seeds, settings, config_text):
    out.mkdir(parents=True, exist_ok=True)
    config = out / "study.toml"
    config.write_text(config_text)
    cmd = [sys.executable, "-m", "clickloop", "--config", str(config), "--seeds", str(seeds), "--out",
           str(out / "run"), "--quiet", "--force"]
    for s in settings:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, cwd=ROOT)
    values = {}
    with open(out / "run" / "metrics.csv") as fh:
        for r in csv.DictReader(fh):
            values.setdefault((r["variant"], r["metric"], int(r["round"])), {})[int(r["seed"])] = float(r["value"])
    return values


def loop_estimated(cfg, rows):
    text = ('preset = "default"\n[loop]\nvariants = ["ips", "ips_estimated"]\n'
            '[variants.ips_estimated]\nlearner = "ips"\npropensity = "estimated"\nestimator = "harvesting"\n')
    rounds = cfg["loop_rounds"]
    values = _clickloop(cfg["out"] / "loop_estimated", cfg["loop_seeds"], [f"loop.rounds={rounds}"], text)
    seeds = sorted(values["ips", "ndcg@10", rounds])
    true = [values["ips", "ndcg@10", rounds][s] for s in seeds]
    est = [values["ips_estimated", "ndcg@10", rounds][s] for s in seeds]
    err = [values.get(("ips_estimated", "propensity_error", rounds), {}).get(s, np.nan) for s in seeds]
    rows += [("loop_estimated", f"ips oracle round {rounds}", true), ("loop_estimated",
                                                                      f"ips estimated round {rounds}", est)]
    diff = np.array(est) - np.array(true)
    return [(f"propensities estimated in the loop are as good as the true ones (Agarwal et al. 2019), "
             f"default preset, round {rounds}", "|estimated - true| <= 0.01 (mean served NDCG@10)",
             f"true {_fmt(true)}, estimated {_fmt(est)}; difference {_fmt(diff)}; "
             f"propensity_error {np.nanmean(err):.3f}", abs(diff.mean()) <= 0.01)]


def _worst_round(curve, logger):
    """A variant's served NDCG@10 minus the logger's per round (mean over seeds) and its worst round, as text."""
    gap = (curve - logger).mean(axis=1)
    return gap, f"{gap.min():+.3f} (round {int(gap.argmin()) + 1})"


def _served_curves(values, names, rounds, rows, item, label):
    """(the logger's served NDCG@10 per seed, {name: rounds 1..rounds x seeds}) of a loop run; each round a row."""
    seeds = sorted(values["logger", "ndcg@10", 0])
    logger = np.array([values["logger", "ndcg@10", 0][s] for s in seeds])
    curves = {}
    for name in names:
        curves[name] = np.array([[values[name, "ndcg@10", t][s] for s in seeds] for t in range(1, rounds + 1)])
        for t in range(rounds):
            rows.append((item, f"{label} {name} round {t + 1}", curves[name][t].tolist()))
    return logger, curves


def tower(cfg, rows):
    out, true_theta, every_ctr = [], [], []
    rounds = cfg["tower_rounds"]
    for eta in (1, 2):
        # tower_true_theta (mechanism): the true examination curve held fixed, for its likelihood and for the
        # debiased CTR it is fed back; the other variants are unchanged by its presence (independent tasks)
        # tower_min0 (mechanism): every shown document's CTR fed back, however rarely examined
        text = ('preset = "default"\n[loop]\nvariants = ["logger", "naive", "tower", "tower_true_theta", '
                '"tower_min0"]\n'
                f'[variants.tower_true_theta]\nlearner = "tower"\ntheta = "pbm"\ntheta_prior = "fixed"\n'
                f'assumed_eta = {float(eta)}\n'
                '[variants.tower_min0]\nlearner = "tower"\nengagement_min_examinations = 0.0\n')
        for engagement in ("none", "ctr"):
            values = _clickloop(cfg["out"] / f"tower_eta{eta}_{engagement}", cfg["tower_seeds"],
                                ["logger.query_fraction=0.5", f"click_model.eta={eta}",
                                 f"loop.engagement={engagement}", f"loop.rounds={rounds}"], text)
            logger, curves = _served_curves(values, ("naive", "tower", "tower_true_theta", "tower_min0"), rounds,
                                            rows, "tower", f"eta {eta} {engagement}")
            true_theta.append(f"eta {eta} {engagement} {_worst_round(curves['tower'], logger)[1]} / "
                              f"{_worst_round(curves['tower_true_theta'], logger)[1]}")
            if engagement == "ctr":
                every_ctr.append(f"eta {eta}: {_worst_round(curves['tower'], logger)[1]} / "
                                 f"{_worst_round(curves['tower_min0'], logger)[1]}")
            summary = {name: curve - logger for name, curve in curves.items()}
            rows.append(("tower", f"eta {eta} {engagement} logger", logger.tolist()))
            worst = summary["tower"].mean(axis=1).min()
            worst_seed = summary["tower"].min()
            out.append((f"tower from a good logger, eta {eta}, engagement {engagement}",
                        "every round's mean served NDCG@10 >= logger - 0.05",
                        f"logger {_fmt(logger)}; tower rounds 1..{rounds} "
                        + ", ".join(f"{m:.4f}" for m in summary["tower"].mean(axis=1) + logger.mean())
                        + f"; worst round {worst:+.4f} (worst seed-round {worst_seed:+.4f}); naive's worst round "
                        f"{summary['naive'].mean(axis=1).min():+.4f}", worst >= -0.05))
    out.append(("(mechanism) the same loops, the tower with the true theta held fixed (its likelihood and its "
                "debiased CTR)", "no verdict: worst round minus the logger, tower / true theta", "; ".join(true_theta),
                None))
    out.append(("(mechanism) the same loops with CTR, every shown document's CTR fed back "
                "(engagement_min_examinations = 0)", "no verdict: worst round minus the logger, tower (20) / 0",
                "; ".join(every_ctr), None))
    return out


def tower_prior(cfg, rows):
    """The tower's loss with CTR fed back, against the smoothing of the CTR features (mechanism rows)."""
    out = []
    rounds = cfg["tower_rounds"]
    names = ("naive", "ips", "tower")
    text = 'preset = "default"\n[loop]\nvariants = ["logger", "naive", "ips", "tower"]\n'
    for prior in (0, 5, 20, 50):
        measured = []
        for eta in (1, 2):
            values = _clickloop(cfg["out"] / f"tower_prior{prior}_eta{eta}", cfg["tower_seeds"],
                                ["logger.query_fraction=0.5", f"click_model.eta={eta}", "loop.engagement=ctr",
                                 f"loop.rounds={rounds}", f"loop.engagement_prior={prior}",
                                 "loop.engagement_min_examinations=0"], text)
            logger, curves = _served_curves(values, names, rounds, rows, "tower_prior", f"prior {prior} eta {eta}")
            measured.append(f"eta {eta}: " + " / ".join(_worst_round(curves[name], logger)[1] for name in names))
        out.append((f"(mechanism) the loop from a good logger with CTR fed back, engagement_prior = {prior}",
                    "no verdict: worst round of naive / ips / tower minus the logger", "; ".join(measured), None))
    final = {}
    for prior in (0, 20):
        values = _clickloop(cfg["out"] / f"default_prior{prior}", cfg["loop_seeds"],
                            [f"loop.rounds={cfg['loop_rounds']}", f"loop.engagement_prior={prior}",
                             "loop.engagement_min_examinations=0"], text)
        for name in names:
            for metric in ("ndcg@10", "heldout_ndcg@10"):
                by_seed = values[name, metric, cfg["loop_rounds"]]
                final[prior, name, metric] = np.array([by_seed[s] for s in sorted(by_seed)])
                rows.append(("tower_prior", f"default prior {prior} {name} {metric}", final[prior, name, metric].tolist()))
    measured = "; ".join(
        f"{name} {_fmt(final[0, name, 'ndcg@10'])} -> {_fmt(final[20, name, 'ndcg@10'])} "
        f"(held-out {_fmt(final[0, name, 'heldout_ndcg@10'])} -> {_fmt(final[20, name, 'heldout_ndcg@10'])})"
        for name in names)
    out.append(("(mechanism) the default preset's final round, engagement_prior 0 -> 20",
                "no verdict: served (held-out) NDCG@10", measured, None))
    return out


def tower_listwise(cfg, rows):
    """The tower with a listwise relevance part (``relevance = "listwise"``) beside the pointwise one (mechanism)."""
    out = []
    rounds = cfg["tower_rounds"]
    names = ("tower", "tower_listwise")
    text = ('preset = "default"\n[loop]\nvariants = ["logger", "tower", "tower_listwise"]\n'
            '[variants.tower_listwise]\nlearner = "tower"\nrelevance = "listwise"\n')
    measured = []
    for eta in (1, 2):
        for engagement in ("none", "ctr"):
            values = _clickloop(cfg["out"] / f"tower_listwise_eta{eta}_{engagement}", cfg["tower_seeds"],
                                ["logger.query_fraction=0.5", f"click_model.eta={eta}",
                                 f"loop.engagement={engagement}", f"loop.rounds={rounds}"], text)
            logger, curves = _served_curves(values, names, rounds, rows, "tower_listwise", f"eta {eta} {engagement}")
            parts = []
            for name in names:
                gap, worst = _worst_round(curves[name], logger)
                parts.append(f"{worst}, final {gap[-1]:+.3f}")
            measured.append(f"eta {eta} {engagement}: " + " / ".join(parts))
    out.append(("(mechanism) the loop from a good logger, pointwise / listwise tower",
                "no verdict: worst round and final round minus the logger", "; ".join(measured), None))
    values = _clickloop(cfg["out"] / "tower_listwise_default", cfg["loop_seeds"],
                        [f"loop.rounds={cfg['loop_rounds']}"], text)
    parts = []
    for metric in ("ndcg@10", "heldout_ndcg@10"):
        final = {}
        for name in names:
            by_seed = values[name, metric, cfg["loop_rounds"]]
            final[name] = np.array([by_seed[s] for s in sorted(by_seed)])
            rows.append(("tower_listwise", f"default {name} {metric}", final[name].tolist()))
        parts.append(f"{metric}: pointwise {_fmt(final['tower'])}, listwise {_fmt(final['tower_listwise'])}, "
                     f"paired difference {_fmt(final['tower_listwise'] - final['tower'])}")
    out.append(("(mechanism) the default preset's final round, pointwise / listwise tower",
                "no verdict", "; ".join(parts), None))
    return out


# ------------------------------------------------------------------------------------------


def _progress(item, seed):
    print(f"  {item}: seed {seed} done ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


def settings(quick, big, out):
    if quick:
        return {"seeds": [0, 1, 2], "sizes": [10**3, 10**4, 10**5, 10**6], "trust_seeds": list(range(4)),
                "trust_sizes": [10**6], "crossed_n": 10**5, "topk_n": 10**6, "loop_seeds": 3, "loop_rounds": 5,
                "tower_seeds": 3, "tower_rounds": 3, "out": out}
    return {"seeds": list(range(5)), "sizes": [10**3, 10**4, 10**5, 10**6], "trust_seeds": list(range(8)),
            "trust_sizes": [10**6, 10**7] if big else [10**6], "crossed_n": 10**6, "topk_n": 10**6,
            "loop_seeds": 5, "loop_rounds": 10, "tower_seeds": 5, "tower_rounds": 5, "out": out}


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and rounds (the table says so)")
    parser.add_argument("--big", action="store_true", help="also 10^7 sessions for the trust-bias row")
    parser.add_argument("--only", nargs="+", choices=ITEMS, default=list(ITEMS))
    parser.add_argument("--out", type=output_folder, default=Path("results/debiasing_study"))
    parser.add_argument("--seeds", type=seed_list, default=None,
                        help="the one-round items' seeds instead of 0..4 (e.g. 5,6,7,8,9: a replication on fresh "
                             "data and logger)")
    args = parser.parse_args(argv)
    cfg = settings(args.quick, args.big, args.out)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    args.out.mkdir(parents=True, exist_ok=True)
    rows, table = [], []
    for item in args.only:
        start = time.perf_counter()
        results = globals()[item](cfg, rows)
        seconds = time.perf_counter() - start
        table += [(item, *r, seconds) for r in results]
        print(f"{item}: {seconds:.0f} s", file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"Mode: {'quick' if args.quick else 'full'}; mean ± 95 % t interval over seeds; held-out NDCG@10 "
             f"for one-round rows, served NDCG@10 for loop rows; load average at the end {load}.", "",
             "| item | literature result | criterion | measured | verdict | item seconds |",
             "|---|---|---|---|---|---:|"]
    verdicts = {True: "PASS", False: "FAIL", None: "—"}
    lines += [f"| {item} | {claim} | {criterion} | {measured} | {verdicts[ok]} | {seconds:.0f} |"
              for item, claim, criterion, measured, ok, seconds in table]
    text = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(text)
    with open(args.out / "rows.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "quantity", "seed", "value"])
        for item, quantity, values in rows:
            writer.writerows((item, quantity, i, v) for i, v in enumerate(values))
    print(text)


if __name__ == "__main__":
    main()
