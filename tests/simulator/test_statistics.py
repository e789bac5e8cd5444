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
