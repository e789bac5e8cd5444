"""The output files of a run, ``metrics.csv`` and ``propensity.csv``: their one writer and reader.

The feedback loop writes (through :func:`write_metrics` and
:func:`write_propensity`), per run folder,

``metrics.csv``
    Long format with the header ``seed,variant,round,metric,value``: one row
    per seed (int), variant (str, for example ``naive``, ``ips``, ``tower``,
    ``lgbm_position``, ``skyline``, ``logger``), round (int >= 0), metric
    (str, for example ``ndcg@10``) and value (float, ``nan`` allowed). A
    metric may be missing for some variants or rounds.
``propensity.csv`` (optional)
    Header ``seed,variant,round,rank,true,estimated``: the true and estimated
    examination of each rank (1-based), normalised so that rank 1 is 1, for
    the variants that estimate position bias.

The columns may come in any order; every one of them must be present. Blank
lines are skipped. Any other departure raises :class:`ResultsError`, a
``ValueError`` whose one-line message names the file and line.
"""

import csv
import io
import pathlib
from dataclasses import dataclass

import numpy as np

from simulator.atomic import atomic_write_text

__all__ = [
    "METRIC_ORDER",
    "METRICS_HEADER",
    "MetricRows",
    "PROPENSITY_HEADER",
    "PropensityRows",
    "REFERENCE_VARIANTS",
    "Results",
    "ResultsError",
    "metric_order",
    "read_metrics",
    "read_propensity",
    "read_results",
    "variant_order",
    "write_metrics",
    "write_propensity",
]

METRICS_HEADER = ("seed", "variant", "round", "metric", "value")
PROPENSITY_HEADER = ("seed", "variant", "round", "rank", "true", "estimated")
REFERENCE_VARIANTS = ("skyline", "logger")
"""Static references (one ranker, never retrained), listed first in tables."""
METRIC_ORDER = (
    "ndcg@10", "heldout_ndcg@10", "ctr", "exposure_gini", "exposure_entropy", "coverage",
    "coverage_round", "kendall_tau", "rbo@10", "rich_get_richer", "propensity_error",
    "log_loss", "brier", "ece", "confounder_share@10", "popularity_share@10", "labelled_queries",
)
"""Known metrics in the order tables and plots show them; others follow as first seen."""


def _cell(value):
    """CSV text of one value: floats as ``repr`` (they read back exactly), the rest as ``str``."""
    return repr(value) if isinstance(value, float) else str(value)


