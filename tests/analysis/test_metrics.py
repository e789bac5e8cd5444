"""Tests of analysis._metrics: ranking metrics over a whole data set."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from analysis._metrics import (
    METRICS,
    _average_rank_kernel,
    _dcg_kernel,
    _err_kernel,
    _GAIN,
    _ideal_dcg_kernel,
    _precision_kernel,
    _reciprocal_rank_kernel,
    _sorted_rows,
    _top_rows,
    arp,
    dcg,
    err,
    evaluate,
    mean_over_queries,
    mrr,
    ndcg,
    ndcg_of_lists,
    precision,
    rank_within_queries,
    top_k,
)
from simulator.validation import read_only

LOG2_3 = math.log2(3)


@pytest.fixture(scope="session", autouse=True)
def warm_up():
    """Compile (or load from the cache) every kernel once per session."""
    evaluate([1.0, 0.0], [1, 0], [0, 2], ["ndcg@1", "dcg@1", "err@1", "mrr@1", "precision@1", "arp"])
    rank_within_queries([1.0], [0, 1])


# ------------------------------------------------------------ plain reference
def reference_ranking(scores):
    """Local indices sorted by score descending, ties by lower index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def reference_query(scores, labels, k, threshold=1, max_label=4):
    """All metrics of one query, written from their definitions.

    Undefined values (no relevant document) are None.
    """
    ranked = [labels[i] for i in reference_ranking(scores)]
    top = ranked[:k]
    dcg_value = sum((2**y - 1) / math.log2(r + 2) for r, y in enumerate(top))
    ideal = sorted(labels, reverse=True)[:k]
    idcg = sum((2**y - 1) / math.log2(r + 2) for r, y in enumerate(ideal))
    err_value, reach = 0.0, 1.0
    for r, y in enumerate(top):
        stop = (2**y - 1) / 2**max_label
        err_value += reach * stop / (r + 1)
        reach *= 1 - stop
    any_positive = max(labels) > 0
    any_relevant = max(labels) >= threshold
    rr = next((1 / (r + 1) for r, y in enumerate(top) if y >= threshold), 0.0)
    relevant_ranks = [r + 1 for r, y in enumerate(ranked) if y >= threshold]
    return {
        "dcg": dcg_value,
        "ndcg": dcg_value / idcg if idcg > 0 else None,
        "err": err_value if any_positive else None,
        "mrr": rr if any_relevant else None,
        "precision": sum(y >= threshold for y in top) / k,
        "arp": sum(relevant_ranks) / len(relevant_ranks) if relevant_ranks else None,
    }


def split(values, boundaries):
    return [list(values[boundaries[q]:boundaries[q + 1]]) for q in range(len(boundaries) - 1)]


def all_metrics(scores, labels, boundaries, k, ideal_zero="drop", threshold=1, max_label=4):
    return {
        "dcg": dcg(scores, labels, boundaries, k=k),
        "ndcg": ndcg(scores, labels, boundaries, k=k, ideal_zero=ideal_zero),
        "err": err(scores, labels, boundaries, k=k, ideal_zero=ideal_zero, max_label=max_label),
        "mrr": mrr(scores, labels, boundaries, k=k, ideal_zero=ideal_zero, threshold=threshold),
        "precision": precision(scores, labels, boundaries, k=k, threshold=threshold),
        "arp": arp(scores, labels, boundaries, ideal_zero=ideal_zero, threshold=threshold),
    }


def assert_matches_reference(scores, labels, boundaries, k, threshold=1, max_label=4):
    got = all_metrics(scores, labels, boundaries, k, threshold=threshold, max_label=max_label)
    for q, (s, y) in enumerate(zip(split(scores, boundaries), split(labels, boundaries))):
        want = reference_query(s, y, k, threshold, max_label)
        for name, value in want.items():
            if value is None:
                assert np.isnan(got[name][q]), f"{name} of query {q} should be dropped (NaN)"
            else:
                assert got[name][q] == pytest.approx(value, rel=1e-12, abs=1e-12), (
                    f"{name}@{k} of query {q}: got {got[name][q]}, reference {value}"
                )


def random_data(rng, n_queries, max_size, ties=False, max_label=4):
    sizes = rng.integers(1, max_size + 1, size=n_queries)
    boundaries = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(boundaries[-1])
    scores = rng.standard_normal(n)
    if ties:
        scores = np.round(scores, 1)
    labels = rng.integers(0, max_label + 1, size=n)
    return scores, labels, boundaries


