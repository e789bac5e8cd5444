"""What the loop measures: labelled queries of the logger, held-out references, confounded loggers."""

import numpy as np
import pytest

import clickloop._tasks
from analysis._round_metrics import feature_share
from analysis._summary import write_summary
from clickloop import ConfigError, preset, run_task
from clickloop._compose import MixedLogger, build_datasets, logger_learner, logger_queries
from simulator import RankingDataset


@pytest.mark.parametrize("fraction, expected", [(0.01, 20), (0.05, 20), (0.1, 40)])
def test_the_logger_uses_the_min_queries_floor_and_says_so(fraction, expected):
    config = preset("default", overrides=[f"logger.query_fraction={fraction}", "learner.n_estimators=5"])
    train, _ = build_datasets(config)
    assert train.n_queries == 400
    assert logger_learner(config, seed=0).fit(train).n_queries_ == expected
    assert logger_queries(config, train) == (expected, 400)  # what a run can record before fitting


def test_summary_reports_the_labelled_queries(tmp_path):
    from analysis import MetricRows

    rows = MetricRows.from_records([(0, "skyline", 0, "labelled_queries", 400.0), (0, "logger", 0,
                                    "labelled_queries", 20.0), (0, "naive", 1, "ndcg@10", 0.5),
                                    (0, "naive", 1, "heldout_ndcg@10", 0.4)])
    text = write_summary(rows, tmp_path / "summary.md").read_text()
    assert "true labels of **20** of the 400 served queries (5.0 %)" in text
    assert "**held-out** queries, never served" in text and "**served** queries" in text


def _shuffled_test_labels(build):
    def wrapped(config):
        train, test = build(config)
        labels = np.random.default_rng(0).permutation(test.labels)
        return train, RankingDataset(test.features, labels, test.query_boundaries, test.query_ids, name=test.name)
    return wrapped


def test_the_skyline_never_sees_held_out_labels(tmp_path, monkeypatch):
    config = preset("smoke", overrides=["loop.rounds=1", "loop.variants=['skyline']"])
    rows, _ = run_task(config, 0, "skyline", tmp_path / "a")
    monkeypatch.setattr(clickloop._tasks, "build_datasets", _shuffled_test_labels(clickloop._tasks.build_datasets))
    shuffled, _ = run_task(config, 0, "skyline", tmp_path / "b")
    served = [r for r in rows if r[3] in ("ndcg@10", "labelled_queries")]
    assert served == [r for r in shuffled if r[3] in ("ndcg@10", "labelled_queries")]
    assert dict((r[3], r[4]) for r in rows if r[2] == 0)["labelled_queries"] == 48  # every served query
    heldout = [r[4] for r in rows if r[3] == "heldout_ndcg@10"]
    assert heldout != [r[4] for r in shuffled if r[3] == "heldout_ndcg@10"]  # the labels did change


def test_confounded_logger_mixes_a_column_every_learner_sees():
    config = preset("smoke", overrides=["logger.confounding=0.7", "learner.n_estimators=5"])
    train, test = build_datasets(config)
    plain, _ = build_datasets(preset("smoke"))
    assert train.n_features == test.n_features == plain.n_features + 1
    assert train.confounder_column == test.confounder_column == plain.n_features
    c = train.features[:, train.confounder_column].astype(np.float64)
    # Independent of relevance: the correlation with the grades is within 4 standard errors of 0.
    r = np.corrcoef(c, train.labels)[0, 1]
    assert abs(r) < 4 / np.sqrt(train.n_docs), f"confounder correlates with relevance: r = {r:.3f}"
    logger = logger_learner(config, seed=0)
    assert isinstance(logger, MixedLogger)
    logger.fit(train)
    inner = np.asarray(logger.learner.predict(train.features), dtype=np.float64)
    expected = 0.3 * (inner - inner.mean()) / (inner.std() + 1e-12) + 0.7 * (c - c.mean()) / (c.std() + 1e-12)
    np.testing.assert_allclose(logger.predict(train.features), expected, rtol=1e-6, atol=1e-9)


def test_popularity_prior_carries_some_relevance():
    config = preset("default", overrides=["logger.popularity=0.5"])
    train, _ = build_datasets(config)
    popularity = train.features[:, train.popularity_column]
    assert train.confounder_column == -1 and popularity.min() >= 0
    r = np.corrcoef(popularity, train.labels)[0, 1]
    assert r > 4 / np.sqrt(train.n_docs), f"popularity should follow relevance in part, r = {r:.3f}"


def test_feature_share_of_an_independent_feature_is_one_half():
    rng = np.random.default_rng(5)
    bounds = np.arange(0, 30 * 2_000 + 1, 30)
    scores, feature = rng.random(bounds[-1]), rng.random(bounds[-1])
    share = feature_share(scores, feature, bounds, k=10)
    # 2,000 queries x 10 documents, each above the median with probability 1/2 (slightly dependent within a query).
    assert abs(share - 0.5) < 5 * np.sqrt(0.25 / 20_000), f"share {share:.4f} of an independent feature"
    assert feature_share(feature, feature, bounds, k=10) == 1.0


@pytest.mark.parametrize("override, message", [
    ("logger.confounding=1.5", r"logger.confounding must be <= 1.0"),
    ("logger.popularity=-0.1", r"logger.popularity must be >= 0.0"),
    ("loop.engagement_unseen=zero", r"loop.engagement_unseen must be one of estimate, missing"),
    ("loop.engagement_dropout=1.0", r"loop.engagement_dropout must be <= 0.95"),
])
def test_invalid_measurement_settings(override, message):
    with pytest.raises(ConfigError, match=message):
        preset("smoke", overrides=[override])


def test_a_confounded_smoke_run_reports_the_share(tmp_path):
    config = preset("smoke", overrides=["logger.confounding=0.7", "loop.rounds=1"])
    rows, _ = run_task(config, 0, "logger", tmp_path)
    shares = [v for _, _, _, m, v in rows if m == "confounder_share@10"]
    assert len(shares) == 2 and shares[0] > 0.55  # the logger prefers the confounder