def _write_csv(path, header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(tuple(_cell(v) for v in row) for row in rows)
    return atomic_write_text(path, buffer.getvalue())


def write_metrics(path, rows, leading=()):
    """Write ``metrics.csv`` atomically: ``seed,variant,round,metric,value`` rows.

    Parameters
    ----------
    path : str or pathlib.Path
    rows : iterable of tuple
        ``(*leading values, seed, variant, round, metric, value)``; floats are
        written as ``repr`` so that they read back bit for bit.
    leading : sequence of str, default=()
        Names of leading columns (a sweep's swept keys), before the header.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = write_metrics(pathlib.Path(tempfile.mkdtemp()) / "metrics.csv", [(0, "naive", 1, "ndcg@10", 0.5)])
    >>> path.read_text()
    'seed,variant,round,metric,value\\n0,naive,1,ndcg@10,0.5\\n'
    """
    return _write_csv(path, list(leading) + list(METRICS_HEADER), rows)


def write_propensity(path, rows, leading=()):
    """Write ``propensity.csv`` atomically: ``seed,variant,round,rank,true,estimated`` rows (as :func:`write_metrics`)."""
    return _write_csv(path, list(leading) + list(PROPENSITY_HEADER), rows)


class ResultsError(ValueError):
    """A missing or malformed file of an output folder; the message names file and line."""


def variant_order(variants):
    """The references ``skyline`` and ``logger`` first, then the others as first seen.

    Parameters
    ----------
    variants : iterable of str
        Variant names, possibly repeated.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> from analysis._results import variant_order
    >>> variant_order(["naive", "ips", "logger", "naive", "skyline"])
    ('skyline', 'logger', 'naive', 'ips')
    """
    seen = list(dict.fromkeys(variants))
    return tuple([v for v in REFERENCE_VARIANTS if v in seen]
                 + [v for v in seen if v not in REFERENCE_VARIANTS])


def _display_key(metric):
    """Position in METRIC_ORDER; a cut-off other than 10 sorts with its @10 form."""
    family, at, k = metric.partition("@")
    name = f"{family}@10" if at and k.isdigit() else metric
    return METRIC_ORDER.index(name) if name in METRIC_ORDER else None


def metric_order(metrics):
    """Known metrics in :data:`METRIC_ORDER`, then the others as first seen.

    ``ndcg@5``, ``heldout_ndcg@20`` or ``rbo@5`` sort where their ``@10``
    forms are listed (a smaller cut-off first).

    Parameters
    ----------
    metrics : iterable of str
        Metric names, possibly repeated.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> from analysis._results import metric_order
    >>> metric_order(["ctr", "my_metric", "ndcg@10", "ctr", "rbo@5", "ndcg@5"])
    ('ndcg@5', 'ndcg@10', 'ctr', 'rbo@5', 'my_metric')
    """
    seen = list(dict.fromkeys(metrics))
    known = [m for m in seen if _display_key(m) is not None]
    known.sort(key=lambda m: (_display_key(m), int(m.partition("@")[2] or 0)))
    return tuple(known + [m for m in seen if _display_key(m) is None])


def _grid(seed, round_, value, mask):
    """Rows under ``mask`` as (rounds, seeds, values[seed, round] with NaN gaps)."""
    seeds, seed_index = np.unique(seed[mask], return_inverse=True)
    rounds, round_index = np.unique(round_[mask], return_inverse=True)
    grid = np.full((seeds.size, rounds.size), np.nan)
    grid[seed_index, round_index] = value[mask]
    return rounds, seeds, grid


@dataclass(frozen=True)
class MetricRows:
    """The rows of ``metrics.csv``, one entry per row in file order.

    Attributes
    ----------
    seed : ndarray of shape (n_rows,) and dtype int64
    variant : ndarray of shape (n_rows,) and dtype str
    round : ndarray of shape (n_rows,) and dtype int64
        Round, >= 0.
    metric : ndarray of shape (n_rows,) and dtype str
    value : ndarray of shape (n_rows,) and dtype float64
        NaN where the loop wrote ``nan``.

    Examples
    --------
    >>> from analysis._results import MetricRows
    >>> rows = MetricRows.from_records([(0, "naive", 0, "ctr", 0.1), (0, "naive", 1, "ctr", 0.2),
    ...                                 (1, "naive", 1, "ctr", 0.4)])
    >>> rows.variants, rows.metrics, rows.seeds
    (('naive',), ('ctr',), (0, 1))
    >>> rounds, seeds, values = rows.curve("naive", "ctr")
    >>> values
    array([[0.1, 0.2],
           [nan, 0.4]])
    >>> rows.final("naive", "ctr")
    (1, array([0.2, 0.4]))
    >>> rows.for_seeds([1]).value
    array([0.4])
    """

    seed: np.ndarray
    variant: np.ndarray
    round: np.ndarray
    metric: np.ndarray
    value: np.ndarray

    def __post_init__(self):
        n = np.shape(self.seed)[0] if np.ndim(self.seed) == 1 else -1
        for name in METRICS_HEADER:
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.ndim != 1 or array.shape[0] != n:
                raise ValueError(
                    f"MetricRows.{name} must be a 1-dimensional array with one entry per row "
                    f"(n_rows={n}), got {type(array).__name__} of shape {np.shape(array)}"
                )

    @classmethod
    def from_records(cls, records):
        """Build from ``(seed, variant, round, metric, value)`` tuples."""
        records = list(records)
        columns = list(zip(*records)) if records else [()] * 5
        return cls(
            seed=np.array(columns[0], dtype=np.int64),
            variant=np.array(columns[1], dtype=str),
            round=np.array(columns[2], dtype=np.int64),
            metric=np.array(columns[3], dtype=str),
            value=np.array(columns[4], dtype=np.float64),
        )

    def __len__(self):
        return self.seed.shape[0]

    @property
    def variants(self):
        """Variant names, references first (see :func:`variant_order`)."""
        return variant_order(self.variant.tolist())

    @property
    def metrics(self):
        """Metric names in display order (see :func:`metric_order`)."""
        return metric_order(self.metric.tolist())

    @property
    def seeds(self):
        """The distinct seeds, ascending."""
        return tuple(int(s) for s in np.unique(self.seed))

    def for_seeds(self, seeds):
        """The rows of these seeds only.

        Raises
        ------
        ValueError
            If a seed has no row; the message names it and the seeds there are.
        """
        missing = sorted({int(s) for s in seeds} - set(self.seeds))
        if missing:
            raise ValueError(f"no seed {missing[0]} (its seeds: {', '.join(map(str, self.seeds))})")
        keep = np.isin(self.seed, list(seeds))
        return MetricRows(self.seed[keep], self.variant[keep], self.round[keep], self.metric[keep], self.value[keep])

    def has(self, variant, metric):
        """Whether any row holds ``metric`` of ``variant``."""
        return bool(((self.variant == variant) & (self.metric == metric)).any())

    def curve(self, variant, metric):
        """Values of one metric of one variant over rounds.

        Returns
        -------
        rounds : ndarray of shape (n_rounds,)
            The rounds present, ascending.
        seeds : ndarray of shape (n_seeds,)
            The seeds present, ascending.
        values : ndarray of shape (n_seeds, n_rounds)
            NaN where a seed has no row for a round.
        """
        return _grid(self.seed, self.round, self.value,
                     (self.variant == variant) & (self.metric == metric))

    def final(self, variant, metric):
        """The final round of one metric of one variant and its value per seed.

        The final round is the last round any seed reports for this variant
        and metric; seeds without a row there are left out.

        Returns
        -------
        round : int or None
            None if the variant has no row of this metric.
        values : ndarray of shape (n_seeds_at_final,)
            In ascending seed order, NaN values kept.
        """
        mask = (self.variant == variant) & (self.metric == metric)
        if not mask.any():
            return None, np.empty(0)
        last = int(self.round[mask].max())
        mask &= self.round == last
        order = np.argsort(self.seed[mask], kind="stable")
        return last, self.value[mask][order]


@dataclass(frozen=True)
class PropensityRows:
    """The rows of ``propensity.csv``, one entry per row in file order.

    Attributes
    ----------
    seed, round, rank : ndarray of shape (n_rows,) and dtype int64
        ``rank`` is 1-based.
    variant : ndarray of shape (n_rows,) and dtype str
    true, estimated : ndarray of shape (n_rows,) and dtype float64
        Examination of the rank relative to rank 1.

    Examples
    --------
    >>> from analysis._results import PropensityRows
    >>> rows = PropensityRows.from_records([(0, "ips", 2, 1, 1.0, 1.0), (0, "ips", 2, 2, 0.5, 0.6)])
    >>> round_, ranks, true, estimated = rows.final("ips")
    >>> round_, ranks, estimated
    (2, array([1, 2]), array([[1. , 0.6]]))
    """

    seed: np.ndarray
    variant: np.ndarray
    round: np.ndarray
    rank: np.ndarray
    true: np.ndarray
    estimated: np.ndarray

    def __post_init__(self):
        n = np.shape(self.seed)[0] if np.ndim(self.seed) == 1 else -1
        for name in PROPENSITY_HEADER:
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.ndim != 1 or array.shape[0] != n:
                raise ValueError(
                    f"PropensityRows.{name} must be a 1-dimensional array with one entry per "
                    f"row (n_rows={n}), got {type(array).__name__} of shape {np.shape(array)}"
                )

    @classmethod
    def from_records(cls, records):
        """Build from ``(seed, variant, round, rank, true, estimated)`` tuples."""
        records = list(records)
        columns = list(zip(*records)) if records else [()] * 6
        return cls(
            seed=np.array(columns[0], dtype=np.int64),
            variant=np.array(columns[1], dtype=str),
            round=np.array(columns[2], dtype=np.int64),
            rank=np.array(columns[3], dtype=np.int64),
            true=np.array(columns[4], dtype=np.float64),
            estimated=np.array(columns[5], dtype=np.float64),
        )

    def __len__(self):
        return self.seed.shape[0]

    @property
    def variants(self):
        """Variant names, references first (see :func:`variant_order`)."""
        return variant_order(self.variant.tolist())

    def final(self, variant):
        """The final round of one variant and its curves per seed.

        Returns
        -------
        round : int or None
            None if the variant has no row.
        ranks : ndarray of shape (n_ranks,)
        true, estimated : ndarray of shape (n_seeds, n_ranks)
            NaN where a seed has no row for a rank.
        """
        mask = self.variant == variant
        if not mask.any():
            return None, np.empty(0, dtype=np.int64), np.empty((0, 0)), np.empty((0, 0))
        last = int(self.round[mask].max())
        mask &= self.round == last
        ranks, _, true = _grid(self.seed, self.rank, self.true, mask)
        _, _, estimated = _grid(self.seed, self.rank, self.estimated, mask)
        return last, ranks, true, estimated


@dataclass(frozen=True)
class Results:
    """A finished output folder.

    Attributes
    ----------
    outdir : pathlib.Path
    metrics : MetricRows
    propensity : PropensityRows
        Empty if the folder has no ``propensity.csv``.
    """

    outdir: pathlib.Path
    metrics: MetricRows
    propensity: PropensityRows


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

def _parse_int(text, column, where, low=None):
    try:
        value = int(text)
    except ValueError:
        raise ResultsError(f"{where}: {column} must be an integer, got {text!r}") from None
    if low is not None and value < low:
        raise ResultsError(f"{where}: {column} must be >= {low}, got {value}")
    return value


def _parse_float(text, column, where):
    try:
        return float(text)
    except ValueError:
        raise ResultsError(
            f"{where}: {column} must be a number (or nan), got {text!r}"
        ) from None


def _parse_name(text, column, where):
    if not text.strip():
        raise ResultsError(f"{where}: {column} must not be empty")
    return text


def _read_table(path, header, parse_row):
    """Rows of a CSV file with the given columns, each parsed by parse_row."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: no such file")
    records = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = None
            for fields in reader:
                where = f"{path}: line {reader.line_num}"
                if not fields or fields == [""]:
                    continue
                if columns is None:
                    columns = [name.strip() for name in fields]
                    if sorted(columns) != sorted(header) or len(set(columns)) != len(columns):
                        raise ResultsError(
                            f"{where}: expected the header {','.join(header)!r} (any "
                            f"column order), got {','.join(fields)!r}"
                        )
                    position = [columns.index(name) for name in header]
                    continue
                if len(fields) != len(header):
                    raise ResultsError(
                        f"{where}: expected {len(header)} fields, got {len(fields)}"
                    )
                records.append((parse_row([fields[i].strip() for i in position], where),
                                reader.line_num))
    except UnicodeDecodeError as error:
        raise ResultsError(f"{path}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise ResultsError(f"{path}: line {reader.line_num}: {error}") from None
    if columns is None:
        raise ResultsError(f"{path}: line 1: empty file, expected the header {','.join(header)!r}")
    return records


def _check_unique(records, path, key_columns, describe):
    first = {}
    for record, line in records:
        key = record[:key_columns]
        if key in first:
            raise ResultsError(
                f"{path}: line {line}: duplicate row for {describe(key)} (first at line {first[key]})"
            )
        first[key] = line


def read_metrics(path):
    """Read a ``metrics.csv`` file.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    MetricRows

    Raises
    ------
    ResultsError
        If the file is missing or malformed (bad header, wrong number of
        fields, a non-integer seed or round, a negative round, an empty
        variant or metric, a value that is not a number, a repeated
        (seed, variant, round, metric)); the message names the file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import read_metrics
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
    >>> _ = path.write_text("seed,variant,round,metric,value\\n0,naive,0,ctr,0.25\\n0,naive,1,ctr,nan\\n")
    >>> rows = read_metrics(path)
    >>> rows.value
    array([0.25,  nan])
    >>> _ = path.write_text("seed,variant,round,metric,value\\n0,naive,zero,ctr,0.25\\n")
    >>> read_metrics(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analysis._results.ResultsError: .../metrics.csv: line 2: round must be an integer, got 'zero'
    """
    def parse(fields, where):
        seed, variant, round_, metric, value = fields
        return (_parse_int(seed, "seed", where), _parse_name(variant, "variant", where),
                _parse_int(round_, "round", where, low=0), _parse_name(metric, "metric", where),
                _parse_float(value, "value", where))

    records = _read_table(path, METRICS_HEADER, parse)
    _check_unique(records, path, 4, lambda key: (
        f"seed {key[0]}, variant {key[1]!r}, round {key[2]}, metric {key[3]!r}"))
    return MetricRows.from_records(record for record, _ in records)


def read_propensity(path):
    """Read a ``propensity.csv`` file.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    PropensityRows

    Raises
    ------
    ResultsError
        If the file is missing or malformed (as :func:`read_metrics`; ranks
        are integers >= 1); the message names the file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import read_propensity
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "propensity.csv"
    >>> _ = path.write_text("seed,variant,round,rank,true,estimated\\n0,ips,3,2,0.5,0.45\\n")
    >>> read_propensity(path).estimated
    array([0.45])
    """
    def parse(fields, where):
        seed, variant, round_, rank, true, estimated = fields
        return (_parse_int(seed, "seed", where), _parse_name(variant, "variant", where),
                _parse_int(round_, "round", where, low=0), _parse_int(rank, "rank", where, low=1),
                _parse_float(true, "true", where), _parse_float(estimated, "estimated", where))

    records = _read_table(path, PROPENSITY_HEADER, parse)
    _check_unique(records, path, 4, lambda key: (
        f"seed {key[0]}, variant {key[1]!r}, round {key[2]}, rank {key[3]}"))
    return PropensityRows.from_records(record for record, _ in records)


def read_results(outdir):
    """Read the tables of a finished output folder.

    Parameters
    ----------
    outdir : str or pathlib.Path
        A folder with ``metrics.csv`` and optionally ``propensity.csv``.

    Returns
    -------
    Results

    Raises
    ------
    ResultsError
        If the folder or ``metrics.csv`` is missing, ``metrics.csv`` has no
        data row, or a file is malformed; the message names the file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis._results import read_results
    >>> outdir = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (outdir / "metrics.csv").write_text("seed,variant,round,metric,value\\n0,naive,0,ctr,0.25\\n")
    >>> results = read_results(outdir)
    >>> len(results.metrics), len(results.propensity)
    (1, 0)
    """
    outdir = pathlib.Path(outdir)
    if not outdir.is_dir():
        raise ResultsError(f"{outdir}: no such folder (expected the output folder of a run)")
    metrics = read_metrics(outdir / "metrics.csv")
    if len(metrics) == 0:
        raise ResultsError(f"{outdir / 'metrics.csv'}: no data rows after the header")
    propensity_path = outdir / "propensity.csv"
    propensity = (read_propensity(propensity_path) if propensity_path.exists()
                  else PropensityRows.from_records([]))
    return Results(outdir=outdir, metrics=metrics, propensity=propensity)