# ------------------------------------------------------------ hand-computed cases
# Query 0, rows 0-2: scores [0.1, 0.9, 0.5], labels [2, 0, 1]
#   ranking by score: row 1 (y=0), row 2 (y=1), row 0 (y=2) -> ranked labels [0, 1, 2]
# Query 1, rows 3-4: scores [1.0, 1.0] tied, labels [0, 3]
#   tie -> lower row first: row 3 (y=0), row 4 (y=3) -> ranked labels [0, 3]
# Query 2, rows 5-7: scores [3, 2, 1], labels [0, 0, 0] -> no relevant document
SCORES = [0.1, 0.9, 0.5, 1.0, 1.0, 3.0, 2.0, 1.0]
LABELS = [2, 0, 1, 0, 3, 0, 0, 0]
BOUNDS = [0, 3, 5, 8]


def test_dcg_by_hand():
    # q0: (2^0-1)/log2(2) + (2^1-1)/log2(3) + (2^2-1)/log2(4) = 0 + 1/log2(3) + 3/2
    # q1: 0 + (2^3-1)/log2(3) = 7/log2(3)
    # q2: all gains 0
    want = [1 / LOG2_3 + 1.5, 7 / LOG2_3, 0.0]
    np.testing.assert_allclose(dcg(SCORES, LABELS, BOUNDS, k=3), want, rtol=1e-14)
    # k=1 keeps only rank 1, whose label is 0 in every query.
    np.testing.assert_array_equal(dcg(SCORES, LABELS, BOUNDS, k=1), [0.0, 0.0, 0.0])
    # k=2: q0 = 1/log2(3); q1 unchanged (2 documents only).
    np.testing.assert_allclose(dcg(SCORES, LABELS, BOUNDS, k=2), [1 / LOG2_3, 7 / LOG2_3, 0.0])


def test_ndcg_at_3_by_hand():
    # q0: IDCG@3 of [2, 1, 0] = 3/log2(2) + 1/log2(3) + 0 = 3 + 1/log2(3)
    #     NDCG = (0.6309298 + 1.5) / (3 + 0.6309298) = 2.1309298 / 3.6309298 = 0.5868827
    # q1: IDCG@3 of [3, 0] = 7;  NDCG = (7/log2(3)) / 7 = 1/log2(3) = 0.630930
    # q2: IDCG = 0 -> default rule "one"
    want = [(1 / LOG2_3 + 1.5) / (3 + 1 / LOG2_3), 1 / LOG2_3, 1.0]
    got = ndcg(SCORES, LABELS, BOUNDS, k=3)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert got[0] == pytest.approx(0.5868827, abs=1e-7)


def test_err_at_3_by_hand():
    # R(y) = (2^y - 1) / 2^4: R(0) = 0, R(1) = 1/16, R(2) = 3/16, R(3) = 7/16
    # q0, ranked [0, 1, 2]: 1/1 * 0 + 1/2 * 1/16 * (1 - 0) + 1/3 * 3/16 * (1 - 0)(1 - 1/16)
    #     = 1/32 + 15/256 = 23/256
    # q1, ranked [0, 3]: 0 + 1/2 * 7/16 = 7/32
    # q2: no label > 0 -> rule "one"
    np.testing.assert_allclose(err(SCORES, LABELS, BOUNDS, k=3), [23 / 256, 7 / 32, 1.0], rtol=1e-14)
    # max_label=3: R = (2^y - 1) / 8; q0 = 1/2 * 1/8 + 1/3 * 3/8 * 7/8 = 1/16 + 7/64 = 11/64
    # q1 = 1/2 * 7/8 = 7/16
    np.testing.assert_allclose(
        err(SCORES, LABELS, BOUNDS, k=3, max_label=3), [11 / 64, 7 / 16, 1.0], rtol=1e-14
    )
    # k=1: the top documents have label 0 -> 0 (q2 still by the rule)
    np.testing.assert_array_equal(err(SCORES, LABELS, BOUNDS, k=1), [0.0, 0.0, 1.0])


