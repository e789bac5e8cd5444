"""Propensity estimators against the position-based model they assume.

Logs are built here with numpy, the simulator's PBM and ``aggregate_clicks``:
2000 queries x 20 documents with uniform grades 0..4, graded attractiveness
(``GradeMapping.graded()``: 0.10, 0.16, 0.28, 0.52, 1.00), 10 ranks shown,
10^6 sessions (2 * 10^6 for harvesting, see below), queries drawn uniformly
(500 sessions per query).

Why 10^6 sessions suffice for a 10 % relative error at ranks 2..10
------------------------------------------------------------------
* Ratio (RandPair): the document of base rank j is shown at rank 1 in 1/9 of
  its query's sessions and at rank j in the other 8/9, so at eta = 2 and
  j = 10 about 1e6 * 8/9 * theta_10 (0.01) * alpha (about 0.2) = 1800 clicks
  enter the numerator and about 1e6 / 9 * 0.2 = 22 000 the denominator: the
  standard error of log theta_10 is sqrt(1/1800 + 1/22000) = 2.4 %, and 10 %
  is more than 4 of them.  The test asserts this from the estimator's own
  delta-method interval (``se <= TOLERANCE / 4``) instead of trusting the
  arithmetic above.
* Harvesting needs more: only documents that the rankers place at different
  ranks carry information, and with 10^6 sessions the bootstrap standard error
  at eta = 2 was 2.3 % (rank 10), too close to the TOLERANCE / 4 = 2.5 % the
  test demands.  Its log has 2 * 10^6 sessions (standard error 1.4 %).
* PBM-EM gives no interval (see its Notes); over 5 seeds of this design its
  bias was at most 1.0 % and its standard deviation at most 1.6 % (eta = 2,
  ranks 6..10), so 10 % exceeds bias + 5 sd.

Coverage and eta = 0 checks use the intervals as they are; the eta = 0 check
asks every rank to be covered at confidence 0.999, i.e. a family-wise level of
at least 1 - 9 * 0.001 = 0.99 by the Bonferroni inequality.
"""

import functools
import types

import numpy as np
import pytest

from ltr import PropensityEstimate, estimate_harvesting, estimate_pbm_em, estimate_ratio
from ltr import _propensity_kernels as kernels
from simulator import PBM, ClickStatistics, GradeMapping, aggregate_clicks

N_QUERIES, DOCS_PER_QUERY, K = 2000, 20, 10
N_SESSIONS = 1_000_000
N_SESSIONS_OF = {"randpair": N_SESSIONS, "swap_to_rank": N_SESSIONS, "harvesting": 2 * N_SESSIONS, "em": N_SESSIONS}
ETAS = (0.5, 1.0, 2.0)
TOLERANCE = 0.10
RANKS = np.arange(1, K + 1)
SEEDS = np.random.SeedSequence(20240611)
DESIGN_SEEDS = dict(zip(("randpair", "swap_to_rank", "harvesting", "em"), SEEDS.spawn(4)))


def truth(eta):
    return (1.0 / RANKS) ** eta


@functools.cache
def world():
    """Labels, query boundaries and a noisy base ranking (top K rows per query)."""
    rng = np.random.default_rng(SEEDS.spawn(1)[0])
    labels = rng.integers(0, 5, N_QUERIES * DOCS_PER_QUERY)
    query_boundaries = np.arange(N_QUERIES + 1, dtype=np.int64) * DOCS_PER_QUERY
    return labels, query_boundaries, noisy_ranking(labels, query_boundaries, noise=1.0, rng=rng)


def noisy_ranking(labels, query_boundaries, noise, rng):
    """Top-K document rows of every query when sorting by label + N(0, noise^2)."""
    scores = (labels + rng.normal(0.0, noise, labels.size)).reshape(N_QUERIES, DOCS_PER_QUERY)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return (order + query_boundaries[:-1, None]).astype(np.int32)


