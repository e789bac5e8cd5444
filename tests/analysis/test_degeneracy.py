"""Tests of analysis._degeneracy: degeneracy and calibration metrics of one round."""

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from analysis._degeneracy import (
    _kendall_tau_kernel,
    brier,
    coverage,
    ece,
    exposure_entropy,
    exposure_gini,
    kendall_tau,
    log_loss,
    propensity_error,
    rbo,
    rich_get_richer_slope,
)
from simulator.validation import read_only


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Compile (or load from the cache) the tau kernel once."""
    kendall_tau([1.0, 2.0], [1.0, 2.0], [0, 2])


# ------------------------------------------------------------ plain references
def reference_gini(x):
    """Mean absolute difference over all ordered pairs / (2 * mean)."""
    n = len(x)
    mean = sum(x) / n
    return sum(abs(a - b) for a in x for b in x) / (n * n * 2 * mean)


def reference_rbo_ext(a, b, p):
    """Webber et al. (2010) eq. 32, written out term by term."""
    k = len(a)
    overlap = [len(set(a[:d]) & set(b[:d])) for d in range(1, k + 1)]
    total = sum(overlap[d - 1] / d * p**d for d in range(1, k + 1))
    return overlap[k - 1] / k * p**k + (1 - p) / p * total


def expand(predicted, clicks, impressions):
    """One row per impression: its prediction and 0/1 click."""
    p, y = [], []
    for pi, ci, ni in zip(predicted, clicks, impressions):
        p += [pi] * ni
        y += [1] * ci + [0] * (ni - ci)
    return np.array(p), np.array(y)


def per_impression_metrics(p, y, n_bins=10):
    """Log loss, Brier and ECE from their per-impression definitions."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    loss = -np.mean([math.log(qi) if yi else math.log(1 - qi) for qi, yi in zip(q, y)])
    brier_value = np.mean([(pi - yi) ** 2 for pi, yi in zip(p, y)])
    ece_value = 0.0
    for b in range(n_bins):
        members = [i for i, pi in enumerate(p) if min(int(pi * n_bins), n_bins - 1) == b]
        if members:
            gap = abs(np.mean(p[members]) - np.mean(y[members]))
            ece_value += len(members) / len(p) * gap
    return loss, brier_value, ece_value


# ------------------------------------------------------------ by hand
def test_exposure_gini_by_hand():
    # Query 1: x = (0, 1, 3) sorted; n = 3, sum = 4;
    #   sum (2i - n - 1) x_i = (-2)*0 + 0*1 + 2*3 = 6  ->  G = 6 / (3 * 4) = 0.5.
    #   Check by pairs: |0-1| + |0-3| + |1-3| = 6, twice over ordered pairs = 12;
    #   12 / (n^2 * 2 * mean) = 12 / (9 * 2 * 4/3) = 0.5.
    # Query 2: no exposure -> skipped. Query 3: one document -> G = 0.
    value = exposure_gini([3.0, 0.0, 1.0, 0.0, 0.0, 5.0], [0, 3, 5, 6])
    assert value == pytest.approx((0.5 + 0.0) / 2)
    assert math.isnan(exposure_gini([0.0, 0.0], [0, 2]))


@pytest.mark.parametrize("n", [1, 2, 3, 10])
def test_exposure_gini_of_equal_and_one_hot_exposure(n):
    assert exposure_gini(np.full(n, 2.5), [0, n]) == pytest.approx(0.0, abs=1e-15)
    one_hot = np.zeros(n)
    one_hot[n // 2] = 7.0
    assert exposure_gini(one_hot, [0, n]) == pytest.approx((n - 1) / n)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0, 100), min_size=1, max_size=8), min_size=1, max_size=5))