def test_mrr_by_hand():
    # threshold 1: q0 first label >= 1 at rank 2 -> 1/2; q1 at rank 2 -> 1/2; q2 none -> rule
    np.testing.assert_array_equal(mrr(SCORES, LABELS, BOUNDS), [0.5, 0.5, 1.0])
    # threshold 2: q0 first label >= 2 at rank 3 -> 1/3; q1 (label 3) at rank 2 -> 1/2
    np.testing.assert_allclose(mrr(SCORES, LABELS, BOUNDS, threshold=2), [1 / 3, 0.5, 1.0])
    # k=1: no relevant document at rank 1 -> 0 (not undefined: q0 and q1 have relevant ones)
    np.testing.assert_array_equal(mrr(SCORES, LABELS, BOUNDS, k=1), [0.0, 0.0, 1.0])
    # threshold 4: no query has a label >= 4 -> all by the rule
    np.testing.assert_array_equal(
        mrr(SCORES, LABELS, BOUNDS, threshold=4, ideal_zero="zero"), [0.0, 0.0, 0.0]
    )


def test_arp_by_hand():
    # q0: relevant rows 2 (rank 2) and 0 (rank 3) -> (2 + 3) / 2 = 2.5
    # q1: relevant row 4 at rank 2 -> 2; q2: none -> rule
    np.testing.assert_array_equal(arp(SCORES, LABELS, BOUNDS), [2.5, 2.0, 1.0])
    # threshold 2: q0 only row 0 (rank 3) -> 3; q1 row 4 -> 2
    np.testing.assert_array_equal(arp(SCORES, LABELS, BOUNDS, threshold=2), [3.0, 2.0, 1.0])


def test_precision_at_2_by_hand():
    # q0: top 2 labels [0, 1] -> 1 relevant / 2; q1: [0, 3] -> 1/2; q2: [0, 0] -> 0
    np.testing.assert_array_equal(precision(SCORES, LABELS, BOUNDS, k=2), [0.5, 0.5, 0.0])
    # k=5 divides by 5 even for short queries: q0 2/5, q1 1/5
    np.testing.assert_allclose(precision(SCORES, LABELS, BOUNDS, k=5), [0.4, 0.2, 0.0])
    # threshold 3: q0 none in the top 2 -> 0; q1 label 3 -> 1/2
    np.testing.assert_array_equal(
        precision(SCORES, LABELS, BOUNDS, k=2, threshold=3), [0.0, 0.5, 0.0]
    )


def test_evaluate_by_hand():
    result = evaluate(SCORES, LABELS, BOUNDS, ["ndcg@3", "err@3", "mrr@10", "precision@2", "arp", "dcg@3"])
    assert list(result) == ["ndcg@3", "err@3", "mrr@10", "precision@2", "arp", "dcg@3"]
    ndcg0 = (1 / LOG2_3 + 1.5) / (3 + 1 / LOG2_3)
    assert result["ndcg@3"] == pytest.approx((ndcg0 + 1 / LOG2_3 + 1.0) / 3, rel=1e-14)
    assert result["err@3"] == pytest.approx((23 / 256 + 7 / 32 + 1.0) / 3, rel=1e-14)
    assert result["mrr@10"] == pytest.approx((0.5 + 0.5 + 1.0) / 3, rel=1e-14)
    assert result["precision@2"] == pytest.approx((0.5 + 0.5 + 0.0) / 3, rel=1e-14)
    assert result["arp"] == pytest.approx((2.5 + 2.0 + 1.0) / 3, rel=1e-14)
    assert result["dcg@3"] == pytest.approx((1 / LOG2_3 + 1.5 + 7 / LOG2_3) / 3, rel=1e-14)
    dropped = evaluate(SCORES, LABELS, BOUNDS, ["ndcg@3", "arp"], ideal_zero="drop")
    assert dropped["ndcg@3"] == pytest.approx((ndcg0 + 1 / LOG2_3) / 2, rel=1e-14)
    assert dropped["arp"] == pytest.approx((2.5 + 2.0) / 2, rel=1e-14)


# ------------------------------------------------------------ IDCG = 0 rules
@pytest.mark.parametrize("rule, value", [("one", 1.0), ("zero", 0.0), ("drop", np.nan)])
def test_ideal_zero_rule_applies_to_every_undefined_metric(rule, value):
    # q2 (all labels 0) is undefined for NDCG, ERR, MRR and ARP; q0 and q1 are not.
    for name, values in all_metrics(SCORES, LABELS, BOUNDS, k=3, ideal_zero=rule).items():
        if name in ("dcg", "precision"):
            assert values[2] == 0.0, f"{name} is defined (0) for a query without relevant documents"
        else:
            np.testing.assert_array_equal(values[2], value, err_msg=f"{name} with ideal_zero={rule!r}")
            assert np.isfinite(values[:2]).all(), f"{name}: defined queries must not change"
    reference = all_metrics(SCORES, LABELS, BOUNDS, k=3, ideal_zero="one")
    for name, values in all_metrics(SCORES, LABELS, BOUNDS, k=3, ideal_zero=rule).items():
        np.testing.assert_array_equal(values[:2], reference[name][:2], err_msg=name)


