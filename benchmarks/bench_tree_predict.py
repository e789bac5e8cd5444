"""The Numba kernels of the loop's learners against the code they replace, in one process.

- Prediction: ``ltr._tree_predict`` (the walk ``RelevanceModel.predict`` uses)
  against LightGBM's ``Booster.predict(raw_score=True)`` with the same threads,
  on the shape of the scale benchmark's 8 x 10^4-query round: 1.92 M rows of
  20 float32 features plus a CTR column with NaN (30 %), 50 trees of 31
  leaves trained on 640,000 rows.
- The listwise softmax loss's gradients (``ltr._relevance_model._gradients``,
  NumPy exponentials and group sums, the rest one Numba pass per group)
  against the NumPy expressions they replaced, on 1.57 M rows in 64,000
  queries of 10 to 39 documents.
- The position tower's likelihood gradients (``ltr._tower._tower_gradients``,
  NumPy sigmoids per row, the sums one parallel Numba pass over the rows)
  against the NumPy expressions they replaced, on 10^6 (document, rank) cells
  of 7 x 10^5 documents.

Each timing is the best of ``--repeat`` runs; the outputs are checked to be
bitwise equal before any is timed.

Usage::

    python benchmarks/bench_tree_predict.py [--repeat 5]
"""

import argparse

import numpy as np
from clickloop._arguments import OneLineParser, positive_int
from _timing import best_time


def bench_predict(repeat):
    import lightgbm as lgb
    import numba

    from ltr._tree_predict import compile_trees

    rng = np.random.default_rng(0)
    n, d = 1_920_000, 21
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[rng.random(n) < 0.3, d - 1] = np.nan
    y = X[:, 0] + 0.5 * X[:, 1] + np.nan_to_num(X[:, d - 1]) + rng.standard_normal(n)
    threads = numba.get_num_threads()
    booster = lgb.train({"objective": "regression", "num_leaves": 31, "verbose": -1, "num_threads": threads,
                         "deterministic": True, "force_row_wise": True}, lgb.Dataset(X[:640_000], y[:640_000]), 50)
    trees = compile_trees(booster)
    if not np.array_equal(trees.predict(X), booster.predict(X, raw_score=True, num_threads=threads)):
        raise SystemExit("the walk differs from LightGBM's predict")
    lightgbm = best_time(lambda: booster.predict(X, raw_score=True, num_threads=threads), repeat)
    walk = best_time(lambda: trees.predict(X), repeat)
    return [("predict 1.92 M rows, 50 trees", threads, lightgbm, walk)]


def bench_tower(repeat):
    from ltr._tower import _Cells, _tower_gradients

    rng = np.random.default_rng(0)
    n_rows, n_cells = 700_000, 1_000_000
    row = np.sort(rng.integers(0, n_rows, n_cells))
    imp = rng.integers(1, 50, n_cells).astype(float)
    cells = _Cells(row, rng.integers(0, 10, n_cells), np.minimum(imp, rng.integers(0, 5, n_cells)).astype(float),
                   imp, n_rows)
    z = rng.standard_normal(n_rows) * 3
    theta = rng.random(n_cells)

    def numpy_form():
        s = 1.0 / (1.0 + np.exp(-z[row]))
        ts = np.clip(theta * s, 1e-12, 1 - 1e-12)
        ratio = (1.0 - s) / (1.0 - ts)
        grad = np.bincount(row, weights=(cells.imp - cells.clk) * ts * ratio - cells.clk * (1.0 - s),
                           minlength=n_rows)
        hess = np.bincount(row, weights=cells.imp * ts * (1.0 - s) * ratio, minlength=n_rows)
        return grad, np.maximum(hess, 1e-12)

    if not all(np.array_equal(a, b) for a, b in zip(numpy_form(), _tower_gradients(z, cells, theta))):
        raise SystemExit("the tower kernel differs from its NumPy form")
    import numba

    return [("tower gradients, 10^6 cells", numba.get_num_threads(), best_time(numpy_form, repeat),
             best_time(lambda: _tower_gradients(z, cells, theta), repeat))]


def bench_softmax(repeat):
    import numba

    from ltr._relevance_model import _gradients

    rng = np.random.default_rng(0)
    sizes = rng.integers(10, 40, size=64_000)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    f = rng.standard_normal(sizes.sum())
    y = (rng.random(f.size) < 0.2) * rng.random(f.size)
    w = np.repeat(rng.integers(1, 30, sizes.size).astype(float), sizes)

    def numpy_form():
        group = np.repeat(np.arange(sizes.size), sizes)
        e = np.exp(f - np.maximum.reduceat(f, starts)[group])
        p = e / np.add.reduceat(e, starts)[group]
        wy = w * y
        total, scale = np.add.reduceat(wy, starts)[group], np.add.reduceat(np.abs(wy), starts)[group]
        return total * p - wy, np.maximum(scale * (p * (1.0 - p)), 1e-12)

    def kernel():
        return _gradients("softmax", f, y, w, starts, sizes)

    if not all(np.array_equal(a, b) for a, b in zip(numpy_form(), kernel())):
        raise SystemExit("the softmax kernel differs from its NumPy form")
    return [("softmax gradients, 1.57 M rows", numba.get_num_threads(), best_time(numpy_form, repeat), best_time(kernel, repeat))]


def main():
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=positive_int, default=5)
    args = parser.parse_args()
    rows = bench_predict(args.repeat) + bench_softmax(args.repeat) + bench_tower(args.repeat)
    print("| kernel | threads | before (same process) | Numba | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, threads, before, after in rows:
        print(f"| {name} | {threads} | {before:.3f} s | {after:.3f} s | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