def test_exposure_gini_matches_the_pairwise_definition(queries):
    exposure = np.concatenate([np.array(q) for q in queries])
    bounds = np.concatenate([[0], np.cumsum([len(q) for q in queries])])
    expected = [reference_gini(q) for q in queries if sum(q) > 0]
    value = exposure_gini(exposure, bounds)
    if expected:
        assert value == pytest.approx(np.mean(expected), abs=1e-12)
    else:
        assert math.isnan(value)
    # Gini depends on shares only: scaling each query changes nothing.
    if expected:
        assert exposure_gini(exposure * 3.0, bounds) == pytest.approx(value, abs=1e-12)


def test_exposure_entropy_by_hand():
    # Query 1: shares (1/4, 1/4, 1/2, 0): H = 2 * (1/4) log 4 + (1/2) log 2 = 1.5 log 2;
    #   normalised by log 4 = 2 log 2 -> 0.75.
    # Query 2: one candidate -> skipped. Query 3: no exposure -> skipped.
    # Query 4: shares (1, 0) -> 0.
    exposure = [1.0, 1.0, 2.0, 0.0, 9.0, 0.0, 0.0, 4.0, 0.0]
    value = exposure_entropy(exposure, [0, 4, 5, 7, 9])
    assert value == pytest.approx((0.75 + 0.0) / 2)
    assert math.isnan(exposure_entropy([1.0, 0.0, 0.0], [0, 1, 3]))


@pytest.mark.parametrize("n", [2, 3, 17])
def test_exposure_entropy_of_uniform_is_one_and_of_one_hot_is_zero(n):
    assert exposure_entropy(np.full(n, 0.3), [0, n]) == pytest.approx(1.0)
    one_hot = np.zeros(n)
    one_hot[-1] = 1.0
    assert exposure_entropy(one_hot, [0, n]) == 0.0


def test_coverage_by_hand():
    # Labels >= 3: rows 0, 2, 4 (three relevant); shown among them: rows 0 and 4 -> 2/3.
    shown = np.array([True, True, False, False, True])
    labels = [3, 0, 4, 2, 3]
    assert coverage(shown, labels) == pytest.approx(2 / 3)
    # With threshold 2 row 3 counts as well: 2 of 4.
    assert coverage(shown, labels, threshold=2) == pytest.approx(0.5)
    assert coverage([1, 1, 0, 0, 1], labels) == pytest.approx(2 / 3)
    assert math.isnan(coverage(shown, [0, 1, 2, 2, 0]))


def test_kendall_tau_by_hand():
    # Query 1: a = (1, 2, 3), b = (1, 3, 2): pairs (1,2) C, (1,3) C, (2,3) D -> (2 - 1) / 3.
    # Query 2: a = (1, 1, 2), b = (1, 2, 3): n0 = 3, n1 = 1 (the tie in a), n2 = 0;
    #   pairs (1,2) tied in a, (1,3) C, (2,3) C -> tau_b = 2 / sqrt(2 * 3).
    # Query 3: b constant -> skipped; query 4: one candidate -> skipped.
    a = [1, 2, 3, 1, 1, 2, 5, 6, 7]
    b = [1, 3, 2, 1, 2, 3, 4, 4, 0]
    expected = (1 / 3 + 2 / math.sqrt(6)) / 2
    assert kendall_tau(a, b, [0, 3, 6, 8, 9]) == pytest.approx(expected)
    assert math.isnan(kendall_tau([1.0, 1.0], [1.0, 2.0], [0, 2]))


@pytest.mark.parametrize("n", [2, 5, 100])
def test_kendall_tau_of_identical_and_reversed_scores(n):
    scores = np.random.default_rng(n).normal(size=n)
    assert kendall_tau(scores, scores, [0, n]) == pytest.approx(1.0)
    assert kendall_tau(scores, -scores, [0, n]) == pytest.approx(-1.0)
    # A strictly increasing transform keeps the ranking.
    assert kendall_tau(scores, np.exp(scores), [0, n]) == pytest.approx(1.0)


