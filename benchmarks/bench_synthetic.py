"""Time of the synthetic data generator, and of its feature step against the column-at-a-time form it replaced.

``make_synthetic`` draws the factors, then builds the observed features
(``simulator._synthetic._observed_features``): in cache-sized blocks of rows,
every column of a block before the next, each block written transposed once.
The form it replaced built one column over all rows at a time and wrote it
into the row-major matrix (a strided write through the whole matrix per
column).  Both run here on the same inputs, in one process, and their
outputs are checked to be bitwise equal before any is timed; then the whole
``make_synthetic`` is timed.  Shapes: the scale benchmark's 8 x 10^4 queries
of 30 documents with 20 features, and MSLR-WEB30K's shape (31,531 queries of
10 to 230 documents, 136 features).  Best of ``--repeat`` runs.

Usage::

    python benchmarks/bench_synthetic.py [--repeat 3]
"""

import argparse
import os

import numpy as np

from simulator import make_synthetic
from simulator._synthetic import _observed_features
from clickloop._arguments import OneLineParser, positive_int
from _timing import best_time

SHAPES = {
    "default, 8 x 10^4 queries x 30": {"n_queries": 80_000, "docs_per_query": 30, "n_features": 20},
    "MSLR-WEB30K shape": {"n_queries": 31_531, "docs_per_query": (10, 230), "n_features": 136},
}


def column_at_a_time(factors, shifts, sizes, columns, kinds, scales, offsets):
    """The former form: each column built over all rows, then written into the row-major features."""
    n_features, n_docs = factors.shape
    features = np.empty((n_docs, n_features), dtype=np.float32)
    u = np.empty(n_docs, dtype=np.float32)
    for j, source in enumerate(columns):
        np.add(factors[source], np.repeat(shifts[source].astype(np.float32), sizes), out=u)
        if kinds[j] == 0:
            u *= np.float32(0.5)
            np.exp(u, out=u)
            u *= np.float32(scales[j])
        elif kinds[j] == 1:
            np.negative(u, out=u)
            np.exp(u, out=u)
            u += np.float32(1.0)
            np.reciprocal(u, out=u)
        else:
            u *= np.float32(scales[j])
            u += np.float32(offsets[j])
        features[:, j] = u
    return features


def inputs(n_queries, docs_per_query, n_features, seed=0):
    """Random inputs of the feature step with the generator's shapes and dtypes."""
    rng = np.random.default_rng(seed)
    low, high = (docs_per_query, docs_per_query) if np.isscalar(docs_per_query) else docs_per_query
    sizes = rng.integers(low, high, endpoint=True, size=n_queries)
    factors = rng.standard_normal((n_features, int(sizes.sum())), dtype=np.float32)
    shifts = 0.5 * rng.standard_normal((n_features, n_queries))
    return (factors, shifts, sizes, rng.permutation(n_features), rng.permutation(np.arange(n_features) % 3),
            10.0 ** rng.uniform(0.0, 3.0, size=n_features), rng.uniform(0.0, 1000.0, size=n_features))


def feature_times(name, shape, repeat):
    """(column-at-a-time seconds, blocked seconds) of the feature step on random inputs of ``shape``."""
    arguments = inputs(**shape)
    if not np.array_equal(_observed_features(*arguments), column_at_a_time(*arguments)):
        raise SystemExit(f"{name}: the blocked features differ from the column-at-a-time ones")
    return best_time(lambda: column_at_a_time(*arguments), repeat), best_time(lambda: _observed_features(*arguments), repeat)


def main():
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=positive_int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for name, shape in SHAPES.items():
        before, after = feature_times(name, shape, args.repeat)
        total = best_time(lambda: make_synthetic(seed=0, **shape), args.repeat)
        rows.append((name, before, after, total))
    print(f"best of {args.repeat}, load average {load:.2f} at the start")
    print("| data | features, column at a time | features, blocked | ratio | make_synthetic in all |")
    print("|---|---:|---:|---:|---:|")
    for name, before, after, total in rows:
        print(f"| {name} | {before:.2f} s | {after:.2f} s | {before / after:.2f}x | {total:.2f} s |")


if __name__ == "__main__":
    main()
