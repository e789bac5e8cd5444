"""Read and write LETOR / SVMlight ranking files.

Two conventions for grouping rows into queries are in use:

* a ``qid:`` field on every row (MSLR-WEB, Yahoo, Istella, MQ2007/8)::

      2 qid:10 1:0.5 7:1.25 # optional comment

* no ``qid:`` field and a separate *group file* (LightGBM): one positive
  integer per line, the number of consecutive rows of one query.

Feature indices are 1-based in both (LETOR's definition): feature ``k`` of the
file is column ``k - 1`` of :attr:`RankingDataset.features`. Parsing is done
by scikit-learn's ``load_svmlight_file`` with ``zero_based=False``; its
"auto" mode is not used because it would silently shift every column of a
file that happens to contain an index 0. Index 0 is therefore an error.

sklearn is called with ``query_id=False`` (it still skips the ``qid:``
token): with ``query_id=True`` it appends every qid to a growing numpy array,
which is quadratic in the number of rows (16 s for 320,000 rows against 1 s
without). The qids are read with one regular expression over the file
instead, with the same tokenisation.

When the fast parser fails, or its output breaks a rule (non-integral label,
repeated query, ...), the file is scanned again line by line in Python to
report the first offending line as ``path:line: what is wrong``.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import re
import uuid

import numpy as np

from ._dataset import RankingDataset, _freeze

__all__ = ["LetorFormatError", "load_letor", "save_letor"]

#: sklearn stores feature indices in a C int.
_MAX_INDEX = 2**31 - 1
#: Labels are parsed as float64; larger integers are not exact.
_MAX_LABEL = 2**53
#: Magnitudes from here on round to infinity in float32 (half-way between the
#: largest float32 and 2**128, ties to even).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
#: First token of a data line and, if it starts with "qid", the second token;
#: mirrors sklearn's tokenisation (comment from "#", split on ASCII space).
_QID_PATTERN = re.compile(rb"^[ \t\r\f\v]*[^\s#]+(?:[ \t\r\f\v]+(qid[^\s#]*))?", re.M)


class LetorFormatError(ValueError):
    """A LETOR / SVMlight data file or group file that cannot be read.

    The message is one line, ``path:line: what is wrong``, with a 1-based
    line number, so that editors and terminals can jump to the line.

    Examples
    --------
    >>> from simulator._letor import LetorFormatError
    >>> issubclass(LetorFormatError, ValueError)
    True
    """


def _show(token: bytes) -> str:
    """Quoted, one-line, shortened rendering of a token for messages."""
    text = token.decode("utf-8", "backslashreplace")
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _read_bytes(path: str) -> bytes:
    """Whole file as bytes; ``.gz`` and ``.bz2`` are decompressed."""
    if path.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as fh:
            return fh.read()
    if path.endswith(".bz2"):
        import bz2

        with bz2.open(path, "rb") as fh:
            return fh.read()
    with open(path, "rb") as fh:
        return fh.read()


def _first_error(data: bytes, n_features: int | None) -> tuple[int, str] | None:
    """Scan the lines of a data file; return ``(line, message)`` of the first
    problem, or ``None`` if every line is valid.

    This is the reference definition of a valid file. It accepts exactly the
    lines that the fast path (sklearn plus the checks in
    :func:`_parse_fast`) accepts.
    """
    qid_mode = None  # True / False once the first data row is seen
    first_row_line = 0
    current_qid = None
    qid_first_line: dict[int, int] = {}
    n_rows = 0
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        if b"\x00" in raw:
            return lineno, "line contains a NUL byte"
        tokens = raw.split(b"#", 1)[0].split()
        if not tokens:
            continue
        n_rows += 1

        label_token = tokens[0]
        try:
            label = float(label_token)
        except ValueError:
            return lineno, f"label {_show(label_token)} is not a number"
        if not (
            math.isfinite(label) and 0 <= label <= _MAX_LABEL and label == int(label)
        ):
            return lineno, (
                f"label {_show(label_token)} is not a non-negative integer grade"
            )

        features = tokens[1:]
        has_qid = bool(features) and features[0].startswith(b"qid")
        if has_qid:
            qid_token = features.pop(0)
            try:
                qid = int(qid_token[4:]) if qid_token.startswith(b"qid:") else None
            except ValueError:
                qid = None
            if qid is None or not -(2**63) <= qid < 2**63:
                return lineno, (
                    f"qid token {_show(qid_token)} is not qid:<64-bit integer>"
                )
        if qid_mode is None:
            qid_mode, first_row_line = has_qid, lineno
        elif has_qid != qid_mode:
            return lineno, (
                ("row has a qid: field" if has_qid else "row has no qid: field")
                + f" but the first row (line {first_row_line}) "
                + ("does not" if has_qid else "does")
            )
        if has_qid and qid != current_qid:
            if qid in qid_first_line:
                return lineno, (
                    f"qid {qid} reappears after other queries (first seen at "
                    f"line {qid_first_line[qid]}); the rows of a query must be "
                    "contiguous"
                )
            qid_first_line[qid] = lineno
            current_qid = qid

        previous = 0
        for token in features:
            index_token, colon, value_token = token.partition(b":")
            try:
                index = int(index_token) if colon else 0
            except ValueError:
                index = 0
            if index < 1:
                return lineno, (
                    f"feature token {_show(token)} is not idx:value with a "
                    "positive integer idx"
                )
            if index > _MAX_INDEX:
                return lineno, (
                    f"feature index in {_show(token)} is larger than 2**31 - 1"
                )
            if index <= previous:
                return lineno, (
                    f"feature index in {_show(token)} is not larger than the "
                    f"previous index {previous} (indices must increase)"
                )
            if n_features is not None and index > n_features:
                return lineno, (
                    f"feature index in {_show(token)} exceeds n_features={n_features}"
                )
            try:
                value = float(value_token)
            except ValueError:
                return lineno, (
                    f"feature token {_show(token)} is not idx:value with a "
                    "numeric value"
                )
            if not (math.isfinite(value) and abs(value) < _FLOAT32_OVERFLOW):
                return lineno, (
                    f"feature value in {_show(token)} is not a finite float32"
                )
            previous = index
    if n_rows == 0:
        return 1, "no data rows (the file is empty or holds only comments)"
    return None


def _format_error(path: str, data: bytes, n_features, fallback: str):
    """Build the LetorFormatError for the first bad line of ``data``."""
    found = _first_error(data, n_features)
    if found is None:  # pragma: no cover - the scan and the fast path agree
        return LetorFormatError(f"{path}: cannot be read: {fallback}")
    line, message = found
    return LetorFormatError(f"{path}:{line}: {message}")


def _parse_fast(data: bytes, path: str, n_features: int | None):
    """Parse with sklearn and vectorised checks.

    Returns
    -------
    features : ndarray of shape (n_rows, width), float32
    labels : ndarray of shape (n_rows,), int64
    qids : ndarray of shape (n_rows,), int64, or None without qid fields
    """
    from sklearn.datasets import load_svmlight_file

    if b"\x00" in data:
        raise _format_error(path, data, n_features, "NUL byte")
    try:
        # query_id=False: sklearn still skips the qid token, but collecting
        # the qids costs it time quadratic in the number of rows, so they are
        # read below with one regular expression instead.
        matrix, labels = load_svmlight_file(
            io.BytesIO(data), dtype=np.float64, zero_based=False, query_id=False
        )
    except (ValueError, OverflowError) as exc:
        raise _format_error(path, data, n_features, str(exc)) from None
    n_rows = matrix.shape[0]
    if n_rows == 0:
        raise _format_error(path, data, n_features, "no data rows")

    if not (
        np.isfinite(labels).all()
        and labels.min() >= 0
        and labels.max() <= _MAX_LABEL
        and (labels == np.floor(labels)).all()
    ):
        raise _format_error(path, data, n_features, "invalid label")

    with np.errstate(over="ignore"):  # overflow to inf is reported below
        values = matrix.data.astype(np.float32)
    indices = matrix.indices
    if not np.isfinite(values).all():
        raise _format_error(path, data, n_features, "non-finite feature value")
    width = int(indices.max()) + 1 if indices.size else 0
    if n_features is not None:
        if width > n_features:
            raise _format_error(path, data, n_features, "index above n_features")
        width = n_features

    qid_tokens = _QID_PATTERN.findall(data)
    if len(qid_tokens) != n_rows:  # pragma: no cover - same tokenisation
        raise _format_error(path, data, n_features, "rows could not be aligned")
    n_with_qid = sum(1 for token in qid_tokens if token)
    qids = None
    if n_with_qid == n_rows:
        try:
            if not all(token.startswith(b"qid:") for token in qid_tokens):
                raise ValueError("qid token without colon")
            qids = np.array([int(token[4:]) for token in qid_tokens], dtype=np.int64)
        except (ValueError, OverflowError) as exc:
            raise _format_error(path, data, n_features, str(exc)) from None
        starts = np.flatnonzero(np.diff(qids)) + 1
        run_qids = qids[np.concatenate([[0], starts])]
        if np.unique(run_qids).shape[0] != run_qids.shape[0]:
            raise _format_error(path, data, n_features, "non-contiguous qid")
    elif n_with_qid:
        raise _format_error(path, data, n_features, "qid on some rows only")

    features = np.zeros((n_rows, width), dtype=np.float32)
    rows = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    features[rows, indices] = values  # keeps -0.0, unlike toarray()
    return features, labels.astype(np.int64), qids


def _read_group_sizes(group_path: str, n_rows: int, data_path: str) -> np.ndarray:
    """Read a LightGBM group file and check it against ``n_rows`` rows."""
    with open(group_path, "rb") as fh:
        text = fh.read()
    sizes = []
    total = 0
    last_line = 1
    for lineno, raw in enumerate(io.BytesIO(text), start=1):
        token = raw.strip()
        if not token:
            continue
        try:
            size = int(token)
        except ValueError:
            size = 0
        if size < 1:
            raise LetorFormatError(
                f"{group_path}:{lineno}: group size {_show(token)} is not a "
                "positive integer"
            )
        total += size
        if total > n_rows:
            raise LetorFormatError(
                f"{group_path}:{lineno}: group sizes add up to {total} by this "
                f"line but {data_path} has only {n_rows} rows"
            )
        sizes.append(size)
        last_line = lineno
    if not sizes:
        raise LetorFormatError(f"{group_path}:1: group file holds no group sizes")
    if total != n_rows:
        raise LetorFormatError(
            f"{group_path}:{last_line}: group sizes add up to {total} but "
            f"{data_path} has {n_rows} rows"
        )
    return np.asarray(sizes, dtype=np.int64)


def load_letor(path, group_path=None, n_features=None, name=None) -> RankingDataset:
    """Load a LETOR / SVMlight ranking file.

    Rows look like ``label [qid:Q] idx:value idx:value ... [# comment]``.
    Queries come from the ``qid:`` fields when the rows have them (the rows
    of one query must be contiguous) or else from a group file, LightGBM's
    convention of one row count per line.

    Parameters
    ----------
    path : str or os.PathLike
        Data file; ``.gz`` and ``.bz2`` files are decompressed.
    group_path : str or os.PathLike, default=None
        Group file for a data file without ``qid:`` fields. ``None`` means
        ``path + ".query"`` if that exists. Must be ``None`` when the rows
        have ``qid:`` fields.
    n_features : int, default=None
        Width of the feature matrix, >= 1. ``None`` means the largest feature
        index in the file. A file with a larger index is an error; a smaller
        one is padded with zero columns.
    name : str, default=None
        Name of the dataset; ``None`` means the file name of ``path``.

    Returns
    -------
    RankingDataset
        Features as float32 (feature ``k`` of the file in column ``k - 1``),
        labels as int64. ``query_ids`` are the qids, or ``0 .. n_queries - 1``
        with a group file.

    Raises
    ------
    FileNotFoundError
        If ``path`` or the given ``group_path`` does not exist.
    LetorFormatError
        If the file is malformed, with a one-line message
        ``path:line: what is wrong``: a token that is not ``idx:value``, a
        non-numeric value, an index that is not a positive integer or does not
        increase, a label that is not a non-negative integer, a qid that
        reappears after another query, ``qid:`` on some rows only, an empty
        file, a group file whose sizes are not positive or do not add up, or
        a file without ``qid:`` fields and without a group file.
    ValueError
        If ``n_features`` is not a positive integer, or ``group_path`` is
        given for a file with ``qid:`` fields.

    Examples
    --------
    >>> import os, tempfile
    >>> from simulator._letor import load_letor
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "train.txt")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("2 qid:7 1:0.5 3:1.5 # doc a\\n"
    ...                  "0 qid:7 2:-1\\n"
    ...                  "1 qid:9 1:2\\n")
    >>> data = load_letor(path)
    >>> data
    RankingDataset(name='train.txt', n_queries=2, n_docs=3, n_features=3)
    >>> data.features
    array([[ 0.5,  0. ,  1.5],
           [ 0. , -1. ,  0. ],
           [ 2. ,  0. ,  0. ]], dtype=float32)
    >>> data.labels, data.query_ids, data.query_boundaries
    (array([2, 0, 1]), array([7, 9]), array([0, 2, 3]))
    >>> with open(path, "a") as fh:
    ...     _ = fh.write("1 qid:7 x:1\\n")
    >>> load_letor(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator._letor.LetorFormatError: ...train.txt:4: qid 7 reappears after other queries (first seen at line 1); the rows of a query must be contiguous
    """
    path = os.fspath(path)
    if n_features is not None and (
        isinstance(n_features, bool)
        or not isinstance(n_features, numbers.Integral)
        or n_features < 1
    ):
        raise ValueError(
            f"n_features must be None or an integer >= 1, got {n_features!r}"
        )
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name must be None or a str, got {name!r}")

    data = _read_bytes(path)
    features, labels, qids = _parse_fast(data, path, n_features)
    n_rows = labels.shape[0]

    if qids is not None:
        if group_path is not None:
            raise ValueError(
                f"group_path must be None for {path}, whose rows have qid: "
                f"fields; got group_path={os.fspath(group_path)!r}"
            )
        starts = np.flatnonzero(np.diff(qids)) + 1
        boundaries = np.concatenate([[0], starts, [n_rows]]).astype(np.int64)
        query_ids = qids[boundaries[:-1]]
    else:
        if group_path is None:
            candidate = path + ".query"
            if not os.path.exists(candidate):
                raise LetorFormatError(
                    f"{path}:1: rows have no qid: field and no group file was "
                    f"found (looked for {candidate}); pass group_path"
                )
            group_path = candidate
        sizes = _read_group_sizes(os.fspath(group_path), n_rows, path)
        boundaries = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=boundaries[1:])
        query_ids = np.arange(sizes.shape[0], dtype=np.int64)

    return RankingDataset(
        features=_freeze(features),
        labels=_freeze(labels),
        query_boundaries=_freeze(boundaries),
        query_ids=_freeze(query_ids),
        name=os.path.basename(path) if name is None else name,
    )


def _exact_texts(values: np.ndarray, texts: np.ndarray) -> list[str]:
    """Texts of float32 ``values`` that read back to the same bits.

    ``texts`` are candidates, normally the shortest strings that identify
    each float32 (``values.astype(str)``). The reader parses a float64 and
    rounds it to float32; where that would not return the same bits (double
    rounding, not observed on 2 million random float32 values but not ruled
    out), the float64 repr of the value, which is exact, is used instead.
    """
    texts = texts.tolist()
    # Parsed with Python's float(), as sklearn's reader does.
    back = np.array(list(map(float, texts)), dtype=np.float64).astype(np.float32)
    inexact = back.view(np.uint32) != values.view(np.uint32)
    for i in np.flatnonzero(inexact).tolist():
        texts[i] = repr(float(values[i]))
    return texts


def _format_rows(dataset: RankingDataset, with_qid: bool) -> bytes:
    """SVMlight text of a dataset: sparse, 1-based, values exact in float32."""
    features = dataset.features
    # Zeros are omitted; -0.0 is written so that every bit survives.
    mask = (features != 0) | np.signbit(features)
    if dataset.n_features and not mask[:, -1].any():
        # An explicit zero for the last feature keeps the width of the matrix
        # when the file is read without n_features.
        mask[0, -1] = True
    rows, cols = np.nonzero(mask)
    values = features[rows, cols]
    texts = _exact_texts(values, values.astype(str))
    tokens = [f"{c}:{t}" for c, t in zip((cols + 1).tolist(), texts)]

    ends = np.cumsum(mask.sum(axis=1)).tolist()
    labels = dataset.labels.tolist()
    qids = np.repeat(dataset.query_ids, dataset.query_sizes).tolist()
    out = io.StringIO()
    start = 0
    for i, end in enumerate(ends):
        head = f"{labels[i]} qid:{qids[i]}" if with_qid else str(labels[i])
        if end > start:
            out.write(f"{head} {' '.join(tokens[start:end])}\n")
        else:
            out.write(f"{head}\n")
        start = end
    return out.getvalue().encode("ascii")


def _compress_for(path: str, payload: bytes) -> bytes:
    """Compress like :func:`_read_bytes` decompresses, by file extension."""
    if path.endswith(".gz"):
        import gzip

        return gzip.compress(payload, mtime=0)
    if path.endswith(".bz2"):
        import bz2

        return bz2.compress(payload)
    return payload


def _write_atomically(files: list[tuple[str, bytes]]) -> None:
    """Write every ``(path, payload)`` to a temporary file in the target's
    folder, then move them into place with :func:`os.replace`.

    An error while writing leaves the targets untouched and removes the
    temporary files.
    """
    pending = []
    try:
        for target, payload in files:
            folder = os.path.dirname(os.path.abspath(target))
            temporary = os.path.join(
                folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
            )
            # 0o666 minus the umask, like a file created with open().
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            pending.append((temporary, target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        while pending:
            temporary, target = pending[0]
            os.replace(temporary, target)
            pending.pop(0)
    finally:
        for temporary, _ in pending:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass


def save_letor(dataset, path, with_qid=True, group_path=None) -> None:
    """Write a dataset as a LETOR / SVMlight file.

    Rows are ``label [qid:Q] idx:value ...`` with 1-based indices (column
    ``j`` becomes feature ``j + 1``), zeros omitted (except ``-0.0``, and an
    explicit ``n_features:0`` on the first row when the last column is all
    zero, so that the width survives). Values are written with the shortest
    text that reads back to the same float32, so
    ``load_letor(path)`` returns bit-identical features, the same labels,
    query boundaries and, with ``with_qid=True``, query ids. Files are
    written atomically: to a temporary file in the same folder, then moved
    into place, so an error never leaves a half-written file. Paths ending in
    ``.gz`` or ``.bz2`` are compressed.

    Parameters
    ----------
    dataset : RankingDataset
        The data to write.
    path : str or os.PathLike
        Data file to (over)write.
    with_qid : bool, default=True
        Write ``qid:`` fields (the query ids). If False, write a LightGBM group
        file instead; the query ids are then not stored and read back as
        ``0 .. n_queries - 1``.
    group_path : str or os.PathLike, default=None
        Group file when ``with_qid`` is False; ``None`` means
        ``path + ".query"``. Must be None when ``with_qid`` is True.

    Raises
    ------
    TypeError
        If ``dataset`` is not a RankingDataset.
    ValueError
        If ``group_path`` is given together with ``with_qid=True``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from simulator._dataset import RankingDataset
    >>> from simulator._letor import load_letor, save_letor
    >>> data = RankingDataset.from_group_sizes(
    ...     [[0.1, 0.0], [0.0, 2.5], [1e-8, 0.0]], [1, 0, 2], [2, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "rank.train")
    >>> save_letor(data, path, with_qid=False)
    >>> print(open(path).read(), end="")
    1 1:0.1
    0 2:2.5
    2 1:1e-08
    >>> print(open(path + ".query").read(), end="")
    2
    1
    >>> back = load_letor(path)
    >>> bool(np.array_equal(back.features, data.features))
    True
    """
    if not isinstance(dataset, RankingDataset):
        raise TypeError(
            f"dataset must be a RankingDataset, got {type(dataset).__name__}"
        )
    path = os.fspath(path)
    if not isinstance(with_qid, (bool, np.bool_)):
        raise ValueError(f"with_qid must be a bool, got {with_qid!r}")
    if with_qid and group_path is not None:
        raise ValueError(
            "group_path must be None when with_qid is True (queries are stored "
            f"in the qid: fields), got group_path={os.fspath(group_path)!r}"
        )
    files = [(path, _compress_for(path, _format_rows(dataset, bool(with_qid))))]
    if not with_qid:
        group_path = path + ".query" if group_path is None else os.fspath(group_path)
        sizes = "".join(f"{size}\n" for size in dataset.query_sizes.tolist())
        files.append((group_path, sizes.encode("ascii")))
    _write_atomically(files)
