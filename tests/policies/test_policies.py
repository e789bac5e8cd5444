"""Tests of the logging policies: placement probabilities, reproducibility, errors."""

import dataclasses
import itertools

import numba
import numpy as np
import pytest

import simulator._rng as _rng
from policies import _policies as policies_impl
from policies import (
    BoundPolicy,
    Deterministic,
    EpsilonGreedy,
    LoggingPolicy,
    PlackettLuce,
    RandPair,
    RandTopN,
    ReplaceLast,
    SwapToRandomRank,
    UniformRandom,
)
from policies import _kernels as kernels

# Tolerance of every statistical comparison, in standard errors.  Each policy
# compares ~1,700 (document, rank) cells and the file ~2 * 10**4; at z = 5 a
# correct implementation fails a normal-approximation test with probability
# ~6e-7 per cell, ~1 % for the whole file, while a wrong probability of a few
# per cent is far beyond 5 SE at these sample sizes.  All draws are seeded, so
# the outcome is deterministic.
Z = 5.0
K = 10
N_PER_QUERY = 4_000      # sessions of rank() per query in the frequency tests
N_MONTE_CARLO = 20_000   # placement samples per query where it is Monte Carlo

RNG = np.random.default_rng(2024)
SIZES = RNG.integers(3, 16, size=20)          # 3..15 candidates per query
BOUNDARIES = np.concatenate([[0], np.cumsum(SIZES)]).astype(np.int64)
N_DOCS = int(BOUNDARIES[-1])
FEATURES = RNG.normal(size=(N_DOCS, 4))
WEIGHTS = RNG.normal(size=4)


def scorer(features):
    return features @ WEIGHTS


def _policies():
    det, det5 = Deterministic(scorer, K), Deterministic(scorer, 5)
    pl = PlackettLuce(scorer, K, temperature=0.7)
    eps = EpsilonGreedy(scorer, K, epsilon=0.3)
    return {
        "deterministic": det,
        "plackett_luce": pl,
        "epsilon_greedy": eps,
        "uniform": UniformRandom(K),
        "rand_pair": RandPair(det),
        "rand_pair_pl_deep": RandPair(pl, max_rank=12),
        "rand_top_n": RandTopN(det, n=4),
        "rand_top_n_pl": RandTopN(pl, n=3),
        "replace_last": ReplaceLast(det5),
        "replace_last_pl": ReplaceLast(PlackettLuce(scorer, 5)),
        "replace_last_uniform": ReplaceLast(UniformRandom(5)),
        "swap": SwapToRandomRank(det5, max_rank=12),
        "swap_eps": SwapToRandomRank(EpsilonGreedy(scorer, 5, epsilon=0.5), max_rank=12),
        "nested": RandPair(RandTopN(det, n=3)),
    }


POLICIES = _policies()


@pytest.fixture(scope="module")
def bound():
    """Every policy bound once; also pays the numba compile (or cache load) once."""
    return {name: policy.bind(FEATURES, BOUNDARIES) for name, policy in POLICIES.items()}


def _frequencies(ranking, n_docs, n_per_query):
    counts = np.zeros((n_docs, ranking.shape[1]))
    rows, ranks = np.nonzero(ranking >= 0)
    np.add.at(counts, (ranking[rows, ranks], ranks), 1.0)
    return counts / n_per_query