def test_kendall_tau_equals_scipy_per_query():
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 120, 60)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    a = rng.integers(0, 6, bounds[-1]).astype(float)  # many ties
    b = a + rng.integers(-3, 4, bounds[-1])
    a[bounds[3]:bounds[4]] = 1.0  # one constant query, skipped
    expected = []
    for q in range(sizes.size):
        lo, hi = bounds[q], bounds[q + 1]
        single = kendall_tau(a[lo:hi], b[lo:hi], [0, hi - lo])
        if hi - lo < 2 or np.ptp(a[lo:hi]) == 0 or np.ptp(b[lo:hi]) == 0:
            assert math.isnan(single)
            continue
        tau = kendalltau(a[lo:hi], b[lo:hi], variant="b").statistic
        assert single == pytest.approx(tau, abs=1e-12), f"query {q}: {single} vs scipy {tau}"
        expected.append(tau)
    assert kendall_tau(a, b, bounds) == pytest.approx(np.mean(expected), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=40))
def test_kendall_tau_equals_scipy_with_ties(pairs):
    a, b = (np.array(v, dtype=float) for v in zip(*pairs))
    value = kendall_tau(a, b, [0, a.size])
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        assert math.isnan(value)
    else:
        assert value == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)


def test_kendall_tau_kernel_equals_its_python_function():
    a = np.array([1.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0])
    b = np.array([2.0, 1.0, 1.0, 3.0, 0.0, 5.0, 4.0])
    bounds = np.array([0, 4, 7])
    order = np.lexsort((b, a, np.repeat([0, 1], [4, 3])))
    args = (read_only(a[order]), read_only(b[order]), read_only(bounds))  # as kendall_tau hands them over
    compiled = _kendall_tau_kernel(*args)
    plain = _kendall_tau_kernel.py_func(*args)
    np.testing.assert_array_equal(compiled, plain)


def test_rbo_by_hand():
    # a = (1, 2, 3), b = (2, 1, 4), p = 0.5:
    #   X_1 = 0, X_2 = 2, X_3 = 2.
    #   sum X_d / d p^d = 0 + 1 * 0.25 + 2/3 * 0.125 = 1/3;  (1 - p) / p = 1.
    #   RBO_ext = X_3 / 3 * p^3 + 1/3 = 2/3 * 1/8 + 1/3 = 5/12.
    assert rbo([[1, 2, 3]], [[2, 1, 4]], p=0.5) == pytest.approx(5 / 12)
    # Second query with one document padded: lists (7) and (7) -> 1; mean (5/12 + 1) / 2.
    value = rbo([[1, 2, 3], [7, -1, -1]], [[2, 1, 4], [7, -1, -1]], p=0.5)
    assert value == pytest.approx((5 / 12 + 1) / 2)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.98])
def test_rbo_of_identical_and_disjoint_lists(p):
    top = np.arange(30).reshape(3, 10)
    assert rbo(top, top, p) == pytest.approx(1.0)
    assert rbo(top, top + 100, p) == 0.0
    assert rbo(top, top[:, ::-1], p) < 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**32 - 1), st.floats(0.05, 0.95))
def test_rbo_matches_the_formula_term_by_term(k, seed, p):
    rng = np.random.default_rng(seed)
    a = rng.permutation(12)[:k]
    b = rng.permutation(12)[:k]
    assert rbo(a[None, :], b[None, :], p) == pytest.approx(reference_rbo_ext(list(a), list(b), p))
    # Symmetric in its two arguments.
    assert rbo(b[None, :], a[None, :], p) == pytest.approx(rbo(a[None, :], b[None, :], p))


def test_rich_get_richer_slope_by_hand():
    # Kept documents (exposure > 0 or clicks > 0): rows 0, 1, 2.
    # x = log1p(exposure) = (0, 1, 2), y = log1p(clicks) = (1, 1, 4):
    #   mean x = 1, mean y = 2; sum dx dy = (-1)(-1) + 0 + (1)(2) = 3; sum dx^2 = 2 -> 1.5.
    exposure = np.expm1([0.0, 1.0, 2.0, 0.0])
    clicks = np.expm1([1.0, 1.0, 4.0, 0.0])
    assert rich_get_richer_slope(exposure, clicks) == pytest.approx(1.5)
    assert math.isnan(rich_get_richer_slope([1.0, 0.0], [2.0, 0.0]))  # one document
    assert math.isnan(rich_get_richer_slope([1.0, 1.0], [2.0, 5.0]))  # no variance


