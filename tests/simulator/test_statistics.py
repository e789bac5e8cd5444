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
    (np.array([[0, -(2**32) + 2]]), "only -1 marks an empty slot"),  # would wrap to document 2 as int32
    (np.array([[0.0, 1.0]]), "integer document indices"),
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
    from simulator._statistics_kernels import add_repeatedly, repeated_sum_table

    increments = np.array([1.0, 0.1, 1.0 / 3.0], dtype=np.float32).astype(np.float64)
    counts = np.array([[0, 2, 9], [5, 3, 7], [1, 4, 8]], dtype=np.int64)
    start = np.array([[0.0, 0.7, 0.0], [0.0, 0.0, 2.5], [1e-3, 0.0, 0.0]])
    expected = start.copy()
    for r in range(3):
        for i in range(3):
            for _ in range(counts[r, i]):
                expected[r, i] += increments[r]
    for length in (0, 3, 20):
        values = start.copy().reshape(-1)
        rank = np.repeat(np.arange(3), 3)
        add_repeatedly(values, counts.reshape(-1), rank, increments, repeated_sum_table(increments, length))
        assert np.array_equal(values.reshape(3, 3), expected), f"table length {length}: {values - expected}"


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


# ---------------------------------------------------------------------------------------------
# The sparse cells against the dense (n_docs, k) implementation they replaced (issue 18)
# ---------------------------------------------------------------------------------------------

def dense_reference(displayed, clicks, examination, n_docs, k):
    """The dense accumulation of the former implementation: rank-major (k, n_docs) arrays,
    sessions in order, float64 sums of the float32 examination and of 1 / examination."""
    impressions = np.zeros((k, n_docs), dtype=np.int64)
    clk = np.zeros((k, n_docs), dtype=np.int64)
    exam = np.zeros((k, n_docs))
    inverse = np.zeros((k, n_docs))
    for s in range(displayed.shape[0]):
        for r in range(k):
            d = displayed[s, r]
            if d < 0:
                continue
            e = np.float64(examination[s, r])
            impressions[r, d] += 1
            if clicks[s, r]:
                clk[r, d] += 1
                if e > 0:
                    inverse[r, d] += 1.0 / e
            exam[r, d] += e
    return {"impressions": impressions.T, "clicks": clk.T, "examination": exam.T,
            "inverse_examination_clicks": inverse.T}


FLOAT_FIELDS = ("examination", "inverse_examination_clicks")
FIELDS = ("impressions", "clicks") + FLOAT_FIELDS


def assert_equals_dense(stats, dense, label):
    for name in FIELDS:
        assert np.array_equal(getattr(stats, name), dense[name]), f"{label}: {name} differs from the dense form"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_cells_equal_the_dense_implementation_on_random_data(seed):
    """Counts and float sums of every cell, the sum of two blocks, and the per-document and
    per-rank reductions are bit for bit those of the dense arrays (DBN: examination varies)."""
    n_docs, k = 3000, 5
    displayed, clicks, exam = random_block(4000, n_docs=n_docs, k=k, seed=seed)
    stats = ClickStatistics.empty(n_docs, k)
    aggregate_clicks(stats, displayed, clicks, exam)
    dense = dense_reference(displayed, clicks, exam, n_docs, k)
    assert_equals_dense(stats, dense, "one block")
    assert stats.n_cells == np.count_nonzero(dense["impressions"]) < n_docs * k
    # Two blocks into one accumulator continue each cell's sum in session order.
    split = ClickStatistics.empty(n_docs, k)
    aggregate_clicks(split, displayed[:1500], clicks[:1500], exam[:1500])
    aggregate_clicks(split, displayed[1500:], clicks[1500:], exam[1500:])
    assert split.equals(stats)
    # a + b is the dense elementwise sum.
    a, b = ClickStatistics.empty(n_docs, k), ClickStatistics.empty(n_docs, k)
    aggregate_clicks(a, displayed[:1500], clicks[:1500], exam[:1500])
    aggregate_clicks(b, displayed[1500:], clicks[1500:], exam[1500:])
    dense_a = dense_reference(displayed[:1500], clicks[:1500], exam[:1500], n_docs, k)
    dense_b = dense_reference(displayed[1500:], clicks[1500:], exam[1500:], n_docs, k)
    assert_equals_dense(a + b, {name: dense_a[name] + dense_b[name] for name in FIELDS}, "a + b")
    # Reductions: per document (ranks in order), per rank (pairwise over all documents), a block of rows.
    rows = np.random.default_rng(seed).choice(n_docs, size=700, replace=False)
    theta = np.array([1.0, 0.5, 1 / 3, 0.25, 0.2])
    for name in FIELDS:
        assert np.array_equal(stats.row_sums(name), dense[name].sum(axis=1)), f"row_sums({name})"
        assert np.array_equal(stats.rank_sums(name), dense[name].sum(axis=0)), f"rank_sums({name})"
        assert np.array_equal(stats.take(name, rows), dense[name][rows]), f"take({name})"
    assert np.array_equal(stats.row_sums("impressions", weights=theta), (dense["impressions"] * theta).sum(axis=1))


@pytest.mark.parametrize("policy_name", ["deterministic", "plackett_luce"])
def test_a_loop_round_equals_the_dense_implementation(small_data, policy_name):
    """A served round (fused PBM path, and its expected placements) against the dense
    accumulation of the same sessions' log, cell by cell; its cells are the shown ones only."""
    from policies import Deterministic, PlackettLuce
    from simulator import simulate_sessions

    scorer = lambda X: X[:, 0]
    policy = Deterministic(scorer, 5) if policy_name == "deterministic" else PlackettLuce(scorer, 5)
    run = simulate_sessions(small_data, policy, PBM(eta=1.0), 6000, seed=4, placement=True)
    logged = simulate_sessions(small_data, policy, PBM(eta=1.0), 6000, seed=4, keep_log=True)
    log = logged.log
    dense = dense_reference(log.displayed, log.clicks, log.examination, small_data.n_docs, 5)
    assert_equals_dense(run.statistics, dense, policy_name)
    assert_equals_dense(logged.statistics, dense, f"{policy_name}, general path")
    shown = np.count_nonzero(dense["impressions"])
    placed = np.count_nonzero(run.statistics.expected_impressions)
    assert run.statistics.n_cells == np.count_nonzero((dense["impressions"] > 0)
                                                      | (run.statistics.expected_impressions > 0)) <= shown + placed
    if policy_name == "deterministic":
        assert run.statistics.n_cells <= small_data.n_queries * 5


def test_dense_views_write_back_and_checks():
    stats = ClickStatistics.empty(n_docs=3, k=2)
    stats.impressions[0] = [10, 10]
    stats.clicks[0] = [6, 2]
    stats.impressions[1] = [0, 20]
    assert stats.cells.tolist() == [0, 1, 3] and stats.row_sums("clicks").tolist() == [8, 0, 0]
    assert stats.values("impressions").tolist() == [10, 10, 20] and stats.expected_impressions is None
    with pytest.raises(ValueError, match="clicks must lie in 0..impressions"):
        stats.clicks[2] = [1, 0]
    with pytest.raises(ValueError, match="cells must be strictly increasing"):
        ClickStatistics.from_cells(3, 2, np.array([3, 1]), {})
    with pytest.raises(ValueError, match="do not track expected_impressions"):
        stats.values("expected_impressions")