# --------------------------------------------------------------------------
# Placement probabilities
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(POLICIES))
def test_rank_frequencies_match_placement(bound, name):
    policy = bound[name]
    queries = np.repeat(np.arange(policy.n_queries), N_PER_QUERY)
    shown = policy.rank(queries, seed=11)
    empirical = _frequencies(shown, policy.n_docs, N_PER_QUERY)
    expected = policy.placement_probabilities(n_samples=N_MONTE_CARLO, seed=5)
    if policy.exact_placement:
        se = np.sqrt(expected * (1.0 - expected) / N_PER_QUERY)
    else:
        # Two independent estimates: two-proportion test with the pooled rate.
        pooled = (empirical * N_PER_QUERY + expected * N_MONTE_CARLO) / (N_PER_QUERY + N_MONTE_CARLO)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / N_PER_QUERY + 1.0 / N_MONTE_CARLO))
    diff = np.abs(empirical - expected)
    # Where the standard error is 0 the probability is 0 or 1 and must hold exactly.
    bad = diff > Z * se + 1e-12
    d, j = np.argwhere(bad)[0] if bad.any() else (0, 0)
    assert not bad.any(), (
        f"{name}: P(doc {d} at rank {j + 1}) = {expected[d, j]:.5f} but rank() shows it with frequency "
        f"{empirical[d, j]:.5f} ({diff[d, j] / max(se[d, j], 1e-300):.1f} SE; {bad.sum()} cells fail)"
    )


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_placement_is_a_distribution_per_rank(bound, name):
    policy = bound[name]
    placement = policy.placement_probabilities(n_samples=2_000)
    assert placement.shape == (N_DOCS, policy.k) and placement.dtype == np.float64
    assert placement.min() >= 0.0 and placement.max() <= 1.0 + 1e-12
    for q in range(policy.n_queries):
        block = placement[BOUNDARIES[q]:BOUNDARIES[q + 1]]
        n_q = SIZES[q]
        np.testing.assert_allclose(block.sum(axis=0)[:n_q], 1.0, atol=1e-9, err_msg=f"{name}, query {q}")
        np.testing.assert_array_equal(block[:, n_q:], 0.0)
        # each document is shown at most once per session
        assert block.sum(axis=1).max() <= 1.0 + 1e-9


@pytest.mark.parametrize("name", ["deterministic", "plackett_luce", "rand_pair", "replace_last_pl"])
def test_propensity_is_placement_times_theta(bound, name):
    policy = bound[name]
    theta = 1.0 / np.arange(1, policy.k + 1)
    placement = policy.placement_probabilities(n_samples=1_000, seed=3)
    np.testing.assert_allclose(policy.propensity(theta, n_samples=1_000, seed=3), placement @ theta)


def _exact_plackett_luce(scores, temperature):
    """P(candidate d at rank j) by enumerating every permutation (softmax per step)."""
    n = scores.size
    exact = np.zeros((n, n))
    for perm in itertools.permutations(range(n)):
        prob = 1.0
        for j, d in enumerate(perm):
            rest = scores[list(perm[j:])] / temperature
            prob *= np.exp(scores[d] / temperature - rest.max()) / np.exp(rest - rest.max()).sum()
        exact[list(perm), np.arange(n)] += prob
    return exact


@pytest.mark.parametrize("scores, temperature", [
    ([0.3, -0.5, 1.2, 0.0], 0.8),
    ([0.0, 0.5, 1.0, 800.0], 1.0),   # weights beyond the double range: the log-time race
])
def test_plackett_luce_monte_carlo_converges_to_exact(scores, temperature):
    scores = np.array(scores)
    policy = PlackettLuce(lambda X: X[:, 0], k=4, temperature=temperature)
    n_samples = 200_000
    estimate = policy.bind(scores[:, None], [0, 4]).placement_probabilities(n_samples=n_samples, seed=9)
    exact = _exact_plackett_luce(scores, temperature)
    softmax = np.exp((scores - scores.max()) / temperature)
    np.testing.assert_allclose(exact[:, 0], softmax / softmax.sum())  # first rank: softmax
    se = np.sqrt(exact * (1 - exact) / n_samples)
    diff = np.abs(estimate - exact)
    bad = diff > Z * se + 1e-12
    assert not bad.any(), (
        f"Monte Carlo PL placement off by {(diff / np.maximum(se, 1e-300)).max():.1f} SE at "
        f"{np.argwhere(bad)[0]}: {estimate[bad][0]:.5f} vs exact {exact[bad][0]:.5f}"
    )


