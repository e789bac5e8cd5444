"""Tests of simulator._dataset.RankingDataset."""

import dataclasses
import pickle
import re

import numpy as np
import pytest

from simulator._dataset import RankingDataset, _allocate


def small(**overrides):
    """Three queries of sizes 2, 3, 1 with distinct rows."""
    kwargs = dict(
        features=np.arange(12, dtype=np.float64).reshape(6, 2),
        labels=[0, 1, 2, 0, 3, 1],
        query_boundaries=[0, 2, 5, 6],
        query_ids=[30, 10, 20],
        name="small",
    )
    kwargs.update(overrides)
    return RankingDataset(**kwargs)


def many(n_queries=50, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=n_queries)
    n = int(sizes.sum())
    return RankingDataset.from_group_sizes(
        rng.standard_normal((n, 3)),
        rng.integers(0, 5, size=n),
        sizes,
        query_ids=rng.permutation(n_queries) * 7 + 100,
        name="many",
    )


def assert_same(a, b):
    for field in ("features", "labels", "query_boundaries", "query_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


# ---------------------------------------------------------------- construction
def test_conversion_and_properties():
    data = small()
    assert data.features.dtype == np.float32 and data.features.flags.c_contiguous
    assert data.labels.dtype == np.int64
    assert data.query_boundaries.dtype == np.int64
    assert data.query_ids.dtype == np.int64
    assert (data.n_docs, data.n_queries, data.n_features) == (6, 3, 2)
    np.testing.assert_array_equal(data.query_sizes, [2, 3, 1])
    np.testing.assert_array_equal(data.doc_query, [0, 0, 1, 1, 1, 2])
    assert data.max_label == 3
    assert data.query_slice(1) == slice(2, 5)
    assert data.query_slice(-1) == slice(5, 6)
    assert repr(data) == "RankingDataset(name='small', n_queries=3, n_docs=6, n_features=2)"


def test_arrays_are_read_only_and_not_shared_with_the_caller():
    features = np.ones((6, 2), dtype=np.float32)
    labels = np.zeros(6, dtype=np.int64)
    data = small(features=features, labels=labels)
    for field in ("features", "labels", "query_boundaries", "query_ids"):
        array = getattr(data, field)
        assert not array.flags.writeable, field
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    features[0, 0] = 5.0
    labels[0] = 4
    assert data.features[0, 0] == 1.0 and data.labels[0] == 0
    assert features.flags.writeable, "the caller's array must stay writeable"


def test_pickle_round_trip_stays_frozen():
    data = small()
    copy = pickle.loads(pickle.dumps(data))
    assert_same(copy, data)
    assert copy.name == "small"
    assert not copy.features.flags.writeable and not copy.labels.flags.writeable


def test_fields_cannot_be_reassigned():
    data = small()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"


def test_integral_float_labels_are_accepted():
    data = small(labels=[0.0, 1.0, 2.0, 0.0, 3.0, 1.0])
    np.testing.assert_array_equal(data.labels, [0, 1, 2, 0, 3, 1])


INVALID = [
    (dict(features=np.zeros(6)), r"features must be 2-dimensional, got an array of shape \(6,\)"),
    (dict(features=np.zeros((5, 2))), r"features must have one row per label \(n_docs=6\), got 5 rows"),
    (dict(features=np.full((6, 2), np.nan)), r"features must be finite float32 values, got nan at row 0"),
    (dict(features=np.full((6, 2), 1e300)), r"features must be finite float32 values, got 1e\+300 at row 0, column 0"),
    (dict(features=np.array([["a", "b"]] * 6)), r"features must be a numeric array, got an array"),
    (dict(labels=[0, 1, -2, 0, 3, 1]), r"labels must be non-negative integers, got -2 at index 2"),
    (dict(labels=[0, 1, 2.5, 0, 3, 1]), r"labels must be non-negative integers, got the non-integral value 2.5 at index 2"),
    (dict(labels=[0, 1, np.nan, 0, 3, 1]), r"labels must be non-negative integers, got the non-integral value nan at index 2"),
    (dict(labels=[[0, 1, 2, 0, 3, 1]]), r"labels must be 1-dimensional, got an array of shape \(1, 6\)"),
    (dict(labels=["a"] * 6), r"labels must be an array of non-negative integers"),
    (dict(query_boundaries=[0]), r"query_boundaries must have n_queries \+ 1 >= 2 entries .*got \[0\]"),
    (dict(query_boundaries=[1, 2, 5, 6]), r"query_boundaries must start at 0, got 1"),
    (dict(query_boundaries=[0, 2, 5, 7]), r"query_boundaries must end at n_docs=6, got 7"),
    (dict(query_boundaries=[0, 2, 2, 6]), r"query_boundaries must be strictly increasing \(no empty query\), got 2 followed by 2 at index 1"),
    (dict(query_boundaries=[0.0, 2.0, 5.0, 6.0]), r"query_boundaries must be an integer array"),
    (dict(query_ids=[1, 2]), r"query_ids must have one entry per query \(n_queries=3\), got 2 entries"),
    (dict(query_ids=[1, 2, 1]), r"query_ids must be unique, got the repeated id 1"),
    (dict(name=3), r"name must be a str, got int 3"),
]


@pytest.mark.parametrize("overrides, message", INVALID)
def test_invalid_fields_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        small(**overrides)


def test_query_slice_rejects_bad_indices():
    data = small()
    with pytest.raises(ValueError, match=r"i must be in \[-3, 3\) .* got 3"):
        data.query_slice(3)
    with pytest.raises(ValueError, match=r"i must be an integer query index"):
        data.query_slice(1.0)


# ----------------------------------------------------------- from_group_sizes
def test_from_group_sizes():
    data = RankingDataset.from_group_sizes(np.zeros((6, 1)), np.zeros(6, int), [2, 3, 1])
    np.testing.assert_array_equal(data.query_boundaries, [0, 2, 5, 6])
    np.testing.assert_array_equal(data.query_ids, [0, 1, 2])
    assert data.name == "dataset"


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([2, 0, 4], r"group_sizes must be positive integers, got 0 at index 1"),
        ([2, 3], r"group_sizes must sum to the number of labels \(n_docs=6\), got a sum of 5"),
        ([], r"group_sizes must be a non-empty 1-dimensional array"),
        ([2.0, 4.0], r"group_sizes must be a non-empty 1-dimensional array of positive integers"),
    ],
)
def test_from_group_sizes_rejects_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        RankingDataset.from_group_sizes(np.zeros((6, 1)), np.zeros(6, int), sizes)


