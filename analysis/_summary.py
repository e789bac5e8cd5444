"""The final-round summary table of a run: mean and 95 % t interval over seeds."""

import math

import numpy as np

from simulator.atomic import atomic_write_text

from ._results import MetricRows, Results

__all__ = ["summary_table", "t_interval", "write_summary"]


def t_interval(values, confidence=0.95):
    """Mean and Student-t confidence interval of the finite values.

    ``mean +- t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`` with ``s`` the
    sample standard deviation (``n - 1`` in the denominator) and ``t`` the
    quantile of Student's t with ``n - 1`` degrees of freedom
    (``scipy.stats.t.ppf``, computed by ``scipy.special.stdtrit``). NaN
    values are left out.

    Parameters
    ----------
    values : array-like of shape (n,)
        One value per seed.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).

    Returns
    -------
    mean, low, high : float
        NaN if no value is finite; ``low`` and ``high`` are NaN with one value.
    n : int
        The number of finite values.

    Examples
    --------
    Values 0.5, 0.6, 0.7: s = 0.1 and t_{0.975, 2} = 4.3027, so the half width
    is 4.3027 * 0.1 / sqrt(3) = 0.2484.

    >>> from analysis._summary import t_interval
    >>> mean, low, high, n = t_interval([0.5, 0.6, 0.7])
    >>> round(mean, 4), round(low, 4), round(high, 4), n
    (0.6, 0.3516, 0.8484, 3)
    >>> t_interval([0.5, float("nan")])
    (0.5, nan, nan, 1)
    """
    # The quantile function of scipy.stats.t (its ppf is this call), without
    # the second of importing scipy.stats.
    from scipy.special import stdtrit

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(values.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    quantile = float(stdtrit(n - 1, (1.0 + confidence) / 2.0))
    half = quantile * float(values.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _metric_rows(rows):
    if isinstance(rows, Results):
        return rows.metrics
    if isinstance(rows, MetricRows):
        return rows
    raise ValueError(
        f"rows must be MetricRows or Results (from analysis.read_results), got "
        f"{type(rows).__name__}"
    )


def _check_metrics(metrics, rows):
    if metrics is None:
        return rows.metrics
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in rows.metrics]
    if unknown or not names:
        raise ValueError(
            f"metrics must name metrics of the rows, got {unknown or names!r}; present: "
            f"{', '.join(rows.metrics)}"
        )
    return tuple(names)


def _cell(values, n_seeds):
    mean, low, high, n = t_interval(values)
    if n == 0:
        return "nan" if len(values) else "–"
    if n == 1:
        return f"{mean:.4f} (n=1)"
    text = f"{mean:.4f} [{low:.4f}, {high:.4f}]"
    return text if n == n_seeds else f"{text} (n={n})"


def summary_table(rows, metrics=None):
    """Markdown table of the final round of every variant.

    One row per variant (``skyline`` and ``logger`` first, then the others as
    first seen) and one column per metric. A cell holds the mean over seeds
    and the 95 % Student-t interval ``[low, high]`` (n - 1 degrees of
    freedom) at the final round of that variant and metric; ``(n=1)`` with a
    single seed, ``(n=k)`` when only k of the variant's seeds have a finite
    value, ``nan`` when none has and ``–`` when the variant lacks the metric.

    Parameters
    ----------
    rows : MetricRows or Results
        The rows of ``metrics.csv``.
    metrics : str or sequence of str, optional
        Columns to show; default every metric of the rows, in display order
        (:data:`analysis.METRIC_ORDER` first).

    Returns
    -------
    str
        A Markdown table, lines joined by newlines, ending in a newline.

    Raises
    ------
    ValueError
        If ``rows`` is of the wrong type or a metric is not in the rows.

    Examples
    --------
    >>> from analysis._results import MetricRows
    >>> from analysis._summary import summary_table
    >>> rows = MetricRows.from_records(
    ...     [(s, "naive", 3, "ndcg@10", v) for s, v in enumerate([0.5, 0.6, 0.7])]
    ...     + [(0, "skyline", 0, "ndcg@10", 0.8)])
    >>> print(summary_table(rows))
    | variant | seeds | final round | ndcg@10 |
    |:--|--:|--:|--:|
    | skyline | 1 | 0 | 0.8000 (n=1) |
    | naive | 3 | 3 | 0.6000 [0.3516, 0.8484] |
    <BLANKLINE>
    """
    rows = _metric_rows(rows)
    metrics = _check_metrics(metrics, rows)
    lines = [
        "| variant | seeds | final round | " + " | ".join(metrics) + " |",
        "|:--|--:|--:|" + "--:|" * len(metrics),
    ]
    for variant in rows.variants:
        mine = rows.variant == variant
        n_seeds = np.unique(rows.seed[mine]).size
        cells = []
        for metric in metrics:
            _, values = rows.final(variant, metric)
            cells.append(_cell(values, n_seeds))
        last = int(rows.round[mine].max())
        lines.append(f"| {variant} | {n_seeds} | {last} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(rows, path, metrics=None, title="Summary of the final round"):
    """Write ``summary.md``: a title, how to read the cells, and :func:`summary_table`.

    The file is written to a temporary name in the same folder and moved into
    place with :func:`os.replace`, so a reader never sees half a file.

    Parameters
    ----------
    rows : MetricRows or Results
        The rows of ``metrics.csv``.
    path : str or pathlib.Path
        Destination, usually ``OUTDIR/summary.md``; parent folders are created.
    metrics : str or sequence of str, optional
        Columns, as in :func:`summary_table`.
    title : str, default="Summary of the final round"

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import MetricRows
    >>> from analysis._summary import write_summary
    >>> rows = MetricRows.from_records([(0, "naive", 2, "ctr", 0.25)])
    >>> path = write_summary(rows, pathlib.Path(tempfile.mkdtemp()) / "summary.md")
    >>> "| naive | 1 | 2 | 0.2500 (n=1) |" in path.read_text()
    True
    """
    table = summary_table(rows, metrics)
    every = _metric_rows(rows)
    text = (
        f"# {title}\n\n"
        "Each cell: mean over seeds at the variant's final round, and the 95 % confidence "
        "interval [low, high] (Student t, n - 1 degrees of freedom). `skyline` (trained on all "
        "true labels of the served queries) and `logger` (the initial logging ranker) are static references.\n\n"
        + _measures(every) + table
    )
    return atomic_write_text(path, text)


def _measures(rows):
    """What the quality columns measure and how many labelled queries the references had, in words."""
    lines = []
    names = set(rows.metrics)
    served = sorted(m for m in names if m.startswith("ndcg@"))
    heldout = sorted(m for m in names if m.startswith("heldout_ndcg@"))
    if served:
        lines.append(f"- `{served[0]}`: on the **served** queries, those users of the loop see and every variant "
                     "trains on (in-sample; the skyline is trained on their labels).")
    if heldout:
        lines.append(f"- `{heldout[0]}`: on **held-out** queries, never served and never trained on (no "
                     "variant, the skyline included, has seen their labels or clicks): what the ranker learned.")
    shares = sorted(m for m in names if m.startswith(("confounder_share@", "popularity_share@")))
    for m in shares:
        what = "confounding feature" if m.startswith("confounder") else "popularity prior"
        lines.append(f"- `{m}`: share of the top documents whose {what} is above their query's median "
                     "(0.5 = no preference).")
    if "labelled_queries" in names:
        def first(variant):
            _, values = rows.final(variant, "labelled_queries")
            return int(values[0]) if values.size and np.isfinite(values[0]) else None
        logger = first("logger")
        if logger is None:
            logger = next((first(v) for v in rows.variants if v != "skyline" and first(v) is not None), None)
        total = first("skyline")
        if logger is not None:
            of = f" of the {total} served queries ({100 * logger / total:.1f} %)" if total else ""
            lines.append(f"- The initial logger was trained on the true labels of **{logger}**{of} "
                         "(`labelled_queries`: `logger.query_fraction` of the served queries, at least "
                         "`logger.min_queries`).")
    return ("\n".join(lines) + "\n\n") if lines else ""
