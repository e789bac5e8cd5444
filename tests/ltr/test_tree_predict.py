"""The Numba walk of a LightGBM ensemble (ltr._tree_predict): bitwise LightGBM's raw scores."""

import lightgbm as lgb
import numba
import numpy as np
import pytest

from ltr import RelevanceModel, StackedFeatures
from ltr._tree_predict import compile_trees


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    X[rng.random(n) < 0.3, 1] = np.nan  # missing type NaN where training saw NaN
    X[rng.random(n) < 0.3, 2] = 0.0  # zeros (missing type Zero with zero_as_missing)
    y = X[:, 0] + np.nan_to_num(X[:, 1]) - X[:, 2] + 0.3 * rng.standard_normal(n)
    return X, y


def _adversarial(trees, X, rng):
    """Rows whose values sit at the split thresholds (as float32, and one float32 step either side), tiny
    values LightGBM reads as 0, signed zeros, infinities and NaN in every column."""
    rows = np.repeat(X[:200], 8, axis=0).copy()
    thresholds = trees.threshold[np.isfinite(trees.threshold)]
    for j in range(rows.shape[1]):
        picks = rng.choice(thresholds, size=rows.shape[0]).astype(np.float32)
        step = rng.integers(-1, 2, size=rows.shape[0])
        at = np.nextafter(picks, np.where(step > 0, np.inf, -np.inf).astype(np.float32))
        rows[:, j] = np.where(step == 0, picks, at)
    rows[::7, 0] = 1e-36
    rows[1::7, 3] = -0.0
    rows[2::7, 4] = -1e-36
    rows[3::7, 2] = np.nan
    rows[4::7, 0] = np.nan
    rows[5::7, 1] = -np.inf
    rows[6::7, 2] = np.inf
    rows[5::7, 3] = -np.inf
    rows[2::7, 1] = np.inf  # column 1 had NaN in training: its numbers-against-NaN splits have threshold +inf
    return rows


@pytest.mark.parametrize("params", [
    {"objective": "regression"},
    {"objective": "regression", "zero_as_missing": True},
    {"objective": "lambdarank"},
])
def test_scores_are_bitwise_lightgbms_on_any_thread_count(params):
    X, y = _data()
    train = lgb.Dataset(X, np.clip(np.round(y + 2), 0, 4).astype(int) if params["objective"] == "lambdarank" else y,
                        group=[40] * 100 if params["objective"] == "lambdarank" else None)
    booster = lgb.train({**params, "verbose": -1, "num_leaves": 15, "num_threads": 1}, train, num_boost_round=20)
    trees = compile_trees(booster)
    assert trees is not None and trees.n_trees == 20
    rows = np.vstack([X, _adversarial(trees, X, np.random.default_rng(1))])
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            assert np.array_equal(trees.predict(rows), expected)
            assert np.array_equal(trees.predict(rows.astype(np.float64)), expected)
            for n in (1, 15, 17, 511, 513):  # groups of rows walked together, and parallel blocks, cut short
                assert np.array_equal(trees.predict(rows[-n:]), expected[-n:])
    finally:
        numba.set_num_threads(before)


def test_the_zero_and_nan_missing_types_are_both_exercised():
    X, y = _data()
    kinds = set()
    for zero in (False, True):
        booster = lgb.train({"objective": "regression", "verbose": -1, "zero_as_missing": zero},
                            lgb.Dataset(X, y), num_boost_round=10)
        kinds |= {node["missing_type"] for node in _nodes(booster.dump_model())}
    assert kinds == {"None", "NaN", "Zero"}


def _nodes(model):
    stack = [t["tree_structure"] for t in model["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            yield node
            stack += [node["left_child"], node["right_child"]]


def test_thresholds_beyond_the_json_dumps_range_and_integer_inputs_read_as_lightgbm_reads_them():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1000).astype(np.float32)
    x[rng.random(1000) < 0.5] = np.nan
    only_nan = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(x[:, None], np.isnan(x) * 1.0), 1)
    rows = np.array([[np.inf], [1.0], [np.nan], [-np.inf]], dtype=np.float32)
    assert np.array_equal(compile_trees(only_nan).predict(rows), only_nan.predict(rows, raw_score=True))
    huge = np.linspace(1e300, 2e301, 400)[:, None]  # float64 thresholds past the dump's 1e300 clamp
    far = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                    lgb.Dataset(huge, np.arange(400.0)), 3)
    probe = np.array([[5e300], [1.5e301], [1e308], [-1e308]])
    assert np.array_equal(compile_trees(far).predict(probe), far.predict(probe, raw_score=True))
    # 2^24 + 1 is no float32: LightGBM reads an integer array as float32, so it falls left of 2^24 + 0.5
    steps = np.array([[16777216.0], [16777217.0]] * 50)
    split = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 1, "min_data_in_bin": 1},
                      lgb.Dataset(steps, (steps[:, 0] > 16777216.5) * 1.0), 1)
    integers = np.array([[16777216], [16777217], [16777218]], dtype=np.int64)
    assert np.array_equal(compile_trees(split).predict(integers), split.predict(integers, raw_score=True))