@functools.cache
def displayed_lists(design):
    """The displayed lists of every session (one array, or one per ranker for harvesting)."""
    labels, query_boundaries, base = world()
    rng = np.random.default_rng(DESIGN_SEEDS[design].spawn(1)[0])
    n_sessions = N_SESSIONS_OF[design]
    query = rng.integers(0, N_QUERIES, n_sessions)
    displayed = base[query]
    rows = np.arange(n_sessions)
    if design == "randpair":  # swap rank 1 with a uniform rank j in 2..10
        j = rng.integers(1, K, n_sessions)
        displayed[rows, 0], displayed[rows, j] = displayed[rows, j], displayed[rows, 0]
    elif design == "swap_to_rank":  # move the top document to a uniform rank j in 1..10 (1: no swap)
        j = rng.integers(0, K, n_sessions)
        displayed[rows, 0], displayed[rows, j] = displayed[rows, j], displayed[rows, 0]
    elif design == "harvesting":  # three noisy rankers, no intervention
        ranker = rng.integers(0, 3, n_sessions)
        rankers = [noisy_ranking(labels, query_boundaries, noise=1.5, rng=rng) for _ in range(3)]
        return tuple(rankers[i][query[ranker == i]] for i in range(3))
    elif design == "em":  # the base ranking, its top 10 shuffled in 30 % of the sessions
        explore = rng.random(n_sessions) < 0.3
        displayed[explore] = rng.permuted(displayed[explore], axis=1)
    return (displayed,)


@functools.cache
def click_log(design, eta):
    """ClickStatistics of the design's sessions under PBM(eta): a list, one per displayed array."""
    labels = world()[0]
    logs = []
    for i, displayed in enumerate(displayed_lists(design)):
        seed = int(DESIGN_SEEDS[design].generate_state(1)[0]) + 1000 * i + int(100 * eta)
        sim = PBM(eta=eta).simulate(displayed, labels, seed=seed)
        stats = ClickStatistics.empty(labels.size, K)
        aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
        logs.append(stats)
    return logs


def estimate(design, eta, confidence=0.95):
    stats = click_log(design, eta)
    if design == "randpair":
        return estimate_ratio(stats[0], "randpair", confidence=confidence)
    if design == "swap_to_rank":
        return estimate_ratio(stats[0], "swap_to_rank", base_top=world()[2][:, 0], confidence=confidence)
    if design == "harvesting":
        return estimate_harvesting(stats, world()[1], n_bootstrap=20, seed=7, confidence=confidence)
    return estimate_pbm_em(stats[0])


def relative_error(est, eta):
    return np.abs(est.theta / truth(eta) - 1.0)[1:]


def log_standard_error(est, confidence=0.95):
    z = {0.95: 1.959964, 0.999: 3.290527}[confidence]
    return np.log(est.upper / est.theta)[1:] / z


# ------------------------------------------------------------------------------------------------
# Recovery of theta_r / theta_1
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eta", ETAS)
@pytest.mark.parametrize("design", ["randpair", "harvesting", "em"])
def test_recovers_pbm_examination(design, eta):
    est = estimate(design, eta)
    err = relative_error(est, eta)
    assert est.theta[0] == 1.0 and est.n_sessions == N_SESSIONS_OF[design]
    assert err.max() < TOLERANCE, (
        f"{est.method} at eta={eta}: max relative error {err.max():.4f} at rank {np.argmax(err) + 2} "
        f"exceeds {TOLERANCE} (errors {np.round(err, 4).tolist()})"
    )
    if est.lower is not None:  # the tolerance is at least 4 standard errors of the estimator itself
        se = log_standard_error(est)
        assert se.max() <= TOLERANCE / 4, f"{est.method} at eta={eta}: standard error {se.max():.4f} too large"


def test_swap_to_rank_uses_the_base_top_documents():
    est = estimate("swap_to_rank", 1.0)
    err = relative_error(est, 1.0)
    assert est.method == "ratio-swap_to_rank"
    assert err.max() < TOLERANCE, f"swap_to_rank: max relative error {err.max():.4f}"
    assert log_standard_error(est).max() <= TOLERANCE / 4
    # Only the base top documents enter: a different set of documents than RandPair pooling.
    pooled = estimate_ratio(click_log("swap_to_rank", 1.0)[0], "randpair")
    assert not np.allclose(pooled.theta, est.theta)


def test_pbm_em_attractiveness_matches_the_grade_mapping():
    est = estimate("em", 1.0)
    labels = world()[0]
    fitted = np.isfinite(est.attractiveness)
    assert fitted.mean() > 0.45  # the shown half of the documents
    mean_by_grade = np.array([est.attractiveness[fitted & (labels == g)].mean() for g in range(5)])
    expected = GradeMapping.graded().probabilities
    assert np.all(np.abs(mean_by_grade / expected - 1) < TOLERANCE), (mean_by_grade.round(3), expected)


@pytest.mark.parametrize("design", ["randpair", "harvesting"])
def test_interval_covers_the_truth_at_most_ranks(design):
    est = estimate(design, 1.0)
    t = truth(1.0)
    covered = (est.lower <= t) & (t <= est.upper)
    assert covered[1:].sum() >= 8, (
        f"{est.method}: truth outside the 95 % interval at ranks {(np.flatnonzero(~covered) + 1).tolist()}"
    )