def test_exact_closed_forms_by_hand():
    # 5 candidates ranked 0..4 by the deterministic base (score = -row).
    features = np.arange(5.0)[:, None]
    base = Deterministic(lambda X: -X[:, 0], k=3)
    swap = SwapToRandomRank(base, max_rank=4).bind(features, [0, 5]).placement_probabilities()
    np.testing.assert_allclose(swap, [[.25, .25, .25], [.25, .75, 0], [.25, 0, .75], [.25, 0, 0], [0, 0, 0]])
    last = ReplaceLast(base).bind(features, [0, 5]).placement_probabilities()
    np.testing.assert_allclose(last, [[1, 0, 0], [0, 1, 0], [0, 0, 1 / 3], [0, 0, 1 / 3], [0, 0, 1 / 3]])
    pair = RandPair(base, max_rank=5).bind(features, [0, 5]).placement_probabilities()
    np.testing.assert_allclose(pair[:, 0], [0, .25, .25, .25, .25])
    np.testing.assert_allclose(pair[0], [0, .25, .25])


# --------------------------------------------------------------------------
# Reductions and equalities
# --------------------------------------------------------------------------

def test_epsilon_zero_equals_deterministic(bound):
    greedy = EpsilonGreedy(scorer, K, epsilon=0.0).bind(FEATURES, BOUNDARIES)
    queries = RNG.integers(0, 20, size=5_000)
    np.testing.assert_array_equal(greedy.rank(queries, seed=4), bound["deterministic"].rank(queries, seed=4))
    np.testing.assert_array_equal(greedy.placement_probabilities(),
                                  bound["deterministic"].placement_probabilities())


@pytest.mark.parametrize("temperature", [1e-6, 1.0 / 50.0])
def test_cold_plackett_luce_equals_deterministic(temperature):
    # Tie-free scores 1 apart: at T = 1/50 the weights span e^-200 (the ordinary race),
    # at T = 1e-6 they span beyond the double range (the log-time race).
    scores = np.array([3.0, 0.0, 4.0, 1.0, 2.0, 7.0, 5.0, 6.0])
    features, boundaries = scores[:, None], [0, 8]
    cold = PlackettLuce(lambda X: X[:, 0], k=6, temperature=temperature).bind(features, boundaries)
    det = Deterministic(lambda X: X[:, 0], k=6).bind(features, boundaries)
    queries = np.zeros(3_000, dtype=np.int64)
    np.testing.assert_array_equal(cold.rank(queries, seed=8), det.rank(queries, seed=8))


def test_deterministic_ties_by_lower_row():
    features = np.array([[1.0], [2.0], [1.0], [2.0], [0.5]])
    shown = Deterministic(lambda X: X[:, 0], k=5).bind(features, [0, 5]).rank([0], seed=0)
    assert shown.tolist() == [[1, 3, 0, 2, 4]]


def test_replace_last_fast_path_equals_generic_path():
    # Over a deterministic base ReplaceLast reads the base order directly; over an
    # epsilon-greedy base with epsilon = 0 it materialises it: the same draws.
    queries = RNG.integers(0, 20, size=3_000)
    fast = ReplaceLast(Deterministic(scorer, 5)).bind(FEATURES, BOUNDARIES).rank(queries, seed=2)
    slow = ReplaceLast(EpsilonGreedy(scorer, 5, 0.0)).bind(FEATURES, BOUNDARIES).rank(queries, seed=2)
    np.testing.assert_array_equal(fast, slow)


def test_intervention_keeps_the_base_ranking_below_it(bound):
    queries = RNG.integers(0, 20, size=3_000)
    base = bound["plackett_luce"].rank(queries, seed=6)
    shuffled = bound["rand_top_n_pl"].rank(queries, seed=6)
    np.testing.assert_array_equal(shuffled[:, 3:], base[:, 3:])
    np.testing.assert_array_equal(np.sort(shuffled[:, :3], axis=1), np.sort(base[:, :3], axis=1))


