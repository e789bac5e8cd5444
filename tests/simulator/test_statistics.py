"""Aggregation of sessions into (document, rank) statistics."""

from collections import defaultdict

import numba
import numpy as np
import pytest

from simulator import PBM, ClickStatistics, aggregate_clicks, click_model


def random_block(n_sessions, n_docs=40, k=5, seed=0):
    rng = np.random.default_rng(seed)
    displayed = rng.integers(-1, n_docs, size=(n_sessions, k))
    labels = rng.integers(0, 5, size=n_docs)
    sim = click_model("dbn").simulate(displayed, labels, seed=seed)
    return displayed, sim.clicks, sim.examination


def test_equals_plain_python_reference():
    displayed, clicks, exam = random_block(3000)
    stats = ClickStatistics.empty(40, 5)
    aggregate_clicks(stats, displayed, clicks, exam)
    imp, clk, ex, inv = (defaultdict(int), defaultdict(int), defaultdict(float), defaultdict(float))
    for s in range(displayed.shape[0]):
        for r in range(5):
            d = int(displayed[s, r])
            if d < 0:
                continue
            imp[d, r] += 1
            ex[d, r] += float(exam[s, r])
            if clicks[s, r]:
                clk[d, r] += 1
                inv[d, r] += 1.0 / float(exam[s, r])
    for d in range(40):
        for r in range(5):
            assert stats.impressions[d, r] == imp[d, r]
            assert stats.clicks[d, r] == clk[d, r]
            assert stats.examination[d, r] == pytest.approx(ex[d, r], rel=1e-12, abs=1e-12)
            assert stats.inverse_examination_clicks[d, r] == pytest.approx(inv[d, r], rel=1e-12)
    assert stats.n_sessions == 3000