@pytest.mark.parametrize("design", ["randpair", "harvesting", "em"])
def test_no_position_bias_gives_flat_theta(design):
    est = estimate(design, 0.0, confidence=0.999)
    if est.lower is not None:
        outside = (est.lower > 1.0) | (est.upper < 1.0)
        ranks = (np.flatnonzero(outside) + 1).tolist()
        assert not outside.any(), f"{est.method}: theta = 1 outside the 99.9 % interval at ranks {ranks}"
    else:
        # Without an interval: the log-ratio of two click counts has standard error
        # sqrt(1/C_r + 1/C_1) with C_r the clicks at rank r; allow 5 of them.
        clicks = click_log(design, 0.0)[0].clicks.sum(axis=0)
        se = np.sqrt(1.0 / clicks + 1.0 / clicks[0])
        excess = np.abs(np.log(est.theta)) - 5 * se
        assert np.all(excess <= 0), f"{est.method} at eta=0: theta {est.theta.round(4)} beyond 5 se {se.round(4)}"


# ------------------------------------------------------------------------------------------------
# Exact reductions and the EM fixed point
# ------------------------------------------------------------------------------------------------


def two_ranker_swap_log(sessions_per_query=300, n_queries=50, seed=3):
    """Ranker A shows (d0, d1), ranker B (d1, d0), with the same sessions per query each."""
    labels = np.random.default_rng(seed).integers(0, 5, 2 * n_queries)
    pairs = np.arange(2 * n_queries).reshape(n_queries, 2)
    stats = []
    for i, ranking in enumerate((pairs, pairs[:, ::-1])):
        displayed = np.repeat(ranking, sessions_per_query, axis=0)
        sim = PBM(eta=1.0).simulate(displayed, labels, seed=seed + i)
        s = ClickStatistics.empty(labels.size, 2)
        aggregate_clicks(s, displayed, sim.clicks, sim.examination)
        stats.append(s)
    return stats, np.arange(n_queries + 1) * 2


def test_allpairs_reduces_to_the_click_ratio_of_a_balanced_swap():
    stats, query_boundaries = two_ranker_swap_log()
    pooled = stats[0] + stats[1]
    click_ratio = pooled.clicks[:, 1].sum() / pooled.clicks[:, 0].sum()
    harvested = estimate_harvesting(stats, query_boundaries)
    ratio = estimate_ratio(pooled, "randpair")
    assert harvested.theta[1] == pytest.approx(click_ratio, rel=1e-9)
    assert ratio.theta[1] == pytest.approx(click_ratio, rel=1e-12)


def plain_em(n, c, cell_doc, cell_rank, n_docs, k, n_iter):
    """The textbook EM of the PBM (closed-form M-step for theta and alpha), written plainly."""
    theta, alpha = np.full(k, 0.5), np.full(n_docs, 0.5)
    for _ in range(n_iter):
        t, a = theta[cell_rank], alpha[cell_doc]
        skipped = n - c
        exam = c + skipped * t * (1 - a) / (1 - t * a)
        rel = c + skipped * (1 - t) * a / (1 - t * a)
        theta = np.bincount(cell_rank, exam, k) / np.bincount(cell_rank, n, k)
        alpha = np.bincount(cell_doc, rel, n_docs) / np.bincount(cell_doc, n, n_docs)
    return theta, alpha


def log_likelihood(n, c, p):
    return float(np.sum(c * np.log(p) + (n - c) * np.log1p(-p)))


@pytest.fixture(scope="module")
def small_problem():
    """Every one of 40 documents at every one of 4 ranks, counts drawn from a PBM."""
    rng = np.random.default_rng(11)
    n_docs, k = 40, 4
    cell_doc, cell_rank = np.repeat(np.arange(n_docs), k), np.tile(np.arange(k), n_docs)
    n = rng.integers(50, 400, cell_doc.size).astype(np.float64)
    p = (0.9 / (cell_rank + 1.0)) * rng.uniform(0.05, 0.9, n_docs)[cell_doc]
    c = rng.binomial(n.astype(np.int64), p).astype(np.float64)
    doc_ptr = np.arange(n_docs + 1, dtype=np.int64) * k
    return n, c, cell_doc.astype(np.int64), cell_rank.astype(np.int64), doc_ptr, n_docs, k


