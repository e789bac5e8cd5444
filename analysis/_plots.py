"""Plots of a finished run: degeneracy curves, propensity curves, final-round comparison.

Every plot is saved as PNG at 150 dpi and as SVG (text kept as text, so it
stays searchable and editable), each written to a temporary file in the
target folder and moved into place with :func:`os.replace`.
Figures are built with :class:`matplotlib.figure.Figure` (Agg canvas), never
through pyplot, so plotting changes no global matplotlib state.

Figure sizes (inches; pixels at 150 dpi)
    Degeneracy panel: ``n_columns = min(3, n_panels)``,
    ``n_rows = ceil(n_panels / 3)``; ``4.8 * n_columns`` by
    ``3.2 * n_rows + 0.8`` (720 px per column, 480 px per row plus 120 px
    for the legend): 2160 x 1080 px for 4 to 6 panels.
    Propensity and final round: 7 x 4.5 (1050 x 675 px).
"""

import math
import zlib
import pathlib
import re

import numpy as np

from ._click_curves import OKABE_ITO
from ._results import (
    REFERENCE_VARIANTS,
    MetricRows,
    PropensityRows,
    Results,
    metric_order,
    read_results,
)
from simulator.atomic import atomic_path

from ._summary import t_interval, write_summary

__all__ = [
    "METRIC_LABELS",
    "VARIANT_LABELS",
    "plot_degeneracy",
    "plot_final_round",
    "plot_propensity",
    "replot",
]

DPI = 150
PANEL_SIZE = (4.8, 3.2)
PANEL_COLUMNS = 3
LEGEND_HEIGHT = 0.8
SINGLE_SIZE = (7.0, 4.5)

VARIANT_LABELS = {
    "naive": "naive (clicks as labels)",
    "ips": "IPS (inverse propensity)",
    "tower": "position tower",
    "lgbm_position": "LightGBM position debiasing",
    "skyline": "skyline (all true labels)",
    "logger": "initial logger",
}
"""Legend text of the known variants; other variants are shown by their name."""

# Okabe-Ito colours fixed per known variant, so that every plot agrees.
_OKABE = dict(zip(("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow"),
                  OKABE_ITO))
