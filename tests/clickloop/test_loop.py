"""The feedback loop: rounds, history window, engagement features, continuation, static references.

A tiny duck-typed learner (the historic CTR of each document as its score)
keeps these tests fast and makes the expected behaviour computable by hand.
"""

import numpy as np
import pytest

from policies import Deterministic
from clickloop import LoopEnvironment, Variant, engagement_features, run_loop
from clickloop._loop import _empirical_bayes_prior
from simulator import PBM, ClickStatistics, make_synthetic


class CTRLearner:
    """Scores a document by its click-through rate in the training history (features unused)."""

    name = "ctr"

    def fit(self, dataset, statistics, log=None):
        self.n_features_ = dataset.features.shape[1]
        imp = statistics.impressions.sum(axis=1)
        self.scores_ = np.divide(statistics.clicks.sum(axis=1), imp, out=np.zeros(imp.size), where=imp > 0)
        self.sessions_ = statistics.n_sessions
        return self

    def predict(self, features):
        assert features.shape[1] == self.n_features_
        return self.scores_ if features.shape[0] == self.scores_.size else np.zeros(features.shape[0])


class Fixed:
    """A fitted ranker that scores by one feature."""

    def __init__(self, column):
        self.column = column

    def predict(self, features):
        return np.asarray(features[:, self.column], dtype=np.float64)


@pytest.fixture(scope="module")
def env():
    data = make_synthetic(n_queries=40, docs_per_query=12, n_features=4, seed=3)
    return LoopEnvironment(data, None, PBM(eta=1.0), lambda scorer: Deterministic(scorer, 5), 2_000)


def test_rounds_and_common_random_numbers(env):
    records = run_loop(env, Variant("ctr", CTRLearner), Fixed(0), rounds=3, seed=5)
    assert [r.round for r in records] == [0, 1, 2, 3]
    assert all(r.statistics.n_sessions == 2_000 for r in records)
    # Round 0 serves the initial ranker: identical for any variant of the same seed.
    other = run_loop(env, Variant("other", CTRLearner, debiased=True), Fixed(0), rounds=0, seed=5)
    assert other[0].statistics.equals(records[0].statistics)
    # Round 1 serves the CTR of round 0's sessions.
    stats = records[0].statistics
    imp = stats.impressions.sum(axis=1)
    expected = np.divide(stats.clicks.sum(axis=1), imp, out=np.zeros(imp.size), where=imp > 0)
    np.testing.assert_array_equal(records[1].scores, expected)


def test_history_window_keeps_the_last_rounds(env):
    learners = []

    def make():
        learners.append(CTRLearner())
        return learners[-1]

    run_loop(env, Variant("ctr", make), Fixed(0), rounds=4, seed=1)
    assert [lrn.sessions_ for lrn in learners] == [2_000, 4_000, 6_000, 8_000]
    learners.clear()
    windowed = LoopEnvironment(env.train, None, env.click_model, env.make_policy, 2_000, window=2)
    run_loop(windowed, Variant("ctr", make), Fixed(0), rounds=4, seed=1)
    assert [lrn.sessions_ for lrn in learners] == [2_000, 4_000, 4_000, 4_000]


def test_continued_run_equals_uninterrupted(env):
    full = run_loop(env, Variant("ctr", CTRLearner), Fixed(0), rounds=3, seed=2)
    seen = []
    part = run_loop(env, Variant("ctr", CTRLearner), Fixed(0), rounds=3, seed=2, completed=full[:2],
                    on_round=seen.append)
    assert [r.round for r in seen] == [2, 3]
    for a, b in zip(full, part):
        assert a.statistics.equals(b.statistics)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_static_variant_serves_one_ranker(env):
    calls = []
    records = run_loop(env, Variant("ref", lambda: calls.append(1), static=True), Fixed(1), rounds=2, seed=0)
    assert calls == []  # never retrained
    np.testing.assert_array_equal(records[0].scores, records[2].scores)
    assert not records[0].statistics.equals(records[1].statistics)  # new sessions every round


def test_engagement_features_are_appended_and_debiased(env):
    engaged = LoopEnvironment(env.train, None, env.click_model, env.make_policy, 2_000, engagement="ctr_count")
    learners = []

    def make():
        learners.append(CTRLearner())
        return learners[-1]

    run_loop(engaged, Variant("ctr", make), Fixed(0), rounds=2, seed=0)
    assert [lrn.n_features_ for lrn in learners] == [6, 6]  # 4 features + CTR + log count