def test_fit_reaches_the_fixed_point_of_plain_em(small_problem):
    n, c, cell_doc, cell_rank, doc_ptr, n_docs, k = small_problem
    theta, alpha = np.full(k, 0.5), np.full(n_docs, 0.5)
    n_maps, converged = kernels.pbm_em_fit(doc_ptr, cell_doc, cell_rank, c, n - c, theta, alpha, 1000, 1e-12)
    ref_theta, ref_alpha = plain_em(n, c, cell_doc, cell_rank, n_docs, k, n_iter=20_000)
    assert converged and n_maps < 200
    np.testing.assert_allclose(theta / theta[0], ref_theta / ref_theta[0], rtol=1e-6)
    fitted = log_likelihood(n, c, theta[cell_rank] * alpha[cell_doc])
    reference = log_likelihood(n, c, ref_theta[cell_rank] * ref_alpha[cell_doc])
    assert fitted >= reference - 1e-6, f"likelihood {fitted} below plain EM's {reference}"


def test_compiled_fit_equals_py_func(small_problem):
    n, c, cell_doc, cell_rank, doc_ptr, n_docs, k = small_problem
    out = []
    for fit in (kernels.pbm_em_fit, kernels.pbm_em_fit.py_func):
        theta, alpha = np.full(k, 0.5), np.full(n_docs, 0.5)
        out.append((fit(doc_ptr, cell_doc, cell_rank, c, n - c, theta, alpha, 1000, 1e-10), theta, alpha))
    assert out[0][0] == out[1][0]
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12)
    np.testing.assert_allclose(out[0][2], out[1][2], rtol=1e-12)


def test_pbm_em_leaves_unlinked_ranks_nan_and_warns():
    # Documents 0..2 rotate over ranks 1..2; rank 3 always shows its own document 3.
    stats = ClickStatistics.empty(4, 3)
    displayed = np.array([[0, 1, 3], [1, 2, 3], [2, 0, 3]] * 2000)
    sim = PBM(eta=1.0).simulate(displayed, labels=[4, 2, 3, 1], seed=5)
    aggregate_clicks(stats, displayed, sim.clicks, sim.examination)
    with pytest.warns(RuntimeWarning, match=r"ranks \[3\] share no document with rank 1"):
        est = estimate_pbm_em(stats)
    assert np.isnan(est.theta[2]) and np.isfinite(est.theta[1])
    assert np.isnan(est.attractiveness[3])


def test_estimate_is_frozen_and_read_only():
    est = estimate_ratio(two_ranker_swap_log()[0][0] + two_ranker_swap_log()[0][1])
    with pytest.raises(AttributeError, match="cannot assign to field 'method'"):
        est.method = "other"
    with pytest.raises(ValueError, match="read-only"):
        est.theta[1] = 0.0


# ------------------------------------------------------------------------------------------------
# Invalid inputs
# ------------------------------------------------------------------------------------------------


def _stats(impressions, clicks=None):
    impressions = np.asarray(impressions, dtype=np.int64)
    clicks = np.zeros_like(impressions) if clicks is None else np.asarray(clicks, dtype=np.int64)
    return ClickStatistics(impressions, clicks, np.zeros(impressions.shape), n_sessions=1)


SWAPPED = _stats([[5, 5], [5, 5]], [[3, 1], [2, 1]])  # both documents at both ranks
FIXED = _stats([[5, 0], [0, 5]], [[3, 0], [0, 1]])  # each document at one rank
UNLINKED = _stats([[5, 0, 0], [0, 5, 5]], [[1, 0, 0], [0, 1, 1]])  # rank 1's document shown nowhere else
UNCLICKED = _stats([[5, 5], [5, 5]], [[0, 1], [0, 1]])  # swapped, but never clicked at rank 1
UNCLICKED_PAIR = [_stats([[5, 0], [0, 5]], [[0, 0], [0, 1]]), _stats([[0, 5], [5, 0]], [[0, 1], [0, 0]])]
EMPTY = ClickStatistics.empty(2, 2)
QB = np.array([0, 2])
MISMATCHED = types.SimpleNamespace(impressions=np.ones((2, 2), int), clicks=np.ones((2, 3), int))

