"""Learners from clicks on simulated logs (seeded; every tolerance is argued where it is set).

Setting: a fixed synthetic dataset, an initial logger trained on 2 % of the
training queries, its deterministic top 10 shown, PBM clicks, 10^6 sessions.
The tower's findings here are of its likelihood without observation dropout
(``dropout=0.0``, its former default); the default dropout is tested in
``test_tower.py``.
"""

import numpy as np
import pytest

from analysis import ndcg, top_k
from ltr import IPS, FullInformation, LGBMPosition, Naive, PositionTower
from simulator import PBM, ClickStatistics, aggregate_clicks, make_synthetic

K = 10
N_SESSIONS = 1_000_000
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def setting():
    data = make_synthetic(n_queries=800, docs_per_query=30, seed=0)
    train, test = data.split((0.75, 0.25), seed=0)
    logger = FullInformation(query_fraction=0.02, seed=0).fit(train)
    shown = top_k(logger.predict(train.features), train.query_boundaries, K)
    return train, test, logger, shown


def log_statistics(train, lists, eta, seed):
    """PBM clicks of N_SESSIONS sessions; session s shows ``lists[query_s]``."""
    rng = np.random.default_rng(seed)
    queries = rng.integers(0, train.n_queries, size=N_SESSIONS)
    displayed = lists[queries]
    sim = PBM(eta=eta).simulate(displayed, train.labels, seed=seed)
    stats = ClickStatistics.empty(train.n_docs, K)
    aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
    return stats


def ndcg_of(test, learner):
    return float(ndcg(learner.predict(test.features), test.labels, test.query_boundaries, k=10).mean())


@pytest.fixture(scope="module")
def deterministic_results(setting):
    """NDCG@10 per (eta, learner, seed), and the tower's theta per (eta, "theta", seed)."""
    train, test, _, shown = setting
    results = {}
    for eta in (0.0, 1.0):
        for seed in SEEDS:
            stats = log_statistics(train, shown, eta, seed)
            learners = [("naive", Naive(seed=seed)), ("ips", IPS(seed=seed)), ("tower", PositionTower(dropout=0.0, seed=seed))]
            if eta == 1.0:  # the pointwise comparison is only asserted under position bias
                learners.append(("naive_logistic", Naive(loss="logistic", seed=seed)))
            for name, learner in learners:
                results[eta, name, seed] = ndcg_of(test, learner.fit(train, stats))
                if name == "tower":
                    results[eta, "theta", seed] = learner.theta_
    return results


def summary(results, eta, name):
    values = np.array([results[eta, name, s] for s in SEEDS])
    return values.mean(), values.std(ddof=1)


def test_ips_beats_naive_under_position_bias(deterministic_results):
    """eta = 1: the gain of IPS over naive exceeds the seed-to-seed spread of either."""
    ref_mean, ref_sd = summary(deterministic_results, 1.0, "naive")
    mean, sd = summary(deterministic_results, 1.0, "ips")
    assert mean - ref_mean > max(ref_sd, sd), (mean, ref_mean, sd, ref_sd)


def test_tower_does_not_beat_naive_under_a_deterministic_logger(deterministic_results):
    """A finding, not the issue's expectation: with a deterministic logger every document
    is seen at one rank, so position and relevance are confounded and the tower gains
    nothing at eta = 1, neither over naive (listwise softmax; measured 0.689 +- 0.007
    against 0.721 +- 0.005) nor over naive with the same pointwise logistic loss
    (0.700 +- 0.009).  Why is in the next test (theta is confounded) and in
    PositionTower's notes; the tower does win once the logger explores
    (test_tower_beats_naive_when_the_logger_explores).  Recorded so that a change in
    it is noticed; the margin is the seed spread, as in the IPS test."""
    mean, sd = summary(deterministic_results, 1.0, "tower")
    for reference in ("naive", "naive_logistic"):
        ref_mean, ref_sd = summary(deterministic_results, 1.0, reference)
        assert mean - ref_mean <= max(ref_sd, sd), (reference, mean, ref_mean, sd, ref_sd)


def test_tower_theta_is_confounded_under_a_deterministic_logger(deterministic_results):
    """A finding: at eta = 1 under a deterministic logger the tower's theta_k / theta_1 is
    too steep, beyond the issue's 15 % bar (measured 27-28 % too low at rank 10 on each
    seed: 0.072 for 0.1).  The logger puts the more relevant documents on top, the click-through
    rate falls faster with the rank than theta does, and with each document seen at one
    rank only the relevance model's form (f(x) + b_q) can tell the two apart, which it
    does not: without u_d, iterated to convergence, theta is as steep (28 %).  The
    sampling error of theta is about 1 % (10^6 sessions, see the randomised test), so
    both bounds sit more than 10 standard errors from the measured values."""
    truth = 1.0 / np.arange(1, K + 1)
    for seed in SEEDS:
        theta = deterministic_results[1.0, "theta", seed]
        relative_error = theta / truth - 1.0  # about +2 % at rank 2, falling to -28 % at rank 10
        assert relative_error[-1] < -0.15, (seed, np.round(theta, 3))


