"""Session simulation: query draws, ranking, clicks and aggregation in blocks."""

import numba
import numpy as np
import pytest

from policies import Deterministic, PlackettLuce
from simulator import PBM, QueryDistribution, click_model, make_synthetic, simulate_sessions

Z = 5.0  # 5 standard errors: a correct pipeline fails any single check with p < 1e-6


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_queries=60, docs_per_query=(5, 25), n_features=6, seed=3)


def linear_scorer(features):
    return features @ np.linspace(1.0, -0.5, features.shape[1])


@pytest.mark.parametrize("kind", ["uniform", "zipf"])
def test_query_frequencies(data, kind):
    dist = QueryDistribution(kind, exponent=1.1, seed=2)
    run = simulate_sessions(data, Deterministic(linear_scorer, 5), PBM(), 400_000, seed=1, queries=dist)
    k = run.statistics.k
    # every session fills min(k, size) slots, so sessions per query = impressions / slots
    slots = np.minimum(data.query_sizes, k)
    per_query = np.bincount(data.doc_query, weights=run.statistics.impressions.sum(axis=1),
                            minlength=data.n_queries) / slots
    p = dist.probabilities(data.n_queries)
    observed = per_query / 400_000
    assert np.all(np.abs(observed - p) <= Z * np.sqrt(p * (1 - p) / 400_000))


def test_deterministic_pipeline_matches_pbm_closed_form(data):
    """Under a deterministic policy and PBM, CTR of every (document, rank) cell = theta_r alpha(y_d)."""
    model = PBM(eta=1.0)
    stats = simulate_sessions(data, Deterministic(linear_scorer, 5), model, 300_000, seed=4).statistics
    rows, ranks = np.nonzero(stats.impressions)
    n = stats.impressions[rows, ranks]
    expected = model.examination_by_rank(5)[ranks] * model.attractiveness(data.labels[rows])
    observed = stats.clicks[rows, ranks] / n
    assert np.all(np.abs(observed - expected) <= Z * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    np.testing.assert_allclose(stats.examination[rows, ranks] / n, model.examination_by_rank(5)[ranks], rtol=1e-6)


@pytest.mark.parametrize("model_name", ["pbm", "dbn"])
def test_block_size_and_thread_count_do_not_change_results(data, model_name):
    policy = PlackettLuce(linear_scorer, 5, temperature=0.5)
    model = click_model(model_name)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_sessions(data, policy, model, 50_000, seed=7, block_size=50_000).statistics
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        blocks = simulate_sessions(data, policy, model, 50_000, seed=7, block_size=7_777).statistics
    finally:
        numba.set_num_threads(before)
    assert one.equals(blocks)
    other = simulate_sessions(data, policy, model, 50_000, seed=8).statistics
    assert not one.equals(other)


def test_continuing_a_run_with_first_session_equals_one_run(data):
    policy, model = PlackettLuce(linear_scorer, 5), PBM()
    whole = simulate_sessions(data, policy, model, 30_000, seed=2).statistics
    head = simulate_sessions(data, policy, model, 12_000, seed=2).statistics
    simulate_sessions(data, policy, model, 18_000, seed=2, first_session=12_000, statistics=head)
    assert whole.equals(head)


def test_kept_log_aggregates_to_the_statistics(data):
    run = simulate_sessions(data, Deterministic(linear_scorer, 5), click_model("dcm_informational"),
                            20_000, seed=5, keep_log=True, round=3, block_size=6_000)
    log = run.log
    assert log.n_sessions == 20_000 and set(np.unique(log.round)) == {3}
    assert log.aggregate(data.n_docs).equals(run.statistics)
    # A deterministic policy places each shown document at its rank with probability 1.
    assert np.all(log.placement[log.displayed >= 0] == 1.0)
    # Every shown document belongs to the session's query.
    shown = log.displayed >= 0
    assert np.all(data.doc_query[log.displayed[shown]] == np.broadcast_to(log.query[:, None], shown.shape)[shown])


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_sessions=0), "n_sessions must be an integer >= 1"),
    (dict(block_size=0), "block_size must be an integer >= 1"),
    (dict(seed=-1), "seed must be >= 0"),
])
def test_invalid_arguments(data, kwargs, message):
    args = dict(dataset=data, policy=Deterministic(linear_scorer, 5), click_model=PBM(), n_sessions=10) | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_sessions(**args)


def test_invalid_query_distribution():
    with pytest.raises(ValueError, match="query distribution must be 'uniform' or 'zipf'"):
        QueryDistribution("pareto")
    with pytest.raises(ValueError, match="zipf exponent must be > 0"):
        QueryDistribution("zipf", exponent=0.0)


@pytest.mark.parametrize("policy", [Deterministic(linear_scorer, 5), PlackettLuce(linear_scorer, 5, 0.5),
                                    PlackettLuce(linear_scorer, 30, 0.5)], ids=["det", "pl", "pl_padded"])
@pytest.mark.parametrize("kind", ["uniform", "zipf"])
def test_fused_path_equals_general_pipeline(data, policy, kind):
    # The fused kernels (query draw + rank + PBM clicks + counts) give the general
    # pipeline's statistics bit for bit, for any thread count, block size and continuation.
    dist, model = QueryDistribution(kind, exponent=1.1), PBM(eta=1.0)
    general = simulate_sessions(data, policy, model, 40_000, seed=9, queries=dist, fused=False).statistics
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_sessions(data, policy, model, 40_000, seed=9, queries=dist, block_size=40_000).statistics
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        head = simulate_sessions(data, policy, model, 15_000, seed=9, queries=dist, block_size=4_321).statistics
        simulate_sessions(data, policy, model, 25_000, seed=9, queries=dist, first_session=15_000,
                          statistics=head, block_size=9_999)
    finally:
        numba.set_num_threads(before)
    # (a fixed-list run continued in two calls scatters two per-list sums, in either path)
    general_head = simulate_sessions(data, policy, model, 15_000, seed=9, queries=dist, fused=False).statistics
    simulate_sessions(data, policy, model, 25_000, seed=9, queries=dist, first_session=15_000,
                      statistics=general_head, fused=False)
    for name, stats, reference in (("one thread", one, general), ("continued", head, general_head)):
        for field in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
            assert np.array_equal(getattr(stats, field), getattr(reference, field)), f"{name}: {field} differs"
        assert stats.n_sessions == reference.n_sessions


def test_fused_kernels_compiled_equal_py_func(data, monkeypatch):
    import policies._kernels as policy_kernels
    import simulator._click_kernels as click_kernels
    import simulator._rng as rng

    model = PBM(eta=1.0)
    policies = (Deterministic(linear_scorer, 5), PlackettLuce(linear_scorer, 5, 0.5))
    compiled = [simulate_sessions(data, p, model, 300, seed=4).statistics for p in policies]
    for module in (policy_kernels, click_kernels):
        for attr in dir(module):
            func = getattr(module, attr)
            if isinstance(func, numba.core.registry.CPUDispatcher):
                monkeypatch.setattr(module, attr, func.py_func)
    monkeypatch.setattr(rng, "mix64", rng.mix64.py_func)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        python = [simulate_sessions(data, p, model, 300, seed=4).statistics for p in policies]
    for c, p in zip(compiled, python):
        assert c.equals(p)