def test_scorer_with_predict_equals_callable():
    class Linear:
        def predict(self, X):
            return X @ WEIGHTS

    queries = RNG.integers(0, 20, size=500)
    a = PlackettLuce(Linear(), K).bind(FEATURES, BOUNDARIES).rank(queries, seed=1)
    b = PlackettLuce(scorer, K).bind(FEATURES, BOUNDARIES).rank(queries, seed=1)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Rankings: validity and reproducibility
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(POLICIES))
def test_rankings_are_valid(bound, name):
    policy = bound[name]
    queries = RNG.integers(0, 20, size=4_000)
    shown = policy.rank(queries, seed=3)
    assert shown.shape == (queries.size, policy.k) and shown.dtype == np.int32
    start, stop = BOUNDARIES[queries][:, None], BOUNDARIES[queries + 1][:, None]
    valid = shown >= 0
    assert np.all(~valid | ((shown >= start) & (shown < stop))), "a shown row is not a candidate of the query"
    n_shown = np.minimum(SIZES[queries], policy.k)
    np.testing.assert_array_equal(valid, np.arange(policy.k)[None, :] < n_shown[:, None])
    ordered = np.sort(np.where(valid, shown, -np.arange(1, policy.k + 1)), axis=1)
    assert np.all(np.diff(ordered, axis=1) != 0), "a document is shown twice in a session"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_rank_invariant_to_threads_and_blocks(bound, name):
    policy = bound[name]
    queries = RNG.integers(0, 20, size=6_000)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = policy.rank(queries, seed=21)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = policy.rank(queries, seed=21)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)
    split = np.concatenate([policy.rank(queries[:2_345], seed=21),
                            policy.rank(queries[2_345:], seed=21, first_session=2_345)])
    np.testing.assert_array_equal(one, split)
    if name != "deterministic":
        assert not np.array_equal(one, policy.rank(queries, seed=22)), "another seed gave the same rankings"


def test_compiled_kernels_equal_py_func(bound, monkeypatch):
    """Every ranking kernel, run as plain Python, gives the compiled result."""
    names = ["plackett_luce", "uniform", "epsilon_greedy", "replace_last", "replace_last_pl", "swap_eps", "nested"]
    queries = RNG.integers(0, 20, size=300)
    compiled = {name: bound[name].rank(queries, seed=17) for name in names}
    for attr in dir(kernels):
        func = getattr(kernels, attr)
        if isinstance(func, numba.core.registry.CPUDispatcher):
            monkeypatch.setattr(kernels, attr, func.py_func)
    monkeypatch.setattr(_rng, "mix64", _rng.mix64.py_func)
    assert not isinstance(kernels.plackett_luce_rank, numba.core.registry.CPUDispatcher)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        for name in names:
            python = bound[name].rank(queries, seed=17)
            np.testing.assert_array_equal(compiled[name], python, err_msg=name)


@pytest.mark.parametrize("depth", [K, 36])
def test_plackett_luce_deeper_ranking_extends_shallower(depth):
    # Rank j < 32 is drawn with draw j, the ranks beyond by a race of the candidates left
    # (insertion up to depth 32, the merge sort beyond): a ranking to any depth is the
    # prefix of a deeper one, as interventions that need a deeper base ranking assume.
    rng = np.random.default_rng(depth)
    boundaries = np.concatenate([[0], np.cumsum(rng.integers(3, 60, size=12))]).astype(np.int64)
    features = rng.normal(size=(boundaries[-1], 4))
    policy = PlackettLuce(scorer, depth, temperature=0.7).bind(features, boundaries)
    queries = rng.integers(0, 12, size=20_000).astype(np.int64)
    key = _rng.derive_key(13)
    shallow = policy._rank(queries, key, np.int64(0), depth)
    deep = policy._rank(queries, key, np.int64(0), 70)
    np.testing.assert_array_equal(shallow, deep[:, :depth])
    np.testing.assert_array_equal(shallow, policy.rank(queries, seed=13))


