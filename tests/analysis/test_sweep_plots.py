"""Sweep outputs over rounds: per-round plots, bands within each metric's range, readable axes."""

import csv
import math

import numpy as np
import pytest

from analysis import read_sweep_metrics, write_sweep_summary
from analysis._plots import metric_range, propensity_figure
from analysis._results import PropensityRows
from analysis._sweep_summary import axis_of, sweep_figure

VARIANTS = ("skyline", "logger", "naive", "ips")


def _write_sweep(path, key, values, rounds=4):
    """A sweep metrics.csv: 2 seeds far apart near the ends of each metric's range (t bands overshoot)."""
    lines = [f"{key},seed,variant,round,metric,value"]
    for value in values:
        for seed, sign in ((0, -1), (1, 1)):
            for variant in VARIANTS:
                for t in range(rounds):
                    near_top = 0.93 + 0.06 * sign  # 0.87 and 0.99: t interval [0.17, 1.69]
                    lines.append(f"{value},{seed},{variant},{t},ndcg@10,{near_top!r}")
                    lines.append(f"{value},{seed},{variant},{t},heldout_ndcg@10,{0.5 + 0.45 * sign!r}")
                    if t >= 1:
                        lines.append(f"{value},{seed},{variant},{t},kendall_tau,{0.9 * sign!r}")
                        lines.append(f"{value},{seed},{variant},{t},rbo@10,{0.95 + 0.04 * sign!r}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def log_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    _write_sweep(out / "metrics.csv", "logger.query_fraction", ("0.01", "0.1", "0.5"))
    return out, write_sweep_summary(out)


def test_a_log_spaced_sweep_writes_per_round_plots(log_sweep):
    out, written = log_sweep
    names = {p.relative_to(out).as_posix() for p in written}
    for metric in ("ndcg_10", "heldout_ndcg_10", "rbo_10"):
        assert {f"plots/rounds_{metric}.png", f"plots/rounds_{metric}.svg"} <= names
        assert (out / "plots" / f"rounds_{metric}.png").stat().st_size > 10_000
    assert "plots/rounds_ndcg_10.png" in (out / "summary.md").read_text()


def test_bands_written_never_leave_the_metric_range(log_sweep):
    out, _ = log_sweep
    with (out / "plots" / "rounds.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["metric"] for row in rows} == {"ndcg@10", "heldout_ndcg@10", "kendall_tau", "rbo@10"}
    assert len(rows) == 3 * 4 * (2 * 4 + 2 * 3)  # points x variants x (rounds of each metric)
    clipped = 0
    for row in rows:
        low, high = metric_range(row["metric"])
        for column in ("mean", "low", "high"):
            assert low <= float(row[column]) <= high, f"{row['metric']} {column} = {row[column]} outside range"
        clipped += float(row["high"]) == high or float(row["low"]) == low
    # Two seeds 0.12 apart give a t half-width of 0.76: every band reached its metric's bound.
    assert clipped == len(rows)


def test_the_final_round_plot_of_a_log_spaced_key_has_a_log_axis_and_clipped_bands(log_sweep):
    out, _ = log_sweep
    results = read_sweep_metrics(out / "metrics.csv")
    fig = sweep_figure(results, "logger.query_fraction", "heldout_ndcg@10")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "0.5"]
    bands = [c for c in ax.collections if c.get_paths()]
    assert len(bands) == len(VARIANTS)
    for band in bands:
        y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("values, kind", [
    (["0.01", "0.1", "0.5"], "log"),
    (["0.001", "0.01", "0.1", "1.0"], "log"),
    (["0.0", "0.5", "1.0", "2.0"], "linear"),  # 0 cannot be on a log axis
    (["1.0", "1.5", "2.0"], "linear"),  # spread under a factor 10
    (["0.0", "2.0"], "points"),  # two values: no line pretending to interpolate
    (["deterministic", "plackett_luce"], "categorical"),
    (["true", "false"], "categorical"),
])
def test_axis_kind_follows_the_values(values, kind):
    assert axis_of(values)[0] == kind


def test_path_values_get_short_distinct_names_and_a_legend_table(tmp_path):
    paths = ("/work/shared/data/letor/rank.train", "/work/shared/data/other/rank.train")
    _write_sweep(tmp_path / "metrics.csv", "data.path", paths, rounds=2)
    write_sweep_summary(tmp_path)
    fig = sweep_figure(read_sweep_metrics(tmp_path / "metrics.csv"), "data.path", "ndcg@10")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["letor/rank.train", "other/rank.train"]
    summary = (tmp_path / "summary.md").read_text()
    for short, full in zip(("letor/rank.train", "other/rank.train"), paths):
        assert f"| {short} | {full} |" in summary


def test_propensity_plot_has_a_log_axis():
    rows = PropensityRows.from_records([(s, "tower", 2, k, 1 / k, 4 / k if k == 10 else 1 / k)
                                        for s in range(2) for k in range(1, 11)])
    ax = propensity_figure(rows).axes[0]
    assert ax.get_yscale() == "log"
    assert all(math.isfinite(v) and v > 0 for v in ax.get_ylim())