def test_propensity_error_by_hand():
    # true ratios (1, 0.5, 0.25, 0.2); estimated / 2 = (1, 0.6, 0.25, 0.1):
    #   |0.6 - 0.5| / 0.5 = 0.2, 0, |0.1 - 0.2| / 0.2 = 0.5 -> mean 0.7 / 3.
    value = propensity_error([2.0, 1.2, 0.5, 0.2], [0.5, 0.25, 0.125, 0.1])
    assert value == pytest.approx(0.7 / 3)
    assert propensity_error([1.0, 0.5], [2.0, 1.0]) == 0.0


def test_calibration_by_hand():
    # Cells (p, c, n): (0.25, 1, 4), (0.5, 1, 2), (1.0, 1, 1); N = 7.
    # Log loss: -[1 log .25 + 3 log .75 + 1 log .5 + 1 log .5 + 1 log 1] / 7.
    # Brier: [1 * .75^2 + 3 * .25^2 + 1 * .25 + 1 * .25 + 0] / 7 = (0.5625 + 0.1875 + 0.5) / 7.
    # ECE (10 bins): bin 2: |0.25 - 1/4| = 0; bin 5: |0.5 - 1/2| = 0; bin 9 (p = 1): 0 -> 0.
    p, c, n = [0.25, 0.5, 1.0], [1, 1, 1], [4, 2, 1]
    expected_loss = -(math.log(0.25) + 3 * math.log(0.75) + 2 * math.log(0.5)) / 7
    assert log_loss(p, c, n) == pytest.approx(expected_loss)
    assert brier(p, c, n) == pytest.approx(1.25 / 7)
    assert ece(p, c, n) == pytest.approx(0.0, abs=1e-15)
    # Two bins: [0, 0.5) holds p = 0.25 (4 imps, 1 click) -> gap 0;
    #           [0.5, 1] holds p = 0.5 and 1.0: mean p = (2 * 0.5 + 1) / 3 = 2/3, rate 2/3 -> 0.
    # Shift the clicks of the first cell to 3: gap |0.25 - 0.75| = 0.5, weight 4/7.
    assert ece(p, [3, 1, 1], n, n_bins=2) == pytest.approx(0.5 * 4 / 7)


def test_log_loss_clips_certain_predictions():
    # p = 0 with a click: -log(1e-12) per impression, not infinity.
    assert log_loss([0.0], [1], [1]) == pytest.approx(-math.log(1e-12))
    assert log_loss([1.0], [3], [3]) == pytest.approx(-math.log1p(-1e-12), rel=1e-3)
    assert log_loss([1.0], [1], [3]) == pytest.approx(-2 * math.log(1e-12) / 3, rel=1e-3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 6), st.integers(0, 6)),
                min_size=1, max_size=12), st.integers(1, 12))
def test_calibration_equals_the_per_impression_definitions(cells, n_bins):
    predicted = [cell[0] for cell in cells]
    impressions = [max(cell[1], cell[2]) for cell in cells]
    clicks = [min(cell[1], cell[2]) for cell in cells]
    if sum(impressions) == 0:
        assert math.isnan(log_loss(predicted, clicks, impressions))
        assert math.isnan(brier(predicted, clicks, impressions))
        assert math.isnan(ece(predicted, clicks, impressions, n_bins))
        return
    p, y = expand(predicted, clicks, impressions)
    loss, brier_value, ece_value = per_impression_metrics(p, y, n_bins)
    assert log_loss(predicted, clicks, impressions) == pytest.approx(loss, rel=1e-9, abs=1e-12)
    assert brier(predicted, clicks, impressions) == pytest.approx(brier_value, abs=1e-12)
    assert ece(predicted, clicks, impressions, n_bins) == pytest.approx(ece_value, abs=1e-12)
    # Aggregating per impression: the expanded data scored as cells of one impression.
    ones = np.ones(p.size)
    assert ece(p, y, ones, n_bins) == pytest.approx(ece_value, abs=1e-12)


