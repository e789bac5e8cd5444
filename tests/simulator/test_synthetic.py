"""Tests of simulator._synthetic.make_synthetic."""

import numpy as np
import pytest

from simulator._dataset import RankingDataset
from simulator._synthetic import make_synthetic

DEFAULT_GRADES = (0.45, 0.32, 0.15, 0.06, 0.02)


def heldout_linear_correlation(data, seed=0):
    """Pearson correlation of a least-squares fit (trained on half of the
    queries) with the labels of the other half."""
    train, test = data.split((0.5, 0.5), seed=seed)
    x_train = np.c_[train.features, np.ones(train.n_docs)]
    x_test = np.c_[test.features, np.ones(test.n_docs)]
    weights = np.linalg.lstsq(x_train, train.labels, rcond=None)[0]
    return float(np.corrcoef(x_test @ weights, test.labels)[0, 1])


def test_shapes_and_dtypes():
    data = make_synthetic(n_queries=30, docs_per_query=7, n_features=5, name="toy")
    assert isinstance(data, RankingDataset)
    assert (data.n_queries, data.n_docs, data.n_features) == (30, 210, 5)
    assert data.features.dtype == np.float32 and np.isfinite(data.features).all()
    assert data.labels.dtype == np.int64
    assert set(np.unique(data.labels)) <= set(range(len(DEFAULT_GRADES)))
    np.testing.assert_array_equal(data.query_ids, np.arange(30))
    assert data.name == "toy"


@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 7])
def test_few_features(n_features):
    data = make_synthetic(n_queries=20, docs_per_query=5, n_features=n_features)
    assert data.n_features == n_features
    assert np.isfinite(data.features).all()