def test_ideal_zero_uses_the_relevance_threshold_for_mrr_and_arp():
    # labels [1, 1]: relevant at threshold 1, none at threshold 2; NDCG and ERR stay defined.
    args = ([2.0, 1.0], [1, 1], [0, 2])
    assert np.isnan(mrr(*args, threshold=2, ideal_zero="drop")[0])
    assert np.isnan(arp(*args, threshold=2, ideal_zero="drop")[0])
    assert mrr(*args, threshold=1, ideal_zero="drop")[0] == 1.0
    assert ndcg(*args, ideal_zero="drop")[0] == 1.0
    # ERR of [1, 1]: 1/16 + 1/2 * 1/16 * 15/16 = 1/16 + 15/512 = 47/512
    assert err(*args, ideal_zero="drop")[0] == pytest.approx(47 / 512, rel=1e-14)


def test_mean_over_queries_ignores_dropped_queries():
    assert mean_over_queries([0.25, np.nan, 0.75]) == 0.5
    assert math.isnan(mean_over_queries([np.nan, np.nan]))
    assert math.isnan(mean_over_queries([]))
    with pytest.raises(ValueError, match="values must be 1-dimensional"):
        mean_over_queries([[1.0]])
    # every query dropped -> NaN without a warning
    with np.errstate(all="raise"):
        result = evaluate([1.0, 2.0], [0, 0], [0, 2], ["ndcg@5", "arp"], ideal_zero="drop")
    assert all(math.isnan(v) for v in result.values())


# ------------------------------------------------------------ tie rule
def test_ties_are_broken_by_lower_row_first():
    np.testing.assert_array_equal(rank_within_queries([1.0, 1.0, 1.0], [0, 3]), [0, 1, 2])
    # the last of the tied rows loses the k-th place to the earlier ones
    np.testing.assert_array_equal(top_k([5.0, 1.0, 1.0, 1.0], [0, 4], k=2), [[0, 1]])
    np.testing.assert_array_equal(top_k([1.0, 1.0, 5.0, 1.0], [0, 4], k=3), [[2, 0, 1]])
    # -0.0 and 0.0 are equal scores
    np.testing.assert_array_equal(rank_within_queries([-0.0, 0.0, 0.0, -0.0], [0, 4]), [0, 1, 2, 3])
    # The relevant document second in row order loses the tie: NDCG = 1/log2(3), not 1.
    assert ndcg([0.0, 0.0], [0, 1], [0, 2])[0] == pytest.approx(1 / LOG2_3, rel=1e-14)
    assert ndcg([0.0, 0.0], [1, 0], [0, 2])[0] == 1.0


@pytest.mark.parametrize("k", [1, 3, 64, 65, 80, 200])
def test_ties_in_large_queries_use_the_same_rule(k):
    # 150 documents: k <= 64 uses insertion, larger k the stable mergesort.
    scores = np.repeat([2.0, 1.0, 3.0], 50)
    expected = np.concatenate([np.arange(100, 150), np.arange(0, 50), np.arange(50, 100)])
    table = top_k(scores, [0, 150], k=k)
    m = min(k, 150)
    np.testing.assert_array_equal(table[0, :m], expected[:m])
    assert (table[0, m:] == -1).all()
    np.testing.assert_array_equal(rank_within_queries(scores, [0, 150])[expected], np.arange(150))


def test_rank_and_top_k_layout():
    scores = [0.2, 0.9, 0.2, 5.0, 1.0]
    np.testing.assert_array_equal(rank_within_queries(scores, [0, 3, 5]), [1, 0, 2, 0, 1])
    table = top_k(scores, [0, 3, 5], k=4)
    assert table.dtype == np.int64 and table.shape == (2, 4)
    np.testing.assert_array_equal(table, [[1, 0, 2, -1], [3, 4, -1, -1]])