_VARIANT_COLOURS = {
    "naive": _OKABE["vermillion"],
    "ips": _OKABE["blue"],
    "tower": _OKABE["green"],
    "lgbm_position": _OKABE["purple"],
    "skyline": _OKABE["black"],
    "logger": _OKABE["orange"],
}
# Colours of user-named variants: the two Okabe-Ito colours no built-in has, then further
# distinguishable colours (tab10 hues that are not the built-ins').
_SPARE_COLOURS = (_OKABE["sky"], _OKABE["yellow"], "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                  "#1f3a93", "#a52a2a", "#2e8b57")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_REFERENCE_STYLE = {"skyline": "--", "logger": ":"}

METRIC_LABELS = {
    "ndcg@10": ("NDCG@10 on served queries (in-sample)", "NDCG@10 on true labels"),
    "heldout_ndcg@10": ("NDCG@10 on held-out queries (never served)", "NDCG@10 on true labels"),
    "candidate_heldout_ndcg@10": ("Held-out NDCG@10 of each round's candidate (gated)", "NDCG@10 on true labels"),
    "ctr": ("Click-through rate", "clicks per impression"),
    "exposure_gini": ("Exposure concentration (Gini)", "Gini (0 = equal, 1 = one document)"),
    "exposure_entropy": ("Exposure spread (entropy)", "entropy / log n (1 = uniform)"),
    "coverage": ("Relevant documents ever shown", "share of relevant docs (cumulative)"),
    "coverage_round": ("Relevant documents shown this round", "share of relevant docs"),
    "kendall_tau": ("Lock-in: Kendall tau to previous round", "Kendall tau-b (1 = same ranking)"),
    "rbo@10": ("Lock-in: RBO@10 to previous round", "rank-biased overlap (1 = same top 10)"),
    "rich_get_richer": ("Rich-get-richer slope", "slope of log(1+clicks) on log(1+exposure)"),
    "propensity_error": ("Position-bias estimation error", r"mean relative error of $\theta_k / \theta_1$"),
    "log_loss": ("Click-prediction log loss", "nats per impression"),
    "brier": ("Click-prediction Brier score", "squared error per impression"),
    "ece": ("Click-prediction calibration (ECE)", "expected calibration error"),
    "confounder_share@10": ("Confounder in the top 10", "share above the query median (0.5 = none)"),
    "popularity_share@10": ("Popularity prior in the top 10", "share above the query median (0.5 = none)"),
    "labelled_queries": ("Labelled queries behind round 0's ranker", "served queries"),
}
"""Panel title and y-axis label of the known metrics."""

#: Range of the values of the known metrics (bands and error bars are clipped to it).
METRIC_RANGES = {
    "ndcg@10": (0.0, 1.0), "heldout_ndcg@10": (0.0, 1.0), "candidate_heldout_ndcg@10": (0.0, 1.0), "ctr": (0.0, 1.0),
    "exposure_gini": (0.0, 1.0),
    "exposure_entropy": (0.0, 1.0), "coverage": (0.0, 1.0), "coverage_round": (0.0, 1.0),
    "kendall_tau": (-1.0, 1.0), "rbo@10": (0.0, 1.0), "propensity_error": (0.0, math.inf),
    "log_loss": (0.0, math.inf), "brier": (0.0, 1.0), "ece": (0.0, 1.0), "confounder_share@10": (0.0, 1.0),
    "popularity_share@10": (0.0, 1.0), "labelled_queries": (0.0, math.inf),
}


def metric_range(metric):
    """(low, high) a metric's values cannot leave (any cut-off @K as @10); (-inf, inf) if unknown.

    Examples
    --------
    >>> from analysis._plots import metric_range
    >>> metric_range("heldout_ndcg@5"), metric_range("kendall_tau"), metric_range("rich_get_richer")
    ((0.0, 1.0), (-1.0, 1.0), (-inf, inf))
    """
    family, at, k = metric.partition("@")
    key = f"{family}@10" if at and k.isdigit() else metric
    return METRIC_RANGES.get(key, (-math.inf, math.inf))


def clip_to_range(values, metric):
    """``values`` clipped to :func:`metric_range` (NaN stays NaN)."""
    low, high = metric_range(metric)
    return np.clip(np.asarray(values, dtype=np.float64), low, high)


_AT_K = re.compile(r"(ndcg|heldout_ndcg|rbo|precision|err|mrr|confounder_share|popularity_share)@([1-9][0-9]*)")


def _metric_labels(metric):
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    match = _AT_K.fullmatch(metric)
    if match:
        family, k = match.groups()
        if f"{family}@10" in METRIC_LABELS:  # the same words at another cut-off
            return tuple(text.replace("@10", f"@{k}").replace("top 10", f"top {k}")
                         for text in METRIC_LABELS[f"{family}@10"])
        return (f"{family.replace('_', ' ')}@{k}", f"{family.upper()}@{k}")
    return (metric, metric)


def variant_label(variant):
    """Legend text of a variant (its name if unknown)."""
    return VARIANT_LABELS.get(variant, variant)


def _stable_index(name, size):
    """A position in a palette from the name alone (CRC-32: the same in every process and run)."""
    return zlib.crc32(name.encode("utf-8")) % size


def _styles(variants):
    """Colour and marker of every variant, stable per name.

    Built-in variants keep their fixed colours.  A user-named variant's colour
    is chosen from its name (the same name has the same colour in every plot
    and run); if another variant of the same figure already has it, the next
    free spare colour is taken.  Markers are chosen the same way, so two
    variants never share both colour and marker while spares last.
    """
    styles = {}
    taken_colours, taken_markers = set(_VARIANT_COLOURS[v] for v in variants if v in _VARIANT_COLOURS), set()
    for variant in variants:
        if variant in _VARIANT_COLOURS:
            colour = _VARIANT_COLOURS[variant]
        else:
            start = _stable_index(variant, len(_SPARE_COLOURS))
            order = [_SPARE_COLOURS[(start + i) % len(_SPARE_COLOURS)] for i in range(len(_SPARE_COLOURS))]
            colour = next((c for c in order if c not in taken_colours), order[0])
            taken_colours.add(colour)
        start = _stable_index(variant, len(_MARKERS))
        order = [_MARKERS[(start + i) % len(_MARKERS)] for i in range(len(_MARKERS))]
        marker = next((m for m in order if m not in taken_markers), order[0])
        taken_markers.add(marker)
        styles[variant] = (colour, marker)
    return styles


def line_width(position, n_curves):
    """Line width of the curve drawn ``position``-th of ``n_curves``: the first widest (4.0), the last 1.2.

    Curves are drawn in this order, each above the previous ones, so where two
    coincide the later, thinner one runs inside the earlier, wider one and
    both colours stay visible.

    Examples
    --------
    >>> from analysis._plots import line_width
    >>> [round(line_width(i, 3), 1) for i in range(3)]
    [4.0, 2.6, 1.2]
    """
    return 1.2 + 2.8 * (n_curves - 1 - position) / max(1, n_curves - 1)


def _metric_rows(results):
    if isinstance(results, Results):
        return results.metrics
    if isinstance(results, MetricRows):
        return results
    raise ValueError(
        "results must be Results (from analysis.read_results) or MetricRows, got "
        f"{type(results).__name__}"
    )


def _new_figure(size):
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _save(fig, path_stem):
    """Save PNG (150 dpi) and SVG next to each other, each atomically."""
    stem = pathlib.Path(path_stem)
    if stem.suffix in (".png", ".svg"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in ("png", "svg"):
        out = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(out) as temporary:
            metadata = {"Date": None} if fmt == "svg" else None
            fig.savefig(temporary, format=fmt, dpi=DPI, metadata=metadata)
        written.append(out)
        # The first save has laid the figure out; keep that layout for the SVG.
        fig.set_layout_engine("none")
    return written


def _rc():
    import matplotlib

    return matplotlib.rc_context({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 9,
        "svg.hashsalt": "clickloop", "svg.fonttype": "none", "axes.grid": True,
        "grid.alpha": 0.3,
    })


def _band(values):
    """Mean and 95 % t interval per column of (n_seeds, n_rounds)."""
    stats = np.array([t_interval(column)[:3] for column in values.T]).reshape(-1, 3)
    return stats[:, 0], stats[:, 1], stats[:, 2]


def plot_degeneracy(results, path_stem, metrics=None):
    """Panel of degeneracy curves over rounds, one panel per metric.

    Each retrained variant is a curve of its mean over seeds with a 95 %
    Student-t band; the static references ``skyline`` (dashed) and ``logger``
    (dotted) are horizontal lines at their mean over all seeds and rounds.

    Parameters
    ----------
    results : Results or MetricRows
        The rows of ``metrics.csv``.
    path_stem : str or pathlib.Path
        Output path without suffix; ``.png`` (150 dpi) and ``.svg`` are written.
    metrics : sequence of str, optional
        Panels, in order; default every metric present in
        :data:`analysis.METRIC_ORDER` order, then the others.

    Returns
    -------
    list of pathlib.Path
        The PNG and SVG written.

    Raises
    ------
    ValueError
        If ``results`` is of the wrong type, has no rows, or a metric is absent.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import MetricRows
    >>> from analysis._plots import plot_degeneracy
    >>> rows = MetricRows.from_records([(s, v, r, "ctr", 0.1 * r + 0.01 * s)
    ...                                 for s in range(2) for v in ("naive", "logger")
    ...                                 for r in range(3)])
    >>> paths = plot_degeneracy(rows, pathlib.Path(tempfile.mkdtemp()) / "degeneracy")
    >>> [p.suffix for p in paths]
    ['.png', '.svg']
    """
    rows = _metric_rows(results)
    if len(rows) == 0:
        raise ValueError("results has no rows")
    panels = rows.metrics if metrics is None else metric_order(metrics)
    missing = [m for m in panels if m not in rows.metrics]
    if missing or not panels:
        raise ValueError(f"metrics must name metrics of the results, got {missing or panels!r}")
    from matplotlib.ticker import MaxNLocator

    variants = rows.variants
    retrained = [v for v in variants if v not in REFERENCE_VARIANTS]
    styles = _styles(variants)
    n_columns = min(PANEL_COLUMNS, len(panels))
    n_rows = math.ceil(len(panels) / PANEL_COLUMNS)
    size = (PANEL_SIZE[0] * n_columns, PANEL_SIZE[1] * n_rows + LEGEND_HEIGHT)
    handles = {}
    with _rc():
        fig = _new_figure(size)
        axes = fig.subplots(n_rows, n_columns, squeeze=False)
        for ax in axes.ravel()[len(panels):]:
            ax.set_visible(False)
        for ax, metric in zip(axes.ravel(), panels):
            title, ylabel = _metric_labels(metric)
            for variant in variants:
                if not rows.has(variant, metric):
                    continue
                colour, marker = styles[variant]
                rounds, _, values = rows.curve(variant, metric)
                if variant in REFERENCE_VARIANTS:
                    level = t_interval(values)[0]
                    if math.isfinite(level):
                        handles[variant] = ax.axhline(
                            level, color=colour, linestyle=_REFERENCE_STYLE[variant],
                            linewidth=1.5, label=variant_label(variant))
                    continue
                mean, low, high = _band(values)
                low, high = clip_to_range(low, metric), clip_to_range(high, metric)
                position = retrained.index(variant)
                (line,) = ax.plot(rounds, mean, color=colour, marker=marker, markersize=4,
                                  markevery=max(1, rounds.size // 12),
                                  linewidth=line_width(position, len(retrained)), zorder=2 + position,
                                  label=variant_label(variant))
                band = ax.fill_between(rounds, low, high, color=colour, alpha=0.12, linewidth=0)
                handles.setdefault(variant, (band, line))
            ax.set_title(title)
            ax.set_xlabel("round (retraining iteration)")
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ordered = [v for v in variants if v in handles]
        fig.legend([handles[v] for v in ordered], [variant_label(v) for v in ordered],
                   loc="outside lower center", ncols=min(len(ordered), 4) or 1, frameon=False)
        fig.suptitle("Feedback-loop degeneracy over rounds (mean and 95 % t band over seeds, clipped to the "
                     "metric's range; references dashed/dotted;\nwhere curves coincide, the later one runs "
                     "inside the wider earlier one; overlapping bands mix their colours)")
        return _save(fig, path_stem)


def _propensity_rows(propensity_rows):
    if isinstance(propensity_rows, Results):
        return propensity_rows.propensity
    if isinstance(propensity_rows, PropensityRows):
        return propensity_rows
    raise ValueError(
        "propensity_rows must be PropensityRows or Results (from analysis.read_results), got "
        f"{type(propensity_rows).__name__}"
    )


def plot_propensity(propensity_rows, path_stem):
    """Estimated against true position bias by rank, at each variant's final round.

    The truth (mean over the rows at the final rounds) is a black line; each
    estimating variant is a curve of its mean over seeds with a 95 % t band.
    Values are ``theta_k / theta_1`` as written by the loop.

    Parameters
    ----------
    propensity_rows : PropensityRows or Results
        The rows of ``propensity.csv``.
    path_stem : str or pathlib.Path
        Output path without suffix; ``.png`` (150 dpi) and ``.svg`` are written.

    Returns
    -------
    list of pathlib.Path
        The PNG and SVG written.

    Raises
    ------
    ValueError
        If the input is of the wrong type or has no rows.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import PropensityRows
    >>> from analysis._plots import plot_propensity
    >>> rows = PropensityRows.from_records([(0, "ips", 1, k, 1 / k, 1 / k + 0.01) for k in (1, 2, 3)])
    >>> paths = plot_propensity(rows, pathlib.Path(tempfile.mkdtemp()) / "propensity")
    >>> paths[0].name
    'propensity.png'
    """
    rows = _propensity_rows(propensity_rows)
    if len(rows) == 0:
        raise ValueError("propensity_rows has no rows")
    with _rc():
        return _save(propensity_figure(rows), path_stem)


def propensity_figure(rows):
    """The figure of :func:`plot_propensity` (a :class:`matplotlib.figure.Figure`), not saved."""
    from matplotlib.ticker import MaxNLocator

    rows = _propensity_rows(rows)
    variants = rows.variants
    styles = _styles(variants)
    with _rc():
        fig = _new_figure(SINGLE_SIZE)
        ax = fig.subplots()
        at_final = np.zeros(len(rows), dtype=bool)
        rounds = set()
        for variant in variants:
            last, ranks, true, estimated = rows.final(variant)
            rounds.add(last)
            at_final |= (rows.variant == variant) & (rows.round == last)
            colour, marker = styles[variant]
            mean, low, high = _band(estimated)
            # The ratios are positive: a band below 0 (a t interval of few seeds) would vanish on the log axis.
            low = np.where(low > 0, low, np.fmin.reduce(np.where(estimated > 0, estimated, np.inf), axis=0))
            ax.plot(ranks, mean, color=colour, marker=marker, markersize=5, linewidth=1.6,
                    label=f"{variant_label(variant)}, estimated")
            ax.fill_between(ranks, low, high, color=colour, alpha=0.18, linewidth=0)
        # The truth is one curve; average whatever every variant's rows say it is.
        all_ranks = np.unique(rows.rank[at_final])
        truth = [np.nanmean(rows.true[at_final & (rows.rank == k)]) for k in all_ranks]
        ax.plot(all_ranks, truth, color="#000000", linewidth=2.0, label="true position bias",
                zorder=3)
        when = f"round {rounds.pop()}" if len(rounds) == 1 else "final round of each variant"
        ax.set_title(f"Estimated vs true position bias ({when}; mean and 95 % t band over seeds)")
        ax.set_xlabel("rank (1 = top)")
        ax.set_ylabel(r"examination relative to rank 1 ($\theta_k / \theta_1$)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # A log axis: an estimate 4x the truth at rank 10 (0.01 against 0.04) is as far from it as 0.25
        # from 1, and a linear axis hides it against the top ranks.
        ax.set_yscale("log")
        ax.legend(frameon=False)
        return fig


def plot_final_round(results, path_stem, metric="ndcg@10"):
    """One metric at the final round of every variant, with 95 % t intervals over seeds.

    Variants are rows (references first), each a point at the mean over seeds
    with an error bar for the 95 % Student-t interval (none with one seed).

    Parameters
    ----------
    results : Results or MetricRows
        The rows of ``metrics.csv``.
    path_stem : str or pathlib.Path
        Output path without suffix; ``.png`` (150 dpi) and ``.svg`` are written.
    metric : str, default="ndcg@10"
        The metric to compare.

    Returns
    -------
    list of pathlib.Path
        The PNG and SVG written.

    Raises
    ------
    ValueError
        If ``results`` is of the wrong type or lacks ``metric``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import MetricRows
    >>> from analysis._plots import plot_final_round
    >>> rows = MetricRows.from_records([(s, v, 2, "ndcg@10", 0.5 + 0.1 * s)
    ...                                 for s in range(3) for v in ("naive", "ips")])
    >>> paths = plot_final_round(rows, pathlib.Path(tempfile.mkdtemp()) / "final_round")
    >>> paths[1].name
    'final_round.svg'
    """
    rows = _metric_rows(results)
    if not isinstance(metric, str) or metric not in rows.metrics:
        raise ValueError(
            f"metric must be one of the metrics of the results ({', '.join(rows.metrics)}), "
            f"got {metric!r}"
        )
    variants = [v for v in rows.variants if rows.has(v, metric)]
    styles = _styles(rows.variants)
    title, label = _metric_labels(metric)
    with _rc():
        fig = _new_figure(SINGLE_SIZE)
        ax = fig.subplots()
        rounds = set()
        for position, variant in enumerate(variants):
            last, values = rows.final(variant, metric)
            rounds.add(last)
            mean, low, high, n = t_interval(values)
            colour, marker = styles[variant]
            error = None if n < 2 else [[mean - low], [high - mean]]
            ax.errorbar([mean], [position], xerr=error, color=colour, marker=marker,
                        markersize=7, capsize=4, linewidth=1.6, linestyle="none")
        ax.set_yticks(range(len(variants)),
                      [f"{variant_label(v)}" for v in variants])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(label)
        when = f"round {rounds.pop()}" if len(rounds) == 1 else "the final round"
        ax.set_title(f"{title} at {when}\n(mean and 95 % t interval over seeds)")
        return _save(fig, path_stem)


#: Panels of plots/headline.{png,svg}: served and held-out quality, clicks, concentration, reach, lock-in.
HEADLINE_METRICS = ("ndcg@10", "heldout_ndcg@10", "ctr", "exposure_gini", "coverage", "rbo@10")
#: Columns of summary.md, those present in the run: every metric the README quotes.
SUMMARY_METRICS = ("ndcg@10", "heldout_ndcg@10", "ctr", "exposure_gini", "coverage", "rbo@10", "kendall_tau",
                   "rich_get_richer", "propensity_error", "confounder_share@10", "popularity_share@10")
#: Metrics of round 0 only, reported in words, not drawn over rounds.
ROUND_ZERO_METRICS = ("labelled_queries",)


def replot(outdir):
    """Re-draw every plot and ``summary.md`` of a finished output folder.

    Writes ``plots/degeneracy.{png,svg}`` (every metric), ``plots/headline.{png,svg}``
    (the :data:`HEADLINE_METRICS` present), ``plots/propensity.{png,svg}`` (only
    if ``propensity.csv`` has rows), ``plots/final_round.{png,svg}`` (of
    ``ndcg@10``, else of another ``ndcg@K``, else of the first metric) and
    ``summary.md``, each atomically.

    Parameters
    ----------
    outdir : str or pathlib.Path
        The output folder (``metrics.csv``, optional ``propensity.csv``).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ResultsError
        If the folder or a file is missing or malformed (before anything is
        written).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._plots import replot
    >>> outdir = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (outdir / "metrics.csv").write_text(
    ...     "seed,variant,round,metric,value\\n0,naive,0,ndcg@10,0.4\\n0,naive,1,ndcg@10,0.5\\n")
    >>> sorted(p.relative_to(outdir).as_posix() for p in replot(outdir))
    ['plots/degeneracy.png', 'plots/degeneracy.svg', 'plots/final_round.png', 'plots/final_round.svg', 'plots/headline.png', 'plots/headline.svg', 'summary.md']
    """
    results = read_results(outdir)
    plots = results.outdir / "plots"
    curves = [m for m in results.metrics.metrics if m not in ROUND_ZERO_METRICS]
    written = plot_degeneracy(results, plots / "degeneracy", metrics=curves or None)
    headline = [m for m in HEADLINE_METRICS if m in results.metrics.metrics]
    if headline:
        written += plot_degeneracy(results, plots / "headline", metrics=headline)
    if len(results.propensity):
        written += plot_propensity(results.propensity, plots / "propensity")
    metrics = results.metrics.metrics
    ndcgs = [m for m in metrics if m.startswith("ndcg@")]
    metric = "ndcg@10" if "ndcg@10" in metrics else (ndcgs or metrics)[0]
    written += plot_final_round(results, plots / "final_round", metric=metric)
    # The summary keeps to the headline metrics (every metric is in metrics.csv and the panel).
    headline = [m for m in SUMMARY_METRICS if m in metrics] or None
    written.append(write_summary(results, results.outdir / "summary.md", metrics=headline))
    return written