def test_tower_ranks_below_naive_without_position_bias(deterministic_results):
    """A finding, not the issue's expectation ("within noise at eta = 0"): at eta = 0 the
    tower ranks below naive by more than the seed spread (measured 0.714 +- 0.002 against
    0.729 +- 0.007).  Two causes, measured by fitting the tower's likelihood with theta
    fixed at its true value 1: the per-document effects u_d (nearly free with ~1,700
    impressions a document against a prior of 10) take up relevance that the served f
    then lacks (0.707 with u_d, 0.740 without), and theta stays near its confounded start
    (0.84 at rank 10, not 1)."""
    ref_mean, ref_sd = summary(deterministic_results, 0.0, "naive")
    mean, sd = summary(deterministic_results, 0.0, "tower")
    assert ref_mean - mean > max(ref_sd, sd), (mean, ref_mean, sd, ref_sd)


def test_tower_beats_naive_when_the_logger_explores(setting, randomised_lists):
    """eta = 1, the deterministic top 10 in 70 % of the sessions and a uniformly random
    top 10 in 30 %: the tower beats naive (same pointwise loss) by more than the seed spread."""
    train, test, _, shown = setting
    results = {"tower": [], "naive_logistic": []}
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        queries = rng.integers(0, train.n_queries, size=N_SESSIONS)
        displayed = shown[queries]
        explore = rng.random(N_SESSIONS) < 0.3
        displayed[explore] = randomised_lists[queries[explore] * 64 + rng.integers(0, 64, size=explore.sum())]
        sim = PBM(eta=1.0).simulate(displayed, train.labels, seed=seed)
        stats = ClickStatistics.empty(train.n_docs, K)
        aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
        results["tower"].append(ndcg_of(test, PositionTower(dropout=0.0, seed=seed).fit(train, stats)))
        results["naive_logistic"].append(ndcg_of(test, Naive(loss="logistic", seed=seed).fit(train, stats)))
    tower, naive = np.array(results["tower"]), np.array(results["naive_logistic"])
    assert tower.mean() - naive.mean() > max(tower.std(ddof=1), naive.std(ddof=1)), results


def test_ips_equals_naive_without_position_bias(deterministic_results):
    """eta = 0: every propensity is 1, so IPS fits the very same targets as naive."""
    for seed in SEEDS:
        assert deterministic_results[0.0, "ips", seed] == deterministic_results[0.0, "naive", seed]


def test_position_bias_hurts_naive_but_not_ips(deterministic_results):
    """Naive loses NDCG when eta goes from 0 to 1; IPS loses less than naive does."""
    naive_drop = summary(deterministic_results, 0.0, "naive")[0] - summary(deterministic_results, 1.0, "naive")[0]
    ips_drop = summary(deterministic_results, 0.0, "ips")[0] - summary(deterministic_results, 1.0, "ips")[0]
    assert naive_drop > 0 and ips_drop < naive_drop, (naive_drop, ips_drop)


@pytest.fixture(scope="module")
def randomised_lists(setting):
    """Uniformly random top 10 of each training query: every document is seen at every rank."""
    train = setting[0]
    rng = np.random.default_rng(5)
    n_lists = 64
    lists = np.empty((train.n_queries * n_lists, K), dtype=np.int64)
    for q in range(train.n_queries):
        start, size = train.query_boundaries[q], train.query_sizes[q]
        for j in range(n_lists):
            lists[q * n_lists + j] = start + rng.permutation(size)[:K]
    return lists


def test_tower_recovers_propensities_under_randomised_logging(setting, randomised_lists):
    """theta_k / theta_1 within 15 % of (1/k)^eta for k <= 10 (the issue's bar).

    With 10^6 sessions a rank holds 10^6 impressions; at rank 10 (theta 0.1,
    mean attractiveness about 0.25) that is about 2.5e4 clicks, a relative standard
    error near 1 %, so 15 % leaves room only for a systematic error of the method."""
    train = setting[0]
    rng = np.random.default_rng(9)
    queries = rng.integers(0, train.n_queries, size=N_SESSIONS) * 64 + rng.integers(0, 64, size=N_SESSIONS)
    displayed = randomised_lists[queries]
    sim = PBM(eta=1.0).simulate(displayed, train.labels, seed=9)
    stats = ClickStatistics.empty(train.n_docs, K)
    aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
    tower = PositionTower(dropout=0.0, seed=0).fit(train, stats)
    truth = 1.0 / np.arange(1, K + 1)
    relative_error = np.abs(tower.theta_ / truth - 1.0)
    assert relative_error.max() <= 0.15, np.round(tower.theta_, 3)


