"""Ranking data sets: documents with graded relevance, grouped into queries.

:class:`RankingDataset` is the value object that every part of the simulator
reads: click models look up the relevance grades of the documents they show,
rankers score the feature rows of one query. Rows of one query are contiguous;
``query_boundaries`` holds the offsets of the queries, as in LightGBM's and
scikit-learn's query-grouped formats.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .validation import check_seed as _check_seed
from .validation import check_query_boundaries
from .validation import describe as _describe

__all__ = ["RankingDataset"]


def _freeze(array: np.ndarray) -> np.ndarray:
    """Mark an array that nobody else references as read-only and return it."""
    array.flags.writeable = False
    return array


def _as_array(value, name: str, dtype, ndim: int, kinds: str) -> np.ndarray:
    """Convert ``value`` to a read-only C-contiguous array of ``dtype``.

    The result is copied when it would otherwise share memory with a writeable
    array of the caller, so that the caller cannot change a frozen dataset.
    """
    given = np.asarray(value)
    if given.dtype.kind not in kinds:
        raise ValueError(
            f"{name} must be a numeric array, got {_describe(given)}"
        )
    if given.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-dimensional, got {_describe(given)}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(given, dtype=dtype)
    if given.flags.writeable and np.may_share_memory(out, given):
        out = out.copy()
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False, repr=False)
class RankingDataset:
    """Documents with features and graded relevance, grouped into queries.

    The rows of one query are contiguous: query ``i`` owns rows
    ``query_boundaries[i]:query_boundaries[i + 1]``. All arrays are converted
    on construction (features to float32, the rest to int64) and made
    read-only, so a dataset never changes after it was validated. Arrays are
    copied when they would otherwise share writeable memory with the caller.

    Parameters
    ----------
    features : array-like of shape (n_docs, n_features)
        Feature rows of the documents; stored as C-contiguous float32. All
        values must be finite after the conversion to float32.
    labels : array-like of shape (n_docs,)
        Graded relevance of each document, non-negative integers (integral
        floats such as ``2.0`` are accepted); stored as int64.
    query_boundaries : array-like of shape (n_queries + 1,)
        Integer row offsets of the queries: starts at 0, ends at ``n_docs``,
        strictly increasing (no empty query). At least one query.
    query_ids : array-like of shape (n_queries,)
        Unique integer identifier of each query (for example the ``qid`` of a
        LETOR file); stored as int64.
    name : str, default="dataset"
        Name used in reports and file names.

    Raises
    ------
    ValueError
        If an array has the wrong shape or dtype, or violates the rules above.
        The message names the field, what was expected and what was given.

    Notes
    -----
    Equality and hashing are by identity (``eq=False``): comparing two
    datasets element by element is an explicit operation on their arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from simulator._dataset import RankingDataset
    >>> data = RankingDataset(
    ...     features=np.arange(10.0).reshape(5, 2),
    ...     labels=[0, 2, 1, 0, 3],
    ...     query_boundaries=[0, 3, 5],
    ...     query_ids=[10, 20],
    ... )
    >>> data
    RankingDataset(name='dataset', n_queries=2, n_docs=5, n_features=2)
    >>> data.query_sizes
    array([3, 2])
    >>> data.labels[data.query_slice(1)]
    array([0, 3])
    >>> data.features.dtype, data.features.flags.writeable
    (dtype('float32'), False)
    """

    features: np.ndarray
    labels: np.ndarray
    query_boundaries: np.ndarray
    query_ids: np.ndarray
    name: str = "dataset"

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a str, got {_describe(self.name)}")

        features = _as_array(self.features, "features", np.float32, 2, "biuf")
        step = max(1, (1 << 24) // max(1, features.shape[1]))  # row blocks: no mask of the features' size
        for start in range(0, features.shape[0], step):
            block = features[start:start + step]
            if np.isfinite(block).all():
                continue
            row, col = (int(v) for v in np.argwhere(~np.isfinite(block))[0])
            row += start
            given = np.asarray(self.features)[row, col].item()
            raise ValueError(
                "features must be finite float32 values, got "
                f"{given!r} at row {row}, column {col}"
            )

        labels = np.asarray(self.labels)
        if labels.dtype.kind not in "biuf":
            raise ValueError(
                "labels must be an array of non-negative integers, got "
                f"{_describe(labels)}"
            )
        if labels.ndim != 1:
            raise ValueError(
                f"labels must be 1-dimensional, got {_describe(labels)}"
            )
        if labels.dtype.kind == "f":
            bad = ~np.isfinite(labels) | (labels != np.round(labels))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    "labels must be non-negative integers, got the non-integral "
                    f"value {labels[i].item()!r} at index {i}"
                )
        if labels.size and labels.max() > 2**62:
            i = int(np.argmax(labels))
            raise ValueError(
                f"labels must be at most 2**62, got {labels[i].item()!r} at index {i}"
            )
        if labels.size and labels.min() < 0:
            i = int(np.argmin(labels))
            raise ValueError(
                "labels must be non-negative integers, got "
                f"{labels[i].item()!r} at index {i}"
            )
        labels = _as_array(labels, "labels", np.int64, 1, "biuf")
        n_docs = labels.shape[0]

        if features.shape[0] != n_docs:
            raise ValueError(
                "features must have one row per label (n_docs="
                f"{n_docs}), got {features.shape[0]} rows"
            )

        boundaries = check_query_boundaries(self.query_boundaries, n_docs).copy()  # not the caller's array
        boundaries.flags.writeable = False
        n_queries = boundaries.shape[0] - 1

        query_ids = _as_array(self.query_ids, "query_ids", np.int64, 1, "iu")
        if query_ids.shape[0] != n_queries:
            raise ValueError(
                f"query_ids must have one entry per query (n_queries={n_queries}),"
                f" got {query_ids.shape[0]} entries"
            )
        unique, counts = np.unique(query_ids, return_counts=True)
        if unique.shape[0] != n_queries:
            raise ValueError(
                "query_ids must be unique, got the repeated id "
                f"{int(unique[np.argmax(counts > 1)])}"
            )

        object.__setattr__(self, "features", features)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "query_boundaries", boundaries)
        object.__setattr__(self, "query_ids", query_ids)

    def __reduce__(self):
        # Rebuild through the constructor so that unpickled arrays (which
        # numpy restores as writeable) are validated and frozen again.
        return (
            type(self),
            (self.features, self.labels, self.query_boundaries, self.query_ids, self.name),
        )

    def __repr__(self) -> str:
        return (
            f"RankingDataset(name={self.name!r}, n_queries={self.n_queries}, "
            f"n_docs={self.n_docs}, n_features={self.n_features})"
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_docs(self) -> int:
        """int : Number of documents (rows)."""
        return int(self.labels.shape[0])

    @property
    def n_queries(self) -> int:
        """int : Number of queries."""
        return int(self.query_boundaries.shape[0] - 1)

    @property
    def n_features(self) -> int:
        """int : Number of feature columns."""
        return int(self.features.shape[1])

    @property
    def query_sizes(self) -> np.ndarray:
        """ndarray of shape (n_queries,) : Number of documents of each query."""
        return np.diff(self.query_boundaries)

    @property
    def max_label(self) -> int:
        """int : Highest relevance grade present in the data."""
        return int(self.labels.max())

    @property
    def doc_query(self) -> np.ndarray:
        """ndarray of shape (n_docs,) : Query index (0-based) of each row."""
        return np.repeat(np.arange(self.n_queries, dtype=np.int64), self.query_sizes)

    def query_slice(self, i: int) -> slice:
        """Rows of query ``i``.

        Parameters
        ----------
        i : int
            Query index, ``-n_queries <= i < n_queries`` (negative counts from
            the end, as for sequences).

        Returns
        -------
        slice
            ``slice(query_boundaries[i], query_boundaries[i + 1])``.

        Examples
        --------
        >>> from simulator._dataset import RankingDataset
        >>> data = RankingDataset.from_group_sizes([[0.0]] * 5, [0] * 5, [2, 3])
        >>> data.query_slice(1)
        slice(2, 5, None)
        """
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise ValueError(f"i must be an integer query index, got {_describe(i)}")
        n = self.n_queries
        if not -n <= i < n:
            raise ValueError(
                f"i must be in [{-n}, {n}) for a dataset with {n} queries, got {i}"
            )
        i = int(i) % n
        return slice(int(self.query_boundaries[i]), int(self.query_boundaries[i + 1]))

    # ----------------------------------------------------------- construction
    @classmethod
    def from_group_sizes(
        cls,
        features,
        labels,
        group_sizes,
        query_ids=None,
        name: str = "dataset",
    ) -> "RankingDataset":
        """Build a dataset from the number of consecutive rows of each query.

        This is LightGBM's ``group`` convention (one size per query, rows of
        a query consecutive).

        Parameters
        ----------
        features : array-like of shape (n_docs, n_features)
            Feature rows.
        labels : array-like of shape (n_docs,)
            Non-negative integer relevance grades.
        group_sizes : array-like of shape (n_queries,)
            Positive integers summing to ``n_docs``.
        query_ids : array-like of shape (n_queries,), default=None
            Unique query identifiers; ``None`` means ``0, ..., n_queries - 1``.
        name : str, default="dataset"
            Name of the dataset.

        Returns
        -------
        RankingDataset

        Examples
        --------
        >>> import numpy as np
        >>> from simulator._dataset import RankingDataset
        >>> data = RankingDataset.from_group_sizes(
        ...     np.zeros((4, 3)), [1, 0, 0, 2], group_sizes=[1, 3])
        >>> data.query_boundaries
        array([0, 1, 4])
        >>> data.query_ids
        array([0, 1])
        """
        sizes = np.asarray(group_sizes)
        if sizes.dtype.kind not in "iu" or sizes.ndim != 1 or sizes.shape[0] == 0:
            raise ValueError(
                "group_sizes must be a non-empty 1-dimensional array of positive "
                f"integers, got {_describe(sizes)}"
            )
        if (sizes <= 0).any():
            i = int(np.flatnonzero(sizes <= 0)[0])
            raise ValueError(
                f"group_sizes must be positive integers, got {int(sizes[i])} at "
                f"index {i}"
            )
        n_docs = np.shape(labels)[0] if np.ndim(labels) >= 1 else None
        boundaries = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=boundaries[1:])
        if n_docs is not None and boundaries[-1] != n_docs:
            raise ValueError(
                f"group_sizes must sum to the number of labels (n_docs={n_docs}), "
                f"got a sum of {int(boundaries[-1])}"
            )
        if query_ids is None:
            query_ids = np.arange(sizes.shape[0], dtype=np.int64)
        return cls(
            features=features,
            labels=labels,
            query_boundaries=_freeze(boundaries),
            query_ids=query_ids,
            name=name,
        )

    # ---------------------------------------------------------------- subsets
    def subset(self, query_indices, name: str | None = None) -> "RankingDataset":
        """Dataset made of the given queries, in the given order.

        Parameters
        ----------
        query_indices : array-like of int of shape (n_selected,)
            Distinct query indices in ``[0, n_queries)``; at least one.
        name : str, default=None
            Name of the result; ``None`` keeps this dataset's name.

        Returns
        -------
        RankingDataset
            The selected queries with contiguous rows, their query ids kept.

        Examples
        --------
        >>> import numpy as np
        >>> from simulator._dataset import RankingDataset
        >>> data = RankingDataset.from_group_sizes(
        ...     np.arange(5.0)[:, None], [0, 1, 2, 3, 4], [2, 1, 2],
        ...     query_ids=[7, 8, 9])
        >>> part = data.subset([2, 0])
        >>> part.labels, part.query_ids, part.query_boundaries
        (array([3, 4, 0, 1]), array([9, 7]), array([0, 2, 4]))
        """
        idx = np.asarray(query_indices)
        if idx.dtype.kind not in "iu" or idx.ndim != 1 or idx.shape[0] == 0:
            raise ValueError(
                "query_indices must be a non-empty 1-dimensional array of integer "
                f"query indices, got {_describe(idx)}"
            )
        idx = idx.astype(np.int64)
        if idx.min() < 0 or idx.max() >= self.n_queries:
            bad = idx[(idx < 0) | (idx >= self.n_queries)][0]
            raise ValueError(
                f"query_indices must be in [0, {self.n_queries}), got {int(bad)}"
            )
        if np.unique(idx).shape[0] != idx.shape[0]:
            raise ValueError(
                "query_indices must be distinct (query ids must stay unique), got "
                "a repeated index"
            )
        sizes = self.query_sizes[idx]
        boundaries = np.zeros(idx.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=boundaries[1:])
        rows = np.repeat(self.query_boundaries[idx] - boundaries[:-1], sizes)
        rows += np.arange(boundaries[-1], dtype=np.int64)
        return RankingDataset(
            features=_freeze(self.features[rows]),
            labels=_freeze(self.labels[rows]),
            query_boundaries=_freeze(boundaries),
            query_ids=_freeze(self.query_ids[idx]),
            name=self.name if name is None else name,
        )

    def split(
        self, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0
    ) -> tuple["RankingDataset", ...]:
        """Split the queries at random into disjoint parts.

        A seeded permutation of the queries (``numpy.random.default_rng(seed)``)
        is cut into consecutive chunks; within each part the queries keep
        their original order. Part sizes follow ``fractions`` by the largest
        remainder method with at least one query per part.

        Parameters
        ----------
        fractions : sequence of float, default=(0.6, 0.2, 0.2)
            Positive shares of the queries, summing to 1 within 1e-9.
        seed : int, default=0
            Seed of the permutation; the same seed gives the same split.

        Returns
        -------
        tuple of RankingDataset
            One dataset per fraction, named ``"<name>.part<k>"``.

        Raises
        ------
        ValueError
            If a fraction is not positive, they do not sum to 1, or there are
            fewer queries than parts.

        Examples
        --------
        >>> from simulator._synthetic import make_synthetic
        >>> data = make_synthetic(n_queries=10, docs_per_query=4, seed=1)
        >>> train, valid, test = data.split((0.6, 0.2, 0.2), seed=0)
        >>> train.n_queries, valid.n_queries, test.n_queries
        (6, 2, 2)
        >>> import numpy as np
        >>> np.sort(np.concatenate([part.query_ids for part in (train, valid, test)]))
        array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        """
        try:
            shares = np.asarray(fractions, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"fractions must be a sequence of positive floats, got {fractions!r}"
            ) from None
        if shares.ndim != 1 or shares.shape[0] == 0:
            raise ValueError(
                f"fractions must be a non-empty sequence of floats, got {fractions!r}"
            )
        if not (np.isfinite(shares).all() and (shares > 0).all()):
            raise ValueError(f"fractions must all be positive, got {fractions!r}")
        if abs(shares.sum() - 1.0) > 1e-9:
            raise ValueError(
                f"fractions must sum to 1 (within 1e-9), got {fractions!r} with sum "
                f"{float(shares.sum())!r}"
            )
        seed = _check_seed(seed)
        n, k = self.n_queries, shares.shape[0]
        if n < k:
            raise ValueError(
                f"fractions asks for {k} non-empty parts but the dataset has only "
                f"{n} queries"
            )
        counts = _allocate(shares, n)
        order = np.random.default_rng(seed).permutation(n)
        ends = np.cumsum(counts)
        return tuple(
            self.subset(np.sort(order[end - count:end]), name=f"{self.name}.part{j}")
            for j, (end, count) in enumerate(zip(ends, counts))
        )

    def sample_queries(
        self,
        fraction: float | None = None,
        n_queries: int | None = None,
        seed: int = 0,
    ) -> "RankingDataset":
        """Random subset of the queries, without replacement.

        Used for the protocol "production ranker trained on 1 % of the
        labelled queries". Give exactly one of ``fraction`` and ``n_queries``.

        Parameters
        ----------
        fraction : float, default=None
            Share of the queries in ``(0, 1]``; the number kept is
            ``max(1, round(fraction * n_queries))``.
        n_queries : int, default=None
            Number of queries to keep, in ``[1, self.n_queries]``.
        seed : int, default=0
            Seed of ``numpy.random.default_rng``; the same seed gives the same
            sample.

        Returns
        -------
        RankingDataset
            The sampled queries in their original order, named
            ``"<name>.sample"``.

        Examples
        --------
        >>> from simulator._synthetic import make_synthetic
        >>> data = make_synthetic(n_queries=200, docs_per_query=5, seed=0)
        >>> data.sample_queries(fraction=0.01, seed=3).n_queries
        2
        >>> data.sample_queries(n_queries=5, seed=3).n_queries
        5
        """
        if (fraction is None) == (n_queries is None):
            raise ValueError(
                "give exactly one of fraction and n_queries, got "
                f"fraction={fraction!r} and n_queries={n_queries!r}"
            )
        if fraction is not None:
            if (
                isinstance(fraction, bool)
                or not isinstance(fraction, numbers.Real)
                or not 0 < fraction <= 1
            ):
                raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
            count = max(1, int(round(float(fraction) * self.n_queries)))
        else:
            if (
                isinstance(n_queries, bool)
                or not isinstance(n_queries, numbers.Integral)
                or not 1 <= n_queries <= self.n_queries
            ):
                raise ValueError(
                    f"n_queries must be an integer in [1, {self.n_queries}], got "
                    f"{n_queries!r}"
                )
            count = int(n_queries)
        seed = _check_seed(seed)
        chosen = np.random.default_rng(seed).permutation(self.n_queries)[:count]
        return self.subset(np.sort(chosen), name=f"{self.name}.sample")


def _allocate(shares: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` items into ``len(shares)`` positive counts near ``shares * n``.

    Largest remainder method, then moves single items so that every count is
    at least 1 (requires ``n >= len(shares)``).
    """
    ideal = shares * n
    counts = np.floor(ideal).astype(np.int64)
    remainder = ideal - counts
    for j in np.argsort(-remainder, kind="stable")[: n - int(counts.sum())]:
        counts[j] += 1
    for j in np.flatnonzero(counts == 0):
        # Take one item from the part that is most above its ideal size.
        excess = np.where(counts > 1, counts - ideal, -math.inf)
        counts[int(np.argmax(excess))] -= 1
        counts[j] = 1
    return counts
