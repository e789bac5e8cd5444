"""Synthetic learning-to-rank data, the default data set of the simulator.

:func:`make_synthetic` draws queries, documents and graded relevance labels
that look like real LTR data in the ways that matter for click simulation:
features on different scales, some informative, some redundant, some noise;
queries that differ in their feature levels and in how many relevant
documents they have; and a part of relevance (item quality) that no feature
explains, so that clicks carry information beyond the features.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._dataset import RankingDataset, _freeze
from .validation import check_int as _check_int
from .validation import check_seed as _check_seed

__all__ = ["make_synthetic"]

#: Pairwise correlation of the informative document factors.
_FACTOR_CORRELATION = 0.3
#: Correlation of a redundant feature with the informative factor it copies.
_REDUNDANT_CORRELATION = 0.8
#: Standard deviation of the per-query shift of every feature factor.
_QUERY_SHIFT_STD = 0.5
#: Standard deviation of the per-query difficulty offset of the relevance score.
_DIFFICULTY_STD = 1.0
#: Grade shares must sum to 1 within this tolerance.
_SUM_TOLERANCE = 1e-9
#: Bytes of the float32 features built per block of rows (in cache; 26,214 rows of 20 features).
_FEATURE_BLOCK_BYTES = 1 << 21


def _observed_features(factors, shifts, sizes, columns, kinds, scales, offsets):
    """The row-major float32 features: column j is factor ``columns[j]`` plus its per-query shift, transformed.

    Parameters
    ----------
    factors : ndarray of float32, shape (n_features, n_docs)
    shifts : ndarray of shape (n_features, n_queries)
        Per-query shift of each factor (used as float32).
    sizes : ndarray of int, shape (n_queries,)
        Documents per query.
    columns : ndarray of int, shape (n_features,)
        The factor of each column.
    kinds, scales, offsets : ndarray of shape (n_features,)
        Transform of column j: 0 heavy-tailed exp(u / 2) * scale, 1 the
        logistic 1 / (1 + exp(-u)), 2 affine u * scale + offset.

    Returns
    -------
    ndarray of float32, shape (n_docs, n_features)

    Notes
    -----
    Built in blocks of rows, every column of a block while the block is in
    cache, and each block written transposed once: a column at a time over
    all rows strides through the whole matrix once per column
    (``benchmarks/bench_synthetic.py`` times both).  The operations are
    elementwise float32 ones, so the values do not depend on the blocking.
    Besides the factors and the features, only the int32 query of each
    document is of the data's size.
    """
    n_features, n_docs = factors.shape
    features = np.empty((n_docs, n_features), dtype=np.float32)
    shifts = shifts.astype(np.float32)
    doc_query = np.repeat(np.arange(sizes.size, dtype=np.int32), sizes)
    rows = max(1024, _FEATURE_BLOCK_BYTES // (4 * n_features))
    block = np.empty((n_features, min(n_docs, rows)), dtype=np.float32)  # column-major
    for start in range(0, n_docs, rows):
        stop = min(n_docs, start + rows)
        block_query = doc_query[start:stop]
        for j, source in enumerate(columns):
            v = block[j, :stop - start]
            np.add(factors[source, start:stop], shifts[source][block_query], out=v)
            if kinds[j] == 0:  # heavy-tailed positive, like term counts or BM25
                v *= np.float32(0.5)
                np.exp(v, out=v)
                v *= np.float32(scales[j])
            elif kinds[j] == 1:  # bounded in (0, 1), like normalised scores
                np.negative(v, out=v)
                np.exp(v, out=v)
                v += np.float32(1.0)
                np.reciprocal(v, out=v)
            else:  # affine with a large offset, like lengths or counts of links
                v *= np.float32(scales[j])
                v += np.float32(offsets[j])
        features[start:stop] = block[:, :stop - start].T
    return features


def _check_docs_per_query(docs_per_query) -> tuple[int, int]:
    """Return ``(low, high)`` of the inclusive range of documents per query."""
    if isinstance(docs_per_query, numbers.Integral) and not isinstance(
        docs_per_query, bool
    ):
        k = _check_int(docs_per_query, "docs_per_query", 1)
        return k, k
    try:
        low, high = docs_per_query
    except (TypeError, ValueError):
        raise ValueError(
            "docs_per_query must be a positive integer or a (low, high) tuple of "
            f"positive integers, got {docs_per_query!r}"
        ) from None
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(
                "docs_per_query must be a positive integer or a (low, high) tuple "
                f"of positive integers, got {docs_per_query!r}"
            )
    if low > high:
        raise ValueError(
            f"docs_per_query must have low <= high, got {docs_per_query!r}"
        )
    return int(low), int(high)


def _check_grade_distribution(grade_distribution) -> np.ndarray:
    try:
        shares = np.asarray(grade_distribution, dtype=np.float64)
    except (TypeError, ValueError):
        shares = None
    if shares is None or shares.ndim != 1 or shares.shape[0] < 2:
        raise ValueError(
            "grade_distribution must be a sequence of at least 2 shares (one per "
            f"grade), got {grade_distribution!r}"
        )
    if not (np.isfinite(shares).all() and (shares > 0).all()):
        raise ValueError(
            f"grade_distribution must have all shares > 0, got {grade_distribution!r}"
        )
    if abs(shares.sum() - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            "grade_distribution must sum to 1 (within 1e-9), got "
            f"{grade_distribution!r} with sum {float(shares.sum())!r}"
        )
    return shares


def _project(weights, rows, block=1 << 16):
    """``weights @ rows`` (float64) by blocks of columns: the float64 copy numpy makes of the
    float32 ``rows`` is one block's, not the whole matrix's."""
    out = np.empty(rows.shape[1])
    for start in range(0, rows.shape[1], block):
        out[start:start + block] = weights @ rows[:, start:start + block]
    return out


def _unit_projection(rng, factor_cov_diag, factor_cov_offdiag, n):
    """Random direction ``w`` scaled so that ``factors @ w`` has unit variance."""
    w = rng.standard_normal(n)
    var = factor_cov_diag * (w @ w) + factor_cov_offdiag * (w.sum() ** 2 - w @ w)
    return w / math.sqrt(var)


def _grades_by_rank(score, cumulative):
    """Grade of each document: g for the documents at ranks ``cumulative[g - 1]`` to ``cumulative[g] - 1``
    of ``score`` ascending (ties by position, as a stable sort orders them).

    The grade boundaries are found by selection (``np.partition``), not by
    sorting every score; if a boundary's score is tied, the stable sort
    decides, so the grades are always those of ``np.argsort(score,
    kind="stable")``.
    """
    n = score.size
    cuts = cumulative[:-1]
    inside = cuts < n
    thresholds = np.full(cuts.size, np.inf)  # a cut at n: no document reaches the grades above it
    if np.any(inside):
        thresholds[inside] = np.partition(score, np.unique(cuts[inside]))[cuts[inside]]
    if all(np.count_nonzero(score == t) <= 1 for t in thresholds[inside]):
        # rank >= cut  <=>  score >= the score at that rank (it is not tied)
        return np.searchsorted(thresholds, score, side="right").astype(np.int64)
    labels = np.empty(n, dtype=np.int64)
    labels[np.argsort(score, kind="stable")] = np.repeat(
        np.arange(cumulative.size, dtype=np.int64), np.diff(cumulative, prepend=0))
    return labels


def make_synthetic(
    n_queries: int = 1000,
    docs_per_query=50,
    n_features: int = 20,
    relevance: str = "linear",
    label_noise: float = 0.5,
    document_share: float = 0.3,
    grade_distribution=(0.45, 0.32, 0.15, 0.06, 0.02),
    seed: int = 0,
    name: str = "synthetic",
) -> RankingDataset:
    """Draw a synthetic learning-to-rank dataset with graded relevance.

    The generative model, all from one ``numpy.random.default_rng(seed)``:

    1. *Documents per query*: ``docs_per_query`` each, or drawn uniformly from
       the inclusive range ``(low, high)`` per query.
    2. *Document factors*: ``n_informative = max(1, n_features // 2)``
       standard normal factors with pairwise correlation 0.3 (a common
       factor), ``(n_features - n_informative) // 2`` redundant factors
       (correlation 0.8 with a random informative one, like BM25 next to
       TF-IDF) and independent noise factors for the rest.
    3. *Observed features*: every factor plus a per-query shift
       (``N(0, 0.5**2)`` per query and feature, so feature levels differ
       between queries and only within-query comparisons are clean), then one
       monotone transform per column so the columns live on different scales
       like real LTR features: heavy-tailed positive (``scale * exp(u / 2)``,
       like term counts), bounded in ``(0, 1)`` (logistic, like normalised
       scores) or affine with a large offset and scale. Columns are shuffled.
    4. *Latent relevance* with unit variance:
       ``sqrt(1 - document_share) * f + sqrt(document_share) * q`` where ``f``
       is a function of the (unshifted) informative factors standardised to
       unit variance and ``q ~ N(0, 1)`` is a document quality that no
       feature explains. ``relevance="linear"``: ``f`` is a fixed random
       linear function. ``relevance="nonlinear"``: ``f = sin(2 z1) + z2 * z3
       + 1.5 * [z4 > 0.5]`` on random unit-variance projections ``z``, so a
       linear model clearly underfits.
    5. *Noisy score*: latent relevance plus a per-query difficulty offset
       (``N(0, 1)``; hard queries get few or no relevant documents)
       plus Gaussian label noise of standard deviation ``label_noise``.
    6. *Grades* ``0, ..., len(grade_distribution) - 1`` by global quantiles of
       the noisy score: the documents are sorted by score and grade ``g`` is
       given to the next ``round(c_g * n_docs) - round(c_{g-1} * n_docs)``
       of them, ``c_g`` the cumulative share. Each grade share therefore
       differs from the requested one by at most ``1 / n_docs``.

    Parameters
    ----------
    n_queries : int, default=1000
        Number of queries, >= 1.
    docs_per_query : int or tuple of (int, int), default=50
        Documents per query: a fixed number >= 1, or an inclusive range
        ``(low, high)`` with ``1 <= low <= high`` drawn uniformly per query.
    n_features : int, default=20
        Number of feature columns, >= 1.
    relevance : {"linear", "nonlinear"}, default="linear"
        Shape of the feature part of relevance.
    label_noise : float, default=0.5
        Standard deviation of the Gaussian noise added to the unit-variance
        latent relevance before grading, >= 0.
    document_share : float, default=0.3
        Share of the latent relevance variance that the features do not
        explain (item quality), ``0 <= document_share < 1``.
    grade_distribution : sequence of float, default=(0.45, 0.32, 0.15, 0.06, 0.02)
        Overall share of each grade, at least two, all > 0, summing to 1
        (within 1e-9).
    seed : int, default=0
        Seed of ``numpy.random.default_rng``; the same arguments give
        identical output.
    name : str, default="synthetic"
        Name of the dataset.

    Returns
    -------
    RankingDataset
        Features float32 of shape (n_docs, n_features), labels int64 in
        ``0 .. len(grade_distribution) - 1``, query ids ``0 .. n_queries - 1``.

    Raises
    ------
    ValueError
        If an argument is out of range; the message names the parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator._synthetic import make_synthetic
    >>> data = make_synthetic(n_queries=100, docs_per_query=(5, 15), n_features=8,
    ...                       seed=42)
    >>> data.n_queries, data.n_features
    (100, 8)
    >>> bool(data.query_sizes.min() >= 5 and data.query_sizes.max() <= 15)
    True
    >>> shares = np.bincount(data.labels, minlength=5) / data.n_docs
    >>> bool(np.abs(shares - [0.45, 0.32, 0.15, 0.06, 0.02]).max() <= 1 / data.n_docs)
    True
    """
    n_queries = _check_int(n_queries, "n_queries", 1)
    low, high = _check_docs_per_query(docs_per_query)
    n_features = _check_int(n_features, "n_features", 1)
    if relevance not in ("linear", "nonlinear"):
        raise ValueError(
            f"relevance must be 'linear' or 'nonlinear', got {relevance!r}"
        )
    if (
        isinstance(label_noise, bool)
        or not isinstance(label_noise, numbers.Real)
        or not (math.isfinite(label_noise) and label_noise >= 0)
    ):
        raise ValueError(
            f"label_noise must be a finite float >= 0, got {label_noise!r}"
        )
    if (
        isinstance(document_share, bool)
        or not isinstance(document_share, numbers.Real)
        or not 0 <= document_share < 1
    ):
        raise ValueError(
            f"document_share must be a float in [0, 1), got {document_share!r}"
        )
    shares = _check_grade_distribution(grade_distribution)
    seed = _check_seed(seed)
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {name!r}")

    rng = np.random.default_rng(seed)

    # 1. Documents per query.
    if low == high:
        sizes = np.full(n_queries, low, dtype=np.int64)
    else:
        sizes = rng.integers(low, high, endpoint=True, size=n_queries, dtype=np.int64)
    boundaries = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(sizes, out=boundaries[1:])
    n_docs = int(boundaries[-1])

    # 2. Document factors, one row per factor (float32, rows are contiguous
    # for the column-wise work below): informative (correlated through a
    # common factor), redundant noisy copies of informative ones, pure noise.
    n_informative = max(1, n_features // 2)
    n_redundant = (n_features - n_informative) // 2
    rho = _FACTOR_CORRELATION
    r = _REDUNDANT_CORRELATION
    factors = rng.standard_normal((n_features, n_docs), dtype=np.float32)
    informative = factors[:n_informative]
    informative *= np.float32(math.sqrt(1.0 - rho))
    common = rng.standard_normal(n_docs, dtype=np.float32)
    informative += np.float32(math.sqrt(rho)) * common
    sources = rng.integers(0, n_informative, size=n_redundant)
    redundant = factors[n_informative:n_informative + n_redundant]
    redundant *= np.float32(math.sqrt(1.0 - r * r))
    for row, source in zip(redundant, sources):  # row by row: no (n_redundant, n_docs) temporary
        row += np.float32(r) * informative[source]

    # 4. Feature part of relevance, on the unshifted informative factors.
    if relevance == "linear":
        f = _project(rng.standard_normal(n_informative), informative)
    else:
        w = [_unit_projection(rng, 1.0, rho, n_informative) for _ in range(4)]
        z1, z2, z3, z4 = (_project(wk, informative) for wk in w)
        f = np.sin(2.0 * z1) + z2 * z3 + 1.5 * (z4 > 0.5)
    f_std = f.std()
    f = (f - f.mean()) / f_std if f_std > 0 else np.zeros(n_docs)
    latent = math.sqrt(1.0 - document_share) * f
    latent += math.sqrt(document_share) * rng.standard_normal(n_docs)

    # 5. Noisy score: per-query difficulty and label noise.
    difficulty = _DIFFICULTY_STD * rng.standard_normal(n_queries)
    score = latent + np.repeat(difficulty, sizes)
    score += label_noise * rng.standard_normal(n_docs)

    # 6. Grades by global quantiles (rank based, so shares are exact up to
    # rounding of the cumulative counts).
    cumulative = np.rint(np.cumsum(shares) * n_docs).astype(np.int64)
    cumulative[-1] = n_docs
    labels = _grades_by_rank(score, cumulative)

    # 3. Observed features: per-query shift, then one monotone transform per
    # column onto a scale typical of LTR features; columns shuffled.
    shifts = _QUERY_SHIFT_STD * rng.standard_normal((n_features, n_queries))
    kinds = rng.permutation(np.arange(n_features) % 3)
    scales = 10.0 ** rng.uniform(0.0, 3.0, size=n_features)
    offsets = rng.uniform(0.0, 1000.0, size=n_features)
    columns = rng.permutation(n_features)
    features = _observed_features(factors, shifts, sizes, columns, kinds, scales, offsets)
    del factors, informative, redundant

    return RankingDataset(
        features=_freeze(features),
        labels=_freeze(labels),
        query_boundaries=_freeze(boundaries),
        query_ids=_freeze(np.arange(n_queries, dtype=np.int64)),
        name=name,
    )
