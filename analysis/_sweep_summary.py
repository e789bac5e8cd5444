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
    HEADLINE_METRICS,
    PANEL_COLUMNS,
    PANEL_SIZE,
    SUMMARY_METRICS,
    clip_to_range,
    line_width,
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

__all__ = ["SweepResults", "axis_of", "plot_sweep", "plot_sweep_rounds", "read_sweep_metrics", "round_bands",
           "sweep_figure", "sweep_table", "write_sweep_summary"]


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


def _looks_like_path(text):
    return "/" in text or "\\" in text


def _short_names(texts):
    """Short distinct names of path values: the file name, with as many parent folders as needed."""
    parts = [pathlib.PurePath(t).parts for t in texts]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(set(texts)):
            return names
    return list(texts)


def axis_of(texts):
    """How a swept key's values are drawn: scale, positions, tick labels and (for paths) a legend table.

    ``"log"``: positive numbers spread over at least a factor 10 whose
    logarithms are more evenly spaced than the numbers (0.01, 0.1, 0.5);
    ``"linear"``: other numbers, three or more; ``"points"``: one or two
    numbers (a line between two values would pretend to interpolate);
    ``"categorical"``: anything else, one tick per value in grid order, path
    values by a short name.

    Parameters
    ----------
    texts : sequence of str
        The key's values of the points of a panel, as written.

    Returns
    -------
    kind : {"log", "linear", "points", "categorical"}
    x : ndarray of shape (n,)
        Positions of ``texts`` (the numbers, or 0..n-1).
    labels : list of str
        Tick labels, aligned with ``texts``.
    legend : list of (str, str)
        (short name, full value) of path values, else empty.

    Examples
    --------
    >>> from analysis._sweep_summary import axis_of
    >>> axis_of(["0.01", "0.1", "0.5"])[0], axis_of(["0.0", "1.0", "2.0"])[0], axis_of(["1.0", "2.0"])[0]
    ('log', 'linear', 'points')
    >>> kind, x, labels, legend = axis_of(["/data/a/rank.train", "/data/b/rank.train"])
    >>> kind, labels
    ('categorical', ['a/rank.train', 'b/rank.train'])
    """
    texts = list(texts)
    numeric = _numeric(texts)
    if numeric is None:
        legend = []
        labels = texts
        if any(_looks_like_path(t) for t in texts):
            labels = _short_names(texts)
            legend = list(dict.fromkeys(zip(labels, texts)))
        return "categorical", np.arange(len(texts), dtype=float), labels, legend
    x = np.asarray(numeric, dtype=float)
    distinct = np.unique(x)
    if distinct.size < 3:
        return "points", x, texts, []
    if distinct.min() > 0 and distinct.max() / distinct.min() >= 10:
        def spread(v):
            steps = np.diff(v)
            return steps.std() / steps.mean()
        if spread(np.log(distinct)) < spread(distinct):
            return "log", x, texts, []
    return "linear", x, texts, []


def _stats_over_seeds(values, metric):
    """(mean, low, high) of the 95 % t interval over seeds, the interval clipped to the metric's range."""
    mean, low, high, _ = t_interval(values) if np.size(values) else (np.nan,) * 4
    return mean, float(clip_to_range(low, metric)), float(clip_to_range(high, metric))


