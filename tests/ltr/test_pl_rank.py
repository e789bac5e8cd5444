"""PL-Rank and LambdaMART on click estimates: the gradient against exact enumeration, sampling, learning."""

import itertools

import numba
import numpy as np
import pytest

from analysis._metrics import ndcg
from ltr import LambdaMARTClicks, PLRank, click_relevance
from ltr import _pl_rank_kernels as kernels
from policies import Deterministic, UniformRandom
from simulator import PBM, make_synthetic, simulate_sessions
from simulator.kernels import derive_key
from simulator.validation import read_only

Z = 4.5


def _discount(k):
    return 1.0 / np.log2(np.arange(2, k + 2))


def exact_expected_metric(scores, rho, discount):
    """Expected metric of the Plackett-Luce policy and its gradient, by enumerating every full ranking."""
    n, k = scores.size, discount.size
    w = np.exp(scores - scores.max())
    value, grad = 0.0, np.zeros(n)
    for ranking in itertools.permutations(range(n)):
        prob, remaining, dlog = 1.0, list(range(n)), np.zeros(n)
        for r, d in enumerate(ranking):
            z = w[remaining].sum()
            prob *= w[d] / z
            dlog[remaining] -= w[remaining] / z
            dlog[d] += 1.0
            remaining.remove(d)
        metric = sum(discount[r] * rho[ranking[r]] for r in range(min(k, n)))
        value += prob * metric
        grad += prob * metric * dlog
    return value, grad


def _estimates(scores, rho, discount, n_samples, key):
    grad, fisher, value = np.empty(scores.size), np.empty(scores.size), np.empty(1)
    # read-only estimates and boundaries, as PLRank hands them (one compiled specialisation)
    kernels.pl_rank_gradient(scores, read_only(rho), read_only(np.array([0, scores.size])), discount, n_samples,
                             key, grad, fisher, value)
    return grad, value[0]


@pytest.fixture(scope="module")
def small_problem():
    data = make_synthetic(n_queries=300, docs_per_query=20, n_features=10, seed=0)
    train, test = data.split((0.7, 0.3), seed=0)
    return train, test


@pytest.mark.parametrize("cutoff", [5, 3])
def test_gradient_equals_exact_gradient_of_expected_metric(cutoff):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=5)
    rho = np.array([1.0, -0.5, 0.3, 0.0, 2.0])  # signed, as IPS/DR estimates can be
    discount = _discount(cutoff)
    exact_value, exact_grad = exact_expected_metric(scores, rho, discount)
    repeats = 300
    draws = [_estimates(scores, rho, discount, 20, derive_key(7, i)) for i in range(repeats)]
    grads = np.array([g for g, _ in draws])
    values = np.array([v for _, v in draws])
    se = grads.std(axis=0, ddof=1) / np.sqrt(repeats)
    z = (grads.mean(axis=0) - exact_grad) / se
    assert np.all(np.abs(z) < Z), f"PL-Rank gradient off the exact one by z = {z} (cutoff {cutoff})"
    z_value = (values.mean() - exact_value) / (values.std(ddof=1) / np.sqrt(repeats))
    assert abs(z_value) < Z, f"sampled expected metric off the exact {exact_value} by z = {z_value}"


def test_sampled_first_positions_follow_the_softmax():
    scores = np.array([0.5, -1.0, 2.0, 0.0, 1.0, -3.0])
    n = 20_000
    out = np.empty((1, n, 3), dtype=np.int32)
    kernels.sample_rankings(scores, np.array([0, 6]), n, 3, derive_key(3), out)
    p = np.exp(scores) / np.exp(scores).sum()
    freq = np.bincount(out[0, :, 0], minlength=6) / n
    z = (freq - p) / np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(z) < Z), f"first-position frequencies {freq} vs softmax {p}: z = {z}"
    # second position given the first is document 2: softmax of the others
    first2 = out[0, out[0, :, 0] == 2, 1]
    q = np.where(np.arange(6) == 2, 0.0, np.exp(scores))
    q /= q.sum()
    freq2 = np.bincount(first2, minlength=6) / first2.size
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = np.where(q > 0, (freq2 - q) / np.sqrt(q * (1 - q) / first2.size), freq2)
    assert np.all(np.abs(z2) < Z), f"second-position frequencies {freq2} vs {q}: z = {z2}"
    assert np.all(out[0, :, 0] != out[0, :, 1]) and np.all(out[0, :, 1] != out[0, :, 2])