INVALID = [
    (estimate_ratio, (EMPTY,), {}, "stats holds no impressions"),
    (estimate_ratio, ([[1, 2]],), {}, "stats must be a ClickStatistics"),
    (estimate_ratio, (MISMATCHED,), {}, "must share one 2-D shape"),
    (estimate_ratio, (SWAPPED, "randtop"), {}, "intervention must be one of"),
    (estimate_ratio, (SWAPPED, "swap_to_rank"), {}, "needs base_top"),
    (estimate_ratio, (SWAPPED, "swap_to_rank"), {"base_top": [7]}, r"base_top must hold document rows in 0\.\.1"),
    (estimate_ratio, (SWAPPED,), {"base_top": [0]}, "base_top is only used with"),
    (estimate_ratio, (FIXED,), {}, "no swap intervention"),
    (estimate_ratio, (SWAPPED,), {"confidence": 1.5}, r"confidence must lie in \(0, 1\)"),
    (estimate_harvesting, ([SWAPPED], QB), {}, "at least two rankers"),
    (estimate_harvesting, (SWAPPED, QB), {}, "stats_list must be a sequence"),
    (estimate_harvesting, ([SWAPPED, ClickStatistics.empty(3, 2)], QB), {}, r"stats_list\[1\] holds no impressions"),
    (estimate_harvesting, ([SWAPPED, _stats([[1, 1, 1], [1, 1, 1]])], QB), {}, r"stats_list\[1\] has shape \(2, 3\)"),
    (estimate_harvesting, ([FIXED, FIXED], QB), {}, "too alike to harvest"),
    (estimate_harvesting, (UNCLICKED_PAIR, QB), {}, "never clicked at rank 1"),
    (estimate_harvesting, ([SWAPPED, SWAPPED], [0, 3]), {}, "query_boundaries must end at n_docs=2"),
    (estimate_harvesting, ([SWAPPED, SWAPPED], [0.0, 2.0]), {}, "query_boundaries must be an integer array"),
    (estimate_harvesting, ([SWAPPED, SWAPPED], QB), {"n_bootstrap": 1}, "n_bootstrap must be 0"),
    (estimate_harvesting, ([SWAPPED, SWAPPED], QB), {"max_iter": 0}, "max_iter must be an integer >= 1"),
    (estimate_pbm_em, (EMPTY,), {}, "stats holds no impressions"),
    (estimate_pbm_em, (MISMATCHED,), {}, "must share one 2-D shape"),
    (estimate_pbm_em, (FIXED,), {}, "every document of stats was shown at a single rank"),
    (estimate_pbm_em, (UNLINKED,), {}, "theta cannot be normalised to rank 1"),
    (estimate_pbm_em, (UNCLICKED,), {}, "never clicked at rank 1"),
    (estimate_pbm_em, (SWAPPED,), {"n_iter": 0}, "n_iter must be an integer >= 1"),
    (estimate_pbm_em, (SWAPPED,), {"tol": -1.0}, "tol must be a finite number > 0"),
    (PropensityEstimate, ([0.5, 1.0], None, None, "m", 1), {}, r"theta must be normalised to theta\[0\] == 1"),
    (PropensityEstimate, ([1.0, 0.5], [1.0, 0.4], None, "m", 1), {}, "lower and upper must both be"),
    (PropensityEstimate, ([1.0, 0.5], [1.0], [1.0], "m", 1), {}, r"lower must have the shape of theta \(2,\)"),
    (PropensityEstimate, ([1.0, 0.5], None, None, "m", -1), {}, "n_sessions must be an integer >= 0"),
]


@pytest.mark.parametrize(
    "function, args, kwargs, message", INVALID, ids=[f"{f.__name__}-{m[:30]}" for f, _, _, m in INVALID]
)
def test_invalid_input(function, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        function(*args, **kwargs)


#: The messages of the logs that cannot identify theta: a property of the data, raised as NotIdentifiedError.
NOT_IDENTIFIED = ("no swap intervention", "too alike to harvest", "every document of stats was shown at a single rank",
                  "theta cannot be normalised to rank 1", "never clicked at rank 1")


@pytest.mark.parametrize(
    "function, args, kwargs, message", INVALID, ids=[f"{f.__name__}-{m[:30]}" for f, _, _, m in INVALID]
)
def test_only_logs_without_interventions_are_not_identified(function, args, kwargs, message):
    """A caller that falls back to an assumed curve catches NotIdentifiedError alone, so a bad argument must
    not be one, and a log without interventions must be."""
    from ltr import NotIdentifiedError

    with pytest.raises(ValueError) as raised:
        function(*args, **kwargs)
    assert isinstance(raised.value, NotIdentifiedError) == (message in NOT_IDENTIFIED), raised.value


def test_every_public_name_has_invalid_input_cases():
    """Every public name of the propensity module (the learners have their table in test_learners.py)."""
    from ltr import _propensity

    tested = {f.__name__ for f, *_ in INVALID}
    assert set(_propensity.__all__) <= tested, f"no invalid-input case for {set(_propensity.__all__) - tested}"