@pytest.mark.parametrize("n_sequential, rejection_mass", [(32, 0.5), (1, 0.5), (32, 0.0), (32, 1.0)])
def test_plackett_luce_rank_matches_exact_enumeration(monkeypatch, n_sequential, rejection_mass):
    # One query of 5 candidates, k = 3: the frequencies of rank() over 2 * 10**5 sessions
    # against the exact placement from every permutation.  n_sequential = 1 draws rank 1
    # sequentially and races the rest; rejection_mass 0 ranks by inverse CDF only, 1 by
    # rejection from the alias table only, 0.5 switches between them: every path is checked.
    monkeypatch.setattr(policies_impl, "_SEQUENTIAL_DEPTH", n_sequential)
    monkeypatch.setattr(policies_impl, "_REJECTION_MASS", rejection_mass)
    scores, temperature, n_sessions = np.array([0.4, -1.1, 1.7, 0.9, 0.0]), 0.6, 200_000
    policy = PlackettLuce(lambda X: X[:, 0], k=3, temperature=temperature).bind(scores[:, None], [0, 5])
    shown = policy.rank(np.zeros(n_sessions, dtype=np.int64), seed=31)
    empirical = _frequencies(shown, 5, n_sessions)
    exact = _exact_plackett_luce(scores, temperature)[:, :3]
    se = np.sqrt(exact * (1 - exact) / n_sessions)
    diff = np.abs(empirical - exact)
    bad = diff > Z * se + 1e-12
    d, j = np.argwhere(bad)[0] if bad.any() else (0, 0)
    assert not bad.any(), (
        f"P(doc {d} at rank {j + 1}) = {exact[d, j]:.5f} but rank() shows it with frequency "
        f"{empirical[d, j]:.5f} ({diff[d, j] / se[d, j]:.1f} SE; {bad.sum()} cells fail)"
    )


def test_plackett_luce_every_path_compiled_equals_py_func(monkeypatch):
    # Query 0 ranks by inverse CDF then by the race (n_sequential = 2 < k = 4), query 1 spans
    # beyond exp(700) (the log-time race), query 2 has fewer candidates than k.
    monkeypatch.setattr(policies_impl, "_SEQUENTIAL_DEPTH", 2)
    scores = np.concatenate([RNG.normal(size=7), [0.0, 300.0, 800.0, 5.0, 1.0], [0.3, 0.1]])
    policy = PlackettLuce(lambda X: X[:, 0], k=4).bind(scores[:, None], [0, 7, 12, 14])
    queries = RNG.integers(0, 3, size=300)
    compiled = policy.rank(queries, seed=23)
    for attr in dir(kernels):
        func = getattr(kernels, attr)
        if isinstance(func, numba.core.registry.CPUDispatcher):
            monkeypatch.setattr(kernels, attr, func.py_func)
    monkeypatch.setattr(_rng, "mix64", _rng.mix64.py_func)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        python = policy.rank(queries, seed=23)
    np.testing.assert_array_equal(compiled, python)
    assert set(np.unique(compiled[queries == 1])) == set(range(7, 12))


def test_plackett_luce_guard_keeps_rankings_valid():
    # Weights halved against their suffix sums send the collapsed point into intervals
    # already shown, which exact (or monotone-rounded) arithmetic excludes: the kernel's
    # guard must still show distinct candidates of the query.
    scores = np.random.default_rng(1).normal(size=12)
    policy = PlackettLuce(lambda X: X[:, 0], k=8).bind(scores[:, None], [0, 12])
    queries = np.zeros(5_000, dtype=np.int64)
    out = np.empty((queries.size, 8), dtype=np.int32)
    # rejection_mass = 0: every rank by inverse CDF, the path that has the guard
    kernels.plackett_luce_rank(
        queries, policy.query_boundaries, policy._order, policy._weight * 0.5, policy._tail, policy._alias_prob,
        policy._alias_index, policy._log_inv_weight, policy._wide, 32, 0.0, policy._max_size, np.int64(0),
        _rng.derive_key(7), out,
    )
    assert out.min() >= 0 and out.max() < 12
    assert np.all(np.diff(np.sort(out, axis=1), axis=1) != 0), "a candidate is shown twice in a session"


# --------------------------------------------------------------------------
# Interface and errors
# --------------------------------------------------------------------------

def test_interface(bound):
    for name, policy in bound.items():
        assert isinstance(policy, BoundPolicy) and isinstance(POLICIES[name], LoggingPolicy)
        assert (policy.n_docs, policy.n_queries) == (N_DOCS, 20)
        assert policy.k == POLICIES[name].k and policy.name == POLICIES[name].name
    assert POLICIES["plackett_luce"].name == "plackett_luce(T=0.7)"
    assert bound["uniform"].rank(np.array([], dtype=np.int64), seed=0).shape == (0, K)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'k'"):
        POLICIES["deterministic"].k = 3