def _many_queries(seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, size=300)
    boundaries = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return rng.normal(size=boundaries[-1]), rng.normal(size=boundaries[-1]), boundaries


def _run_gradient(kernel, scores, rho, boundaries):
    grad, fisher, value = np.empty(scores.size), np.empty(scores.size), np.empty(boundaries.size - 1)
    kernel(scores, read_only(rho), read_only(boundaries), _discount(10), 8, derive_key(5), grad, fisher, value)
    return grad, fisher, value


def _run_lambdas(kernel, scores, rho, boundaries):
    grad, hess = np.empty(scores.size), np.empty(scores.size)
    kernel(scores, read_only(rho), read_only(boundaries), _discount(10), np.ones(boundaries.size - 1), grad, hess)
    return grad, hess


def test_kernels_are_thread_count_invariant_and_equal_their_py_func():
    scores, rho, boundaries = _many_queries()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run_gradient(kernels.pl_rank_gradient, scores, rho, boundaries)
        lambdas_one = _run_lambdas(kernels.lambdamart_gradient, scores, rho, boundaries)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _run_gradient(kernels.pl_rank_gradient, scores, rho, boundaries)
        lambdas_two = _run_lambdas(kernels.lambdamart_gradient, scores, rho, boundaries)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one + lambdas_one, two + lambdas_two):
        np.testing.assert_array_equal(a, b)
    small = boundaries[:6]
    n = small[-1]
    compiled = _run_gradient(kernels.pl_rank_gradient, scores[:n], rho[:n], small)
    python = _run_gradient(kernels.pl_rank_gradient.py_func, scores[:n], rho[:n], small)
    for a, b in zip(compiled, python):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_run_lambdas(kernels.lambdamart_gradient, scores[:n], rho[:n], small),
                               _run_lambdas(kernels.lambdamart_gradient.py_func, scores[:n], rho[:n], small),
                               rtol=1e-12, atol=1e-12)
    out_c = np.empty((5, 4, 10), dtype=np.int32)
    out_p = np.empty((5, 4, 10), dtype=np.int32)
    kernels.sample_rankings(scores[:n], small, 4, 10, derive_key(1), out_c)
    kernels.sample_rankings.py_func(scores[:n], small, 4, 10, derive_key(1), out_p)
    np.testing.assert_array_equal(out_c, out_p)


def _gains(dataset, statistics):
    return 2.0 ** dataset.labels - 1.0


def test_plrank_improves_expected_dcg_with_full_information(small_problem):
    train, _ = small_problem
    stats = simulate_sessions(train, UniformRandom(20), PBM(eta=0.0), 4_000, seed=0).statistics
    model = PLRank(targets=_gains, n_estimators=30, learning_rate=0.3).fit(train, stats)
    rows = np.arange(train.n_docs)
    boundaries = np.asarray(train.query_boundaries, dtype=np.int64)
    rho = _gains(train, None)
    fitted = np.asarray(model.predict(train.features), dtype=np.float64)

    def expected(scores, seed):
        _, _, value = _run_gradient_n(scores, rho, boundaries, 400, seed)
        return value

    start, end = expected(np.zeros(rows.size), 1), expected(fitted, 2)
    gain = end - start
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() > Z * se and gain.mean() > 0.1 * start.mean(), (
        f"expected DCG@10 went from {start.mean():.3f} to {end.mean():.3f} (se of the change {se:.3f})")
    assert model.expected_metric_.shape == (30,) and model.temperature_ == 1.0


def _run_gradient_n(scores, rho, boundaries, n_samples, seed):
    grad, fisher, value = np.empty(scores.size), np.empty(scores.size), np.empty(boundaries.size - 1)
    kernels.pl_rank_gradient(scores, read_only(rho), read_only(boundaries), _discount(10), n_samples,
                             derive_key(seed), grad, fisher, value)
    return grad, fisher, value


