"""The position tower's anchors of theta and its behaviour after a good logger (issue 15, item 7)."""

import numpy as np
import pytest

from analysis import ndcg
from ltr import IPS, FullInformation, PositionTower
from policies import Deterministic
from simulator import PBM, make_synthetic, pbm_theta, simulate_sessions

K = 10


@pytest.fixture(scope="module")
def good_logger():
    """A logger trained on half of the labels, its deterministic top 10 and 20,000 PBM (eta = 1) sessions."""
    data = make_synthetic(n_queries=300, docs_per_query=(20, 40), seed=3)
    logger = FullInformation(query_fraction=0.5, seed=0).fit(data)
    scores = logger.predict(data.features)
    stats = simulate_sessions(data, Deterministic(lambda X, s=scores: s, K), PBM(eta=1.0), 20_000,
                              seed=1).statistics
    return data, scores, stats


@pytest.fixture(scope="module")
def two_rankers(good_logger):
    """The logger's sessions pooled with those of a second ranker: documents seen at several ranks."""
    data, scores, stats = good_logger
    noisy = scores + np.random.default_rng(4).normal(0.0, scores.std(), scores.size)
    other = simulate_sessions(data, Deterministic(lambda X, s=noisy: s, K), PBM(eta=1.0), 200_000, seed=2,
                              first_session=20_000).statistics
    return data, stats + other


def served(data, scores):
    return float(ndcg(scores, data.labels, data.query_boundaries, k=10).mean())


def test_dropout_keeps_the_first_retrain_near_a_good_logger(good_logger):
    """Without dropout the unidentified theta comes out too steep and f inverts the logger's
    order: measured 0.516 against the logger's 0.875 (the same for every seed: no dropout, no
    randomness).  The default dropout 0.8 serves 0.816, 0.799 and 0.806 with seeds 0, 1, 2
    (the seed draws the dropped cells): 0.07 below the logger with a spread of 0.01, so the
    bound 0.1 is three spreads away, and the gap to the free tower is 0.29."""
    data, scores, stats = good_logger
    logger = served(data, scores)
    free = served(data, PositionTower(dropout=0.0, n_estimators=30, seed=0).fit(data, stats).predict(data.features))
    default = served(data, PositionTower(n_estimators=30, seed=0).fit(data, stats).predict(data.features))
    assert free < logger - 0.3, (free, logger)
    assert default > logger - 0.1, (default, logger)


def test_pbm_anchor_held_fixed(good_logger):
    """theta = "pbm" with an infinite prior: theta_ is the assumed curve, nothing is learned."""
    data, _, stats = good_logger
    for eta in (0.5, 2.0):
        tower = PositionTower(theta="pbm", theta_prior=np.inf, assumed_eta=eta, n_iter=2, n_estimators=5)
        np.testing.assert_allclose(tower.fit(data, stats).theta_, pbm_theta(K, eta), rtol=1e-12)
        assert not tower.theta_identified_.any()


def test_harvesting_from_one_deterministic_ranker_falls_back_to_the_assumed_curve(good_logger):
    """One deterministic ranker shows each document at one rank: harvesting identifies nothing."""
    data, _, stats = good_logger
    tower = PositionTower(theta="harvesting", theta_prior=np.inf, assumed_eta=1.5, n_iter=1, n_estimators=5)
    tower.fit(data, stats)
    assert not tower.theta_identified_[1:].any()
    np.testing.assert_allclose(tower.theta_, pbm_theta(K, 1.5), rtol=1e-12)


def test_harvesting_anchor_is_the_ips_estimate_and_near_the_truth(two_rankers):
    """Over two rankers every rank is identified; the held anchor is IPS(propensity="estimated")'s
    estimate, and within 25 % of (1/r) at every rank: the pairs hold at least ~300 clicks per rank
    (relative standard error <= 6 %), so 25 % is about four standard errors."""
    data, pooled = two_rankers
    tower = PositionTower(theta="harvesting", theta_prior=np.inf, n_iter=1, n_estimators=5).fit(data, pooled)
    ips = IPS(propensity="estimated", n_estimators=5).fit(data, pooled)
    assert tower.theta_identified_.all()
    np.testing.assert_allclose(tower.theta_, ips.theta_, rtol=1e-12)
    relative_error = tower.theta_ / pbm_theta(K, 1.0) - 1.0
    assert np.abs(relative_error).max() < 0.25, np.round(tower.theta_, 3)


def test_theta_prior_pulls_theta_towards_its_anchor(good_logger):
    """The distance of log theta_ from the anchor falls as the prior grows, to 0 when held."""
    data, _, stats = good_logger
    anchor = pbm_theta(K, 1.0)
    distance = []
    for prior in (0.0, 30.0, 1e4, np.inf):
        tower = PositionTower(theta="pbm", theta_prior=prior, dropout=0.0, n_iter=2, n_estimators=10, seed=0)
        distance.append(np.abs(np.log(tower.fit(data, stats).theta_ / anchor)).max())
    assert distance[0] > distance[1] > distance[2] > distance[3] == 0.0, distance


def test_array_anchor_is_scaled_to_the_first_rank(good_logger):
    data, _, stats = good_logger
    tower = PositionTower(theta=2.0 * pbm_theta(K, 1.0), theta_prior=np.inf, n_iter=1, n_estimators=5)
    np.testing.assert_allclose(tower.fit(data, stats).theta_, pbm_theta(K, 1.0), rtol=1e-12)


