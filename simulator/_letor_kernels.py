"""Numba kernels of the LETOR reader: parse a block of SVMlight text.

Pure functions over byte and number arrays, no validation of their
arguments; :mod:`simulator._letor` validates, streams the file in blocks and
turns what these kernels flag into ``path:line: what is wrong`` messages.

The grammar accepted here is the one of :class:`simulator._letor._LineChecker`
(the reference, in plain Python): a line is ``label [qid:Q] idx:value ...``
up to the first ``#``, tokens separated by ASCII whitespace (space, ``\\t``,
``\\v``, ``\\f``, ``\\r``). A kernel decides only *whether* a line is valid; the
message comes from the reference checker run on that one line.

Numbers (labels and values) are ``[+-]?(digits[.digits]|.digits)[(e|E)[+-]digits]``.
They are converted exactly (correctly rounded to float64, as ``float()``
does) when at most 15 significant digits and a power of ten within
``1e-22 .. 1e22`` make that a single IEEE operation on exact operands
(Clinger's fast path); any other number is reported back as *slow* with its
byte range, and the caller converts it with Python's ``float``. Every value
therefore equals ``float(token)`` rounded to the features' dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Status of :func:`parse_block`.
DONE = 0  # the whole block was read
BAD_LINE = 1  # the line at the returned position breaks the grammar
SLOW_FULL = 2  # the slow-token table is full: convert them, then call again

#: Kinds of slow tokens.
SLOW_LABEL = 0
SLOW_VALUE = 1

#: Exact powers of ten of float64.
_POW10 = np.array([10.0**i for i in range(23)], dtype=np.float64)
#: 2**53: labels above it are rejected (not exact in float64).
_MAX_LABEL = 9007199254740992.0
#: Magnitudes from here on round to infinity in float32.
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103

_NUMBER_BAD = 0
_NUMBER_EXACT = 1
_NUMBER_SLOW = 2


@njit(cache=True, inline="always")
def _is_blank(c):
    """ASCII whitespace other than the newline: space, \\t, \\v, \\f, \\r."""
    return c == 32 or c == 9 or c == 11 or c == 12 or c == 13


@njit(cache=True, inline="always")
def _ends_token(buf, i, n):
    """Whether a token ends before byte ``i``: end of buffer, whitespace
    (the newline included) or the start of a comment."""
    if i >= n:
        return True
    c = buf[i]
    return c == 32 or (c >= 9 and c <= 13) or c == 35


@njit(cache=True, inline="always")
def _skip_blanks(buf, i, n):
    while i < n and _is_blank(buf[i]):
        i += 1
    return i


@njit(cache=True, inline="always")
def parse_number(buf, start, n):
    """Parse a decimal number from byte ``start`` on, up to the first byte
    that cannot continue it.

    Returns
    -------
    kind : int
        0 if no number of the grammar starts there (this includes ``inf``
        and ``nan``), 1 if ``value`` is exact, 2 if the number is valid but
        needs an exact conversion by the caller.
    value : float
        The correctly rounded float64 when ``kind`` is 1.
    stop : int
        The byte after the number.
    """
    i = start
    negative = False
    if i < n and (buf[i] == 43 or buf[i] == 45):  # + -
        negative = buf[i] == 45
        i += 1
    mantissa = 0
    n_significant = 0
    exponent = 0
    inexact = False
    n_digits = 0
    while i < n and buf[i] >= 48 and buf[i] <= 57:
        digit = buf[i] - 48
        n_digits += 1
        if mantissa != 0 or digit != 0:
            if n_significant < 18:
                mantissa = mantissa * 10 + digit
                n_significant += 1
            else:  # beyond int64: only the power of ten is kept
                exponent += 1
                inexact = inexact or digit != 0
        i += 1
    if i < n and buf[i] == 46:  # .
        i += 1
        while i < n and buf[i] >= 48 and buf[i] <= 57:
            digit = buf[i] - 48
            n_digits += 1
            if mantissa != 0 or digit != 0:
                if n_significant < 18:
                    mantissa = mantissa * 10 + digit
                    n_significant += 1
                    exponent -= 1
                else:  # a trailing zero changes nothing
                    inexact = inexact or digit != 0
            else:
                exponent -= 1
            i += 1
    if n_digits == 0:
        return _NUMBER_BAD, 0.0, i
    if i < n and (buf[i] == 101 or buf[i] == 69):  # e E
        i += 1
        exponent_negative = False
        if i < n and (buf[i] == 43 or buf[i] == 45):
            exponent_negative = buf[i] == 45
            i += 1
        if i >= n or buf[i] < 48 or buf[i] > 57:
            return _NUMBER_BAD, 0.0, i
        written = 0
        while i < n and buf[i] >= 48 and buf[i] <= 57:
            if written < 100000:  # saturates; such exponents are slow anyway
                written = written * 10 + (buf[i] - 48)
            i += 1
        exponent += -written if exponent_negative else written
    if mantissa == 0 and not inexact:
        return _NUMBER_EXACT, -0.0 if negative else 0.0, i
    while n_significant > 15 and mantissa % 10 == 0:
        mantissa //= 10
        n_significant -= 1
        exponent += 1
    if inexact or n_significant > 15 or exponent < -22 or exponent > 22:
        return _NUMBER_SLOW, 0.0, i
    value = float(mantissa)
    if exponent >= 0:
        value = value * _POW10[exponent]
    else:
        value = value / _POW10[-exponent]
    return _NUMBER_EXACT, -value if negative else value, i


@njit(cache=True, inline="always")
def parse_integer(buf, start, n):
    """Parse ``[+-]digits`` from byte ``start`` on, up to the first byte that
    is not a digit.

    Returns
    -------
    ok : bool
        False if there is no digit, or the number does not fit in int64.
    value : int
    stop : int
        The byte after the number.
    """
    i = start
    negative = False
    if i < n and (buf[i] == 43 or buf[i] == 45):
        negative = buf[i] == 45
        i += 1
    head = 0  # the first 18 significant digits
    last = 0  # the 19th, if any
    n_significant = 0
    n_digits = 0
    while i < n and buf[i] >= 48 and buf[i] <= 57:
        digit = buf[i] - 48
        n_digits += 1
        if n_significant > 0 or digit != 0:
            if n_significant < 18:
                head = head * 10 + digit
            elif n_significant == 18:
                last = digit
            n_significant += 1
        i += 1
    if n_digits == 0 or n_significant > 19:
        return False, 0, i
    if n_significant <= 18:
        return True, -head if negative else head, i
    # 19 digits: fits while head * 10 + last <= 2**63 - 1 (2**63 when negative).
    limit_head = 922337203685477580
    if head > limit_head or (head == limit_head and last > (8 if negative else 7)):
        return False, 0, i
    if negative:
        return True, -(head * 10) - last, i
    return True, head * 10 + last, i


@njit(cache=True, nogil=True)
def parse_block(
    buf,
    position,
    lineno,
    n_rows,
    nnz,
    qid_mode,
    max_index,
    max_index_line,
    index_limit,
    labels,
    qids,
    row_lines,
    row_ends,
    columns,
    values,
    slow,
):
    """Parse the lines of ``buf`` from byte ``position`` on, into sparse rows.

    The kernel stops at the end of the buffer, at the first line that breaks
    the grammar, or when ``slow`` is full (it then leaves the current line
    for the next call). A call can resume from what the previous one
    returned.

    Parameters
    ----------
    buf : ndarray of shape (n_bytes,), uint8
        Whole lines of the file (the last one may lack its newline).
    position, lineno, n_rows, nnz : int
        Where to resume: byte offset of a line start, its 1-based line number
        in the file, the rows and the non-zeros already written.
    qid_mode : int
        -1 while no row was seen, 1 if the first row has a ``qid:`` field,
        0 if not; every row must agree with the first one.
    max_index, max_index_line : int
        Largest feature index seen so far and the line it was on.
    index_limit : int
        Feature indices above it make a line invalid.
    labels, qids, row_lines : ndarray of shape (max_rows,)
        Outputs per row: label (int64), qid (int64, 0 without qid fields),
        1-based line number (int64).
    row_ends : ndarray of shape (max_rows,), int64
        ``nnz`` after each row, so row ``r`` owns non-zeros
        ``row_ends[r - 1]:row_ends[r]``.
    columns : ndarray of shape (max_nnz,), int32
        0-based column (feature index - 1) of each non-zero.
    values : ndarray of shape (max_nnz,), float
        Value of each non-zero, cast to this array's dtype; slow values are
        written later by the caller.
    slow : ndarray of shape (max_slow, 4), int64
        Slow numbers: ``(kind, row or non-zero index, start, stop)``, kind 0
        for a label (index = row) and 1 for a value (index = non-zero).

    Returns
    -------
    status : int
        DONE, BAD_LINE or SLOW_FULL.
    position, lineno : int
        With DONE, the end of the buffer and the number of the next line;
        otherwise the start and the number of the line that was not written.
    n_rows, nnz, n_slow, qid_mode, max_index, max_index_line : int
        Updated counters; ``nnz`` and ``n_slow`` count the written rows only.
    """
    n = buf.shape[0]
    n_slow = 0
    max_slow = slow.shape[0]
    while position < n:
        line_start = position
        row_nnz = nnz
        row_slow = n_slow
        row_mode = qid_mode
        status = DONE
        written = False
        i = _skip_blanks(buf, position, n)
        if i < n and buf[i] != 10 and buf[i] != 35:
            written = True
            # ---- label
            kind, label, stop = parse_number(buf, i, n)
            label_value = 0
            if kind == _NUMBER_BAD or not _ends_token(buf, stop, n):
                status = BAD_LINE
            elif kind == _NUMBER_SLOW:
                if n_slow == max_slow:
                    status = SLOW_FULL
                else:
                    slow[n_slow, 0] = SLOW_LABEL
                    slow[n_slow, 1] = n_rows
                    slow[n_slow, 2] = i
                    slow[n_slow, 3] = stop
                    n_slow += 1
            elif label >= 0.0 and label <= _MAX_LABEL and label == np.floor(label):
                label_value = int(label)
            else:
                status = BAD_LINE
            i = _skip_blanks(buf, stop, n)

            # ---- qid
            has_qid = 0
            qid = 0
            if (status == DONE and i + 2 < n and buf[i] == 113 and buf[i + 1] == 105
                    and buf[i + 2] == 100):
                if i + 3 < n and buf[i + 3] == 58:
                    ok, qid, stop = parse_integer(buf, i + 4, n)
                    if not ok or not _ends_token(buf, stop, n):
                        status = BAD_LINE
                    has_qid = 1
                    i = _skip_blanks(buf, stop, n)
                else:
                    status = BAD_LINE
            if status == DONE:
                if qid_mode == -1:
                    qid_mode = has_qid
                elif has_qid != qid_mode:
                    status = BAD_LINE

            # ---- features
            previous = 0
            while status == DONE and i < n and buf[i] != 10 and buf[i] != 35:
                ok, index, stop = parse_integer(buf, i, n)
                if (not ok or stop >= n or buf[stop] != 58 or index < 1
                        or index > index_limit or index <= previous):
                    status = BAD_LINE
                    break
                kind, value, end = parse_number(buf, stop + 1, n)
                if kind == _NUMBER_BAD or not _ends_token(buf, end, n):
                    status = BAD_LINE
                    break
                if kind == _NUMBER_SLOW:
                    if n_slow == max_slow:
                        status = SLOW_FULL
                        break
                    slow[n_slow, 0] = SLOW_VALUE
                    slow[n_slow, 1] = nnz
                    slow[n_slow, 2] = stop + 1
                    slow[n_slow, 3] = end
                    n_slow += 1
                elif not abs(value) < _FLOAT32_OVERFLOW:
                    status = BAD_LINE
                    break
                else:
                    values[nnz] = value
                columns[nnz] = index - 1
                nnz += 1
                previous = index
                i = _skip_blanks(buf, end, n)
        else:
            previous = 0
            label_value = 0
            qid = 0
        # ---- the rest of the line: a comment, or nothing; no NUL byte in it
        if status == DONE:
            while i < n and buf[i] != 10:
                if buf[i] == 0:
                    status = BAD_LINE
                    break
                i += 1
        if status != DONE:
            return (status, line_start, lineno, n_rows, row_nnz, row_slow, row_mode,
                    max_index, max_index_line)
        if written:
            if previous > max_index:
                max_index = previous
                max_index_line = lineno
            labels[n_rows] = label_value
            qids[n_rows] = qid
            row_lines[n_rows] = lineno
            row_ends[n_rows] = nnz
            n_rows += 1
        position = i + 1 if i < n else n
        lineno += 1
    return (DONE, position, lineno, n_rows, nnz, n_slow, qid_mode, max_index,
            max_index_line)


@njit(cache=True, nogil=True)
def scatter_rows(row_ends, columns, values, first, out):
    """Write sparse rows into the dense ``out``.

    Row ``r`` of ``out`` receives the non-zeros
    ``row_ends[first + r - 1]:row_ends[first + r]`` (from 0 for ``first + r
    == 0``), at their columns.
    """
    start = 0 if first == 0 else row_ends[first - 1]
    for r in range(out.shape[0]):
        stop = row_ends[first + r]
        for k in range(start, stop):
            out[r, columns[k]] = values[k]
        start = stop


@njit(cache=True, nogil=True)
def count_bytes(buf):
    """Numbers of newlines and of colons in ``buf``: bounds on the rows and
    the non-zeros of a block."""
    newlines = 0
    colons = 0
    for i in range(buf.shape[0]):
        c = buf[i]
        if c == 10:
            newlines += 1
        elif c == 58:
            colons += 1
    return newlines, colons


@njit(cache=True, nogil=True)
def last_newline(buf, start, stop):
    """Index of the last newline in ``buf[start:stop]``, or -1."""
    for i in range(stop - 1, start - 1, -1):
        if buf[i] == 10:
            return i
    return -1


@njit(cache=True, nogil=True)
def widen_rows(flat, n_rows, old_width, new_width):
    """Give the first ``n_rows`` rows of a C-ordered matrix, stored flat with
    ``old_width`` columns, ``new_width >= old_width`` columns in place; the
    new columns are zero.

    Rows move from the last to the first, each to an offset at or after its
    old one, so no row is overwritten before it has moved.
    """
    for r in range(n_rows - 1, -1, -1):
        source = r * old_width
        target = r * new_width
        for j in range(old_width - 1, -1, -1):
            flat[target + j] = flat[source + j]
        for j in range(old_width, new_width):
            flat[target + j] = 0
