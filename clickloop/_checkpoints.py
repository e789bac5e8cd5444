"""Checkpoints of a task: every finished round of one (seed, variant) loop, and the task's rows.

A task's folder is ``OUT/.state/seed_S/VARIANT/``.  Each finished round is
saved as ``round_T.npz`` (the round's click statistics over the shown cells,
the deployed ranker's scores and what the metrics need); when the task is done
its metric and propensity rows are saved as ``rows.csv``.  Every file is
written through the atomic writer: a crash leaves whole files or a ``.tmp``.
"""

import csv
import hashlib
import io
from pathlib import Path

import numpy as np

from simulator import ClickStatistics
from simulator.atomic import atomic_path, atomic_write_text

from ._loop import ClickProbability, RoundRecord
from ._outdir import STATE

__all__ = ["CheckpointError", "STATE", "load_record", "read_rows", "rows_text", "save_record", "task_dir",
           "write_rows"]

_OPTIONAL = ("test_scores", "theta", "candidate_test_scores")
_DECISION = ("deployed", "estimated_improvement", "exact_improvement", "exact_ndcg_improvement")  # a gated round


def task_dir(out, seed, variant):
    """The checkpoint folder of one (seed, variant) task."""
    return Path(out) / STATE / f"seed_{seed}" / variant


def _compact(counts):
    """Integer counts as int32 when they fit (half the bytes of a checkpoint's index and count columns)."""
    return counts.astype(np.int32) if counts.size == 0 or counts.max() < 2**31 else counts


def save_record(path, record):
    """A round's record as an npz of the shown cells (impressions > 0), written atomically.

    Uncompressed: zlib took a third of a small sweep task's time (1.7 s of
    5.6 s) for a factor of two in size, on scores that hardly compress.
    """
    stats = record.statistics
    doc, rank = stats.cell_index()
    shown = stats.values("impressions") > 0
    arrays = {
        "n_docs": np.int64(stats.n_docs), "k": np.int64(stats.k), "n_sessions": np.int64(stats.n_sessions),
        "row": _compact(doc[shown]), "rank": _compact(rank[shown]),
        "impressions": _compact(stats.values("impressions")[shown]),
        "clicks": _compact(stats.values("clicks")[shown]), "examination": stats.values("examination")[shown],
        "inverse_examination_clicks": stats.values("inverse_examination_clicks")[shown],
        "scores": record.scores,
    }
    for name in _OPTIONAL:
        value = getattr(record, name)
        if value is not None:
            arrays[name] = value
    if record.click_probability is not None:
        arrays.update(click_attractiveness=record.click_probability.attractiveness,
                      click_examination=record.click_probability.examination)
    for name in _DECISION:
        value = getattr(record, name)
        if value is not None:
            arrays[name] = np.asarray(value)
    if stats.has_expected:  # the policy's expected placements (policy-aware learners)
        placed = stats.values("expected_impressions") != 0
        arrays.update(expected_row=_compact(doc[placed]), expected_rank=_compact(rank[placed]),
                      expected_impressions=stats.values("expected_impressions")[placed])
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)


def load_record(path, round_, log=None):
    """The :class:`RoundRecord` of a checkpoint written by :func:`save_record`.

    Raises
    ------
    CheckpointError
        If the file is not a whole checkpoint (truncated, emptied, a bad CRC,
        missing arrays): the caller recomputes the round.
    """
    try:
        with np.load(path) as z:
            n_docs, k = int(z["n_docs"]), int(z["k"])
            shown = z["row"].astype(np.int64) * k + z["rank"]
            placed = None
            if "expected_impressions" in z.files:
                placed = z["expected_row"].astype(np.int64) * k + z["expected_rank"]
            cells = shown if placed is None else np.union1d(shown, placed)
            cells = np.unique(cells)
            values = {}
            for name in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
                values[name] = np.zeros(cells.size, dtype=z[name].dtype)
                values[name][np.searchsorted(cells, shown)] = z[name]
            if placed is not None:
                values["expected_impressions"] = np.zeros(cells.size)
                values["expected_impressions"][np.searchsorted(cells, placed)] = z["expected_impressions"]
            stats = ClickStatistics.from_cells(n_docs, k, cells, values, int(z["n_sessions"]))
            optional = {name: z[name] for name in _OPTIONAL if name in z.files}
            if "click_attractiveness" in z.files:
                optional["click_probability"] = ClickProbability(z["click_attractiveness"], z["click_examination"])
            optional.update({name: z[name].item() for name in _DECISION if name in z.files})
            scores = z["scores"]
    except Exception as exc:  # zipfile, zlib, numpy and key errors alike: the file is not whole
        raise CheckpointError(f"{path}: not a whole checkpoint ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:200]})") from None
    return RoundRecord(round=round_, statistics=stats, scores=scores, log=log, **optional)


def _cell(value):
    return repr(value) if isinstance(value, float) else str(value)  # floats round-trip exactly


def rows_text(metric_rows, propensity_rows):
    """``rows.csv`` text of a finished task: ``m,...`` metric rows, ``p,...`` propensity rows, then a trailer.

    The trailer ``end,<metric rows>,<propensity rows>,<sha256 of the lines above>``
    lets a reader tell a whole file from an emptied, cut or edited one.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in metric_rows:
        writer.writerow(("m",) + tuple(_cell(v) for v in row))
    for row in propensity_rows:
        writer.writerow(("p",) + tuple(_cell(v) for v in row))
    body = buffer.getvalue()
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return body + f"end,{len(metric_rows)},{len(propensity_rows)},{digest}\n"


def write_rows(path, metric_rows, propensity_rows):
    """Save a finished task's rows atomically."""
    return atomic_write_text(path, rows_text(metric_rows, propensity_rows))


class CheckpointError(ValueError):
    """A checkpoint that is not whole (emptied, cut, edited or unreadable); the message names the file."""


def read_rows(path):
    """(metric rows, propensity rows) of a ``rows.csv``.

    Raises
    ------
    CheckpointError
        If the file is not whole: no trailer, a count or digest that does not
        match, or a row that does not parse.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        body, _, trailer = text.rstrip("\n").rpartition("\n")
        body = body + "\n" if body else ""
        parts = trailer.split(",")
        if len(parts) != 4 or parts[0] != "end":
            raise ValueError("no end line")
        if hashlib.sha256(body.encode("utf-8")).hexdigest() != parts[3]:
            raise ValueError("digest mismatch")
        metric_rows, propensity_rows = [], []
        for row in csv.reader(io.StringIO(body)):
            if row[0] == "m":
                metric_rows.append((int(row[1]), row[2], int(row[3]), row[4], float(row[5])))
            elif row[0] == "p":
                propensity_rows.append((int(row[1]), row[2], int(row[3]), int(row[4]), float(row[5]),
                                        float(row[6])))
            else:
                raise ValueError(f"unknown row kind {row[0]!r}")
        if (len(metric_rows), len(propensity_rows)) != (int(parts[1]), int(parts[2])):
            raise ValueError("row counts differ from the end line")
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a whole checkpoint ({exc})") from None
    return metric_rows, propensity_rows