def test_engagement_features_by_hand():
    stats = ClickStatistics.empty(n_docs=3, k=2)
    stats.impressions[:] = [[4, 0], [0, 10], [0, 0]]
    stats.clicks[:] = [[2, 0], [0, 1], [0, 0]]
    stats.examination[:] = [[4.0, 0.0], [0.0, 5.0], [0.0, 0.0]]
    raw = engagement_features(stats, "ctr_count", debiased=False)
    np.testing.assert_allclose(raw[:, 0], [0.5, 0.1, 0.0], rtol=1e-6)
    np.testing.assert_allclose(raw[:, 1], np.log1p([2.0, 1.0, 0.0]), rtol=1e-6)
    # Debiased: clicks / expected examinations (rank 2 examined half the time): 1 / 5 = 0.2.
    fair = engagement_features(stats, "ctr_count", debiased=True)
    np.testing.assert_allclose(fair[:, 0], [0.5, 0.2, 0.0], rtol=1e-6)
    np.testing.assert_allclose(fair[:, 1], np.log1p([2.0, 2.0, 0.0]), rtol=1e-6)
    # A learner's theta instead of the true examination.
    own = engagement_features(stats, "ctr", debiased=True, theta=[1.0, 0.25])
    np.testing.assert_allclose(own[:, 0], [0.5, 0.4, 0.0], rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"engagement": "views"}, "engagement must be one of"),
    ({"sessions_per_round": 0}, "sessions_per_round must be an integer >= 1"),
    ({"window": -1}, "window must be an integer >= 0"),
])
def test_invalid_environment(env, kwargs, message):
    base = {"train": env.train, "test": None, "click_model": env.click_model, "make_policy": env.make_policy,
            "sessions_per_round": 10}
    with pytest.raises(ValueError, match=message):
        LoopEnvironment(**{**base, **kwargs})


def test_never_shown_is_not_shown_and_never_clicked():
    stats = ClickStatistics.empty(n_docs=3, k=2)
    stats.impressions[:] = [[10, 10], [0, 20], [0, 0]]  # clicked, shown and never clicked, never shown
    stats.clicks[:] = [[6, 2], [0, 0], [0, 0]]
    raw = engagement_features(stats, "ctr_count", debiased=False)
    assert raw[1].tolist() == raw[2].tolist() == [0.0, 0.0]  # the leak: both look the same
    missing = engagement_features(stats, "ctr_count", debiased=False, unseen="missing")
    assert missing[1].tolist() == [0.0, 0.0] and np.isnan(missing[2]).all()
    # Smoothed towards the mean CTR 8 / 40 with 10 pseudo-impressions: never shown = the mean.
    smoothed = engagement_features(stats, "ctr", debiased=False, prior=10.0)[:, 0]
    np.testing.assert_allclose(smoothed, [(8 + 2) / 30, 2 / 30, 0.2], rtol=1e-6)


@pytest.mark.parametrize("debiased", [False, True])
def test_the_empirical_bayes_prior_recovers_the_beta_prior_of_the_documents(debiased):
    # P(click | examined) ~ Beta(2, 5): mean 2/7, variance 10/392, so a = m (1 - m) / var - 1 = 7
    # pseudo-examinations.  Each document is shown at one rank of a steep theta, 1 to 200 times.
    rng = np.random.default_rng(0)
    n, k = 20_000, 10
    theta = 1.0 / np.arange(1, k + 1) ** 2 if debiased else np.ones(k)
    p = rng.beta(2, 5, n)
    rank = rng.integers(0, k, n)
    impressions = np.zeros((n, k), np.int64)
    impressions[np.arange(n), rank] = rng.integers(1, 201, n)
    stats = ClickStatistics.empty(n_docs=n, k=k)
    stats.impressions[:] = impressions
    stats.clicks[:] = rng.binomial(impressions, theta * p[:, None])
    stats.examination[:] = impressions * theta
    denominator = (impressions * theta).sum(axis=1)
    a = _empirical_bayes_prior(stats, stats.row_sums("clicks").astype(float), denominator,
                               theta if debiased else None, debiased)
    assert 6.0 < a < 8.0, a
    # "auto" smooths with that a: (clicks + a m) / (denominator + a), m the pooled CTR.
    smoothed = engagement_features(stats, "ctr", debiased, theta if debiased else None, prior="auto")[:, 0]
    clicks = stats.row_sums("clicks")
    m = clicks.sum() / denominator.sum()
    np.testing.assert_allclose(smoothed, (clicks + a * m) / (denominator + a), rtol=1e-5)


def test_no_spread_beyond_the_sampling_noise_puts_every_ctr_at_the_mean():
    rng = np.random.default_rng(1)
    stats = ClickStatistics.empty(n_docs=2000, k=1)
    stats.impressions[:] = 50
    stats.clicks[:] = rng.binomial(50, 0.3, (2000, 1))  # one click probability for every document
    assert _empirical_bayes_prior(stats, stats.row_sums("clicks").astype(float),
                                  stats.row_sums("impressions").astype(float), None, False) > 100


def test_a_document_below_the_minimum_examinations_is_unseen_in_the_loop(env):
    engaged = LoopEnvironment(env.train, None, env.click_model, env.make_policy, 2_000, engagement="ctr")
    FeatureLearner.fitted = []
    # Every shown document of a query has that query's sessions as impressions, about 50 in round 0.
    variant = Variant("v", FeatureLearner, engagement_unseen="missing", engagement_min_examinations=52)
    records = run_loop(engaged, variant, Fixed(0), rounds=2, seed=0)
    # Raw CTR: the denominator is the impressions; the second fit sees the history of round 0.
    impressions = records[0].statistics.impressions.sum(axis=1)
    assert (impressions >= 52).any() and ((impressions > 0) & (impressions < 52)).any()
    np.testing.assert_array_equal(np.isnan(FeatureLearner.fitted[1]), impressions < 52)


