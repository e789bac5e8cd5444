"""Checkpoints of a task: every finished round of one (seed, variant) loop, and the task's rows.

A task's folder is ``OUT/.state/seed_S/VARIANT/``.  Each finished round is
saved as ``round_T.npz`` (the round's click statistics over the shown cells,
the deployed ranker's scores and what the metrics need); when the task is done
its metric and propensity rows are saved as ``rows.csv``.  Every file is
written through the atomic writer: a crash leaves whole files or a ``.tmp``.
"""

import csv
import io
from pathlib import Path

import numpy as np

from simulator import ClickStatistics
from simulator.atomic import atomic_path, atomic_write_text

from ._loop import RoundRecord

__all__ = ["STATE", "load_record", "read_rows", "rows_text", "save_record", "task_dir", "write_rows"]

#: Folder of the checkpoints inside an output folder.
STATE = ".state"
_OPTIONAL = ("test_scores", "theta", "click_probability")


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
    row, rank = np.nonzero(stats.impressions)
    arrays = {
        "n_docs": np.int64(stats.n_docs), "k": np.int64(stats.k), "n_sessions": np.int64(stats.n_sessions),
        "row": _compact(row), "rank": _compact(rank), "impressions": _compact(stats.impressions[row, rank]),
        "clicks": _compact(stats.clicks[row, rank]), "examination": stats.examination[row, rank],
        "inverse_examination_clicks": stats.inverse_examination_clicks[row, rank],
        "scores": record.scores,
    }
    for name in _OPTIONAL:
        value = getattr(record, name)
        if value is not None:
            arrays[name] = value
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)


def load_record(path, round_, log=None):
    """The :class:`RoundRecord` of a checkpoint written by :func:`save_record`."""
    with np.load(path) as z:
        stats = ClickStatistics.empty(int(z["n_docs"]), int(z["k"]))
        row, rank = z["row"], z["rank"]
        for name in ("impressions", "clicks", "examination", "inverse_examination_clicks"):
            getattr(stats, name)[row, rank] = z[name]
        stats.n_sessions = int(z["n_sessions"])
        optional = {name: z[name] for name in _OPTIONAL if name in z.files}
        return RoundRecord(round=round_, statistics=stats, scores=z["scores"], log=log, **optional)


def _cell(value):
    return repr(value) if isinstance(value, float) else str(value)  # floats round-trip exactly


def rows_text(metric_rows, propensity_rows):
    """``rows.csv`` text of a finished task: ``m,...`` metric rows, then ``p,...`` propensity rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in metric_rows:
        writer.writerow(("m",) + tuple(_cell(v) for v in row))
    for row in propensity_rows:
        writer.writerow(("p",) + tuple(_cell(v) for v in row))
    return buffer.getvalue()


def write_rows(path, metric_rows, propensity_rows):
    """Save a finished task's rows atomically."""
    return atomic_write_text(path, rows_text(metric_rows, propensity_rows))


def read_rows(path):
    """(metric rows, propensity rows) of a ``rows.csv``."""
    metric_rows, propensity_rows = [], []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row[0] == "m":
                metric_rows.append((int(row[1]), row[2], int(row[3]), row[4], float(row[5])))
            else:
                propensity_rows.append((int(row[1]), row[2], int(row[3]), int(row[4]), float(row[5]),
                                        float(row[6])))
    return metric_rows, propensity_rows