# ------------------------------------------------------------ agreement with references
def test_ndcg_equals_sklearn_on_tie_free_scores():
    rng = np.random.default_rng(20240601)
    sizes = rng.integers(2, 61, size=120)
    boundaries = np.concatenate([[0], np.cumsum(sizes)])
    n = int(boundaries[-1])
    scores = rng.permutation(n) / n + rng.standard_normal(n)  # distinct almost surely
    assert np.unique(scores).size == n
    labels = rng.integers(0, 5, size=n)
    labels[boundaries[0]:boundaries[1]] = 0  # one query with IDCG = 0 (sklearn gives 0)
    for k in (1, 3, 10, 100):
        ours = ndcg(scores, labels, boundaries, k=k, ideal_zero="zero")
        for q in range(sizes.size):
            rows = slice(boundaries[q], boundaries[q + 1])
            want = ndcg_score([2.0 ** labels[rows] - 1], [scores[rows]], k=k)
            assert ours[q] == pytest.approx(want, rel=1e-12, abs=1e-15), f"query {q}, k={k}"


@pytest.mark.parametrize("ties", [False, True])
def test_all_metrics_match_the_reference_including_large_queries(ties):
    rng = np.random.default_rng(7 + ties)
    scores, labels, boundaries = random_data(rng, n_queries=60, max_size=150, ties=ties)
    for k in (1, 2, 10, 64, 65, 120, 400):
        assert_matches_reference(scores, labels, boundaries, k)
    assert_matches_reference(scores, labels, boundaries, 10, threshold=3, max_label=4)
    order = np.concatenate([np.asarray(reference_ranking(s)) + boundaries[q]
                            for q, s in enumerate(split(scores, boundaries))])
    ranks = rank_within_queries(scores, boundaries)
    local = np.concatenate([np.arange(boundaries[q + 1] - boundaries[q]) for q in range(60)])
    np.testing.assert_array_equal(ranks[order], local)


query_data = st.lists(
    st.lists(
        st.tuples(
            st.one_of(
                st.integers(-3, 3).map(float),  # many ties
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            ),
            st.integers(0, 4),
        ),
        min_size=1, max_size=12,
    ),
    min_size=1, max_size=6,
)


def flatten(queries):
    scores = np.array([s for q in queries for s, _ in q], dtype=np.float64)
    labels = np.array([y for q in queries for _, y in q], dtype=np.int64)
    boundaries = np.concatenate([[0], np.cumsum([len(q) for q in queries])]).astype(np.int64)
    return scores, labels, boundaries


@settings(max_examples=100, deadline=None)
@given(queries=query_data, k=st.integers(1, 15), threshold=st.integers(1, 4))
def test_all_metrics_match_the_reference_hypothesis(queries, k, threshold):
    scores, labels, boundaries = flatten(queries)
    assert_matches_reference(scores, labels, boundaries, k, threshold=threshold)
    table = top_k(scores, boundaries, k)
    for q, s in enumerate(split(scores, boundaries)):
        want = [boundaries[q] + i for i in reference_ranking(s)[:k]]
        want += [-1] * (k - len(want))
        np.testing.assert_array_equal(table[q], want)


# ------------------------------------------------------------ invariances
MONOTONE = {
    "exp": np.exp,
    "affine": lambda x: 3 * x + 1,
    "arctan": np.arctan,
    "cube": lambda x: x**3,
}


@settings(max_examples=100, deadline=None)
@given(
    queries=st.lists(
        st.lists(st.tuples(st.integers(-160, 160).map(lambda i: i / 8), st.integers(0, 4)),
                 min_size=1, max_size=15),
        min_size=1, max_size=5,
    ),
    transform=st.sampled_from(sorted(MONOTONE)),
    k=st.integers(1, 12),
)
def test_strictly_increasing_transform_of_scores_changes_nothing(queries, transform, k):
    # scores are multiples of 1/8 in [-20, 20]: every transform keeps distinct
    # scores distinct in float64 (and equal scores equal), so rankings agree.
    scores, labels, boundaries = flatten(queries)
    transformed = MONOTONE[transform](scores)
    np.testing.assert_array_equal(
        rank_within_queries(transformed, boundaries), rank_within_queries(scores, boundaries)
    )
    before = all_metrics(scores, labels, boundaries, k)
    after = all_metrics(transformed, labels, boundaries, k)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=f"{name} under {transform}")