@pytest.mark.parametrize("params, message", [
    ({"theta": "oracle"}, r"theta must be one of \('ctr', 'pbm', 'harvesting', 'em'\) or an array, got 'oracle'"),
    ({"theta": np.ones(3)}, r"theta array must have shape \(10,\) with finite values > 0"),
    ({"theta": np.zeros(K)}, r"theta array must have shape \(10,\) with finite values > 0"),
    ({"theta_prior": -1.0}, r"theta_prior must be >= 0 \(numpy.inf holds theta at its anchor\), got -1.0"),
    ({"theta_prior": np.nan}, r"theta_prior must be >= 0"),
    ({"assumed_eta": -0.5}, r"assumed_eta must be a finite number >= 0, got -0.5"),
    ({"assumed_eta": np.inf}, r"assumed_eta must be a finite number >= 0, got inf"),
])
def test_bad_parameters(good_logger, params, message):
    data, _, stats = good_logger
    with pytest.raises(ValueError, match=message):
        PositionTower(n_iter=1, n_estimators=2, **params).fit(data, stats)


def test_the_likelihood_kernel_is_bitwise_its_numpy_form():
    """ltr._tower_kernels sums the cells' gradient and Hessian per row in one parallel pass: the same floats as
    the array expressions (the sigmoid stays NumPy's) on one thread or two, extreme logits and clipped theta * s
    included."""
    import numba

    from ltr._tower import _Cells, _tower_gradients

    rng = np.random.default_rng(3)
    n_rows, n_cells = 5_000, 20_000
    row = np.sort(rng.integers(0, n_rows - 10, n_cells))  # the last rows have no cell: gradient 0
    imp = rng.integers(1, 50, n_cells).astype(float)
    cells = _Cells(row, rng.integers(0, 10, n_cells), np.minimum(imp, rng.integers(0, 5, n_cells)).astype(float),
                   imp, n_rows)
    z = rng.standard_normal(n_rows) * 10
    z[:50] = 800.0  # s = 1: theta * s clipped at 1 - 1e-12 where theta = 1
    theta = np.where(rng.random(n_cells) < 0.1, 1.0, rng.random(n_cells))
    s = 1.0 / (1.0 + np.exp(-z[row]))
    ts = np.clip(theta * s, 1e-12, 1 - 1e-12)
    ratio = (1.0 - s) / (1.0 - ts)
    grad = np.bincount(row, weights=(cells.imp - cells.clk) * ts * ratio - cells.clk * (1.0 - s), minlength=n_rows)
    hess = np.maximum(np.bincount(row, weights=cells.imp * ts * (1.0 - s) * ratio, minlength=n_rows), 1e-12)
    got_grad, got_hess = _tower_gradients(z, cells, theta)
    assert np.array_equal(got_grad, grad) and np.array_equal(got_hess, hess)
    assert (got_hess[-10:] == 1e-12).all() and (got_grad[-10:] == 0).all()
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_grad, one_hess = _tower_gradients(z, cells, theta)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one_grad, grad) and np.array_equal(one_hess, hess)


def test_listwise_relevance_with_theta_one_is_naive(good_logger):
    """relevance="listwise" fits the softmax of f + log A_d to the clicks, A_d = sum_r theta_r I[d, r]: with
    theta held at 1 and a deterministic logger A_d is the query's sessions for every shown document, a constant
    of the query, and the loss is naive's softmax on the click-through rates (weighted by the sessions)."""
    from ltr import Naive

    data, _, stats = good_logger
    listwise = PositionTower(relevance="listwise", theta=np.ones(K), theta_prior=np.inf, n_estimators=20, seed=0)
    naive = Naive(n_estimators=20, seed=0)
    a = listwise.fit(data, stats).predict(data.features)
    b = naive.fit(data, stats).predict(data.features)
    np.testing.assert_allclose(a - a.mean(), b - b.mean(), atol=1e-9)


def test_listwise_relevance_with_the_true_theta_corrects_position_bias():
    """A weak logger's deterministic top 10 under strong position bias (PBM eta = 2): the listwise tower with
    the true theta held fixed ranks the served queries better than naive, which learns the logger's order.
    Measured: logger 0.419, naive 0.566, listwise 0.774 (IPS 0.768, the pointwise tower with the same theta
    0.638), the same for seeds 0-2."""
    from ltr import Naive

    data = make_synthetic(n_queries=300, docs_per_query=(20, 40), seed=5)
    weak = data.features[:, 0] + np.random.default_rng(0).normal(0.0, 3.0 * data.features[:, 0].std(), data.n_docs)
    stats = simulate_sessions(data, Deterministic(lambda X, s=weak: s, K), PBM(eta=2.0), 300_000,
                              seed=1).statistics
    tower = PositionTower(relevance="listwise", theta="pbm", assumed_eta=2.0, theta_prior=np.inf,
                          n_estimators=50, seed=0)
    listwise = served(data, tower.fit(data, stats).predict(data.features))
    naive = served(data, Naive(n_estimators=50, seed=0).fit(data, stats).predict(data.features))
    assert listwise > naive + 0.1, (listwise, naive)