# ------------------------------------------------------------ invalid inputs
INVALID = [
    # exposure and query boundaries
    (exposure_gini, ([1.0, -0.5], [0, 2]), "exposure must be >= 0, got -0.5 at index 1"),
    (exposure_gini, ([1.0, np.nan], [0, 2]), "exposure must be finite, got nan at index 1"),
    (exposure_gini, ([[1.0, 2.0]], [0, 2]), "exposure must be 1-dimensional"),
    (exposure_gini, ([1.0, 2.0], [0, 3]), r"query_boundaries must end at n_docs=2 \(the length of exposure\)"),
    (exposure_entropy, (["a", "b"], [0, 2]), "exposure must be a numeric array"),
    (exposure_entropy, ([1.0, 2.0], [0, 0, 2]), "query_boundaries must be strictly increasing"),
    (exposure_entropy, ([1.0, -2.0], [0, 2]), "exposure must be >= 0, got -2.0 at index 1"),
    # coverage
    (coverage, ([True, False], [1, 2, 3]), r"labels must have one entry per document \(n_docs=2, the length of shown\), got 3"),
    (coverage, ([0.5, 1.0], [1, 2]), r"shown must be a boolean array \(or of 0 and 1\)"),
    (coverage, ([0, 2], [1, 2]), r"shown must be a boolean array \(or of 0 and 1\)"),
    (coverage, ([[True, False]], [1, 2]), "shown must be 1-dimensional"),
    (coverage, ([True, False], [1, -1]), "labels must be non-negative integers, got -1 at index 1"),
    (coverage, ([True], [3], 0), "threshold must be an integer >= 1, got 0"),
    # Kendall's tau
    (kendall_tau, ([1.0, 2.0], [1.0], [0, 2]), r"scores_b must have the length of scores_a \(2\), got 1"),
    (kendall_tau, ([1.0, np.inf], [1.0, 2.0], [0, 2]), "scores_a must be finite, got inf at index 1"),
    (kendall_tau, ([1.0, 2.0], [1.0, np.nan], [0, 2]), "scores_b must be finite, got nan at index 1"),
    (kendall_tau, ([1.0, 2.0], [1.0, 2.0], [1, 2]), "query_boundaries must start at 0, got 1"),
    # RBO
    (rbo, ([1, 2], [1, 2]), r"top_a must be a 2-dimensional table of shape \(n_queries, k\)"),
    (rbo, ([[1, 2]], [[1.0, 2.0]]), "top_b must hold integer document ids"),
    (rbo, ([[1, 2]], [[1, 2, 3]]), r"top_a and top_b must have the same shape, got \(1, 2\) and \(1, 3\)"),
    (rbo, ([[1, -2]], [[1, 2]]), r"top_a must hold document ids >= 0 or -1 for padding, got -2 at \[0, 1\]"),
    (rbo, ([[-1, 2]], [[1, 2]]), "top_a must pad with -1 at the end of a row only"),
    (rbo, ([[1, -1]], [[1, 2]]), r"same number of documents in every row .* got 1 and 2 in row 0"),
    (rbo, ([[1, 1]], [[1, 2]]), "top_a must not list a document twice in a row, got id 1 twice in row 0"),
    (rbo, ([[1, 2]], [[3, 3]]), "top_b must not list a document twice in a row, got id 3"),
    (rbo, ([[1, 2]], [[1, 2]], 1.0), r"p must be a number in \(0, 1\), got 1.0"),
    (rbo, ([[1, 2]], [[1, 2]], 0), r"p must be a number in \(0, 1\), got 0"),
    (rbo, ([[1, 2]], [[1, 2]], "0.9"), r"p must be a number in \(0, 1\), got str '0.9'"),
    # rich-get-richer
    (rich_get_richer_slope, ([1.0, 2.0], [1.0]), r"next_clicks must have the length of exposure \(2\), got 1"),
    (rich_get_richer_slope, ([1.0, -2.0], [1.0, 1.0]), "exposure must be >= 0, got -2.0 at index 1"),
    (rich_get_richer_slope, ([1.0, 2.0], [-1.0, 1.0]), "next_clicks must be >= 0, got -1.0 at index 0"),
    # propensity
    (propensity_error, ([1.0], [1.0]), "estimated must have at least 2 ranks, got 1"),
    (propensity_error, ([1.0, 0.5], [1.0, 0.5, 0.2]), r"true must have the length of estimated \(2\), got 3"),
    (propensity_error, ([0.0, 0.5], [1.0, 0.5]), "estimated must be > 0 at rank 1, got 0.0"),
    (propensity_error, ([1.0, -0.5], [1.0, 0.5]), "estimated must be >= 0, got -0.5 at index 1"),
    (propensity_error, ([1.0, 0.5], [1.0, 0.0]), "true must be > 0, got 0.0 at index 1"),
    # calibration
    (log_loss, ([0.5, 1.2], [0, 1], [1, 1]), r"predicted must be in \[0, 1\], got 1.2 at index 1"),
    (brier, ([-0.1, 0.5], [0, 1], [1, 1]), r"predicted must be in \[0, 1\], got -0.1 at index 0"),
    (ece, ([0.5, np.nan], [0, 1], [1, 1]), "predicted must be finite, got nan at index 1"),
    (log_loss, ([0.5, 0.5], [0, 2], [1, 1]), "clicks must be <= impressions in every cell, got 2.0 clicks and 1.0 impressions at index 1"),
    (brier, ([0.5, 0.5], [0, 1], [1, -1]), "impressions must be >= 0, got -1 at index 1"),
    (ece, ([0.5, 0.5], [0, -1], [1, 1]), "clicks must be >= 0, got -1 at index 1"),
    (ece, ([0.5, 0.5], [0, 1], [1]), r"impressions must have the length of predicted \(2\), got 1"),
    (log_loss, ([0.5], [0], [np.inf]), "impressions must be finite, got inf at index 0"),
    (brier, ([0.5], [2], [1]), "clicks must be <= impressions in every cell"),
    (ece, ([0.5], [0], [1], 0), "n_bins must be an integer >= 1, got 0"),
    (ece, ([0.5], [0], [1], 2.0), "n_bins must be an integer >= 1, got float 2.0"),
]