# ----------------------------------------------------------------- subsets
def test_subset_keeps_order_and_rows():
    data = small()
    part = data.subset([2, 0])
    np.testing.assert_array_equal(part.query_ids, [20, 30])
    np.testing.assert_array_equal(part.query_boundaries, [0, 1, 3])
    np.testing.assert_array_equal(part.features, data.features[[5, 0, 1]])
    np.testing.assert_array_equal(part.labels, data.labels[[5, 0, 1]])
    assert part.name == "small" and data.subset([1], name="x").name == "x"


def test_subset_equals_per_query_slices():
    data = many()
    order = np.random.default_rng(1).permutation(data.n_queries)[:20]
    part = data.subset(order)
    for new, old in enumerate(order):
        np.testing.assert_array_equal(
            part.features[part.query_slice(new)], data.features[data.query_slice(old)]
        )
        np.testing.assert_array_equal(
            part.labels[part.query_slice(new)], data.labels[data.query_slice(old)]
        )


@pytest.mark.parametrize(
    "indices, message",
    [
        ([], r"query_indices must be a non-empty 1-dimensional array"),
        ([0, 3], r"query_indices must be in \[0, 3\), got 3"),
        ([-1], r"query_indices must be in \[0, 3\), got -1"),
        ([1, 1], r"query_indices must be distinct"),
        ([True, False, True], r"query_indices must be a non-empty 1-dimensional array of integer"),
    ],
)
def test_subset_rejects_bad_indices(indices, message):
    with pytest.raises(ValueError, match=message):
        small().subset(indices)