DET5 = Deterministic(scorer, 5)


@pytest.mark.parametrize("make, error, message", [
    (lambda: Deterministic(scorer, 0), ValueError, "k must be an integer >= 1, got 0"),
    (lambda: Deterministic(scorer, 2.5), ValueError, "k must be an integer >= 1, got float 2.5"),
    (lambda: UniformRandom(-1), ValueError, "k must be an integer >= 1, got -1"),
    (lambda: PlackettLuce(scorer, 5, temperature=0.0), ValueError, "temperature must be a finite number > 0, got 0.0"),
    (lambda: PlackettLuce(scorer, 5, temperature=-2), ValueError, "temperature must be a finite number > 0, got -2"),
    (lambda: PlackettLuce(scorer, 5, temperature=np.inf), ValueError, "temperature must be"),
    (lambda: EpsilonGreedy(scorer, 5, epsilon=1.5), ValueError, r"epsilon must be in \[0, 1\], got 1.5"),
    (lambda: EpsilonGreedy(scorer, 5, epsilon=-0.1), ValueError, r"epsilon must be in \[0, 1\], got -0.1"),
    (lambda: RandTopN(DET5, n=6), ValueError, r"n must be an integer in \[2, k=5\], got 6"),
    (lambda: RandTopN(DET5, n=1), ValueError, r"n must be an integer in \[2, k=5\], got 1"),
    (lambda: RandPair(DET5, max_rank=1), ValueError, "max_rank must be an integer >= 2, got 1"),
    (lambda: RandPair(Deterministic(scorer, 1)), ValueError, "max_rank must be an integer >= 2, got None with k=1"),
    (lambda: SwapToRandomRank(DET5, max_rank=0), ValueError, "max_rank must be an integer >= 1, got 0"),
    (lambda: RandPair(scorer), TypeError, "base must be a LoggingPolicy, got function"),
    (lambda: Deterministic(None, 5), TypeError, "scorer must be a callable"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES[1:]), ValueError, "query_boundaries must start at 0"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES[:-1]), ValueError, "query_boundaries must end at n_docs"),
    (lambda: DET5.bind(FEATURES, [0, 10, 5, N_DOCS]), ValueError, "query_boundaries must be strictly increasing"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES + 0.5), ValueError, "query_boundaries must be an integer array"),
    (lambda: DET5.bind(FEATURES[:, 0], BOUNDARIES), ValueError, r"features must have shape \(n_docs, n_features\)"),
    (lambda: Deterministic(lambda X: X, 5).bind(FEATURES, BOUNDARIES), ValueError,
     rf"scorer must return scores of shape \(n_docs,\) = \({N_DOCS},\), got \({N_DOCS}, 4\)"),
    (lambda: Deterministic(lambda X: X[:, 0] / 0.0, 5).bind(FEATURES, BOUNDARIES), ValueError,
     "scorer must return finite scores"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).rank([0, 20], seed=0), ValueError,
     r"queries must be in \[0, n_queries=20\), got 20"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).rank([0.0], seed=0), ValueError, "queries must hold integer"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).rank([0], seed=0, first_session=-1), ValueError,
     "first_session must be an integer >= 0, got -1"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).rank([0], seed=-1), ValueError, "seed must be >= 0"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).placement_probabilities(n_samples=0), ValueError,
     "n_samples must be an integer >= 1, got 0"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).propensity([1.0, 0.5]), ValueError,
     r"theta must have shape \(k,\) = \(5,\), got \(2,\)"),
    (lambda: DET5.bind(FEATURES, BOUNDARIES).propensity([1.0, 0.5, np.nan, 0, 0]), ValueError,
     "theta must be finite and >= 0"),
])
def test_invalid_parameters(make, error, message):
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(error, match=message) as info:
        make()
    assert "\n" not in str(info.value)