class FeatureLearner:
    """Scores by the last feature column (the engagement), missing as -1; records what it was fitted on."""

    backend = "lightgbm"
    fitted = []

    def fit(self, dataset, statistics, log=None):
        self.fitted.append(np.array(dataset.features[:, -1]))
        return self

    def predict(self, features):
        return np.nan_to_num(np.asarray(features[:, -1], dtype=np.float64), nan=-1.0)


class LinearFeatureLearner(FeatureLearner):
    backend = "linear"


@pytest.mark.parametrize("learner, unseen, held_out", [
    (FeatureLearner, "missing", -1.0),      # NaN for the held-out documents, routed as missing
    (LinearFeatureLearner, "missing", 0.0),  # a linear model cannot take NaN: the estimate (raw CTR 0)
    (FeatureLearner, "estimate", 0.0),
])
def test_held_out_documents_get_the_never_shown_value(env, learner, unseen, held_out):
    train, test = env.train.split((0.7, 0.3), seed=0)
    engaged = LoopEnvironment(train, test, env.click_model, env.make_policy, 500, engagement="ctr")
    learner.fitted = []
    records = run_loop(engaged, Variant("v", learner, engagement_unseen=unseen), Fixed(0), rounds=2, seed=0)
    np.testing.assert_array_equal(records[2].test_scores, held_out)
    # The served documents never shown in rounds 0 and 1 are missing in the second fit, the others are not.
    shown = (records[0].statistics.impressions.sum(axis=1) > 0)
    second = learner.fitted[1]
    assert np.isfinite(second[shown]).all()
    assert np.isnan(second[~shown]).all() == (learner is FeatureLearner and unseen == "missing")


def test_engagement_dropout_hides_a_seeded_share_of_training_documents(env):
    engaged = LoopEnvironment(env.train, None, env.click_model, env.make_policy, 2_000, engagement="ctr")
    FeatureLearner.fitted = []
    variant = Variant("v", FeatureLearner, engagement_unseen="missing", engagement_dropout=0.5)
    run_loop(engaged, variant, Fixed(0), rounds=3, seed=4)
    first = list(FeatureLearner.fitted)
    FeatureLearner.fitted = []
    run_loop(engaged, variant, Fixed(0), rounds=3, seed=4)
    for a, b in zip(first, FeatureLearner.fitted):
        np.testing.assert_array_equal(a, b)  # the same documents hidden in a rerun
    # Without dropout the same fit sees every shown document; with it, about half of them are hidden.
    FeatureLearner.fitted = []
    run_loop(engaged, Variant("w", FeatureLearner, engagement_unseen="missing"), Fixed(0), rounds=2, seed=4)
    shown = np.isfinite(FeatureLearner.fitted[1])
    hidden = np.isnan(first[1]) & shown
    n = shown.sum()
    assert abs(hidden.sum() - n / 2) <= 4 * np.sqrt(n / 4), f"{hidden.sum()} of {n} hidden, expected about half"


def test_labelled_queries_of_round_zero_survive_a_continued_run(env):
    class Labelled(Fixed):
        n_queries_ = 7

    full = run_loop(env, Variant("ctr", CTRLearner), Labelled(0), rounds=2, seed=2)
    assert [r.labelled_queries for r in full] == [7, None, None]
    stripped = [full[0].__class__(**{**full[0].__dict__, "labelled_queries": None}), full[1]]
    part = run_loop(env, Variant("ctr", CTRLearner), Labelled(0), rounds=2, seed=2, completed=stripped)
    assert [r.labelled_queries for r in part] == [7, None, None]


@pytest.mark.parametrize("kwargs, message", [
    ({"engagement_prior": -1.0}, "engagement_prior must be >= 0"),
    ({"engagement_unseen": "zero"}, "engagement_unseen must be one of"),
    ({"engagement_dropout": 1.0}, r"engagement_dropout must be in \[0, 1\)"),
])
def test_invalid_engagement_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Variant("v", CTRLearner, **kwargs)


def test_continued_run_with_engagement_dropout_equals_uninterrupted(env):
    train, test = env.train.split((0.7, 0.3), seed=1)
    engaged = LoopEnvironment(train, test, env.click_model, env.make_policy, 1_000, engagement="ctr_count")
    variant = Variant("v", FeatureLearner, engagement_unseen="missing", engagement_dropout=0.5,
                      engagement_prior=5.0)
    full = run_loop(engaged, variant, Fixed(0), rounds=3, seed=6)
    part = run_loop(engaged, variant, Fixed(0), rounds=3, seed=6, completed=full[:2])
    for a, b in zip(full, part):
        assert a.statistics.equals(b.statistics)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.test_scores, b.test_scores)