def round_bands(results, metric):
    """Per grid point, variant and round: the mean over seeds and the 95 % t band clipped to the metric's range.

    These are the values :func:`plot_sweep_rounds` draws (``write_sweep_summary``
    writes them to ``plots/rounds.csv``).

    Parameters
    ----------
    results : SweepResults
    metric : str

    Returns
    -------
    list of tuple
        ``(*point values, variant, round, mean, low, high)``; ``low``/``high``
        NaN with one seed.

    Examples
    --------
    >>> from analysis._results import MetricRows
    >>> from analysis._sweep_summary import SweepResults, round_bands
    >>> rows = MetricRows.from_records([(0, "naive", 1, "ndcg@10", 0.95), (1, "naive", 1, "ndcg@10", 0.99)])
    >>> point, variant, round_, mean, low, high = round_bands(SweepResults(("k",), (("1",),), (rows,)),
    ...                                                       "ndcg@10")[0]
    >>> round(mean, 2), round(low, 2), high
    (0.97, 0.72, 1.0)
    """
    out = []
    for point, rows in zip(results.points, results.rows):
        for variant in results.variants:
            if not rows.has(variant, metric):
                continue
            rounds, _, values = rows.curve(variant, metric)
            for i, t in enumerate(rounds):
                out.append((*point, variant, int(t), *_stats_over_seeds(values[:, i], metric)))
    return out