@settings(max_examples=100, deadline=None)
@given(queries=query_data, k=st.integers(1, 15), seed=st.integers(0, 2**32 - 1))
def test_ideal_ranking_has_ndcg_one(queries, k, seed):
    _, labels, boundaries = flatten(queries)
    rng = np.random.default_rng(seed)
    # labels plus a tie-free jitter smaller than the label steps
    jitter = rng.permutation(labels.size) / (2.0 * labels.size)
    ideal = ndcg(labels + jitter, labels, boundaries, k=k, ideal_zero="drop")
    defined = np.maximum.reduceat(labels, boundaries[:-1]) > 0
    np.testing.assert_allclose(ideal[defined], 1.0, rtol=1e-12)
    assert np.isnan(ideal[~defined]).all()
    # ties among equal labels do not matter: the labels themselves as scores
    np.testing.assert_allclose(ndcg(labels, labels, boundaries, k=k, ideal_zero="drop")[defined], 1.0)
    # and any other ranking is at most 1
    other = ndcg(rng.standard_normal(labels.size), labels, boundaries, k=k, ideal_zero="drop")
    assert (other[defined] <= 1.0 + 1e-12).all() and (other[defined] >= 0.0).all()


def test_permuting_rows_within_queries_changes_nothing_without_ties():
    rng = np.random.default_rng(3)
    scores, labels, boundaries = random_data(rng, n_queries=40, max_size=30)
    perm = np.concatenate([rng.permutation(np.arange(boundaries[q], boundaries[q + 1]))
                           for q in range(40)])
    for name, values in all_metrics(scores, labels, boundaries, k=5).items():
        permuted = all_metrics(scores[perm], labels[perm], boundaries, k=5)[name]
        np.testing.assert_allclose(permuted, values, rtol=1e-14, err_msg=name)


def test_evaluate_equals_the_mean_of_the_per_query_functions():
    rng = np.random.default_rng(11)
    scores, labels, boundaries = random_data(rng, n_queries=50, max_size=20, ties=True)
    labels[:boundaries[1]] = 0
    for rule in ("one", "zero", "drop"):
        result = evaluate(scores, labels, boundaries,
                          ["ndcg@5", "dcg@3", "err@10", "mrr@2", "precision@4", "arp"],
                          ideal_zero=rule, threshold=2)
        assert result["ndcg@5"] == mean_over_queries(ndcg(scores, labels, boundaries, 5, rule))
        assert result["dcg@3"] == mean_over_queries(dcg(scores, labels, boundaries, 3))
        assert result["err@10"] == mean_over_queries(err(scores, labels, boundaries, 10, rule))
        assert result["mrr@2"] == mean_over_queries(mrr(scores, labels, boundaries, 2, rule, 2))
        assert result["precision@4"] == mean_over_queries(precision(scores, labels, boundaries, 4, 2))
        assert result["arp"] == mean_over_queries(arp(scores, labels, boundaries, rule, 2))


def test_inputs_are_not_modified_and_other_dtypes_are_accepted():
    scores = np.array([0.1, 0.9, 0.5, 1.0, 1.0, 3.0, 2.0, 1.0])
    labels = np.array(LABELS)
    bounds = np.array(BOUNDS)
    copies = scores.copy(), labels.copy(), bounds.copy()
    expected = ndcg(scores, labels, bounds, k=3)
    for array, copy in zip((scores, labels, bounds), copies):
        np.testing.assert_array_equal(array, copy)
    np.testing.assert_array_equal(ndcg(scores.astype(np.float32), labels.astype(np.float64),
                                       bounds.astype(np.int32), k=3), expected)
    np.testing.assert_array_equal(ndcg([3, 1, 2], [1, 0, 1], np.array([0, 3], np.uint8)),
                                  ndcg([3.0, 1.0, 2.0], [1, 0, 1], [0, 3]))
    np.testing.assert_array_equal(mrr([0.5, 0.7], np.array([True, False]), [0, 2]), [0.5])


def test_kernels_equal_their_python_functions():
    rng = np.random.default_rng(5)
    scores, labels, boundaries = random_data(rng, n_queries=8, max_size=80, ties=True)
    scores, boundaries = read_only(scores), read_only(boundaries)  # as the metrics hand them to the kernels
    for depth in (3, 70):
        np.testing.assert_array_equal(_top_rows(scores, boundaries, depth),
                                      _top_rows.py_func(scores, boundaries, depth))
    order = _sorted_rows(scores, boundaries)
    np.testing.assert_array_equal(order, _sorted_rows.py_func(scores, boundaries))
    table = _top_rows(scores, boundaries, 10)
    stop = _GAIN / 16
    pairs = [
        (_dcg_kernel, (table, labels, _GAIN, 10)),
        (_ideal_dcg_kernel, (labels, boundaries, _GAIN, 10)),
        (_err_kernel, (table, labels, stop, 10)),
        (_reciprocal_rank_kernel, (table, labels, 2, 10)),
        (_precision_kernel, (table, labels, 2, 10)),
        (_average_rank_kernel, (order, boundaries, labels, 2)),
    ]
    for kernel, args in pairs:
        np.testing.assert_array_equal(kernel(*args), kernel.py_func(*args), err_msg=kernel.__name__)


