"""Raw scores of a LightGBM tree ensemble, computed by a Numba kernel.

LightGBM's ``Booster.predict`` walks each tree with a per-node decision that
handles missing values; this module reads the trees once from the booster's
model dump into flat arrays and walks them in a parallel Numba loop over the
rows.  The decisions and the summation order are LightGBM's own (numerical
splits ``x <= threshold`` on the float32 value widened to double; NaN routed
by the node's default direction when its missing type is NaN, else taken as
0; values within 1e-35 of 0 read as 0, as LightGBM's dense row reader does;
trees added in order from 0.0), so the scores are bitwise equal to
``Booster.predict(X, raw_score=True)``: tested on features with NaN, zeros
and values at the thresholds.  An ensemble with categorical splits, linear
trees or several trees per iteration is not compiled (:func:`compile_trees`
returns None) and LightGBM predicts it.

Each row's score depends on that row alone, so the result is the same for
any number of threads.
"""

import numpy as np
from numba import njit, prange

from simulator.validation import read_only

from ._stacked import StackedFeatures

__all__ = ["TreeArrays", "compile_trees"]

# LightGBM's kZeroThreshold (1e-35f), widened to double.
_ZERO = float(np.float32(1e-35))
# missing types of a node
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2
_MISSING = {"None": _MISSING_NONE, "Zero": _MISSING_ZERO, "NaN": _MISSING_NAN}


class TreeArrays:
    """The trees of an ensemble as flat arrays (children < 0 are leaves: ``~child`` is the leaf's index).

    Attributes
    ----------
    n_features : int
    n_trees : int
    """

    def __init__(self, roots, feature, threshold, missing, default_left, left, right, leaf_value, n_features):
        self.roots, self.feature, self.threshold = roots, feature, threshold
        self.left, self.right, self.leaf_value, self.n_features = left, right, leaf_value, n_features
        self.n_trees = roots.size
        # Where LightGBM sends a zero (missing type Zero: the default direction; else 0.0 <= threshold)
        # and a NaN (missing type NaN: the default direction; else read as 0.0, so as a zero).
        self.zero_left = np.where(missing == _MISSING_ZERO, default_left, 0.0 <= threshold)
        self.nan_left = np.where(missing == _MISSING_NAN, default_left, self.zero_left)

    def predict(self, X, num_threads=None):
        """Raw scores of the rows of ``X`` (float32 or float64, shape (n_rows, n_features)), float64.

        ``X`` may be a :class:`ltr.StackedFeatures`: its two blocks are read
        in place, not stacked.

        ``num_threads``: Numba threads of the walk (default: Numba's current
        count); the scores do not depend on it.
        """
        if num_threads is not None:
            import numba

            before = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS)))
            try:
                return self._walk(X)
            finally:
                numba.set_num_threads(before)
        return self._walk(X)

    def _walk(self, X):
        if isinstance(X, StackedFeatures):
            base, extra = _block(X.base), _block(X.extra)
        else:
            base = _block(X)
            extra = _block(np.zeros((1, 0), dtype=np.float32))  # no second block: one shared row of width 0
        if base.ndim != 2 or extra.ndim != 2 or base.shape[1] + extra.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_rows, {self.n_features}), got {X.shape}")
        out = np.empty(base.shape[0], dtype=np.float64)
        _predict(base, extra, extra.shape[0] == 1, self.roots, self.feature, self.threshold, self.nan_left,
                 self.zero_left, self.left, self.right, self.leaf_value, out)
        return out


def _block(X):
    """A contiguous read-only float32 or float64 array of ``X`` (other dtypes as float64)."""
    X = np.ascontiguousarray(X)
    return read_only(X if X.dtype in (np.float32, np.float64) else X.astype(np.float64))


def compile_trees(booster):
    """A :class:`TreeArrays` of a trained ``lightgbm.Booster``, or None where this kernel does not apply.

    None for categorical splits, linear trees, boosters with more than one
    tree per iteration (multiclass) and objectives whose prediction is not
    the raw score.
    """
    model = booster.dump_model()
    if model.get("num_tree_per_iteration", 1) != 1 or model.get("linear_tree", False):
        return None
    objective = (model.get("objective") or "custom").split()[0]
    if objective not in _RAW:  # its predict transforms the raw score (sigmoid, exp, softmax, ...)
        return None
    nodes, leaves, roots = [], [], []

    def add(node):
        """Index of ``node`` in the arrays: >= 0 for a split, ~leaf for a leaf."""
        if "split_index" not in node:
            leaves.append(float(node["leaf_value"]))
            return ~(len(leaves) - 1)
        if node["decision_type"] != "<=":
            raise _Unsupported
        index = len(nodes)
        nodes.append(None)
        left, right = add(node["left_child"]), add(node["right_child"])
        nodes[index] = (int(node["split_feature"]), float(node["threshold"]), _MISSING[node["missing_type"]],
                        bool(node["default_left"]), left, right)
        return index

    try:
        for tree in model["tree_info"]:
            roots.append(add(tree["tree_structure"]))
    except _Unsupported:
        return None
    columns = list(zip(*nodes)) if nodes else [()] * 6
    return TreeArrays(np.asarray(roots, dtype=np.int64), np.asarray(columns[0], dtype=np.int64),
                      np.asarray(columns[1], dtype=np.float64), np.asarray(columns[2], dtype=np.int8),
                      np.asarray(columns[3], dtype=np.bool_), np.asarray(columns[4], dtype=np.int64),
                      np.asarray(columns[5], dtype=np.int64), np.asarray(leaves, dtype=np.float64),
                      int(model["max_feature_idx"]) + 1)


#: Objectives whose ``predict`` is the raw score (a custom objective is dumped without a name).
_RAW = ("custom", "none", "lambdarank", "rank_xendcg", "regression")


class _Unsupported(Exception):
    pass


#: Rows per parallel task of the walk (each task copies its rows into one buffer).
_BLOCK = 512


@njit(cache=True, parallel=True)
def _predict(base, extra, shared, roots, feature, threshold, nan_left, zero_left, left, right, leaf_value, out):
    """Raw scores of the rows of ``[base, extra]`` (``extra``'s one row for every row if ``shared``)."""
    n_rows, n_base = base.shape
    n_extra = extra.shape[1]
    for block in prange((n_rows + _BLOCK - 1) // _BLOCK):
        row = np.empty(n_base + n_extra, dtype=np.float64)  # the row's features, widened once
        for i in range(block * _BLOCK, min(n_rows, (block + 1) * _BLOCK)):
            for j in range(n_base):
                row[j] = base[i, j]
            r = 0 if shared else i
            for j in range(n_extra):
                row[n_base + j] = extra[r, j]
            total = 0.0
            for t in range(roots.size):  # trees in order: the row's sum is LightGBM's
                node = roots[t]
                while node >= 0:
                    value = row[feature[node]]
                    if value <= threshold[node]:
                        go_left = True
                    else:
                        go_left = False
                    if abs(value) <= _ZERO:  # zero, read as 0.0
                        go_left = zero_left[node]
                    elif value != value:  # NaN
                        go_left = nan_left[node]
                    node = left[node] if go_left else right[node]
                total += leaf_value[~node]
            out[i] = total