def plot_sweep_rounds(results, metric, path_stem):
    """One metric over rounds at every grid point: small multiples with a shared y axis.

    One panel per grid point (titled by its values; path values by their
    short name, see :func:`axis_of`), every variant a curve of its mean over
    seeds with the 95 % t band clipped to the metric's range; the static
    references are horizontal lines.  Curves are drawn widest first (see
    :func:`~analysis._plots.line_width`) so that coinciding variants stay
    visible.

    Parameters
    ----------
    results : SweepResults
    metric : str
    path_stem : str or pathlib.Path
        Output path without suffix; ``.png`` (150 dpi) and ``.svg`` are written.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import MetricRows
    >>> from analysis._sweep_summary import SweepResults, plot_sweep_rounds
    >>> rows = tuple(MetricRows.from_records([(s, "naive", t, "ndcg@10", 0.5 + 0.1 * t + 0.01 * s)
    ...                                       for s in range(2) for t in range(3)]) for _ in range(2))
    >>> results = SweepResults(("click_model.eta",), (("0.5",), ("1.0",)), rows)
    >>> [p.name for p in plot_sweep_rounds(results, "ndcg@10", pathlib.Path(tempfile.mkdtemp()) / "r")]
    ['r.png', 'r.svg']
    """
    from matplotlib.ticker import MaxNLocator

    _check_results(results)
    if metric not in results.metrics:
        raise ValueError(f"metric must be one of {', '.join(results.metrics)}, got {metric!r}")
    variants = results.variants
    styles = _styles(variants)
    title, label = _metric_labels(metric)
    short = [axis_of([point[i] for point in results.points])[2] for i in range(len(results.keys))]
    retrained = [v for v in variants if v not in _REFERENCE_STYLE]
    n_panels = len(results.points)
    n_columns = min(PANEL_COLUMNS + 1, n_panels)
    n_rows = math.ceil(n_panels / n_columns)
    handles = {}
    with _rc():
        fig = _new_figure((PANEL_SIZE[0] * 0.85 * n_columns, PANEL_SIZE[1] * n_rows + 1.0))
        axes = np.atleast_1d(fig.subplots(n_rows, n_columns, squeeze=False, sharey=True)).ravel()
        for j, (ax, rows) in enumerate(zip(axes, results.rows)):
            for position, variant in enumerate(variants):
                if not rows.has(variant, metric):
                    continue
                colour, marker = styles[variant]
                rounds, _, values = rows.curve(variant, metric)
                if variant in _REFERENCE_STYLE:
                    level = t_interval(values)[0]
                    if math.isfinite(level):
                        handles[variant] = ax.axhline(level, color=colour, linestyle=_REFERENCE_STYLE[variant],
                                                      linewidth=1.4)
                    continue
                stats = np.array([_stats_over_seeds(values[:, i], metric) for i in range(rounds.size)])
                order = retrained.index(variant)
                (line,) = ax.plot(rounds, stats[:, 0], color=colour, marker=marker, markersize=3.5,
                                  linewidth=line_width(order, len(retrained)), zorder=2 + order)
                band = ax.fill_between(rounds, stats[:, 1], stats[:, 2], color=colour, alpha=0.12, linewidth=0)
                handles.setdefault(variant, (band, line))
            ax.set_title(", ".join(f"{k} = {short[i][j]}" for i, k in enumerate(results.keys)), fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("round")
            if j % n_columns == 0:
                ax.set_ylabel(label)
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        ordered = [v for v in variants if v in handles]
        fig.legend([handles[v] for v in ordered], [variant_label(v) for v in ordered],
                   loc="outside lower center", ncols=min(4, max(1, len(ordered))), frameon=False)
        fig.suptitle(f"{title} over rounds at every grid point\n(mean and 95 % t band over seeds, clipped to "
                     "the metric's range; the y axis is shared)")
        return _save(fig, path_stem)


def plot_sweep(results, key, path_stem, metric=None):
    """Final-round metric of every variant against one swept key, mean and 95 % t band over seeds.

    One panel per combination of the other swept keys' values (one panel
    when only ``key`` is swept); the panels share the y axis.  The axis
    follows the values (:func:`axis_of`): three or more numbers on a numeric
    axis (logarithmic when they are log-spaced) with a line through the
    means and a band for the intervals; one or two numbers, and any other
    values, as a point and an error bar per variant (paths by a short name,
    spelled out under the plot).  Intervals are clipped to the metric's range.

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
    with _rc():
        return _save(sweep_figure(results, key, metric), path_stem)


def sweep_figure(results, key, metric):
    """The figure of :func:`plot_sweep` (a :class:`matplotlib.figure.Figure`), not saved."""
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
        fig = _new_figure((max(7.0, PANEL_SIZE[0] * n_columns), PANEL_SIZE[1] * n_rows + 1.2))
        axes = np.atleast_1d(fig.subplots(n_rows, n_columns, squeeze=False, sharey=True)).ravel()
        legend_table = []
        for position, (ax, (rest, entries)) in enumerate(zip(axes, panels.items())):
            texts = [text for text, _ in entries]
            kind, positions, labels, legend = axis_of(texts)
            legend_table += [entry for entry in legend if entry not in legend_table]
            order = np.argsort(positions, kind="stable") if kind != "categorical" else np.arange(len(entries))
            x = positions[order]
            if kind == "log":
                ax.set_xscale("log")
            if kind in ("log", "points"):  # a tick at every swept value, as written
                ax.set_xticks(x, [labels[i] for i in order])
                ax.minorticks_off()
            elif kind == "categorical":
                ax.set_xticks(x, [labels[i] for i in order], rotation=20 if legend else 0)
            for number, variant in enumerate(variants):
                stats = []
                for i in order:
                    _, values = entries[i][1].final(variant, metric)
                    stats.append(_stats_over_seeds(values, metric))
                stats = np.asarray(stats, dtype=float)
                if not np.isfinite(stats[:, 0]).any():
                    continue
                colour, marker = styles[variant]
                if kind in ("linear", "log"):  # a line through three or more values and their clipped band
                    retrained = [v for v in variants if v not in _REFERENCE_STYLE]
                    width = 1.4 if variant in _REFERENCE_STYLE else line_width(retrained.index(variant),
                                                                                 len(retrained))
                    ax.plot(x, stats[:, 0], color=colour, marker=marker, markersize=5,
                            linewidth=width, zorder=2 + number,
                            linestyle=_REFERENCE_STYLE.get(variant, "-"), label=variant_label(variant))
                    ax.fill_between(x, stats[:, 1], stats[:, 2], color=colour, alpha=0.12, linewidth=0)
                else:  # categories and one or two numbers: a point and an error bar each, variants side by side
                    spread = 0.25 if kind == "categorical" else 0.04 * (np.ptp(x) or 1.0)
                    shift = spread * (number - (len(variants) - 1) / 2) / max(1, len(variants) - 1)
                    error = np.vstack([stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]])
                    ax.errorbar(x + shift, stats[:, 0], yerr=np.where(np.isfinite(error), error, 0.0),
                                color=colour, marker=marker, markersize=5, capsize=3, linestyle="none",
                                label=variant_label(variant))
            ax.set_xlabel(key + (" (log scale)" if kind == "log" else ""))
            if position % n_columns == 0:  # the panels share the y axis
                ax.set_ylabel(label)
            if rest:
                ax.set_title(", ".join(f"{results.keys[i]} = {v}" for i, v in zip(others, rest)))
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, max(1, len(labels))))
        if legend_table:  # the short names of path values, spelled out
            fig.text(0.01, 0.0, "\n".join(f"{short} = {full}" for short, full in legend_table), fontsize=7,
                     va="bottom", ha="left", family="monospace")
        fig.suptitle(f"{title} at the final round against {key}\n(mean and 95 % t interval over seeds, "
                     "clipped to the metric's range)")
        return fig


def _plot_name(key):
    return "sweep_" + "".join(c if c.isalnum() or c in "._-" else "_" for c in key)


def write_sweep_summary(outdir):
    """Write ``summary.md``, ``plots/sweep_<key>``, ``plots/rounds_<metric>`` and ``plots/rounds.csv`` of a sweep.

    ``summary.md`` holds the headline metric (ndcg@10) at the final round
    across the grid (:func:`sweep_table`), then the final-round table of every
    grid point (:func:`~analysis.summary_table` of its headline metrics), the
    per-round plots and the short names of path values; a note names
    ``failures.csv`` when tasks failed.  ``plots/sweep_<key>.{png,svg}``
    compare the final round across each swept key (:func:`plot_sweep`);
    ``plots/rounds_<metric>.{png,svg}`` show each headline metric over rounds
    at every grid point (:func:`plot_sweep_rounds`) and ``plots/rounds.csv``
    the values they draw (:func:`round_bands` of every metric).  Every file is
    written atomically.

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
    >>> sorted(p.relative_to(outdir).as_posix() for p in write_sweep_summary(outdir))  # doctest: +NORMALIZE_WHITESPACE
    ['plots/rounds.csv', 'plots/rounds_ndcg_10.png', 'plots/rounds_ndcg_10.svg',
     'plots/sweep_click_model.eta.png', 'plots/sweep_click_model.eta.svg', 'summary.md']
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
        over_rounds = [m for m in HEADLINE_METRICS if m in results.metrics] or [metric]
        for m in over_rounds:
            written += plot_sweep_rounds(results, m, outdir / "plots" / _plot_name(m).replace("sweep_", "rounds_"))
        written.append(_write_bands(results, outdir / "plots" / "rounds.csv"))
        parts.append("## Over rounds\n\n" + "".join(
            f"- `plots/{_plot_name(m).replace('sweep_', 'rounds_')}.png`: {m} over rounds, a panel per grid "
            "point (shared y axis)\n" for m in over_rounds)
            + "- `plots/rounds.csv`: every metric's mean and 95 % t band (clipped to its range) per grid "
              "point, variant and round\n")
        paths = [entry for i in range(len(results.keys))
                 for entry in axis_of([point[i] for point in results.points])[3]]
        if paths:
            parts.append("## Short names of path values\n\n| short name | value |\n|:--|:--|\n"
                         + "".join(f"| {short} | {full} |\n" for short, full in dict.fromkeys(paths)))
    written.append(atomic_write_text(outdir / "summary.md", "\n".join(parts)))
    return written


def _write_bands(results, path):
    """``plots/rounds.csv``: :func:`round_bands` of every metric, written atomically."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(results.keys) + ["variant", "round", "metric", "mean", "low", "high"])
    for metric in results.metrics:
        for *point, variant, round_, mean, low, high in round_bands(results, metric):
            writer.writerow([*point, variant, round_, metric, repr(mean), repr(low), repr(high)])
    return atomic_write_text(path, buffer.getvalue())
