"""The summary of a sweep: final-round tables across the grid and a plot per swept key.

A sweep's ``metrics.csv`` is a run's ``metrics.csv`` with the swept config
keys as extra leading columns::

    click_model.eta,policy.kind,seed,variant,round,metric,value
    0.5,deterministic,0,naive,0,ndcg@10,0.61...

Every distinct combination of the leading columns is a grid point, read in
file order into its own :class:`~analysis.MetricRows`, so the tables and
intervals of a single run (:func:`~analysis.summary_table`,
:func:`~analysis.t_interval`) apply to each point unchanged.
"""

import csv
import math
import pathlib
from dataclasses import dataclass

import numpy as np

from simulator.atomic import atomic_write_text

from ._plots import (
    _REFERENCE_STYLE,
    PANEL_COLUMNS,
    PANEL_SIZE,
    SUMMARY_METRICS,
    _metric_labels,
    _new_figure,
    _rc,
    _save,
    _styles,
    variant_label,
)
from ._results import (
    METRICS_HEADER,
    MetricRows,
    ResultsError,
    _parse_float,
    _parse_int,
    _parse_name,
    metric_order,
    variant_order,
)
from ._summary import _cell, summary_table, t_interval

__all__ = ["SweepResults", "plot_sweep", "read_sweep_metrics", "sweep_table", "write_sweep_summary"]


@dataclass(frozen=True)
class SweepResults:
    """The rows of a sweep's ``metrics.csv``, split by grid point.

    Attributes
    ----------
    keys : tuple of str
        The swept config key paths (the leading columns).
    points : tuple of tuple of str
        Every grid point's values of ``keys`` (as written), in file order.
    rows : tuple of MetricRows
        The metric rows of every point, aligned with ``points``.

    Examples
    --------
    >>> from analysis._results import MetricRows
    >>> from analysis._sweep_summary import SweepResults
    >>> results = SweepResults(("click_model.eta",), (("0.5",), ("1.0",)),
    ...                        (MetricRows.from_records([(0, "naive", 1, "ndcg@10", 0.6)]),
    ...                         MetricRows.from_records([(0, "naive", 1, "ndcg@10", 0.5)])))
    >>> results.variants, results.metrics
    (('naive',), ('ndcg@10',))
    """

    keys: tuple
    points: tuple
    rows: tuple

    def __post_init__(self):
        if len(self.points) != len(self.rows):
            raise ValueError(f"SweepResults needs one MetricRows per point, got {len(self.points)} points "
                             f"and {len(self.rows)} MetricRows")
        for point in self.points:
            if len(point) != len(self.keys):
                raise ValueError(f"every point must hold one value per key {self.keys}, got {point}")

    @property
    def variants(self):
        """Variant names over the whole grid, references first."""
        return variant_order(v for rows in self.rows for v in rows.variants)

    @property
    def metrics(self):
        """Metric names over the whole grid, in display order (see :func:`~analysis.metric_order`)."""
        return metric_order(m for rows in self.rows for m in rows.metrics)

    def headline(self):
        """The metric of the cross-grid table and plots: ndcg@10, else another ndcg@K, else the first."""
        metrics = self.metrics
        ndcgs = [m for m in metrics if m.startswith("ndcg@")]
        return "ndcg@10" if "ndcg@10" in metrics else (ndcgs or list(metrics) or [None])[0]


