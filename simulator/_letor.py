"""Read and write LETOR / SVMlight ranking files.

Two conventions for grouping rows into queries are in use:

* a ``qid:`` field on every row (MSLR-WEB, Yahoo, Istella, MQ2007/8)::

      2 qid:10 1:0.5 7:1.25 # optional comment

* no ``qid:`` field and a separate *group file* (LightGBM): one positive
  integer per line, the number of consecutive rows of one query.

Feature indices are 1-based in both (LETOR's definition): feature ``k`` of the
file is column ``k - 1`` of :attr:`RankingDataset.features`. Index 0 is an
error (a zero-based file would otherwise be read shifted by one column).

The reader streams: the file (plain, gzip or bzip2, told apart by their first
bytes) is read ahead by a thread (which decompresses on one core while the
other parses) and parsed in blocks of whole lines by the Numba kernels of
:mod:`simulator._letor_kernels`. Each block's rows go straight into the dense
feature matrix, which grows in an anonymous memory map without being copied,
so the peak memory is the final arrays plus a few blocks (tens of MB),
whatever the size of the text. Numbers are converted exactly (the value of
Python's ``float`` of the token, rounded to float32), so files written by
:func:`save_letor` read back bit for bit.

Validity is defined once, line by line, by :class:`_LineChecker` (plain
Python); the kernels accept exactly the lines it accepts and, when they meet
a line they reject, the checker is run on that one line to word the message
``path:line: what is wrong``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import mmap
import numbers
import os
import queue
import re
import threading
import uuid
import zlib

import numpy as np

from . import _letor_kernels as _kernels
from ._dataset import RankingDataset, _freeze
from ._errors import LetorFormatError
from .validation import read_only

__all__ = ["LetorFormatError", "load_letor", "save_letor"]

#: Largest feature index read when ``n_features`` is not given. Features are
#: stored dense (rows x largest index), so a stray index of 10**7 would
#: otherwise ask for gigabytes; MSLR has 136 features, Yahoo 700, Istella 220.
MAX_FEATURE_INDEX = 100_000
#: Labels are parsed as float64; larger integers are not exact.
_MAX_LABEL = 2**53
#: Magnitudes from here on round to infinity in float32 (half-way between the
#: largest float32 and 2**128, ties to even).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
#: dtype of the features (RankingDataset stores float32). The kernels write
#: into an array of this dtype, so another one is a matter of this constant.
_FEATURE_DTYPE = np.float32
#: Bytes of decompressed text parsed at a time.
_BLOCK_BYTES = 32 * 2**20
#: A line longer than this is an error (a LETOR line of 100,000 features is
#: a few MB); it bounds the memory spent looking for the end of a line.
_MAX_LINE_BYTES = 64 * 2**20
#: Bytes of gzip data inflated per step.
_GZIP_STEP = 2**20
#: Slow numbers (see _letor_kernels) converted per kernel call, at first.
_SLOW_ROWS = 4096

#: Numbers and integers of the grammar; Python's float() and int() also take
#: underscores, surrounding whitespace and (int) other forms: not accepted.
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(rb"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_INTEGER = re.compile(rb"[+-]?[0-9]+")

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
#: Compressed formats the reader recognises but does not decompress.
_OTHER_MAGIC = {
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
    b"\x04\x22\x4d\x18": "lz4",
}


def _show(token: bytes) -> str:
    """Quoted, one-line, shortened rendering of a token for messages."""
    text = token.decode("utf-8", "backslashreplace")
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _number(token: bytes) -> float | None:
    """``float(token)`` for a number of the grammar (``inf`` and ``nan``
    included), ``None`` for anything else."""
    if _NUMBER.fullmatch(token) or _NON_FINITE.fullmatch(token):
        return float(token)
    return None


def _integer(token: bytes) -> int | None:
    """``int(token)`` for ``[+-]digits``, ``None`` for anything else."""
    return int(token) if _INTEGER.fullmatch(token) else None


#: The problem of a file whose rows hold labels (and qids) but no feature at
#: all (a row without features among rows with some is fine: sparse data).
_NO_FEATURES = "no feature values: no row holds an idx:value token"


def _reappears(qid: int, first_line: int) -> str:
    return (
        f"qid {qid} reappears after other queries (first seen at line "
        f"{first_line}); the rows of a query must be contiguous"
    )


class _LineChecker:
    """The reference definition of a valid data file, one line at a time.

    :meth:`check` returns the problem of a line, or ``None``; the state it
    carries from line to line (whether rows have ``qid:`` fields, the
    current query, the first line of every query) can be given, so that a
    single line deep inside a file can be checked as if all the lines before
    it had been. The kernels of :mod:`simulator._letor_kernels` accept
    exactly the lines this accepts.
    """

    def __init__(
        self,
        n_features=None,
        qid_mode=None,
        first_row_line=0,
        current_qid=None,
        qid_first_line=None,
    ):
        self.n_features = n_features
        self.qid_mode = qid_mode  # True / False once the first data row is seen
        self.first_row_line = first_row_line
        self.current_qid = current_qid
        self.qid_first_line = {} if qid_first_line is None else qid_first_line
        self.n_rows = 0
        self.n_values = 0  # idx:value tokens of the rows checked

    def check(self, lineno: int, raw: bytes) -> str | None:
        if b"\x00" in raw:
            return "line contains a NUL byte (a binary file, or text in UTF-16?)"
        tokens = raw.split(b"#", 1)[0].split()
        if not tokens:
            return None
        self.n_rows += 1

        label_token = tokens[0]
        label = _number(label_token)
        if label is None:
            return f"label {_show(label_token)} is not a number"
        if not (
            math.isfinite(label) and 0 <= label <= _MAX_LABEL and label == int(label)
        ):
            return f"label {_show(label_token)} is not a non-negative integer grade"

        features = tokens[1:]
        has_qid = bool(features) and features[0].startswith(b"qid")
        qid = None
        if has_qid:
            qid_token = features.pop(0)
            if qid_token.startswith(b"qid:"):
                qid = _integer(qid_token[4:])
            if qid is None or not -(2**63) <= qid < 2**63:
                return f"qid token {_show(qid_token)} is not qid:<64-bit integer>"
        if self.qid_mode is None:
            self.qid_mode, self.first_row_line = has_qid, lineno
        elif has_qid != self.qid_mode:
            return (
                ("row has a qid: field" if has_qid else "row has no qid: field")
                + f" but the first row (line {self.first_row_line}) "
                + ("does not" if has_qid else "does")
            )
        if has_qid and qid != self.current_qid:
            if qid in self.qid_first_line:
                return _reappears(qid, self.qid_first_line[qid])
            self.qid_first_line[qid] = lineno
            self.current_qid = qid

        previous = 0
        for token in features:
            index_token, colon, value_token = token.partition(b":")
            index = _integer(index_token) if colon else None
            if index is None or index < 1:
                return (
                    f"feature token {_show(token)} is not idx:value with a "
                    "positive integer idx"
                )
            if self.n_features is None and index > MAX_FEATURE_INDEX:
                return (
                    f"feature index in {_show(token)} is above {MAX_FEATURE_INDEX:,}, "
                    "the largest read without n_features (features are stored "
                    "dense, rows x largest index)"
                )
            if index <= previous:
                return (
                    f"feature index in {_show(token)} is not larger than the "
                    f"previous index {previous} (indices must increase)"
                )
            if self.n_features is not None and index > self.n_features:
                return (
                    f"feature index in {_show(token)} exceeds "
                    f"n_features={self.n_features}"
                )
            value = _number(value_token)
            if value is None:
                return (
                    f"feature token {_show(token)} is not idx:value with a "
                    "numeric value"
                )
            if not (math.isfinite(value) and abs(value) < _FLOAT32_OVERFLOW):
                return f"feature value in {_show(token)} is not a finite float32"
            previous = index
            self.n_values += 1
        return None


def _first_error(data: bytes, n_features: int | None) -> tuple[int, str] | None:
    """Scan the lines of a whole data file with :class:`_LineChecker`; return
    ``(line, message)`` of the first problem, or ``None`` if the file is
    valid.

    This is the reference definition of a valid file, in plain Python: the
    streaming reader accepts exactly the files it accepts.
    """
    checker = _LineChecker(n_features)
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        message = checker.check(lineno, raw)
        if message is not None:
            return lineno, message
    if checker.n_rows == 0:
        return 1, "no data rows (the file is empty or holds only comments)"
    if checker.n_values == 0:
        return checker.first_row_line, _NO_FEATURES
    return None


# --------------------------------------------------------------- file access
def _cannot_read(path: str, exc: OSError) -> LetorFormatError:
    reason = exc.strerror or str(exc)
    return LetorFormatError(f"{path}: cannot be read: {reason}")


def _open_binary(path: str):
    """Open for reading; any failure (a missing file, a folder, no
    permission) becomes a one-line LetorFormatError."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _cannot_read(path, exc) from None