def test_blocks_and_threads_give_identical_sums():
    displayed, clicks, exam = random_block(20_000, seed=1)
    whole = ClickStatistics.empty(40, 5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        aggregate_clicks(whole, displayed, clicks, exam)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parts = ClickStatistics.empty(40, 5)
        aggregate_clicks(parts, displayed[:7000], clicks[:7000], exam[:7000])
        aggregate_clicks(parts, displayed[7000:], clicks[7000:], exam[7000:])
    finally:
        numba.set_num_threads(before)
    assert whole.equals(parts)
    merged = ClickStatistics.empty(40, 5)
    aggregate_clicks(merged, displayed[:7000], clicks[:7000], exam[:7000])
    rest = ClickStatistics.empty(40, 5)
    aggregate_clicks(rest, displayed[7000:], clicks[7000:], exam[7000:])
    total = merged + rest
    # Merging partial sums changes the order of float additions: counts are
    # exact, sums agree to rounding.
    assert np.array_equal(total.impressions, whole.impressions) and np.array_equal(total.clicks, whole.clicks)
    np.testing.assert_allclose(total.examination, whole.examination, rtol=1e-12)
    assert total.n_sessions == whole.n_sessions


def test_ctr_is_nan_where_never_shown():
    stats = ClickStatistics.empty(3, 2)
    sim = PBM().simulate(np.array([[0, 1]] * 10), np.array([4, 0, 0]), seed=0)
    aggregate_clicks(stats, np.array([[0, 1]] * 10), sim.clicks, sim.examination)
    ctr = stats.ctr()
    assert ctr[0, 0] == 1.0 and np.isnan(ctr[2]).all() and np.isnan(ctr[0, 1])


@pytest.mark.parametrize("displayed, message", [
    (np.zeros((2, 3), dtype=int), "displayed must have shape \\(n_sessions, 2\\)"),
    (np.array([[0, 5]]), "refers to document 5 but stats hold 3"),
])
def test_invalid_blocks(displayed, message):
    stats = ClickStatistics.empty(3, 2)
    with pytest.raises(ValueError, match=message):
        aggregate_clicks(stats, displayed, np.zeros(displayed.shape, bool), np.zeros(displayed.shape, np.float32))


def test_invalid_statistics():
    with pytest.raises(ValueError, match="clicks must lie in 0..impressions"):
        ClickStatistics(np.zeros((2, 2), int), np.ones((2, 2), int), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="need n_docs >= 0 and k >= 1"):
        ClickStatistics.empty(3, 0)


def test_repeated_additions_equal_one_at_a_time():
    # The fused session paths add a constant examination once per impression from counts:
    # from a zero start through the table (and past its end), from any other start by a loop.
    from simulator._statistics import _add_repeatedly_kernel, _repeated_sum_table

    increments = np.array([1.0, 0.1, 1.0 / 3.0], dtype=np.float32).astype(np.float64)
    counts = np.array([[0, 2, 9], [5, 3, 7], [1, 4, 8]], dtype=np.int64)
    start = np.array([[0.0, 0.7, 0.0], [0.0, 0.0, 2.5], [1e-3, 0.0, 0.0]])
    expected = start.copy()
    for r in range(3):
        for i in range(3):
            for _ in range(counts[r, i]):
                expected[r, i] += increments[r]
    for length in (0, 3, 20):
        values = start.copy()
        _add_repeatedly_kernel(values, counts, increments, _repeated_sum_table(increments, length))
        assert np.array_equal(values, expected), f"table length {length}: {values - expected}"


@pytest.fixture(scope="module")
def small_data():
    from simulator import make_synthetic

    return make_synthetic(n_queries=30, docs_per_query=8, n_features=5, seed=0)


@pytest.mark.parametrize("policy_name", ["deterministic", "plackett_luce"])
def test_placement_opt_in_leaves_the_statistics_unchanged(small_data, policy_name):
    """placement=True fills expected_impressions and changes no other count or sum, bit for bit."""
    from policies import Deterministic, PlackettLuce
    from simulator import simulate_sessions

    scorer = lambda X: X[:, 0]
    policy = Deterministic(scorer, 5) if policy_name == "deterministic" else PlackettLuce(scorer, 5)
    plain = simulate_sessions(small_data, policy, PBM(eta=1.0), 5000, seed=3).statistics
    placed = simulate_sessions(small_data, policy, PBM(eta=1.0), 5000, seed=3, placement=True).statistics
    assert plain.expected_impressions is None and placed.expected_impressions.shape == (small_data.n_docs, 5)
    placed_without = ClickStatistics(placed.impressions, placed.clicks, placed.examination, placed.n_sessions,
                                     placed.inverse_examination_clicks)
    assert plain.equals(placed_without) and not plain.equals(placed)
    # Every rank of every query is filled once per session: column sums are the session counts.
    per_query = np.add.reduceat(placed.expected_impressions, small_data.query_boundaries[:-1], axis=0)
    np.testing.assert_allclose(per_query, np.add.reduceat(placed.impressions, small_data.query_boundaries[:-1],
                                                          axis=0), rtol=1e-12)
    if policy_name == "deterministic":  # one list per query: expected = realised impressions
        np.testing.assert_array_equal(placed.expected_impressions, placed.impressions)


def test_expected_impressions_match_realised_ones_in_expectation(small_data):
    """Plackett-Luce: the realised impressions of a cell are Binomial(n_q, P(d at r)); each is
    within 5 standard deviations of its expectation.  The placement comes from 10^4 Monte
    Carlo samples per query, whose variance n_q^2 p (1 - p) / 10^4 is added.  Checked on the
    cells with at least 10 expected impressions, where the normal approximation holds (a cell
    with 0.13 expected and 3 realised is a Poisson tail, not an error)."""
    from policies import PlackettLuce
    from simulator import simulate_sessions

    stats = simulate_sessions(small_data, PlackettLuce(lambda X: X[:, 0], 5), PBM(eta=1.0), 20_000, seed=1,
                              placement=True).statistics
    expected = stats.expected_impressions
    n_q = np.add.reduceat(stats.impressions[:, 0], small_data.query_boundaries[:-1])[small_data.doc_query]
    p = expected / n_q[:, None]
    sd = np.sqrt(n_q[:, None] * p * (1 - p) * (1 + n_q[:, None] / 1e4))
    cells = expected >= 10
    assert cells.sum() > 500
    z = np.abs(stats.impressions - expected)[cells] / sd[cells]
    assert z.max() <= 5, f"largest z {z.max():.2f} of {cells.sum()} cells"


def test_expected_impressions_add_up_and_are_compared(small_data):
    from policies import Deterministic
    from simulator import simulate_sessions

    policy = Deterministic(lambda X: X[:, 0], 5)
    a = simulate_sessions(small_data, policy, PBM(), 1000, seed=0, placement=True).statistics
    b = simulate_sessions(small_data, policy, PBM(), 1000, seed=0, first_session=1000, placement=True).statistics
    both = simulate_sessions(small_data, policy, PBM(), 2000, seed=0, placement=True).statistics
    total = a + b  # float sums of other orders may differ in the last bit: compare expected exactly
    np.testing.assert_array_equal(total.expected_impressions, both.expected_impressions)
    np.testing.assert_array_equal(total.impressions, both.impressions)
    empty = ClickStatistics.empty(small_data.n_docs, 5)
    assert (empty + a).equals(a) and (a + empty).equals(a)
    plain = simulate_sessions(small_data, policy, PBM(), 1000, seed=0).statistics
    with pytest.raises(ValueError, match="cannot add statistics with expected_impressions"):
        a + plain
    with pytest.raises(ValueError, match="placement=True cannot add to statistics that hold sessions"):
        simulate_sessions(small_data, policy, PBM(), 10, seed=0, statistics=plain, placement=True)