@pytest.mark.parametrize("function, args, match", INVALID,
                         ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(INVALID)])
def test_invalid_inputs(function, args, match):
    with pytest.raises(ValueError, match=match):
        function(*args)


PUBLIC = [exposure_gini, exposure_entropy, coverage, kendall_tau, rbo, rich_get_richer_slope,
          propensity_error, log_loss, brier, ece]


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__name__)
def test_every_public_function_has_invalid_cases_naming_each_array_parameter(function):
    """Meta-test: the table above rejects bad values of every parameter by name."""
    cases = [case for case in INVALID if case[0] is function]
    assert cases, f"{function.__name__} has no invalid-input case"
    parameters = inspect.signature(function).parameters
    named = {name for _, _, match in cases for name in parameters
             if match.startswith(name + " ") or f" {name} " in match}
    missing = set(parameters) - named
    assert not missing, f"{function.__name__}: no case names {sorted(missing)}"


def test_inputs_are_not_modified():
    a = np.array([3.0, 1.0, 2.0, 2.0])
    b = np.array([1.0, 2.0, 3.0, 0.0])
    bounds = np.array([0, 4])
    copies = a.copy(), b.copy()
    kendall_tau(a, b, bounds)
    exposure_gini(a, bounds)
    np.testing.assert_array_equal(a, copies[0])
    np.testing.assert_array_equal(b, copies[1])