# ------------------------------------------------------------ registry and evaluate()
def test_registry_holds_the_per_query_functions():
    assert dict(METRICS) == {"dcg": dcg, "ndcg": ndcg, "err": err, "mrr": mrr,
                             "precision": precision, "arp": arp}
    with pytest.raises(TypeError, match="does not support item assignment"):
        METRICS["new"] = dcg


def test_evaluate_parses_names():
    one = evaluate(SCORES, LABELS, BOUNDS, "ndcg@3")
    assert list(one) == ["ndcg@3"]
    assert evaluate(SCORES, LABELS, BOUNDS)["ndcg@10"] == pytest.approx(
        mean_over_queries(ndcg(SCORES, LABELS, BOUNDS, k=10)))
    assert evaluate(SCORES, LABELS, BOUNDS, ("precision@12",))["precision@12"] == pytest.approx(
        (2 / 12 + 1 / 12 + 0) / 3)
    assert evaluate(SCORES, LABELS, BOUNDS, ["arp"]) == {"arp": pytest.approx(5.5 / 3)}


@pytest.mark.parametrize("name", [
    "ndcg", "ndcg@0", "ndcg@-1", "ndcg@010", "NDCG@10", "ndcg@10 ", "ndcg@1.5",
    "arp@5", "map@10", "", "err@",
])
def test_evaluate_rejects_unknown_names(name):
    message = f"unknown metric name {re.escape(repr(name))}; valid forms are 'dcg@k', 'ndcg@k'"
    with pytest.raises(ValueError, match=message):
        evaluate(SCORES, LABELS, BOUNDS, [name])
    with pytest.raises(ValueError, match=r"'precision@k' \(k an integer >= 1\) and 'arp'"):
        evaluate(SCORES, LABELS, BOUNDS, ["ndcg@10", name])


@pytest.mark.parametrize("metrics, match", [
    ([3], "metrics must hold metric names \\(str\\), got int 3"),
    ([], "metrics must name at least one metric"),
    (None, "metrics must be a metric name or a sequence of them, got NoneType None"),
])
def test_evaluate_rejects_bad_metric_lists(metrics, match):
    with pytest.raises(ValueError, match=match):
        evaluate(SCORES, LABELS, BOUNDS, metrics)


def test_evaluate_validates_options():
    with pytest.raises(ValueError, match="ideal_zero must be one of 'one', 'zero', 'drop'"):
        evaluate(SCORES, LABELS, BOUNDS, ["arp"], ideal_zero="nan")
    with pytest.raises(ValueError, match="threshold must be an integer >= 1, got 0"):
        evaluate(SCORES, LABELS, BOUNDS, ["mrr@3"], threshold=0)
    with pytest.raises(ValueError, match=r"labels must be at most max_label=2 for ERR, got 3 at index 4"):
        evaluate(SCORES, LABELS, BOUNDS, ["err@3"], max_label=2)
    # max_label only constrains the labels when ERR is requested
    assert "ndcg@3" in evaluate(SCORES, LABELS, BOUNDS, ["ndcg@3"], max_label=2)


# ------------------------------------------------------------ invalid inputs
GOOD = dict(scores=[0.3, 0.1, 0.2], labels=[1, 0, 2], query_boundaries=[0, 2, 3])

INVALID = [
    (dict(scores=[[0.3, 0.1, 0.2]]), "scores must be 1-dimensional, got an array of shape \\(1, 3\\)"),
    (dict(scores=["a", "b", "c"]), "scores must be a numeric array"),
    (dict(scores=[0.3, np.nan, 0.2]), "scores must be finite, got nan at index 1"),
    (dict(scores=[0.3, 0.1, -np.inf]), "scores must be finite, got -inf at index 2"),
    (dict(labels=[1, 0]), "labels must have one entry per document \\(n_docs=3, the length of scores\\), got 2"),
    (dict(labels=[[1, 0, 2]]), "labels must be 1-dimensional"),
    (dict(labels=[1, -1, 2]), "labels must be non-negative integers, got -1 at index 1"),
    (dict(labels=[1, 0.5, 2]), "labels must be non-negative integers, got the non-integral value 0.5 at index 1"),
    (dict(labels=[1, np.nan, 2]), "non-integral value nan at index 1"),
    (dict(labels=[1, 0, 256]), "labels must be at most 255, got 256 at index 2"),
    (dict(labels=["1", "0", "2"]), "labels must be an array of non-negative integers"),
    (dict(query_boundaries=[1, 2, 3]), "query_boundaries must start at 0, got 1"),
    (dict(query_boundaries=[0, 2]), "query_boundaries must end at n_docs=3 \\(the length of scores\\), got 2"),
    (dict(query_boundaries=[0, 2, 2, 3]), "query_boundaries must be strictly increasing \\(no empty query\\), "
                                          "got 2 followed by 2 at index 1"),
    (dict(query_boundaries=[0, 3, 2, 3]), "strictly increasing .* got 3 followed by 2 at index 1"),
    (dict(query_boundaries=[0]), "query_boundaries must have n_queries \\+ 1 >= 2 entries"),
    (dict(query_boundaries=[0.0, 3.0]), "query_boundaries must be an integer array"),
    (dict(query_boundaries=[[0, 3]]), "query_boundaries must be 1-dimensional"),
]