@pytest.mark.parametrize("learner", [
    LambdaMARTClicks(n_estimators=30), LambdaMARTClicks(labels="real", n_estimators=30),
    PLRank(n_estimators=30, metric="ndcg"),
], ids=["binned", "real", "pl_rank"])
def test_click_learners_rank_better_than_random(small_problem, learner):
    train, test = small_problem
    logger = Deterministic(lambda X: X[:, 0], 10)
    stats = simulate_sessions(train, logger, PBM(eta=1.0), 30_000, seed=0).statistics
    learner.fit(train, stats)
    learned = ndcg(learner.predict(test.features), test.labels, test.query_boundaries)
    random = ndcg(np.random.default_rng(0).random(test.n_docs), test.labels, test.query_boundaries)
    diff = learned - random
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() > Z * se, f"NDCG@10 {learned.mean():.3f} vs random {random.mean():.3f} (se {se:.3f})"


@pytest.mark.parametrize("learner", [
    PLRank(targets="dr", n_estimators=5, target_params={"dm_n_estimators": 5}),
    PLRank(targets="ips", propensity="pbm", target_params={"assumed_eta": 1.0}, n_estimators=5),
    LambdaMARTClicks(targets="dr", labels="real", n_estimators=5, target_params={"dm_n_estimators": 5}),
], ids=["pl_rank_dr", "pl_rank_ips_pbm", "lambdamart_dr"])
def test_estimators_of_ltr_give_the_targets(small_problem, learner):
    train, _ = small_problem
    stats = simulate_sessions(train, Deterministic(lambda X: X[:, 0], 10), PBM(eta=1.0), 2_000, seed=0).statistics
    learner.fit(train, stats)
    assert np.all(np.isfinite(learner.predict(train.features)))


def test_all_candidate_estimates_bring_the_never_shown_documents(small_problem):
    train, _ = small_problem
    stats = simulate_sessions(train, Deterministic(lambda X: X[:, 0], 10), PBM(eta=1.0), 2_000, seed=0).statistics
    shown = int(np.count_nonzero(stats.impressions.sum(axis=1)))
    rows_shown = PLRank(targets="ips")._training_data(train, stats)[0]
    rows_all = PLRank(targets="ips", propensity="policy_oblivious")._training_data(train, stats)[0]
    assert rows_shown.size == shown and rows_all.size > shown


def test_ips_relevance_equals_naive_with_unit_propensities(small_problem):
    train, _ = small_problem
    stats = simulate_sessions(train, UniformRandom(10), PBM(eta=1.0), 2_000, seed=0).statistics
    naive = click_relevance("naive", train, stats)
    ips = click_relevance("ips", train, stats, propensity=np.ones(10), clip=0.0)
    np.testing.assert_array_equal(np.isnan(naive), np.isnan(ips))
    np.testing.assert_allclose(naive[~np.isnan(naive)], ips[~np.isnan(ips)])


@pytest.mark.parametrize("learner, match", [
    (PLRank(targets="clicks"), "targets must be one of"),
    (PLRank(metric="err"), "metric must be one of"),
    (PLRank(serving="greedy"), "serving must be one of"),
    (PLRank(cutoff=0), "cutoff must be an integer >= 1"),
    (PLRank(n_samples=0), "n_samples must be an integer >= 1"),
    (PLRank(n_samples=2.5), "n_samples must be an integer >= 1"),
    (PLRank(learning_rate=0), "learning_rate must be a number > 0"),
    (PLRank(num_threads=0), "num_threads must be an integer >= 1"),
    (PLRank(targets="ips", clip=2.0), "clip must be in"),
    (LambdaMARTClicks(labels="float"), "labels must be one of"),
    (LambdaMARTClicks(n_grades=1), "n_grades must be an integer >= 2"),
    (LambdaMARTClicks(targets=lambda d, s: np.zeros(3)), "targets callable must return shape"),
    (PLRank(targets="naive", target_params={"clip": 0.1}), "target_params apply to targets 'ips' and 'dr'"),
    (PLRank(target_params=[("clip", 0.1)]), "target_params must be a dict"),
    (PLRank(targets="dr", propensity="policy_oblivious"), "propensity must be one of"),
])
def test_bad_parameters_raise(small_problem, learner, match):
    train, _ = small_problem
    stats = simulate_sessions(train, UniformRandom(10), PBM(eta=1.0), 500, seed=0).statistics
    with pytest.raises(ValueError, match=match):
        learner.fit(train, stats)


def test_predict_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted yet"):
        PLRank().predict(np.zeros((2, 3)))
