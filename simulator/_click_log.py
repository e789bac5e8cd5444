"""Persistent click logs: one row per session, stored as Parquet.

A :class:`ClickLog` holds the sessions of a feedback loop: which query was
issued, in which round, by which logging policy, which documents were shown at
ranks 1..k, which of them were clicked, the true examination probability of
each shown slot (the click model's output) and, where the logging policy knows
it, the probability that the shown document is placed at its rank.

On disk (schema version "1") a log is one Parquet file with one row per session
and only flat, non-nullable columns::

    query                 int64              query index (row of the dataset's query list)
    round                 int32              feedback-loop round that produced the session
    policy                dictionary<string> name of the logging policy
    displayed_1..k        int32              document row shown at rank r (1-based), -1 if empty
    clicks_1..k           bool               click at rank r
    examination_1..k      float32            true examination probability at rank r
    placement_1..k        float32            P(document placed at rank r), only when known

One column per rank rather than a list column: Parquet has no fixed-size list,
so a list column carries a repetition level per value; in
``benchmarks/bench_click_log.py --compare-layouts`` (10^7 sessions) it wrote
2.6 to 3.4 times and loaded 2 to 3 times slower.  Every data
page carries a CRC checksum that is verified on reading, so a corrupted file
fails loudly instead of yielding wrong clicks.  The file's key-value metadata
holds ``clickloop_schema_version``, ``clickloop_k``, ``clickloop_placement``,
``clickloop_policies`` (JSON list of the policy names) and
``clickloop_columns`` (JSON description of every column).  Writing goes to a
temporary file in the target's folder that replaces the target only once
complete and synced, so an interrupted save never leaves a partial file.
"""

import json
import os
import weakref
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

from ._statistics import ClickStatistics, aggregate_clicks
from .atomic import temporary_name
from .validation import check_int as _check_int
from .validation import read_only

__all__ = [
    "CLICK_LOG_SCHEMA_VERSION",
    "ClickLog",
    "ClickLogError",
    "ClickLogWriter",
    "aggregate_click_log",
    "iter_click_log",
    "load_click_log",
    "save_click_log",
]

CLICK_LOG_SCHEMA_VERSION = "1"
# Chosen from benchmarks/bench_click_log.py (see save_click_log's docstring).
DEFAULT_COMPRESSION = "lz4"
_COMPRESSIONS = ("none", "snappy", "lz4", "zstd", "gzip", "brotli")
_RANKED = ("displayed", "clicks", "examination", "placement")
_RANKED_TYPES = {
    "displayed": pa.int32(),
    "clicks": pa.bool_(),
    "examination": pa.float32(),
    "placement": pa.float32(),
}
_COLUMN_SEMANTICS = {
    "query": "int64: query index (row of the dataset's query list)",
    "round": "int32: feedback-loop round that produced the session",
    "policy": "dictionary-encoded string: name of the logging policy of the session",
    "displayed_r": "int32: global document row shown at rank r (1-based); -1 for an empty slot",
    "clicks_r": "bool: the document at rank r was clicked",
    "examination_r": "float32: true examination probability at rank r (the click model's output)",
    "placement_r": "float32, optional: P(the shown document is placed at rank r) under the logging policy",
}


class ClickLogError(ValueError):
    """A file that cannot be read as a click log (missing, corrupted, foreign or of another version).

    Examples
    --------
    >>> try:
    ...     load_click_log("no/such/log.parquet")
    ... except ClickLogError as exc:
    ...     print(exc)
    no/such/log.parquet: no such file
    """


# ----------------------------------------------------------------------------------------------
# Kernel: between the (n_sessions, k) arrays of a log and the k rank columns of the file


@njit(cache=True)
def _transpose_kernel(src, dst):
    """dst[j, i] = src[i, j], walking the longer axis of ``src`` in the outer loop.

    Either side is then read or written in memory order, with k short streams
    on the other; about five times faster than k strided column copies.
    """
    n0, n1 = src.shape
    if n0 >= n1:
        for i in range(n0):
            for j in range(n1):
                dst[j, i] = src[i, j]
    else:
        for j in range(n1):
            for i in range(n0):
                dst[j, i] = src[i, j]


def _scratch(buffers, key, shape, dtype):
    """A C-contiguous array of ``shape`` in a flat buffer reused across blocks."""
    size = shape[0] * shape[1]
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


# ----------------------------------------------------------------------------------------------
# Validation shared by ClickLog and the streaming readers