def read_sweep_metrics(path):
    """Read a sweep's ``metrics.csv`` (swept keys, then ``seed,variant,round,metric,value``).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    SweepResults

    Raises
    ------
    ResultsError
        If the file is missing, the header does not end with the columns of
        ``metrics.csv``, or a row is malformed; the message names file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._sweep_summary import read_sweep_metrics
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
    >>> _ = path.write_text("click_model.eta,seed,variant,round,metric,value\\n"
    ...                     "0.5,0,naive,0,ndcg@10,0.6\\n1.0,0,naive,0,ndcg@10,0.5\\n")
    >>> results = read_sweep_metrics(path)
    >>> results.keys, results.points, results.rows[1].value
    (('click_model.eta',), (('0.5',), ('1.0',)), array([0.5]))
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: no such file")
    groups = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        n_keys = len(header) - len(METRICS_HEADER) if header else -1
        if header is None or n_keys < 0 or tuple(header[n_keys:]) != METRICS_HEADER:
            raise ResultsError(f"{path}: line 1: expected the swept keys, then "
                               f"{','.join(METRICS_HEADER)!r}, got {','.join(header or [])!r}")
        for fields in reader:
            where = f"{path}: line {reader.line_num}"
            if not fields:
                continue
            if len(fields) != len(header):
                raise ResultsError(f"{where}: expected {len(header)} fields, got {len(fields)}")
            seed, variant, round_, metric, value = fields[n_keys:]
            record = (_parse_int(seed, "seed", where), _parse_name(variant, "variant", where),
                      _parse_int(round_, "round", where, low=0), _parse_name(metric, "metric", where),
                      _parse_float(value, "value", where))
            groups.setdefault(tuple(fields[:n_keys]), []).append(record)
    return SweepResults(tuple(header[:n_keys]), tuple(groups),
                        tuple(MetricRows.from_records(records) for records in groups.values()))


def _check_results(results):
    if not isinstance(results, SweepResults):
        raise ValueError(f"results must be SweepResults (from read_sweep_metrics), got {type(results).__name__}")


def sweep_table(results, metric=None):
    """Markdown table of one metric at the final round: a row per grid point, a column per variant.

    Each cell is the mean over seeds and the 95 % Student-t interval, as in
    :func:`~analysis.summary_table`.

    Parameters
    ----------
    results : SweepResults
    metric : str, optional
        Default :meth:`SweepResults.headline`.

    Returns
    -------
    str

    Examples
    --------
    >>> from analysis._results import MetricRows
    >>> from analysis._sweep_summary import SweepResults, sweep_table
    >>> rows = [MetricRows.from_records([(s, "naive", 1, "ndcg@10", v) for s, v in enumerate(values)])
    ...         for values in ([0.5, 0.6, 0.7], [0.4])]
    >>> print(sweep_table(SweepResults(("click_model.eta",), (("0.5",), ("1.0",)), tuple(rows))))
    | click_model.eta | seeds | naive |
    |:--|--:|--:|
    | 0.5 | 3 | 0.6000 [0.3516, 0.8484] |
    | 1.0 | 1 | 0.4000 (n=1) |
    <BLANKLINE>
    """
    _check_results(results)
    metric = results.headline() if metric is None else metric
    if metric not in results.metrics:
        raise ValueError(f"metric must be one of {', '.join(results.metrics)}, got {metric!r}")
    variants = results.variants
    lines = ["| " + " | ".join(results.keys + ("seeds",) + variants) + " |",
             "|" + ":--|" * len(results.keys) + "--:|" * (1 + len(variants))]
    for point, rows in zip(results.points, results.rows):
        n_seeds = len(rows.seeds)
        cells = []
        for variant in variants:
            _, values = rows.final(variant, metric)
            cells.append(_cell(values, n_seeds))
        lines.append("| " + " | ".join(point + (str(n_seeds),) + tuple(cells)) + " |")
    return "\n".join(lines) + "\n"


def _numeric(texts):
    """The values as floats if every one is a number (not a boolean), else None."""
    try:
        values = [float(t) for t in texts]
    except ValueError:
        return None
    return None if any(t in ("true", "false") or not math.isfinite(v) for t, v in zip(texts, values)) \
        else values


def plot_sweep(results, key, path_stem, metric=None):
    """Final-round metric of every variant against one swept key, mean and 95 % t band over seeds.

    One panel per combination of the other swept keys' values (one panel
    when only ``key`` is swept). A numeric key is drawn on a numeric axis in
    ascending order, a line through the means and a band for the intervals;
    any other in grid order, one tick per value, a point and an error bar per
    variant. The panels share the y axis.

    Parameters
    ----------
    results : SweepResults
    key : str
        One of ``results.keys``.
    path_stem : str or pathlib.Path
        Output path without suffix; ``.png`` (150 dpi) and ``.svg`` are written.
    metric : str, optional
        Default :meth:`SweepResults.headline` (ndcg@10).

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import MetricRows
    >>> from analysis._sweep_summary import SweepResults, plot_sweep
    >>> rows = tuple(MetricRows.from_records([(s, "naive", 1, "ndcg@10", eta / 4 + 0.1 * s) for s in range(3)])
    ...              for eta in (0.5, 1.0, 2.0))
    >>> results = SweepResults(("click_model.eta",), (("0.5",), ("1.0",), ("2.0",)), rows)
    >>> [p.name for p in plot_sweep(results, "click_model.eta", pathlib.Path(tempfile.mkdtemp()) / "eta")]
    ['eta.png', 'eta.svg']
    """
    _check_results(results)
    if key not in results.keys:
        raise ValueError(f"key must be one of the swept keys ({', '.join(results.keys)}), got {key!r}")
    metric = results.headline() if metric is None else metric
    if metric not in results.metrics:
        raise ValueError(f"metric must be one of {', '.join(results.metrics)}, got {metric!r}")
    column = results.keys.index(key)
    others = [i for i in range(len(results.keys)) if i != column]
    panels = {}
    for point, rows in zip(results.points, results.rows):
        panels.setdefault(tuple(point[i] for i in others), []).append((point[column], rows))
    variants = results.variants
    styles = _styles(variants)
    title, label = _metric_labels(metric)
    n_columns = min(PANEL_COLUMNS, len(panels))
    n_rows = math.ceil(len(panels) / n_columns)
    with _rc():
        fig = _new_figure((PANEL_SIZE[0] * n_columns, PANEL_SIZE[1] * n_rows + 0.8))
        axes = np.atleast_1d(fig.subplots(n_rows, n_columns, squeeze=False, sharey=True)).ravel()
        for position, (ax, (rest, entries)) in enumerate(zip(axes, panels.items())):
            texts = [text for text, _ in entries]
            numeric = _numeric(texts)
            if numeric is not None:
                order = np.argsort(numeric, kind="stable")
                x = np.asarray(numeric)[order]
            else:
                order = np.arange(len(entries))
                x = order.astype(float)
                ax.set_xticks(x, [texts[i] for i in order])
            for number, variant in enumerate(variants):
                stats = []
                for i in order:
                    _, values = entries[i][1].final(variant, metric)
                    stats.append(t_interval(values)[:3] if values.size else (np.nan,) * 3)
                stats = np.asarray(stats, dtype=float)
                if not np.isfinite(stats[:, 0]).any():
                    continue
                colour, marker = styles[variant]
                if numeric is not None:  # a line through the values and the band of the intervals
                    ax.plot(x, stats[:, 0], color=colour, marker=marker, markersize=5, linewidth=1.6,
                            linestyle=_REFERENCE_STYLE.get(variant, "-"), label=variant_label(variant))
                    ax.fill_between(x, stats[:, 1], stats[:, 2], color=colour, alpha=0.15, linewidth=0)
                else:  # categories: a point and an error bar each, variants side by side
                    shift = 0.25 * (number - (len(variants) - 1) / 2) / max(1, len(variants) - 1)
                    error = np.vstack([stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]])
                    ax.errorbar(x + shift, stats[:, 0], yerr=np.where(np.isfinite(error), error, 0.0),
                                color=colour, marker=marker, markersize=5, capsize=3, linestyle="none",
                                label=variant_label(variant))
            ax.set_xlabel(key)
            if position % n_columns == 0:  # the panels share the y axis
                ax.set_ylabel(label)
            if rest:
                ax.set_title(", ".join(f"{results.keys[i]} = {v}" for i, v in zip(others, rest)))
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, max(1, len(labels))))
        fig.suptitle(f"{title} at the final round against {key}\n(mean and 95 % t interval over seeds)")
        return _save(fig, path_stem)


def _plot_name(key):
    return "sweep_" + "".join(c if c.isalnum() or c in "._-" else "_" for c in key)


def write_sweep_summary(outdir):
    """Write ``summary.md`` and ``plots/sweep_<key>.{png,svg}`` of a sweep's output folder.

    ``summary.md`` holds the headline metric (ndcg@10) at the final round
    across the grid (:func:`sweep_table`), then the final-round table of every
    grid point (:func:`~analysis.summary_table` of its headline metrics); a
    note names ``failures.csv`` when tasks failed. Every file is written
    atomically.

    Parameters
    ----------
    outdir : str or pathlib.Path
        Folder holding the sweep's ``metrics.csv`` (and ``failures.csv``, if any).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._sweep_summary import write_sweep_summary
    >>> outdir = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (outdir / "metrics.csv").write_text("click_model.eta,seed,variant,round,metric,value\\n"
    ...                                         "0.5,0,naive,1,ndcg@10,0.6\\n1.0,0,naive,1,ndcg@10,0.5\\n")
    >>> sorted(p.relative_to(outdir).as_posix() for p in write_sweep_summary(outdir))
    ['plots/sweep_click_model.eta.png', 'plots/sweep_click_model.eta.svg', 'summary.md']
    """
    outdir = pathlib.Path(outdir)
    results = read_sweep_metrics(outdir / "metrics.csv")
    n_failed = 0
    if (outdir / "failures.csv").is_file():
        with (outdir / "failures.csv").open(newline="", encoding="utf-8") as handle:
            n_failed = max(0, sum(1 for row in csv.reader(handle) if row) - 1)
    parts = ["# Summary of the sweep\n"]
    if n_failed:
        parts.append(f"**{n_failed} task(s) failed** (see `failures.csv`); their seeds are missing below. "
                     "Run the same command again to retry them.\n")
    written = []
    if not results.points:
        parts.append("No results yet.\n")
    else:
        metric = results.headline()
        parts.append(
            f"Swept: {', '.join(results.keys)}; {len(results.points)} grid point"
            f"{'s' if len(results.points) != 1 else ''} with results. Each cell: mean over "
            "seeds at the variant's final round, and the 95 % confidence interval [low, high] (Student t, "
            "n - 1 degrees of freedom); `(n=k)` when only k seeds have a value. `skyline` (trained on all "
            "true labels) and `logger` (the initial logging ranker) are static references.\n")
        parts.append(f"## {metric} at the final round across the grid\n\n" + sweep_table(results, metric))
        parts.append("## Every grid point\n")
        for point, rows in zip(results.points, results.rows):
            headline = [m for m in SUMMARY_METRICS if m in rows.metrics] or None
            name = ", ".join(f"{k} = {v}" for k, v in zip(results.keys, point))
            parts.append(f"### {name}\n\n" + summary_table(rows, headline))
        for key in results.keys:
            written += plot_sweep(results, key, outdir / "plots" / _plot_name(key), metric)
    written.append(atomic_write_text(outdir / "summary.md", "\n".join(parts)))
    return written