def _open_text(path: str):
    """Binary stream of the file's text and its kind ("text", "gzip",
    "bzip2"), told by the first bytes of the file, not its name."""
    raw = _open_binary(path)
    try:
        head = raw.peek(8)[:8]  # without consuming: pipes work too
    except OSError as exc:
        raw.close()
        raise _cannot_read(path, exc) from None
    if head.startswith(_GZIP_MAGIC):
        return _Gunzip(raw, _GZIP_STEP), raw, "gzip"
    if head.startswith(_BZIP2_MAGIC) and head[3:4].isdigit():
        return bz2.BZ2File(raw, mode="rb"), raw, "bzip2"
    for magic, kind in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raw.close()
            raise LetorFormatError(
                f"{path}: is {kind}-compressed; the reader takes plain text, gzip "
                "and bzip2: decompress it first"
            )
    for suffix, kind in ((".gz", "gzip"), (".bz2", "bzip2")):
        if path.endswith(suffix):
            raw.close()
            start = f"starts with {_show(head[:6])}" if head else "is empty"
            raise LetorFormatError(
                f"{path}: is not {kind} data although its name ends in {suffix} "
                f"(it {start}); the file is corrupt or misnamed"
            )
    return raw, raw, "text"


class _Gunzip:
    """The text of a gzip file: its members one after the other, inflated by
    zlib (which checks each member's CRC and length) in large steps.

    Like :class:`gzip.GzipFile` (zero bytes between or after members are
    padding; other bytes that do not start a member are an error), for a
    third less CPU: GzipFile inflates 8 KiB of input per Python-level step.
    """

    def __init__(self, raw, step: int):
        self._raw = raw
        self._step = step
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = b""
        self._ended = False  # the last member ended and no data follows

    def _next_member(self, rest: bytes) -> None:
        """After a member: skip zero padding, start the next member."""
        while True:
            rest = rest.lstrip(b"\x00")
            if rest:
                break
            rest = self._raw.read(self._step)
            if not rest:
                self._ended = True
                return
        if not rest.startswith(_GZIP_MAGIC[:len(rest)]):
            raise gzip.BadGzipFile(f"data after the last member: {rest[:6]!r}")
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = rest

    def read(self, size: int) -> bytes:
        out = []
        count = 0
        while count < size and not self._ended:
            if not self._input:
                self._input = self._raw.read(self._step)
                if not self._input:
                    raise EOFError("the compressed stream ended before its end marker")
            chunk = self._inflate.decompress(self._input, size - count)
            self._input = self._inflate.unconsumed_tail
            out.append(chunk)
            count += len(chunk)
            if self._inflate.eof:
                self._next_member(self._inflate.unused_data + self._input)
        return b"".join(out)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Prefetched:
    """Read a stream ahead in a thread, so that reading (decompressing
    above all) runs on one core while the kernels parse on the other.

    ``readinto`` fills the whole view unless the stream ends; an exception
    of the stream (EOFError, zlib.error, OSError) is raised by the
    ``readinto`` that reaches it. ``close`` stops and joins the thread.
    """

    def __init__(self, stream, size: int, depth: int = 2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(
            target=self._run, args=(stream, size), name="load_letor-read", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self, stream, size: int) -> None:
        try:
            while not self._stop.is_set():
                data = stream.read(size)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reading thread
            self._put(exc)

    def readinto(self, view) -> int:
        filled = 0
        while filled < len(view) and not self._done:
            if not self._pending:
                item = self._queue.get()
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                if not item:
                    self._done = True
                    break
                self._pending = memoryview(item)
            count = min(len(view) - filled, len(self._pending))
            view[filled : filled + count] = self._pending[:count]
            self._pending = self._pending[count:]
            filled += count
        return filled

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _LongLine(Exception):
    """A line longer than _MAX_LINE_BYTES (the caller knows its number)."""


def _blocks(stream, path: str, kind: str, size: int):
    """Yield the text in blocks of whole lines (the last may lack its
    newline), as uint8 arrays over one reused buffer: a block is valid until
    the next one is asked for. Decompression errors become LetorFormatError.
    """
    buffer = np.empty(size, dtype=np.uint8)
    filled = 0  # bytes at the front: the start of a line not yet yielded
    while True:
        if filled == buffer.shape[0]:  # no newline in a full buffer
            if filled >= _MAX_LINE_BYTES:
                raise _LongLine()
            buffer = np.concatenate([buffer, np.empty_like(buffer)])
        try:
            n_read = stream.readinto(memoryview(buffer)[filled:])
        except EOFError:
            raise LetorFormatError(
                f"{path}: the {kind} data is truncated (the compressed stream "
                "ends before its end marker); the file is incomplete"
            ) from None
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise LetorFormatError(f"{path}: the {kind} data is corrupt ({exc})") from None
        except OSError as exc:
            if kind != "text" and exc.errno is None:  # bz2: "Invalid data stream"
                raise LetorFormatError(
                    f"{path}: the {kind} data is corrupt ({exc})"
                ) from None
            raise _cannot_read(path, exc) from None
        if n_read == 0:
            if filled:
                yield buffer[:filled]
            return
        end = filled + n_read
        cut = _kernels.last_newline(buffer, filled, end)
        if cut < 0:
            filled = end
            continue
        yield buffer[: cut + 1]
        filled = end - cut - 1
        buffer[:filled] = buffer[cut + 1 : end].copy()


def _available_memory() -> int | None:
    """Bytes of memory this process can still take: MemAvailable, or less
    under a cgroup (v2) limit; None if unknown."""
    available = None
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current", "rb") as fh:
            current = int(fh.read().strip())
        if limit != b"max":
            room = int(limit) - current
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    return available


class _Rows:
    """A dense matrix that grows by rows (and columns) as blocks arrive.

    The rows live in a private anonymous memory map, grown with ``mremap``
    (:meth:`mmap.mmap.resize`): the kernel moves the pages, nothing is
    copied, and room reserved ahead costs no memory until rows are written
    into it. A wider row moves the rows already written in place. So the
    matrix never exists twice, and the final array is this map trimmed to
    its rows.
    """

    _FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS

    def __init__(self, width: int, dtype):
        self.width = width
        self.dtype = np.dtype(dtype)
        self.n_rows = 0
        self.capacity = 0
        self.map = mmap.mmap(-1, mmap.PAGESIZE, flags=self._FLAGS)

    def _resize(self, n_bytes: int) -> None:
        self.map.resize(max(n_bytes, mmap.PAGESIZE))

    def view(self, rows: slice) -> np.ndarray:
        """Writable view of ``rows``; drop it before the next :meth:`reserve`."""
        count = self.capacity * self.width
        matrix = np.frombuffer(self.map, dtype=self.dtype, count=count)
        return matrix.reshape(self.capacity, self.width)[rows]

    def reserve(self, n_rows: int, width: int) -> None:
        """Room for ``n_rows`` rows of at least ``width`` columns."""
        itemsize = self.dtype.itemsize
        if width > self.width:
            self._resize(self.capacity * width * itemsize)
            flat = np.frombuffer(self.map, dtype=self.dtype, count=self.capacity * width)
            _kernels.widen_rows(flat, self.n_rows, self.width, width)
            del flat
            self.width = width
        if n_rows > self.capacity:
            capacity = max(n_rows, 2 * self.capacity, 1024)
            try:
                self._resize(capacity * self.width * itemsize)
            except OSError:  # no room ahead: exactly what is needed
                capacity = n_rows
                self._resize(capacity * self.width * itemsize)
            self.capacity = capacity

    def release(self) -> np.ndarray:
        """The matrix of the rows written, trimmed; the store is spent."""
        count = self.n_rows * self.width
        self._resize(count * self.dtype.itemsize)
        matrix = np.frombuffer(self.map, dtype=self.dtype, count=count)
        self.map = None
        return matrix.reshape(self.n_rows, self.width)


# ------------------------------------------------------------------- parsing
class _Parse:
    """The state of one streaming parse of a data file.

    Rows are parsed block by block into reusable sparse buffers, then written
    into the growing dense matrix (:class:`_Rows`); labels and the queries'
    first rows are kept per block and joined at the end.
    """

    def __init__(self, path: str, n_features: int | None, dtype):
        self.path = path
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        # The kernels take int64; a wider matrix fails the memory check anyway.
        self.limit = MAX_FEATURE_INDEX if n_features is None else min(n_features, 2**62)
        self.available = _available_memory()
        self.lineno = 1  # of the next line to read
        self.qid_mode = -1
        self.first_row_line = 0
        self.max_index = 0
        self.max_index_line = 0
        self.n_rows = 0
        self.last_qid = None
        self.rows = _Rows(0 if n_features is None else n_features, dtype)
        self.labels = []
        self.runs = []  # per block: (qids, first lines, first rows) of the queries starting in it
        self.buffers = None
        self.slow = np.empty((_SLOW_ROWS, 4), dtype=np.int64)

    # -------------------------------------------------------------- blocks
    def _buffers(self, max_rows: int, max_nnz: int):
        """Reusable kernel outputs with room for ``max_rows`` and ``max_nnz``."""
        if (
            self.buffers is None
            or self.buffers[0].shape[0] < max_rows
            or self.buffers[4].shape[0] < max_nnz
        ):
            rows = max(max_rows, 1024)
            nnz = max(max_nnz, 1024)
            self.buffers = (
                np.empty(rows, dtype=np.int64),  # labels
                np.empty(rows, dtype=np.int64),  # qids
                np.empty(rows, dtype=np.int64),  # line numbers
                np.empty(rows, dtype=np.int64),  # row ends
                np.empty(nnz, dtype=np.int32),  # columns
                np.empty(nnz, dtype=self.dtype),  # values
            )
        return self.buffers

    def _convert_slow(self, buf: np.ndarray, slow: np.ndarray, n_rows: int) -> int:
        """Convert the slow numbers of the first ``n_rows`` rows of the block
        exactly; return the row of the first one that is not a valid label or
        value, or -1."""
        labels, _, _, ends, _, values = self.buffers
        first_bad = -1
        for kind, index, start, stop in slow.tolist():
            number = float(buf[start:stop].tobytes())  # the kernel checked the grammar
            if kind == _kernels.SLOW_LABEL:
                if math.isfinite(number) and 0 <= number <= _MAX_LABEL and number == int(number):
                    labels[index] = int(number)
                elif first_bad < 0 or index < first_bad:
                    first_bad = index
            elif math.isfinite(number) and abs(number) < _FLOAT32_OVERFLOW:
                values[index] = number
            else:
                row = int(np.searchsorted(ends[:n_rows], index, side="right"))
                if first_bad < 0 or row < first_bad:
                    first_bad = row
        return first_bad

    def feed(self, buf: np.ndarray) -> None:
        """Parse one block of whole lines, a uint8 array."""
        buf = read_only(buf)  # a block read into a buffer or a file's bytes: one kernel specialisation
        newlines, colons = _kernels.count_bytes(buf)
        labels, qids, lines, ends, columns, values = self._buffers(newlines + 1, colons)
        block_line = self.lineno
        position = n_rows = nnz = 0
        lineno = self.lineno
        bad_line = bad_position = None
        while True:
            (status, position, lineno, n_rows, nnz, n_slow, qid_mode, max_index,
             max_index_line) = _kernels.parse_block(
                buf, position, lineno, n_rows, nnz, self.qid_mode, self.max_index,
                self.max_index_line, self.limit, labels, qids, lines, ends, columns,
                values, self.slow,
            )
            self.qid_mode, self.max_index, self.max_index_line = (
                qid_mode, max_index, max_index_line)
            first_bad = self._convert_slow(buf, self.slow[:n_slow], n_rows)
            if first_bad >= 0:
                bad_line = int(lines[first_bad])
                n_rows = first_bad  # the rows before it are good
                break
            if status == _kernels.SLOW_FULL:
                if n_slow == 0:  # one line holds more slow numbers than the table
                    self.slow = np.empty((2 * self.slow.shape[0], 4), dtype=np.int64)
                continue
            if status == _kernels.BAD_LINE:
                bad_line, bad_position = lineno, position
            break

        if self.first_row_line == 0 and n_rows:
            self.first_row_line = int(lines[0])
        if self.qid_mode == 1 and n_rows:
            block_qids = qids[:n_rows]
            starts = np.flatnonzero(block_qids[1:] != block_qids[:-1]) + 1
            if self.last_qid is None or block_qids[0] != self.last_qid:
                starts = np.concatenate([[0], starts])
            self.runs.append((block_qids[starts].copy(), lines[starts].copy(),
                              starts + self.n_rows))
        if bad_line is not None:
            previous_qid = int(qids[n_rows - 1]) if n_rows else self.last_qid
            raise self._error_at(bad_line, buf.tobytes(), block_line, bad_position,
                                 self.n_rows + n_rows, previous_qid)
        self._store(n_rows, labels, qids, ends, columns, values, int(lines[n_rows - 1]) if n_rows else 0)
        self.lineno = lineno

    def _store(self, n_rows, labels, qids, ends, columns, values, last_line) -> None:
        """Write a parsed block (ending on ``last_line``) into the matrix;
        check the memory bound first."""
        if n_rows == 0:
            return
        if self.qid_mode == 1:
            self.last_qid = int(qids[n_rows - 1])
        first = self.n_rows
        self.n_rows += n_rows
        self._check_memory(last_line)
        try:
            self.rows.reserve(self.n_rows, self.max_index)
        except OSError as exc:  # pragma: no cover - the memory check comes first
            raise LetorFormatError(
                f"{self.path}:{self.lineno}: no memory for {self.n_rows:,} rows of "
                f"features ({exc.strerror or exc})"
            ) from None
        _kernels.scatter_rows(ends, columns, values, 0, self.rows.view(slice(first, self.n_rows)))
        self.rows.n_rows = self.n_rows
        self.labels.append(labels[:n_rows].copy())

    def _check_memory(self, last_line: int) -> None:
        """Refuse features that would not fit in the available memory, at the
        line of the largest index (or the last line read, with n_features)."""
        if self.n_features is None:
            width, line, why = self.max_index, self.max_index_line, ", the largest index, on this line"
        else:
            width, line, why = self.n_features, last_line, " (n_features), by this line"
        need = self.n_rows * width * self.dtype.itemsize
        if self.available is not None and need > self.available:
            raise LetorFormatError(
                f"{self.path}:{line}: the features need {need / 2**30:.1f} GiB as a "
                f"dense {self.dtype} matrix ({self.n_rows:,} rows so far x {width:,} "
                f"columns{why}) but only {self.available / 2**30:.1f} GiB of memory "
                "are available"
            )

    # -------------------------------------------------------------- errors
    def _run_arrays(self):
        if not self.runs:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        return tuple(np.concatenate(parts) for parts in zip(*self.runs))

    def _first_reappearance(self, before_line=None):
        """``(line, message)`` of the first query whose qid reappears after
        other queries (before ``before_line`` if given), or ``None``."""
        qids, lines, _ = self._run_arrays()
        if before_line is not None:
            keep = lines < before_line
            qids, lines = qids[keep], lines[keep]
        if qids.shape[0] < 2:
            return None
        _, first, inverse = np.unique(qids, return_index=True, return_inverse=True)
        repeated = np.flatnonzero(first[inverse] < np.arange(qids.shape[0]))
        if repeated.shape[0] == 0:
            return None
        i = int(repeated[0])
        return int(lines[i]), _reappears(int(qids[i]), int(lines[first[inverse[i]]]))

    def _error_at(self, line, block, block_line, position, rows_before, previous_qid):
        """The LetorFormatError of the first problem, known to be on ``line``
        (of ``block``, which starts at line ``block_line``) or earlier: a
        query that reappears before it, or what the reference checker says of
        the line."""
        found = self._first_reappearance(before_line=line)
        if found is not None:
            return LetorFormatError(f"{self.path}:{found[0]}: {found[1]}")
        if position is None:
            position = 0
            for _ in range(line - block_line):
                position = block.index(b"\n", position) + 1
        end = block.find(b"\n", position)
        raw = block[position:] if end < 0 else block[position : end + 1]
        qids, lines, _ = self._run_arrays()
        keep = lines < line
        checker = _LineChecker(
            self.n_features,
            qid_mode=None if rows_before == 0 else self.qid_mode == 1,
            first_row_line=self.first_row_line,
            current_qid=previous_qid,
            qid_first_line=dict(zip(qids[keep].tolist(), lines[keep].tolist())),
        )
        message = checker.check(line, raw)
        if message is None:  # pragma: no cover - the kernels and the checker agree
            message = "line cannot be parsed"
        return LetorFormatError(f"{self.path}:{line}: {message}")

    # -------------------------------------------------------------- result
    def finish(self):
        """Final arrays: features, labels, and for qid files the query
        boundaries and ids (``None, None`` without qid fields)."""
        if self.n_rows == 0:
            raise LetorFormatError(
                f"{self.path}:1: no data rows (the file is empty or holds only comments)"
            )
        found = self._first_reappearance()
        if found is not None:
            raise LetorFormatError(f"{self.path}:{found[0]}: {found[1]}")
        if self.max_index == 0:  # no idx:value token in the whole file
            raise LetorFormatError(f"{self.path}:{self.first_row_line}: {_NO_FEATURES}")
        features = self.rows.release()
        labels = np.concatenate(self.labels)
        self.labels = []
        if self.qid_mode != 1:
            return features, labels, None, None
        qids, _, starts = self._run_arrays()
        boundaries = np.append(starts, self.n_rows).astype(np.int64)
        return features, labels, boundaries, qids.astype(np.int64)


def _parse_file(path: str, n_features: int | None, dtype=_FEATURE_DTYPE):
    """Stream, decompress and parse a data file; see :meth:`_Parse.finish`."""
    stream, raw, kind = _open_text(path)
    parse = _Parse(path, n_features, dtype)
    try:
        with raw, stream:
            ahead = _Prefetched(stream, max(1, min(_BLOCK_BYTES // 4, 2**23)))
            try:
                for block in _blocks(ahead, path, kind, _BLOCK_BYTES):
                    parse.feed(block)
            except _LongLine:
                raise LetorFormatError(
                    f"{path}:{parse.lineno}: line is longer than "
                    f"{_MAX_LINE_BYTES // 2**20} MiB"
                ) from None
            finally:
                ahead.close()
    finally:
        parse.buffers = None
    return parse.finish()


def _read_group_sizes(group_path: str, n_rows: int, data_path: str) -> np.ndarray:
    """Read a LightGBM group file and check it against ``n_rows`` rows."""
    sizes = []
    total = 0
    last_line = 1
    with _open_binary(group_path) as fh:
        try:
            lines = list(enumerate(fh, start=1))
        except OSError as exc:
            raise _cannot_read(group_path, exc) from None
    for lineno, raw in lines:
        token = raw.strip()
        if not token:
            continue
        size = _integer(token)
        if size is None or size < 1:
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


def load_letor(
    path, group_path=None, n_features=None, name=None, min_queries=1
) -> RankingDataset:
    """Load a LETOR / SVMlight ranking file.

    Rows look like ``label [qid:Q] idx:value idx:value ... [# comment]``.
    Queries come from the ``qid:`` fields when the rows have them (the rows
    of one query must be contiguous) or else from a group file, LightGBM's
    convention of one row count per line. The file is read in blocks, so its
    size is bounded by the memory of the final arrays (float32 features,
    rows x largest index), not by the size of its text: MSLR-WEB30K's 3.5 GB
    ``train.txt`` needs about 1.2 GB.

    Parameters
    ----------
    path : str or os.PathLike
        Data file: plain text, gzip or bzip2, told apart by the first bytes
        of the file (a name ending in ``.gz`` or ``.bz2`` must hold such
        data).
    group_path : str or os.PathLike, default=None
        Group file for a data file without ``qid:`` fields. ``None`` means
        ``path + ".query"`` if that exists. Must be ``None`` when the rows
        have ``qid:`` fields.
    n_features : int, default=None
        Width of the feature matrix, >= 1. ``None`` means the largest feature
        index in the file, which must then be at most
        :data:`MAX_FEATURE_INDEX` (100,000). A file with a larger index than
        ``n_features`` is an error; a smaller one is padded with zero
        columns.
    name : str, default=None
        Name of the dataset; ``None`` means the file name of ``path``.
    min_queries : int, default=1
        Fewest queries the caller can use (an experiment that splits the
        queries needs at least 2); fewer is a LetorFormatError.

    Returns
    -------
    RankingDataset
        Features as float32 (feature ``k`` of the file in column ``k - 1``),
        labels as int64. ``query_ids`` are the qids, or ``0 .. n_queries - 1``
        with a group file.

    Raises
    ------
    LetorFormatError
        If a file cannot be used, with a one-line message ``path:line: what
        is wrong`` naming the first bad line: a token that is not
        ``idx:value``; a value that is not a number or not finite in
        float32 (NaN and infinities are errors: no learner here takes them);
        an index that is not a positive integer, does not increase or is
        above the limit; a label that is not a non-negative integer; a qid
        that is not a 64-bit integer or reappears after another query; ``qid:``
        on some rows only; a NUL byte; a line of over 64 MiB; an empty file;
        a file without any feature value (a row without features is fine
        when other rows have some); fewer than ``min_queries`` queries; dense
        features larger than the available memory; a group file whose sizes
        are not positive or do not add up, or no group file for rows without
        ``qid:``. Bytes that are not ASCII are errors outside comments (they
        make no number) and ignored in comments. ``path: what is wrong`` for
        a data or group file that does not exist, is a folder or cannot be
        read, a truncated or corrupt gzip or bzip2 file, a name ending in
        ``.gz`` or ``.bz2`` without such data, or xz, zstd, zip or lz4 data.
    ValueError
        If ``n_features`` or ``min_queries`` is not a positive integer, or
        ``group_path`` is given for a file with ``qid:`` fields.

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
    simulator._errors.LetorFormatError: ...train.txt:4: qid 7 reappears after other queries (first seen at line 1); the rows of a query must be contiguous
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
    if (
        isinstance(min_queries, bool)
        or not isinstance(min_queries, numbers.Integral)
        or min_queries < 1
    ):
        raise ValueError(f"min_queries must be an integer >= 1, got {min_queries!r}")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name must be None or a str, got {name!r}")

    features, labels, boundaries, query_ids = _parse_file(
        path, None if n_features is None else int(n_features)
    )
    n_rows = labels.shape[0]

    if boundaries is not None:
        if group_path is not None:
            raise ValueError(
                f"group_path must be None for {path}, whose rows have qid: "
                f"fields; got group_path={os.fspath(group_path)!r}"
            )
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

    n_queries = boundaries.shape[0] - 1
    if n_queries < min_queries:
        where = (
            f"qid {int(query_ids[0])}" if group_path is None
            else f"group file {os.fspath(group_path)}"
        )
        raise LetorFormatError(
            f"{path}:1: the file holds {n_queries} "
            f"quer{'y' if n_queries == 1 else 'ies'} ({where}) but at least "
            f"{min_queries} are needed"
        )

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
    # The reader's value of a token is float(token) rounded to float32.
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
    """Compress by file extension (the reader tells them by their first bytes)."""
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