def test_ensembles_it_cannot_walk_are_left_to_lightgbm():
    X, y = _data(1000)
    binary = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, (y > 0).astype(int)), 5)
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                           lgb.Dataset(X, np.digitize(y, [-1, 1])), 5)
    categorical = np.column_stack([X[:, :4], np.random.default_rng(0).integers(0, 6, X.shape[0])])
    with_categories = lgb.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5,
                                 "cat_smooth": 1}, lgb.Dataset(categorical, y + categorical[:, 4],
                                                               categorical_feature=[4]), 10)
    assert compile_trees(binary) is None and compile_trees(multiclass) is None
    assert compile_trees(with_categories) is None
    with pytest.raises(ValueError, match=r"X must have shape \(n_rows, 5\)"):
        compile_trees(lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, y), 3)).predict(X[:, :3])


def test_a_relevance_model_predicts_through_the_walk_as_lightgbm_would():
    X, y = _data(3000)
    model = RelevanceModel(loss="logistic", n_estimators=15).fit(X, (y > 0).astype(float))
    assert model.trees_ is None  # compiled at the first prediction
    scores = model.predict(X)
    assert model.trees_ and np.array_equal(
        scores, model.booster_.predict(X, num_threads=1) + model.init_score_)
    model.fit(X, (y > 1).astype(float))
    assert model.trees_ is None  # a refit drops the arrays of the old trees


def test_two_blocks_are_walked_in_place_as_their_stacked_array():
    X, y = _data()
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 15, "num_threads": 1},
                        lgb.Dataset(X, y), num_boost_round=20)
    trees = compile_trees(booster)
    rows = np.vstack([X, _adversarial(trees, X, np.random.default_rng(2))])
    for split in (1, 3, 4):  # the last columns (NaN, zeros, at-threshold values among them) in the second block
        stacked = StackedFeatures(rows[:, :split], rows[:, split:])
        assert np.array_equal(trees.predict(stacked), booster.predict(rows, raw_score=True, num_threads=1))
    # one row shared by every document (the engagement row of documents never shown)
    shared_row = np.array([np.nan, 0.0], dtype=np.float32)
    stacked = StackedFeatures(rows[:, :3], shared_row)
    expected = booster.predict(np.hstack([rows[:, :3], np.tile(shared_row, (len(rows), 1))]), raw_score=True,
                               num_threads=1)
    assert np.array_equal(trees.predict(stacked), expected)
    model = RelevanceModel(loss="squared", n_estimators=10).fit(X, y)
    assert np.array_equal(model.predict(StackedFeatures(X[:, :3].astype(np.float64), X[:, 3:])), model.predict(X))
    with pytest.raises(ValueError, match=r"X must have shape \(n_rows, 5\)"):
        trees.predict(StackedFeatures(rows[:, :3], rows[:, 3:4]))


def test_stacked_features_read_as_their_stacked_array():
    base = np.arange(12, dtype=np.float32).reshape(4, 3)
    extra = np.array([[0.5], [1.5], [2.5], [3.5]])
    stacked, whole = StackedFeatures(base, extra), np.hstack([base, extra.astype(np.float32)])
    assert stacked.shape == (4, 4) and stacked.dtype == np.float32 and len(stacked) == 4
    for index in ([2, 0], slice(1, 3), np.array([True, False, True, False]), 1):
        assert np.array_equal(stacked[index], whole[index])
    assert np.array_equal(stacked[[1, 3], 2:], whole[[1, 3], 2:])
    assert np.array_equal(np.asarray(stacked), whole) and np.asarray(stacked).dtype == np.float32
    shared = StackedFeatures(base, np.array([7.0, 8.0]))
    assert np.array_equal(shared[[3, 1]], [[9, 10, 11, 7, 8], [3, 4, 5, 7, 8]])
    assert np.array_equal(shared[0], [0, 1, 2, 7, 8])
    with pytest.raises(ValueError, match="extra"):
        StackedFeatures(base, extra[:3])