@pytest.mark.parametrize("function", [dcg, ndcg, err, mrr, precision, arp,
                                      lambda s, y, b: evaluate(s, y, b, ["ndcg@3", "arp"])])
@pytest.mark.parametrize("override, match", INVALID)
def test_invalid_inputs(function, override, match):
    kwargs = {**GOOD, **override}
    with pytest.raises(ValueError, match=match):
        function(kwargs["scores"], kwargs["labels"], kwargs["query_boundaries"])


@pytest.mark.parametrize("function", [rank_within_queries, lambda s, b: top_k(s, b, 2)])
@pytest.mark.parametrize("override, match", [case for case in INVALID if "labels" not in case[0]])
def test_invalid_inputs_of_the_ranking_helpers(function, override, match):
    kwargs = {**GOOD, **override}
    with pytest.raises(ValueError, match=match):
        function(kwargs["scores"], kwargs["query_boundaries"])


BAD_PARAMETERS = {
    "k": [(0, "k must be an integer >= 1, got 0"), (1.5, "k must be an integer >= 1, got float 1.5"),
          (True, "k must be an integer >= 1, got bool True"), ("10", "k must be an integer >= 1, got str '10'")],
    "ideal_zero": [("nan", "ideal_zero must be one of 'one', 'zero', 'drop', got str 'nan'"),
                   (None, "ideal_zero must be one of 'one', 'zero', 'drop', got NoneType None")],
    "threshold": [(0, "threshold must be an integer >= 1, got 0"),
                  (2.0, "threshold must be an integer >= 1, got float 2.0")],
    "max_label": [(0, "max_label must be an integer in \\[1, 255\\], got 0"),
                  (1, "labels must be at most max_label=1 for ERR, got 2 at index 2")],
}


@pytest.mark.parametrize("function", [dcg, ndcg, err, mrr, precision, arp, top_k])
def test_every_public_function_rejects_bad_parameters(function):
    """Meta-test: each parameter a function takes is checked with the standard message."""
    import inspect

    parameters = inspect.signature(function).parameters
    checked = [name for name in BAD_PARAMETERS if name in parameters]
    assert checked, f"{function.__name__} has no checked parameter"
    base = [GOOD["scores"], GOOD["query_boundaries"]] if function is top_k else \
        [GOOD["scores"], GOOD["labels"], GOOD["query_boundaries"]]
    for name in checked:
        for value, match in BAD_PARAMETERS[name]:
            kwargs = {"k": 2} if function is top_k else {}
            kwargs[name] = value
            with pytest.raises(ValueError, match=match):
                function(*base, **kwargs)


def test_ndcg_of_lists_equals_ndcg_of_the_scores_that_rank_them():
    rng = np.random.default_rng(4)
    boundaries = np.array([0, 3, 15, 40, 41])
    labels = rng.integers(0, 5, 41)
    scores = rng.normal(size=41)
    for k in (1, 5, 10):
        lists = top_k(scores, boundaries, k)  # -1 padded where a query has fewer than k documents
        np.testing.assert_array_equal(ndcg_of_lists(lists, labels, boundaries), ndcg(scores, labels, boundaries, k=k))
    with pytest.raises(ValueError, match=r"lists must be of shape \(4, k\), one list per query"):
        ndcg_of_lists(lists[:3], labels, boundaries)
    with pytest.raises(ValueError, match="lists name document 41 but there are 41"):
        ndcg_of_lists(np.full((4, 2), 41), labels, boundaries)