def test_split_partitions_the_queries():
    data = many(n_queries=50)
    parts = data.split((0.6, 0.2, 0.2), seed=3)
    assert [p.n_queries for p in parts] == [30, 10, 10]
    ids = np.concatenate([p.query_ids for p in parts])
    np.testing.assert_array_equal(np.sort(ids), np.sort(data.query_ids))
    assert sum(p.n_docs for p in parts) == data.n_docs
    # Within a part the original query order is kept.
    position = {qid: i for i, qid in enumerate(data.query_ids)}
    for p in parts:
        assert np.all(np.diff([position[q] for q in p.query_ids]) > 0)
    assert [p.name for p in parts] == ["many.part0", "many.part1", "many.part2"]


def test_split_is_deterministic_in_the_seed():
    data = many()
    for a, b in zip(data.split(seed=5), data.split(seed=5)):
        assert_same(a, b)
    assert not np.array_equal(data.split(seed=5)[0].query_ids, data.split(seed=6)[0].query_ids)


def test_split_never_leaves_a_part_empty():
    data = many(n_queries=3)
    assert [p.n_queries for p in data.split((0.9, 0.05, 0.05))] == [1, 1, 1]


@pytest.mark.parametrize(
    "fractions, message",
    [
        ((0.5, 0.6), r"fractions must sum to 1 \(within 1e-9\), got \(0.5, 0.6\) with sum 1.1"),
        ((1.2, -0.2), r"fractions must all be positive, got \(1.2, -0.2\)"),
        ((0.5, 0.5, 0.0), r"fractions must all be positive"),
        ((), r"fractions must be a non-empty sequence"),
        (("a", "b"), r"fractions must be a sequence of positive floats"),
        ((0.25,) * 4, r"fractions asks for 4 non-empty parts but the dataset has only 3 queries"),
    ],
)
def test_split_rejects_bad_fractions(fractions, message):
    with pytest.raises(ValueError, match=message):
        small().split(fractions)


@pytest.mark.parametrize("seed", [-1, 1.5, None, "0"])
def test_split_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got"):
        small().split(seed=seed)


def test_allocate_sums_and_stays_close_to_the_ideal():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 6))
        shares = rng.dirichlet(np.ones(k))
        n = int(rng.integers(k, 200))
        counts = _allocate(shares, n)
        assert counts.sum() == n and counts.min() >= 1
        if (shares * n >= 1).all():
            # Largest remainder without the minimum-one rule: within 1 of ideal.
            assert np.abs(counts - shares * n).max() < 1


def test_sample_queries():
    data = many(n_queries=200)
    one_percent = data.sample_queries(fraction=0.01, seed=2)
    assert one_percent.n_queries == 2
    assert data.sample_queries(fraction=0.001).n_queries == 1  # at least one
    sample = data.sample_queries(n_queries=17, seed=2)
    assert sample.n_queries == 17 and sample.name == "many.sample"
    assert set(sample.query_ids) <= set(data.query_ids)
    assert_same(sample, data.sample_queries(n_queries=17, seed=2))
    assert not np.array_equal(sample.query_ids, data.sample_queries(n_queries=17, seed=3).query_ids)
    assert data.sample_queries(fraction=1.0).n_queries == 200


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), r"give exactly one of fraction and n_queries"),
        (dict(fraction=0.5, n_queries=2), r"give exactly one of fraction and n_queries"),
        (dict(fraction=0.0), r"fraction must be in \(0, 1\], got 0.0"),
        (dict(fraction=1.5), r"fraction must be in \(0, 1\], got 1.5"),
        (dict(n_queries=0), r"n_queries must be an integer in \[1, 3\], got 0"),
        (dict(n_queries=4), r"n_queries must be an integer in \[1, 3\], got 4"),
        (dict(n_queries=2, seed=-3), r"seed must be a non-negative integer, got -3"),
    ],
)
def test_sample_queries_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small().sample_queries(**kwargs)


def test_error_messages_are_one_line():
    for overrides, _ in INVALID:
        with pytest.raises(ValueError) as info:
            small(**overrides)
        assert "\n" not in str(info.value), re.escape(str(info.value))