@pytest.mark.parametrize("relevance", ["linear", "nonlinear"])
def test_same_arguments_give_identical_output(relevance):
    kwargs = dict(n_queries=50, docs_per_query=(3, 9), relevance=relevance, seed=11)
    a, b = make_synthetic(**kwargs), make_synthetic(**kwargs)
    for field in ("features", "labels", "query_boundaries", "query_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    c = make_synthetic(**{**kwargs, "seed": 12})
    assert not np.array_equal(a.labels, c.labels) or not np.array_equal(a.features, c.features)


def test_docs_per_query_range_is_respected():
    data = make_synthetic(n_queries=400, docs_per_query=(2, 6), n_features=3, seed=3)
    sizes = data.query_sizes
    assert sizes.min() == 2 and sizes.max() == 6, "the inclusive range must be reached"
    assert set(np.unique(sizes)) == {2, 3, 4, 5, 6}
    fixed = make_synthetic(n_queries=10, docs_per_query=(4, 4), n_features=3)
    assert (fixed.query_sizes == 4).all()


@pytest.mark.parametrize(
    "grades",
    [DEFAULT_GRADES, (0.5, 0.5), (0.7, 0.2, 0.1), (0.01, 0.09, 0.9)],
)
def test_grade_shares_match_the_request(grades):
    data = make_synthetic(
        n_queries=2000, docs_per_query=(20, 30), n_features=4,
        grade_distribution=grades, seed=5,
    )
    shares = np.bincount(data.labels, minlength=len(grades)) / data.n_docs
    # Grades are assigned by rank: the documents sorted by noisy score, the
    # cumulative count of grades <= g is round(c_g * n_docs) for the requested
    # cumulative share c_g. Each cumulative count is off by at most 1/2
    # document, so each grade's share (a difference of two of them) is off by
    # at most 1 / n_docs. This bound is exact, not statistical; for
    # comparison, a binomial draw would need about
    # 4 * sqrt(p * (1 - p) / n_docs) ~ 0.01 here.
    tolerance = 1.0 / data.n_docs + 1e-12
    error = np.abs(shares - np.asarray(grades))
    assert error.max() <= tolerance, (
        f"grade shares {shares} differ from {grades} by {error.max():.2e} "
        f"> {tolerance:.2e}"
    )


def test_features_predict_labels_on_heldout_queries():
    data = make_synthetic(n_queries=400, relevance="linear", seed=0)
    r = heldout_linear_correlation(data)
    # Over seeds 0..7 this is 0.37 to 0.47; its sampling standard deviation
    # with 10,000 test documents is below 0.01.
    assert r > 0.25, f"held-out correlation of a linear fit is only {r:.3f}"


def test_document_share_is_the_unexplained_part():
    r_none = heldout_linear_correlation(make_synthetic(n_queries=400, document_share=0.0, seed=1))
    r_most = heldout_linear_correlation(make_synthetic(n_queries=400, document_share=0.8, seed=1))
    assert r_none > r_most + 0.15, (
        f"document_share=0 gives correlation {r_none:.3f}, 0.8 gives {r_most:.3f}"
    )


def test_nonlinear_relevance_defeats_a_linear_model():
    kwargs = dict(n_queries=400, label_noise=0.0, document_share=0.0, seed=2)
    r_linear = heldout_linear_correlation(make_synthetic(relevance="linear", **kwargs))
    r_nonlinear = heldout_linear_correlation(make_synthetic(relevance="nonlinear", **kwargs))
    assert r_linear > r_nonlinear + 0.15, (
        f"linear fit: {r_linear:.3f} on linear relevance, {r_nonlinear:.3f} on nonlinear"
    )


def test_queries_differ():
    data = make_synthetic(n_queries=500, docs_per_query=50, n_features=6, seed=4)
    starts = data.query_boundaries[:-1]
    # Some queries are hard: no document of grade >= 2 (about 8 % here).
    best = np.maximum.reduceat(data.labels, starts)
    assert 0.01 < np.mean(best < 2) < 0.5, f"share of hard queries {np.mean(best < 2)}"
    # Per-query feature shift: the spread of the query means of a column is far
    # larger than the within-query variance alone would give (ratio ~ 1).
    ranks = data.features.argsort(axis=0).argsort(axis=0) / data.n_docs
    means = np.add.reduceat(ranks, starts, axis=0) / 50
    within = np.mean([ranks[data.query_slice(i)].var(axis=0) for i in range(100)], axis=0)
    ratio = means.var(axis=0) / (within / 50)
    assert (ratio > 3).all(), f"between/within variance ratios {ratio}"


def test_features_live_on_different_scales():
    features = make_synthetic(n_queries=200, docs_per_query=20, n_features=12, seed=6).features
    spread = features.std(axis=0)
    assert spread.max() / spread.min() > 100, f"column standard deviations {spread}"
    assert ((features > 0) & (features < 1)).all(axis=0).any(), "no bounded column"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_queries=0), r"n_queries must be an integer >= 1, got 0"),
        (dict(n_queries=2.5), r"n_queries must be an integer >= 1, got float 2.5"),
        (dict(n_queries=True), r"n_queries must be an integer >= 1, got bool True"),
        (dict(docs_per_query=0), r"docs_per_query must be an integer >= 1, got 0"),
        (dict(docs_per_query=(5, 3)), r"docs_per_query must have low <= high, got \(5, 3\)"),
        (dict(docs_per_query=(0, 3)), r"docs_per_query must be a positive integer or a \(low, high\) tuple"),
        (dict(docs_per_query=(1, 2, 3)), r"docs_per_query must be a positive integer or a \(low, high\) tuple"),
        (dict(docs_per_query="50"), r"docs_per_query must be a positive integer or a \(low, high\) tuple"),
        (dict(n_features=0), r"n_features must be an integer >= 1, got 0"),
        (dict(relevance="quadratic"), r"relevance must be 'linear' or 'nonlinear', got 'quadratic'"),
        (dict(label_noise=-0.1), r"label_noise must be a finite float >= 0, got -0.1"),
        (dict(label_noise=float("nan")), r"label_noise must be a finite float >= 0, got nan"),
        (dict(document_share=1.0), r"document_share must be a float in \[0, 1\), got 1.0"),
        (dict(document_share=-0.1), r"document_share must be a float in \[0, 1\), got -0.1"),
        (dict(grade_distribution=(0.5, 0.4)), r"grade_distribution must sum to 1 \(within 1e-9\), got \(0.5, 0.4\) with sum 0.9"),
        (dict(grade_distribution=(1.0,)), r"grade_distribution must be a sequence of at least 2 shares"),
        (dict(grade_distribution=(1.2, 0.0, -0.2)), r"grade_distribution must have all shares > 0"),
        (dict(grade_distribution="abc"), r"grade_distribution must be a sequence of at least 2 shares"),
        (dict(seed=-1), r"seed must be a non-negative integer, got -1"),
        (dict(seed=None), r"seed must be a non-negative integer, got None"),
        (dict(name=1), r"name must be a str, got 1"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic(**{"n_queries": 5, "docs_per_query": 3, **kwargs})


def test_grades_by_selection_are_those_of_a_stable_sort():
    """Grades cut at global ranks by selection equal the stable argsort's, with ties at the cuts, empty
    grades and cuts at the end."""
    from simulator._synthetic import _grades_by_rank

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        score = rng.standard_normal(n)
        if trial % 2:
            score = np.round(score, 1)  # many ties, some at the cuts
        shares = rng.dirichlet(np.ones(int(rng.integers(1, 6))))
        if trial % 4 == 0 and shares.size > 1:
            shares[rng.integers(shares.size)] = 0.0  # an empty grade: two equal cuts
            shares /= shares.sum()
        cumulative = np.rint(np.cumsum(shares) * n).astype(np.int64)
        cumulative[-1] = n
        expected = np.empty(n, dtype=np.int64)
        expected[np.argsort(score, kind="stable")] = np.repeat(np.arange(shares.size), np.diff(cumulative, prepend=0))
        assert np.array_equal(_grades_by_rank(score, cumulative), expected)