def _as_int(value, name, dtype, ndim):
    """``value`` as a C-contiguous array of integer ``dtype``, range-checked before narrowing."""
    arr = np.asarray(value)
    if arr.ndim != ndim:
        shape = "(n_sessions,)" if ndim == 1 else "(n_sessions, k)"
        raise ValueError(f"{name} must have shape {shape}, got shape {arr.shape}")
    if arr.dtype != dtype:
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(dtype)  # np.array([]) is float64; an empty array has nothing to check
        elif arr.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
        elif arr.size:
            info = np.iinfo(dtype)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                raise ValueError(f"{name} must fit in {np.dtype(dtype).name}, got values in [{lo}, {hi}]")
    return np.ascontiguousarray(arr, dtype=dtype)


def _as_bool(value, name):
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_sessions, k), got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf" and arr.size:
            raise ValueError(f"{name} must hold booleans, got dtype {arr.dtype}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must hold booleans (or 0/1), got other values")
    return np.ascontiguousarray(arr, dtype=np.bool_)


def _as_probability(value, name):
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_sessions, k), got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" and arr.size:
        raise ValueError(f"{name} must hold probabilities, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _first(mask):
    """Index of the first True of a boolean array, as a tuple of ints."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _check_at_least(arr, name, lower):
    if arr.size and arr.min() < lower:
        where = _first(arr < lower)
        raise ValueError(f"{name} must be >= {lower}, got {name}{list(where)} = {arr[where]}")


def _check_probability(arr, name):
    # min and max propagate NaN, so one comparison each also rejects NaN.
    if arr.size and not (arr.min() >= 0.0 and arr.max() <= 1.0):
        where = _first(~((arr >= 0.0) & (arr <= 1.0)))
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {name}{list(where)} = {arr[where]}")


def _check_sessions(displayed, clicks, examination, placement=None):
    """Checks of the per-rank arrays (already converted); shapes must agree."""
    if displayed.shape[1] < 1:
        raise ValueError(f"displayed must have shape (n_sessions, k) with k >= 1, got shape {displayed.shape}")
    for name, arr in (("clicks", clicks), ("examination", examination), ("placement", placement)):
        if arr is not None and arr.shape != displayed.shape:
            raise ValueError(f"{name} must have the shape of displayed {displayed.shape}, got {arr.shape}")
    if displayed.size:
        lowest = displayed.min()
        if lowest < -1:
            where = _first(displayed < -1)
            raise ValueError(f"displayed must be >= -1 (-1 marks an empty slot), got displayed{list(where)} = {lowest}")
        if lowest == -1 and np.any(clicks & (displayed == -1)):
            where = _first(clicks & (displayed == -1))
            raise ValueError(f"clicks must be False on empty slots (displayed == -1), got a click at {list(where)}")
    _check_probability(examination, "examination")
    if placement is not None:
        _check_probability(placement, "placement")


def _policy_names(policy):
    if isinstance(policy, str):
        policy = (policy,)
    try:
        names = tuple(policy)
    except TypeError:
        raise ValueError(f"policy must be a str or a sequence of str, got {type(policy).__name__}") from None
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"policy names must be non-empty strings, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be distinct, got {names}")
    return names


# ----------------------------------------------------------------------------------------------
# The value object


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class ClickLog:
    """Sessions of a click log, one row per session (all arguments keyword-only).

    Attributes
    ----------
    query : ndarray of shape (n_sessions,), int64
        Query index of each session (row of the dataset's query list), >= 0.
    round : ndarray of shape (n_sessions,), int32
        Feedback-loop round that produced the session, >= 0.
    displayed : ndarray of shape (n_sessions, k), int32
        Global document row shown at ranks 1..k; -1 for an empty slot.
    clicks : ndarray of shape (n_sessions, k), bool
        ``clicks[s, r]`` is True when the document at rank r + 1 of session s
        was clicked; never True on an empty slot.
    examination : ndarray of shape (n_sessions, k), float32
        True examination probability of each slot (the click model's output),
        in [0, 1].
    policy : tuple of str
        Distinct names of the logging policies; a single ``str`` is accepted
        and becomes a 1-tuple.  The policy of session s is
        ``policy[policy_index[s]]`` (see :attr:`session_policy`): the log
        keeps one policy per session, dictionary-encoded, in memory as on disk,
        so that logs of different policies concatenate without losing which
        session came from which.
    placement : ndarray of shape (n_sessions, k), float32, or None, default=None
        P(the shown document is placed at that rank) under the logging policy,
        in [0, 1]; None when the policy does not know it.
    policy_index : ndarray of shape (n_sessions,), int32, or None, default=None
        Index into ``policy`` of each session's policy; may be omitted when
        ``policy`` holds a single name (every session gets index 0).

    Notes
    -----
    Inputs are converted once to the dtypes above (integers are range-checked
    before narrowing) and stored as read-only arrays; an input that already has
    the right dtype and layout is not copied, so the log is a read-only view of
    it.  Two logs are compared with :meth:`equals` (``==`` is identity).

    Examples
    --------
    >>> log = ClickLog(query=[0, 1], round=[0, 0], displayed=[[3, 1, -1], [2, 0, 4]],
    ...                clicks=[[True, False, False], [False, False, True]],
    ...                examination=[[1.0, 0.5, 0.0], [1.0, 0.5, 0.333]], policy="uniform")
    >>> log.n_sessions, log.k, log.displayed.dtype, log.policy
    (2, 3, dtype('int32'), ('uniform',))
    >>> log
    ClickLog(n_sessions=2, k=3, policy=('uniform',), rounds=[0], placement=None)
    >>> log.displayed[0, 0] = 9
    Traceback (most recent call last):
    ...
    ValueError: assignment destination is read-only
    """

    query: np.ndarray
    round: np.ndarray
    displayed: np.ndarray
    clicks: np.ndarray
    examination: np.ndarray
    policy: tuple
    placement: np.ndarray | None = None
    policy_index: np.ndarray | None = None

    def __post_init__(self):
        displayed = _as_int(self.displayed, "displayed", np.int32, 2)
        clicks = _as_bool(self.clicks, "clicks")
        examination = _as_probability(self.examination, "examination")
        placement = None if self.placement is None else _as_probability(self.placement, "placement")
        _check_sessions(displayed, clicks, examination, placement)
        n = displayed.shape[0]
        query = _as_int(self.query, "query", np.int64, 1)
        round_ = _as_int(self.round, "round", np.int32, 1)
        for name, arr in (("query", query), ("round", round_)):
            if arr.shape[0] != n:
                raise ValueError(f"{name} must have shape ({n},) like displayed's sessions, got {arr.shape}")
            _check_at_least(arr, name, 0)
        policy = _policy_names(self.policy)
        if not policy and n > 0:
            raise ValueError("policy must name the logging policy of the sessions, got no name")
        if self.policy_index is None:
            if len(policy) > 1:
                raise ValueError(f"policy_index is required when policy holds {len(policy)} names, got None")
            policy_index = np.zeros(n, dtype=np.int32)
        else:
            policy_index = _as_int(self.policy_index, "policy_index", np.int32, 1)
            if policy_index.shape[0] != n:
                raise ValueError(f"policy_index must have shape ({n},), got {policy_index.shape}")
            if n and (policy_index.min() < 0 or policy_index.max() >= len(policy)):
                raise ValueError(
                    f"policy_index must lie in 0..{len(policy) - 1} (one per policy name), "
                    f"got values in [{policy_index.min()}, {policy_index.max()}]"
                )
        for name, arr in (("query", query), ("round", round_), ("displayed", displayed), ("clicks", clicks),
                          ("examination", examination), ("placement", placement),
                          ("policy_index", policy_index)):
            object.__setattr__(self, name, None if arr is None else read_only(arr))
        object.__setattr__(self, "policy", policy)

    @property
    def n_sessions(self):
        """Number of sessions."""
        return self.displayed.shape[0]

    @property
    def k(self):
        """Number of ranks shown per session."""
        return self.displayed.shape[1]

    @property
    def session_policy(self):
        """Name of the logging policy of each session, ndarray of shape (n_sessions,), str."""
        return np.asarray(self.policy or ("",), dtype=str)[self.policy_index]

    def __repr__(self):
        rounds = np.unique(self.round).tolist() if self.n_sessions <= 1_000_000 else "..."
        return (f"ClickLog(n_sessions={self.n_sessions}, k={self.k}, policy={self.policy}, "
                f"rounds={rounds}, placement={'known' if self.placement is not None else None})")

    def equals(self, other):
        """True when both logs hold bit-identical arrays and the same policy names in the same order.

        Examples
        --------
        >>> a = ClickLog(query=[0], round=[0], displayed=[[1]], clicks=[[1]], examination=[[0.5]], policy="p")
        >>> a.equals(ClickLog(query=[0], round=[0], displayed=[[1]], clicks=[[True]],
        ...                   examination=[[0.5]], policy="p"))
        True
        """
        if not isinstance(other, ClickLog) or self.policy != other.policy:
            return False
        if (self.placement is None) != (other.placement is None):
            return False
        pairs = [(self.query, other.query), (self.round, other.round), (self.displayed, other.displayed),
                 (self.clicks, other.clicks), (self.policy_index, other.policy_index),
                 (self.examination.view(np.uint32), other.examination.view(np.uint32))]
        if self.placement is not None:
            pairs.append((self.placement.view(np.uint32), other.placement.view(np.uint32)))
        return all(a.shape == b.shape and np.array_equal(a, b) for a, b in pairs)

    @classmethod
    def concatenate(cls, logs):
        """Sessions of several logs, in order, as one log.

        Policy names are merged in order of first appearance and every session
        keeps its own policy (``session_policy``).  Either every log knows its
        placement probabilities or none does (drop them with
        ``dataclasses.replace(log, placement=None)`` to mix).

        Parameters
        ----------
        logs : sequence of ClickLog
            At least one log; all with the same k.

        Returns
        -------
        ClickLog

        Examples
        --------
        >>> def one_round(r, name):
        ...     return ClickLog(query=[r], round=[r], displayed=[[r, r + 1]], clicks=[[False, True]],
        ...                     examination=[[1.0, 0.5]], policy=name)
        >>> log = ClickLog.concatenate([one_round(0, "uniform"), one_round(1, "lambdamart"),
        ...                             one_round(2, "uniform")])
        >>> log.policy, log.policy_index.tolist(), log.session_policy.tolist()
        (('uniform', 'lambdamart'), [0, 1, 0], ['uniform', 'lambdamart', 'uniform'])
        """
        logs = list(logs)
        if not logs:
            raise ValueError("logs must hold at least one ClickLog, got none")
        for i, log in enumerate(logs):
            if not isinstance(log, ClickLog):
                raise ValueError(f"logs[{i}] must be a ClickLog, got {type(log).__name__}")
            if log.k != logs[0].k:
                raise ValueError(f"every log must show the same k; logs[0] has k={logs[0].k}, logs[{i}] has k={log.k}")
        known = [log.placement is not None for log in logs]
        if any(known) and not all(known):
            raise ValueError(
                f"placement is known for logs {[i for i, x in enumerate(known) if x]} but not for the others; "
                "drop it with dataclasses.replace(log, placement=None) to concatenate"
            )
        names = {}
        for log in logs:
            for name in log.policy:
                names.setdefault(name, len(names))
        index = [np.asarray([names[n] for n in log.policy], dtype=np.int32)[log.policy_index]
                 if log.policy else log.policy_index for log in logs]
        join = lambda name: np.concatenate([getattr(log, name) for log in logs])  # noqa: E731
        return cls(query=join("query"), round=join("round"), displayed=join("displayed"), clicks=join("clicks"),
                   examination=join("examination"), placement=join("placement") if all(known) else None,
                   policy=tuple(names), policy_index=np.concatenate(index))

    def aggregate(self, n_docs):
        """Impressions, clicks and summed examination per (document, rank).

        Parameters
        ----------
        n_docs : int
            Number of document rows of the dataset (every displayed row must be below it).

        Returns
        -------
        ClickStatistics

        Examples
        --------
        >>> log = ClickLog(query=[0, 0], round=[0, 1], displayed=[[2, 0], [2, -1]],
        ...                clicks=[[True, False], [True, False]], examination=[[1.0, 0.5], [1.0, 0.0]],
        ...                policy="p")
        >>> stats = log.aggregate(n_docs=3)
        >>> stats.impressions.tolist(), stats.clicks[2].tolist(), stats.n_sessions
        ([[0, 1], [0, 0], [2, 0]], [2, 0], 2)
        """
        stats = ClickStatistics.empty(_check_n_docs(n_docs), self.k)
        aggregate_clicks(stats, self.displayed, self.clicks, self.examination)
        stats.release_lookup()
        return stats


def _check_n_docs(n_docs):
    if isinstance(n_docs, bool) or not isinstance(n_docs, (int, np.integer)) or n_docs < 0:
        raise ValueError(f"n_docs must be an integer >= 0, got {n_docs!r}")
    return int(n_docs)


# ----------------------------------------------------------------------------------------------
# Writing


def _column_names(k, placement):
    names = ["query", "round", "policy"]
    for field in _RANKED:
        if field != "placement" or placement:
            names += [f"{field}_{r}" for r in range(1, k + 1)]
    return names


def _arrow_schema(k, placement):
    fields = [pa.field("query", pa.int64(), nullable=False), pa.field("round", pa.int32(), nullable=False),
              pa.field("policy", pa.dictionary(pa.int32(), pa.string()), nullable=False)]
    for field in _RANKED:
        if field != "placement" or placement:
            fields += [pa.field(f"{field}_{r}", _RANKED_TYPES[field], nullable=False) for r in range(1, k + 1)]
    metadata = {
        "clickloop_schema_version": CLICK_LOG_SCHEMA_VERSION,
        "clickloop_k": str(k),
        "clickloop_placement": "true" if placement else "false",
        "clickloop_columns": json.dumps(_COLUMN_SEMANTICS),
    }
    return pa.schema(fields, metadata=metadata)


def _discard(writer, tmp):
    """Close a Parquet writer that will not be committed and remove its temporary file."""
    try:
        writer.close()
    except Exception:  # noqa: BLE001 - the file is being thrown away
        pass
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass


class ClickLogWriter:
    """Write a click log block by block into one Parquet file, atomically.

    Blocks go to a temporary file in the folder of ``path`` (named
    ``.<name>.<pid>.<random>.tmp``, :mod:`simulator.atomic`); :meth:`close` (or leaving the ``with`` block
    normally) writes the footer, syncs the file and renames it to ``path``.
    An exception inside the ``with`` block, a failed :meth:`write`, a call to
    :meth:`abort`, garbage collection or interpreter exit before :meth:`close`
    removes the temporary file and leaves ``path`` untouched.  Only a hard kill
    (SIGKILL, power loss) can leave the temporary file behind; ``path`` is
    intact even then.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; replaced if it exists.
    k : int
        Ranks per session of every block.
    placement : bool
        Whether the blocks carry placement probabilities.
    compression : {"lz4", "none", "snappy", "zstd", "gzip", "brotli"}, default="lz4"
        Parquet page compression (see :func:`save_click_log` for the measurements).
    row_group_size : int, default=1_000_000
        Most sessions per Parquet row group.  Each :meth:`write` starts a new
        row group, so write blocks of about this size; readers hold about one
        row group in memory.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "log.parquet")
    >>> block = ClickLog(query=[0, 1], round=[0, 0], displayed=[[0, 1], [1, 0]],
    ...                  clicks=[[True, False], [False, False]], examination=[[1.0, 0.5], [1.0, 0.5]],
    ...                  policy="uniform")
    >>> with ClickLogWriter(path, k=2, placement=False) as writer:
    ...     for r in range(3):
    ...         writer.write(block)
    >>> writer.n_sessions, load_click_log(path).n_sessions
    (6, 6)
    >>> tmp.cleanup()
    """

    def __init__(self, path, k, *, placement, compression=DEFAULT_COMPRESSION, row_group_size=1_000_000):
        self.path = os.fspath(path)
        self.k = _check_int(k, "k", 1)
        if not isinstance(placement, (bool, np.bool_)):
            raise ValueError(f"placement must be True or False, got {placement!r}")
        self.placement = bool(placement)
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression must be one of {_COMPRESSIONS}, got {compression!r}")
        self.row_group_size = _check_int(row_group_size, "row_group_size", 1)
        self.n_sessions = 0
        self._schema = _arrow_schema(self.k, self.placement)
        self._names = {}
        self._buffers = {}
        self._tmp = str(temporary_name(os.path.abspath(self.path)))
        try:
            # O_EXCL: never reuse a file; mode 0o666 lets the umask decide, as for a plain open().
            os.close(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot create a temporary file next to the click log ({exc.strerror})",
                            self.path) from None
        try:
            self._writer = pq.ParquetWriter(
                self._tmp, self._schema, compression=compression, use_dictionary=["policy"],
                write_statistics=["query", "round"], write_page_checksum=True,
            )
        except BaseException:
            os.remove(self._tmp)
            raise
        self._finalizer = weakref.finalize(self, _discard, self._writer, self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def closed(self):
        """True once the file was committed or aborted."""
        return not self._finalizer.alive

    def write(self, log):
        """Append the sessions of ``log`` (same k and placement as the writer)."""
        if self.closed:
            raise ValueError(f"the click log writer of {self.path} is closed")
        if not isinstance(log, ClickLog):
            raise ValueError(f"log must be a ClickLog, got {type(log).__name__}")
        if log.k != self.k:
            raise ValueError(f"log must show k={self.k} ranks like the writer, got k={log.k}")
        if (log.placement is not None) != self.placement:
            raise ValueError(
                f"the writer was opened with placement={self.placement}, got a log with "
                f"placement {'known' if log.placement is not None else 'None'}"
            )
        for name in log.policy:  # unused names too, so that a round trip is exact
            self._names.setdefault(name, len(self._names))
        dictionary = pa.array(log.policy, type=pa.string())
        ranked = [(field, getattr(log, field)) for field in _RANKED if field != "placement" or self.placement]
        step = self.row_group_size
        try:
            for start in range(0, log.n_sessions, step):
                rows = slice(start, start + step)
                columns = [pa.array(log.query[rows]), pa.array(log.round[rows]),
                           pa.DictionaryArray.from_arrays(pa.array(log.policy_index[rows]), dictionary)]
                for field, arr in ranked:
                    block = arr[rows]
                    # Rank-major copy in a buffer per field, reused for every row group: pyarrow wraps
                    # its rows without copying, and the row group is encoded before write_table returns.
                    by_rank = _scratch(self._buffers, field, (self.k, len(block)), block.dtype)
                    _transpose_kernel(block, by_rank)
                    columns += [pa.array(by_rank[r]) for r in range(self.k)]
                self._writer.write_table(pa.Table.from_arrays(columns, schema=self._schema), row_group_size=step)
        except BaseException:
            self.abort()  # part of the block may be in the file: never let close() commit it
            raise
        self.n_sessions += log.n_sessions

    def close(self):
        """Finish the file and move it to ``path`` (a no-op once closed)."""
        if self.closed:
            return
        try:
            self._writer.add_key_value_metadata({"clickloop_policies": json.dumps(list(self._names))})
            self._writer.close()
            fd = os.open(self._tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._tmp, self.path)
        except BaseException:
            self._finalizer()
            raise
        self._finalizer.detach()
        try:  # make the rename itself durable
            fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def abort(self):
        """Drop everything written so far; ``path`` is left as it was."""
        self._finalizer()


def save_click_log(log, path, row_group_size=1_000_000, compression=DEFAULT_COMPRESSION):
    """Write a click log to a Parquet file, atomically.

    The file is written next to ``path`` under a temporary name, synced and
    renamed over ``path``: an interrupted or failed save leaves ``path`` as it
    was (absent, or the previous file) and no temporary file behind.

    Parameters
    ----------
    log : ClickLog
    path : str or os.PathLike
    row_group_size : int, default=1_000_000
        Sessions per Parquet row group; readers hold about one row group in memory.
    compression : {"lz4", "none", "snappy", "zstd", "gzip", "brotli"}, default="lz4"
        Parquet page compression.  lz4 is the default because it costs no
        time: in ``benchmarks/bench_click_log.py`` (10^7 sessions, k=10, with
        placement, 1460 MB in memory; 2 cores shared with other jobs, four
        runs) lz4 saved in 2.7-5.0 s (171-316 MB/s of an 855 MB file), no
        compression in 3.4-6.1 s (218-389 MB/s of a 1333 MB file), snappy in
        3.2-6.2 s (869 MB) and zstd in 5.4-7.9 s (89-129 MB/s of a 697 MB
        file); in the run that timed every load, lz4 files also loaded the
        fastest (2.1 s against 4.0 s uncompressed).

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "round0.parquet")
    >>> log = ClickLog(query=[4, 7], round=[0, 0], displayed=[[10, 11], [20, -1]],
    ...                clicks=[[False, True], [True, False]], examination=[[1.0, 0.5], [1.0, 0.0]],
    ...                placement=[[0.5, 0.5], [1.0, 0.0]], policy="uniform")
    >>> save_click_log(log, path)
    >>> load_click_log(path).equals(log)
    True
    >>> tmp.cleanup()
    """
    if not isinstance(log, ClickLog):
        raise ValueError(f"log must be a ClickLog, got {type(log).__name__}")
    with ClickLogWriter(path, log.k, placement=log.placement is not None, compression=compression,
                        row_group_size=row_group_size) as writer:
        writer.write(log)


# ----------------------------------------------------------------------------------------------
# Reading


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Reader:
    """An opened and schema-checked click log file."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise ClickLogError(f"{self.path}: no such file")
        if os.path.isdir(self.path):
            raise ClickLogError(f"{self.path}: is a directory, not a click log file")
        try:
            # pre_buffer=False: with pre-buffering, pyarrow keeps the raw bytes of every row group read
            # until the file is closed (apache/arrow#39808), so streaming a file would hold all of it.
            self.file = pq.ParquetFile(self.path, page_checksum_verification=True, pre_buffer=False)
            metadata = self.file.metadata.metadata or {}
            schema = self.file.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ClickLogError(f"{self.path}: not a readable Parquet file ({_one_line(exc)})") from None
        meta = {key.decode("utf-8", "replace"): value.decode("utf-8", "replace") for key, value in metadata.items()}
        version = meta.get("clickloop_schema_version")
        if version is None:
            raise ClickLogError(f"{self.path}: not a click log (no clickloop_schema_version in the file metadata)")
        if version != CLICK_LOG_SCHEMA_VERSION:
            raise ClickLogError(
                f"{self.path}: click log schema version {version!r} is not supported "
                f"(this clickloop reads version {CLICK_LOG_SCHEMA_VERSION!r})"
            )
        try:
            self.k = int(meta["clickloop_k"])
            self.placement = {"true": True, "false": False}[meta["clickloop_placement"]]
            self.policy = _policy_names(json.loads(meta["clickloop_policies"]))
            if not 1 <= self.k <= len(schema.names):
                raise ValueError(f"clickloop_k = {self.k} does not fit the file's {len(schema.names)} columns")
        except KeyError as exc:
            raise ClickLogError(f"{self.path}: incomplete click log metadata (no {exc.args[0]})") from None
        except (ValueError, TypeError) as exc:
            raise ClickLogError(f"{self.path}: invalid click log metadata ({_one_line(exc)})") from None
        expected = _arrow_schema(self.k, self.placement)
        if schema.names != expected.names:
            missing = [n for n in expected.names if n not in schema.names]
            extra = [n for n in schema.names if n not in expected.names]
            problems = [f"{what} {names[:4]}{'...' if len(names) > 4 else ''}"
                        for what, names in (("missing", missing), ("unexpected", extra)) if names]
            raise ClickLogError(
                f"{self.path}: columns do not match a click log with k={self.k}: "
                f"{'; '.join(problems) or 'they are in another order'}"
            )
        for want in expected:
            got = schema.field(want.name)
            same = (pa.types.is_dictionary(got.type) and pa.types.is_string(got.type.value_type)
                    if want.name == "policy" else got.type == want.type)
            if not same or got.nullable:
                raise ClickLogError(
                    f"{self.path}: column {want.name} must be a non-nullable {want.type}, "
                    f"got {'nullable ' if got.nullable else ''}{got.type}"
                )
        self.n_sessions = self.file.metadata.num_rows
        self._code = {name: i for i, name in enumerate(self.policy)}
        self._buffers = {}

    def batches(self, batch_sessions, fields, destination):
        """Read consecutive blocks of sessions into ``destination(start, n)`` and yield what it returned.

        ``destination`` returns a dict of arrays with n rows (a fresh block, a slice of the whole log,
        or a reused buffer) for the given fields; ``policy`` fills ``policy_index``.
        """
        columns = [c for c in _column_names(self.k, self.placement)
                   if c in fields or c.rsplit("_", 1)[0] in fields]
        read = 0
        try:
            for batch in self.file.iter_batches(batch_size=batch_sessions, columns=columns, use_threads=True):
                n = batch.num_rows
                if read + n > self.n_sessions:
                    raise ClickLogError(f"{self.path}: the footer announces {self.n_sessions} sessions, found more")
                arrays = destination(read, n)
                self._fill(batch, arrays)
                read += n
                del batch  # free the Arrow batch before the next one is decoded
                yield arrays
                del arrays
        except (pa.ArrowException, OSError) as exc:
            raise ClickLogError(
                f"{self.path}: corrupted data in the sessions from {read} on ({_one_line(exc)})"
            ) from None
        if read != self.n_sessions:
            raise ClickLogError(f"{self.path}: the footer announces {self.n_sessions} sessions, read {read}")

    def _fill(self, batch, out):
        for name, arr in out.items():
            if name in ("query", "round"):
                arr[:] = batch.column(name).to_numpy()
            elif name == "policy_index":
                column = batch.column("policy")
                try:
                    codes = np.asarray([self._code[v] for v in column.dictionary.to_pylist()], dtype=np.int32)
                except KeyError as exc:
                    raise ClickLogError(
                        f"{self.path}: policy {exc.args[0]!r} is not among the policies of the metadata"
                    ) from None
                indices = column.indices.to_numpy()
                if indices.size and (indices.min() < 0 or indices.max() >= codes.size):
                    raise ClickLogError(f"{self.path}: policy column refers outside its dictionary")
                arr[:] = codes[indices] if codes.size else indices
            else:
                # Gather the k columns rank-major in a reused buffer, then transpose in one pass.
                by_rank = _scratch(self._buffers, arr.dtype, (self.k, len(arr)), arr.dtype)
                for r in range(self.k):
                    by_rank[r] = batch.column(f"{name}_{r + 1}").to_numpy(zero_copy_only=False)
                _transpose_kernel(by_rank, arr)

    def empty(self, n, fields):
        """Uninitialised arrays of n sessions for the given fields."""
        out = {}
        for name in fields:
            if name in ("query", "round"):
                out[name] = np.empty(n, np.int64 if name == "query" else np.int32)
            elif name == "policy":
                out["policy_index"] = np.empty(n, np.int32)
            else:
                out[name] = np.empty((n, self.k), _RANKED_TYPES[name].to_pandas_dtype())
        return out

    def log(self, arrays):
        try:
            return ClickLog(policy=self.policy, **arrays)
        except ValueError as exc:
            raise ClickLogError(f"{self.path}: invalid click log data ({_one_line(exc)})") from None


def _fields(placement):
    return ("query", "round", "policy", "displayed", "clicks", "examination") + (("placement",) if placement else ())


def load_click_log(path):
    """Read a whole click log written by :func:`save_click_log` or :class:`ClickLogWriter`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ClickLog
        Bit-identical to the log that was saved.

    Raises
    ------
    ClickLogError
        When the file is missing, truncated or corrupted, not a click log, or
        of an unsupported schema version; the message names the path.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "log.parquet")
    >>> save_click_log(ClickLog(query=[0], round=[3], displayed=[[5, 6]], clicks=[[True, False]],
    ...                         examination=[[1.0, 0.5]], policy="ranker"), path)
    >>> log = load_click_log(path)
    >>> log.round.tolist(), log.displayed.tolist(), log.policy
    ([3], [[5, 6]], ('ranker',))
    >>> tmp.cleanup()
    """
    reader = _Reader(path)
    fields = _fields(reader.placement)
    full = reader.empty(reader.n_sessions, fields)
    # Each block is decoded straight into its rows of the whole log: no second copy.
    window = lambda start, n: {name: arr[start:start + n] for name, arr in full.items()}  # noqa: E731
    for _ in reader.batches(1_000_000, fields, window):
        pass
    return reader.log(full)


def iter_click_log(path, batch_sessions=1_000_000):
    """Read a click log block by block, in bounded memory.

    Parameters
    ----------
    path : str or os.PathLike
    batch_sessions : int, default=1_000_000
        Most sessions per block.  Memory holds about one Parquet row group
        (``row_group_size`` at save time) plus one block.

    Yields
    ------
    ClickLog
        Consecutive blocks of sessions, in file order; every block carries all
        policy names of the file, so ``policy_index`` means the same in every
        block.

    Raises
    ------
    ClickLogError
        As :func:`load_click_log`, when opening or when a corrupted block is reached.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "log.parquet")
    >>> log = ClickLog(query=range(5), round=[0] * 5, displayed=[[1, 2]] * 5, clicks=[[False, True]] * 5,
    ...                examination=[[1.0, 0.5]] * 5, policy="p")
    >>> save_click_log(log, path, row_group_size=2)
    >>> [block.query.tolist() for block in iter_click_log(path, batch_sessions=2)]
    [[0, 1], [2, 3], [4]]
    >>> tmp.cleanup()
    """
    batch_sessions = _check_int(batch_sessions, "batch_sessions", 1)
    reader = _Reader(path)
    fields = _fields(reader.placement)
    for arrays in reader.batches(batch_sessions, fields, lambda start, n: reader.empty(n, fields)):
        yield reader.log(arrays)


def aggregate_click_log(path, n_docs, batch_sessions=1_000_000):
    """Impressions, clicks and summed examination per (document, rank) of a click log file.

    Streams the file (reading only the displayed, clicks and examination
    columns) through :func:`~simulator._statistics.aggregate_clicks`; the
    result equals ``load_click_log(path).aggregate(n_docs)`` exactly, for any
    ``batch_sessions``, because sessions are added in file order.

    Parameters
    ----------
    path : str or os.PathLike
    n_docs : int
        Number of document rows of the dataset.
    batch_sessions : int, default=1_000_000
        Most sessions per block read.

    Returns
    -------
    ClickStatistics

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory(); path = os.path.join(tmp.name, "log.parquet")
    >>> log = ClickLog(query=[0, 0, 1], round=[0, 0, 0], displayed=[[0, 1], [1, 0], [2, -1]],
    ...                clicks=[[True, False], [True, True], [False, False]],
    ...                examination=[[1.0, 0.5], [1.0, 0.5], [1.0, 0.0]], policy="p")
    >>> save_click_log(log, path)
    >>> stats = aggregate_click_log(path, n_docs=3, batch_sessions=2)
    >>> stats.clicks.tolist(), stats.equals(log.aggregate(3))
    ([[1, 1], [1, 0], [0, 0]], True)
    >>> tmp.cleanup()
    """
    n_docs = _check_n_docs(n_docs)
    batch_sessions = _check_int(batch_sessions, "batch_sessions", 1)
    reader = _Reader(path)
    stats = ClickStatistics.empty(n_docs, reader.k)
    fields = ("displayed", "clicks", "examination")
    # One buffer reused for every block: fresh memory would be page-faulted in again for each block.
    buffer = reader.empty(min(batch_sessions, reader.n_sessions), fields)
    blocks = reader.batches(batch_sessions, fields, lambda start, n: {f: a[:n] for f, a in buffer.items()})
    for arrays in blocks:
        try:
            _check_sessions(arrays["displayed"], arrays["clicks"], arrays["examination"])
        except ValueError as exc:
            raise ClickLogError(f"{reader.path}: invalid click log data ({_one_line(exc)})") from None
        highest = arrays["displayed"].max(initial=-1)
        if highest >= n_docs:
            raise ValueError(f"{reader.path}: displayed refers to document row {highest} but n_docs={n_docs}")
        aggregate_clicks(stats, arrays["displayed"], arrays["clicks"], arrays["examination"])
    stats.release_lookup()
    return stats