def test_tower_serves_features_only(setting):
    """The served model sees the document features and nothing else (no rank input)."""
    train, _, _, shown = setting
    stats = log_statistics(train, shown, 1.0, 0)
    tower = PositionTower(n_iter=2, n_estimators=20).fit(train, stats)
    assert tower.model_.n_features_in_ == train.n_features
    with pytest.raises(ValueError, match="X must have shape"):
        tower.predict(np.hstack([train.features, np.zeros((train.n_docs, 1), np.float32)]))


def test_ips_with_uniform_propensities_equals_naive(setting):
    train, test, _, shown = setting
    stats = log_statistics(train, shown, 1.0, 3)
    for loss in ("softmax", "logistic", "squared"):
        naive = Naive(loss=loss, n_estimators=30).fit(train, stats)
        ips = IPS(propensity=np.ones(K), loss=loss, n_estimators=30).fit(train, stats)
        np.testing.assert_array_equal(naive.predict(test.features), ips.predict(test.features))


def test_skyline_and_logger_references(setting):
    train, test, logger, _ = setting
    skyline = FullInformation().fit(train)
    assert logger.n_queries_ == 20  # 2 % of 600 is 12, raised to the minimum of 20
    assert ndcg_of(test, skyline) > ndcg_of(test, logger)


def test_linear_backend_learns(setting):
    train, test, _, shown = setting
    stats = log_statistics(train, shown, 1.0, 4)
    linear = IPS(backend="linear").fit(train, stats)
    random_scores = np.random.default_rng(0).random(test.n_docs)
    random_ndcg = float(ndcg(random_scores, test.labels, test.query_boundaries).mean())
    assert ndcg_of(test, linear) > random_ndcg + 0.05


@pytest.mark.parametrize("learner, message", [
    (IPS(propensity="magic"), "propensity must be one of"),
    (IPS(propensity=np.ones(3)), "propensity array must have shape \\(10,\\)"),
    (IPS(clip=2.0), "clip must be in \\[0, 1\\], 'auto' or 'global'"),
    (IPS(affine=(np.zeros(10), np.zeros(10))), "alpha > 0"),
    (Naive(loss="hinge"), "loss must be one of"),
    (Naive(backend="xgboost"), "backend must be 'lightgbm' or 'linear'"),
    (PositionTower(dropout=1.0), "dropout must be in \\[0, 1\\)"),
    (PositionTower(n_iter=0), "n_iter must be an integer >= 1"),
    (FullInformation(query_fraction=0.0), "query_fraction must be in \\(0, 1\\]"),
])
def test_invalid_learners(setting, learner, message):
    train, _, _, shown = setting
    stats = log_statistics(train, shown, 1.0, 0) if not isinstance(learner, FullInformation) else None
    with pytest.raises(ValueError, match=message):
        learner.fit(train, stats)


def test_empty_statistics_are_rejected(setting):
    train = setting[0]
    with pytest.raises(ValueError, match="hold no impression"):
        Naive().fit(train, ClickStatistics.empty(train.n_docs, K))


def test_lgbm_position_learns_from_the_session_log(setting):
    """LightGBM's position-debiased LambdaMART fits on sessions and ranks far above random."""
    from policies import EpsilonGreedy
    from simulator import simulate_sessions

    train, test, logger, _ = setting
    policy = EpsilonGreedy(logger.predict, K, epsilon=0.3)
    run = simulate_sessions(train, policy, PBM(eta=1.0), 100_000, seed=0, keep_log=True)
    model = LGBMPosition(n_estimators=50).fit(train, run.statistics, log=run.log)
    random_scores = np.random.default_rng(0).random(test.n_docs)
    random_ndcg = float(ndcg(random_scores, test.labels, test.query_boundaries).mean())
    assert ndcg_of(test, model) > random_ndcg + 0.05
    with pytest.raises(ValueError, match="lgbm_position fits on sessions: pass the click log"):
        LGBMPosition().fit(train, run.statistics)


def test_lgbm_position_predicts_on_the_tasks_cores(setting, monkeypatch):
    """LightGBM's predict does not take the training num_threads: LGBMPosition passes the cores its task
    owns (Numba's thread budget), here one, so a sweep worker never takes every core."""
    import numba
    import lightgbm as lgb
    from policies import EpsilonGreedy
    from simulator import simulate_sessions

    train, test, logger, _ = setting
    run = simulate_sessions(train, EpsilonGreedy(logger.predict, K, epsilon=0.3), PBM(eta=1.0), 20_000, seed=0,
                            keep_log=True)
    model = LGBMPosition(n_estimators=5, num_threads=1).fit(train, run.statistics, log=run.log)
    seen, predict = [], lgb.Booster.predict
    monkeypatch.setattr(lgb.Booster, "predict",
                        lambda self, data, **kwargs: seen.append(kwargs.get("num_threads")) or predict(self, data,
                                                                                                        **kwargs))
    budget = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        model.predict(test.features)
    finally:
        numba.set_num_threads(budget)
    assert seen == [1]
