"""Raw scores of a LightGBM tree ensemble, computed by a Numba kernel.

LightGBM's ``Booster.predict`` walks each tree with a per-node decision that
handles missing values; this module reads the trees once from the booster's
model dump into flat arrays and walks them in a parallel Numba loop over the
rows.  The decisions and the summation order are LightGBM's own (numerical
splits ``x <= threshold`` on the value as a double, float32 input widened and
other non-float input read as float32 as LightGBM reads it; NaN routed
by the node's default direction when its missing type is NaN, else taken as
0; values within 1e-35 of 0 read as 0, as LightGBM's dense row reader does;
trees added in order from 0.0), so the scores are bitwise equal to
``Booster.predict(X, raw_score=True)``: tested on features with NaN, zeros,
infinities and values at the thresholds.  An ensemble with categorical
splits, linear trees, several trees per iteration, or both the NaN and the
Zero missing type is not compiled (:func:`compile_trees` returns None) and
LightGBM predicts it.

How the walk runs: the rows are walked in groups of :data:`_LANES`, all rows
of a group through one tree together, each step one comparison per row
(independent loads the processor overlaps, instead of one mispredicted
branch after another).  For this the leaves are nodes that lead to
themselves and every row takes as many steps as its tree is deep; and the
missing-value rules become one interval test per node, ``low <= x <=
threshold``: a NaN (and, where zeros are missing, a zero) is read as -inf,
which goes left exactly where ``low`` is -inf; a real -inf is read as the
lowest double, which no other rule distinguishes from it.

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
        if np.any(missing == _MISSING_ZERO) and np.any(missing == _MISSING_NAN):
            raise _Unsupported("splits of both the NaN and the Zero missing type: a zero would need two readings")
        # Zeros are read as NaN where they are missing (both then go the default way, as in LightGBM).
        self.zero_is_missing = bool(np.any(missing == _MISSING_ZERO))
        self._walk_arrays = _lockstep_arrays(self)

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
        _predict(base, extra, extra.shape[0] == 1, self.zero_is_missing, *self._walk_arrays, out)
        return out


def _lockstep_arrays(trees):
    """(roots, depth, feature, threshold, low, left, right, value) of the walk in lock step.

    The splits keep their indices 0..n-1 and leaf i becomes node n + i, a node
    whose test always passes and whose children are itself; ``depth`` is each
    tree's longest path (steps every row of the tree takes); ``low`` is -inf
    where a NaN goes left, else the lowest double; ``value`` is 0 at splits.
    """
    n, n_leaves = trees.feature.size, trees.leaf_value.size

    def as_node(child):
        return np.where(child >= 0, child, n + ~child)

    itself = n + np.arange(n_leaves, dtype=np.int64)
    left = np.concatenate([as_node(trees.left), itself])
    right = np.concatenate([as_node(trees.right), itself])
    feature = np.concatenate([trees.feature, np.zeros(n_leaves, dtype=np.int64)])
    threshold = np.concatenate([trees.threshold, np.full(n_leaves, np.inf)])
    low = np.concatenate([np.where(trees.nan_left, -np.inf, _LOWEST), np.full(n_leaves, -np.inf)])
    value = np.concatenate([np.zeros(n), trees.leaf_value])
    roots = as_node(trees.roots)
    depth = np.zeros(roots.size, dtype=np.int64)
    for t in range(roots.size):
        stack = [(int(roots[t]), 0)]
        while stack:
            node, steps = stack.pop()
            if node < n:
                stack += [(int(left[node]), steps + 1), (int(right[node]), steps + 1)]
            else:
                depth[t] = max(depth[t], steps)
    return tuple(read_only(a) for a in (roots, depth, feature, threshold, low, left, right, value))


def _block(X):
    """A contiguous read-only float32 or float64 array of ``X`` (other dtypes as float32, as LightGBM reads them)."""
    X = np.ascontiguousarray(X)
    return read_only(X if X.dtype in (np.float32, np.float64) else X.astype(np.float32))


def compile_trees(booster):
    """A :class:`TreeArrays` of a trained ``lightgbm.Booster``, or None where this kernel does not apply.

    None for categorical splits, linear trees, boosters with more than one
    tree per iteration (multiclass), ensembles with splits of both the NaN
    and the Zero missing type, and objectives whose prediction is not the
    raw score.
    """
    model = booster.dump_model()
    if model.get("num_tree_per_iteration", 1) != 1 or model.get("linear_tree", False):
        return None
    objective = (model.get("objective") or "custom").split()
    if objective[0] not in _RAW or "sqrt" in objective:  # its predict transforms the raw score
        return None
    nodes, leaves, roots, where = [], [], [], []

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
        nodes[index] = [int(node["split_feature"]), float(node["threshold"]), _MISSING[node["missing_type"]],
                        bool(node["default_left"]), left, right]
        where.append((index, len(roots), int(node["split_index"])))
        return index

    try:
        for tree in model["tree_info"]:
            roots.append(add(tree["tree_structure"]))
    except _Unsupported:
        return None
    if any(abs(node[1]) >= _DUMP_CLAMP for node in nodes):
        # The JSON dump clamps thresholds to +-1e300 (a split of numbers against NaN has threshold +inf);
        # the model text keeps them exactly: one line per tree, in split-index order.
        exact = [[float(value) for value in line[len("threshold="):].split()]
                 for line in booster.model_to_string().splitlines() if line.startswith("threshold=")]
        if len(exact) != len(roots):
            return None
        for index, tree, split in where:
            nodes[index][1] = exact[tree][split]
    columns = list(zip(*nodes)) if nodes else [()] * 6
    try:
        return TreeArrays(np.asarray(roots, dtype=np.int64), np.asarray(columns[0], dtype=np.int64),
                          np.asarray(columns[1], dtype=np.float64), np.asarray(columns[2], dtype=np.int8),
                          np.asarray(columns[3], dtype=np.bool_), np.asarray(columns[4], dtype=np.int64),
                          np.asarray(columns[5], dtype=np.int64), np.asarray(leaves, dtype=np.float64),
                          int(model["max_feature_idx"]) + 1)
    except _Unsupported:
        return None


# LightGBM's JSON dump writes thresholds beyond +-1e300 as +-1e300.
_DUMP_CLAMP = 1e300
#: Objectives whose ``predict`` is the raw score (a custom objective is dumped without a name).
_RAW = ("custom", "none", "lambdarank", "rank_xendcg", "regression")


class _Unsupported(Exception):
    pass


#: Rows per parallel task of the walk.
_BLOCK = 512
#: Rows walked through a tree together (a divisor of _BLOCK).
_LANES = 16
# The lowest double: where a real -inf is read (no float32 value is as low).
_LOWEST = -np.finfo(np.float64).max


@njit(cache=True, parallel=True)
def _predict(base, extra, shared, zero_is_missing, roots, depth, feature, threshold, low, left, right, value, out):
    """Raw scores of the rows of ``[base, extra]`` (``extra``'s one row for every row if ``shared``)."""
    n_rows, n_base = base.shape
    n_extra = extra.shape[1]
    for block in prange((n_rows + _BLOCK - 1) // _BLOCK):
        rows = np.zeros((_LANES, n_base + n_extra), dtype=np.float64)  # the group's features, as read
        nodes = np.empty(_LANES, dtype=np.int64)
        totals = np.empty(_LANES, dtype=np.float64)
        for first in range(block * _BLOCK, min(n_rows, (block + 1) * _BLOCK), _LANES):
            lanes = min(_LANES, n_rows - first)  # lanes past the last row walk stale rows, unread
            for lane in range(lanes):
                i = first + lane
                r = 0 if shared else i
                for j in range(n_base + n_extra):
                    x = np.float64(base[i, j]) if j < n_base else np.float64(extra[r, j - n_base])
                    if x != x:
                        x = -np.inf
                    elif abs(x) <= _ZERO:
                        x = -np.inf if zero_is_missing else 0.0
                    elif x == -np.inf:
                        x = _LOWEST
                    rows[lane, j] = x
            totals[:] = 0.0
            for t in range(roots.size):  # trees in order: each row's sum is LightGBM's
                nodes[:] = roots[t]
                for _ in range(depth[t]):
                    for lane in range(_LANES):
                        node = nodes[lane]
                        x = rows[lane, feature[node]]
                        nodes[lane] = left[node] if (x <= threshold[node]) & (x >= low[node]) else right[node]
                for lane in range(_LANES):
                    totals[lane] += value[nodes[lane]]
            for lane in range(lanes):
                out[first + lane] = totals[lane]
