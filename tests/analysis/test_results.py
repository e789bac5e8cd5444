"""Tests of analysis._results (reading an output folder) and analysis._summary."""

import math
import os

import numpy as np
import pytest

from analysis import (
    MetricRows,
    PropensityRows,
    ResultsError,
    metric_order,
    read_metrics,
    read_propensity,
    read_results,
    summary_table,
    t_interval,
    variant_order,
    write_summary,
)

HEADER = "seed,variant,round,metric,value\n"
# t_{0.975, n-1} from a printed table of Student's t: n = 2, 3, 4.
T975 = {2: 12.706204736174705, 3: 4.302652729911275, 4: 3.182446305284263}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ reading
def test_read_metrics_parses_every_column(tmp_path):
    path = write(tmp_path / "metrics.csv",
                 HEADER + "0,naive,0,ndcg@10,0.5\n\n1,ips,2,ctr,nan\n0,naive,1,ndcg@10,-inf\n")
    rows = read_metrics(path)
    assert rows.seed.tolist() == [0, 1, 0]
    assert rows.variant.tolist() == ["naive", "ips", "naive"]
    assert rows.round.tolist() == [0, 2, 1]
    assert rows.metric.tolist() == ["ndcg@10", "ctr", "ndcg@10"]
    assert rows.value[0] == 0.5 and math.isnan(rows.value[1]) and rows.value[2] == -np.inf


def test_read_metrics_accepts_any_column_order(tmp_path):
    path = write(tmp_path / "metrics.csv", "metric,value,seed,round,variant\nctr,0.25,3,1,tower\n")
    rows = read_metrics(path)
    assert (rows.seed[0], rows.variant[0], rows.round[0], rows.metric[0], rows.value[0]) == \
        (3, "tower", 1, "ctr", 0.25)


MALFORMED_METRICS = [
    ("", r"metrics.csv: line 1: empty file, expected the header 'seed,variant,round,metric,value'"),
    ("seed,variant,round,metric\n", r"metrics.csv: line 1: expected the header 'seed,variant,round,metric,value'"),
    ("seed,variant,round,metric,value,value\n", "line 1: expected the header"),
    (HEADER + "0,naive,0,ctr\n", "metrics.csv: line 2: expected 5 fields, got 4"),
    (HEADER + "0,naive,0,ctr,0.1\n0,naive,0,ctr,0.1,7\n", "metrics.csv: line 3: expected 5 fields, got 6"),
    (HEADER + "zero,naive,0,ctr,0.1\n", "metrics.csv: line 2: seed must be an integer, got 'zero'"),
    (HEADER + "0,naive,1.5,ctr,0.1\n", "metrics.csv: line 2: round must be an integer, got '1.5'"),
    (HEADER + "0,naive,-1,ctr,0.1\n", "metrics.csv: line 2: round must be >= 0, got -1"),
    (HEADER + "0,,0,ctr,0.1\n", "metrics.csv: line 2: variant must not be empty"),
    (HEADER + "0,naive,0, ,0.1\n", "metrics.csv: line 2: metric must not be empty"),
    (HEADER + "0,naive,0,ctr,high\n", r"metrics.csv: line 2: value must be a number \(or nan\), got 'high'"),
    (HEADER + "0,naive,0,ctr,\n", r"metrics.csv: line 2: value must be a number \(or nan\), got ''"),
    (HEADER + "0,naive,0,ctr,0.1\n1,naive,0,ctr,0.1\n0,naive,0,ctr,0.2\n",
     r"metrics.csv: line 4: duplicate row for seed 0, variant 'naive', round 0, metric 'ctr' \(first at line 2\)"),
    (HEADER + '0,"naive,0,ctr,0.1\n', "metrics.csv: line "),
]


@pytest.mark.parametrize("text, match", MALFORMED_METRICS)
def test_malformed_metrics_raise_one_line_naming_file_and_line(tmp_path, text, match):
    path = write(tmp_path / "metrics.csv", text)
    with pytest.raises(ResultsError, match=match) as info:
        read_metrics(path)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unreadable_files(tmp_path):
    with pytest.raises(ResultsError, match=r"metrics.csv: no such file"):
        read_metrics(tmp_path / "metrics.csv")
    (tmp_path / "metrics.csv").write_bytes(b"seed,variant,round,metric,value\n0,\xff,0,ctr,1\n")
    with pytest.raises(ResultsError, match="metrics.csv: not UTF-8 text"):
        read_metrics(tmp_path / "metrics.csv")


MALFORMED_PROPENSITY = [
    ("seed,variant,round,rank,true\n", "propensity.csv: line 1: expected the header 'seed,variant,round,rank,true,estimated'"),
    ("seed,variant,round,rank,true,estimated\n0,ips,1,0,1.0,1.0\n", "propensity.csv: line 2: rank must be >= 1, got 0"),
    ("seed,variant,round,rank,true,estimated\n0,ips,1,1,one,1.0\n", r"propensity.csv: line 2: true must be a number \(or nan\), got 'one'"),
    ("seed,variant,round,rank,true,estimated\n0,ips,1,1,1.0,?\n", "line 2: estimated must be a number"),
    ("seed,variant,round,rank,true,estimated\n0,ips,1,1,1.0,1.0\n0,ips,1,1,1.0,1.0\n",
     r"propensity.csv: line 3: duplicate row for seed 0, variant 'ips', round 1, rank 1 \(first at line 2\)"),
]


@pytest.mark.parametrize("text, match", MALFORMED_PROPENSITY)
def test_malformed_propensity(tmp_path, text, match):
    with pytest.raises(ResultsError, match=match):
        read_propensity(write(tmp_path / "propensity.csv", text))


def test_read_results(tmp_path):
    with pytest.raises(ResultsError, match="no such folder"):
        read_results(tmp_path / "missing")
    with pytest.raises(ResultsError, match="metrics.csv: no such file"):
        read_results(tmp_path)
    write(tmp_path / "metrics.csv", HEADER)
    with pytest.raises(ResultsError, match="metrics.csv: no data rows after the header"):
        read_results(tmp_path)
    write(tmp_path / "metrics.csv", HEADER + "0,naive,0,ctr,0.1\n")
    assert len(read_results(tmp_path).propensity) == 0
    write(tmp_path / "propensity.csv", "seed,variant,round,rank,true,estimated\n0,ips,0,1,1,1\n")
    results = read_results(tmp_path)
    assert len(results.metrics) == 1 and len(results.propensity) == 1


def test_orders_put_references_and_known_metrics_first():
    assert variant_order(["b", "logger", "a", "skyline", "b"]) == ("skyline", "logger", "b", "a")
    assert variant_order(["naive"]) == ("naive",)
    assert metric_order(["zzz", "ece", "ctr", "ndcg@10"]) == ("ndcg@10", "ctr", "ece", "zzz")
    assert metric_order(["rbo@5", "ndcg@20", "ndcg@5", "heldout_ndcg@5", "ndcg@x"]) == \
        ("ndcg@5", "ndcg@20", "heldout_ndcg@5", "rbo@5", "ndcg@x")


def test_curve_and_final():
    rows = MetricRows.from_records([
        (1, "naive", 0, "ctr", 0.1), (0, "naive", 0, "ctr", 0.2), (0, "naive", 2, "ctr", 0.3),
        (0, "naive", 2, "ndcg@10", 0.9), (2, "ips", 5, "ctr", 0.4),
    ])
    rounds, seeds, values = rows.curve("naive", "ctr")
    assert rounds.tolist() == [0, 2] and seeds.tolist() == [0, 1]
    np.testing.assert_array_equal(values, [[0.2, 0.3], [0.1, np.nan]])
    # The final round is the last reported by any seed; seed 1 has none there.
    last, final = rows.final("naive", "ctr")
    assert last == 2 and final.tolist() == [0.3]
    assert rows.final("ips", "ndcg@10")[0] is None
    assert rows.has("naive", "ndcg@10") and not rows.has("ips", "ndcg@10")


def test_for_seeds_keeps_those_seeds_rows_and_names_a_missing_seed():
    rows = MetricRows.from_records([(s, v, r, "ctr", 10 * s + r) for s in (0, 1, 2) for v in ("naive", "ips")
                                    for r in (0, 1)])
    subset = rows.for_seeds([2, 0])
    assert subset.seeds == (0, 2) and len(subset) == 8
    assert subset.final("ips", "ctr")[1].tolist() == [1.0, 21.0]
    with pytest.raises(ValueError, match=r"^no seed 5 \(its seeds: 0, 1, 2\)$"):
        rows.for_seeds([0, 5])


def test_propensity_final_takes_the_last_round_of_each_variant():
    rows = PropensityRows.from_records(
        [(s, "ips", r, k, 1 / k, (1 + 0.1 * s) / k) for s in range(2) for r in (1, 4) for k in (1, 2)]
        + [(0, "tower", 2, 1, 1.0, 1.0)])
    last, ranks, true, estimated = rows.final("ips")
    assert last == 4 and ranks.tolist() == [1, 2]
    np.testing.assert_allclose(estimated, [[1.0, 0.5], [1.1, 0.55]])
    np.testing.assert_allclose(true, [[1.0, 0.5], [1.0, 0.5]])
    assert rows.final("tower")[0] == 2 and rows.final("naive")[0] is None


def test_value_objects_check_their_arrays():
    with pytest.raises(ValueError, match=r"MetricRows.value must be a 1-dimensional array with one "
                                         r"entry per row \(n_rows=1\)"):
        MetricRows(seed=np.array([0]), variant=np.array(["a"]), round=np.array([0]),
                   metric=np.array(["ctr"]), value=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="PropensityRows.rank must be"):
        PropensityRows(seed=np.array([0]), variant=np.array(["a"]), round=np.array([0]),
                       rank=[1], true=np.array([1.0]), estimated=np.array([1.0]))


# ------------------------------------------------------------ summary
def test_t_interval_by_hand():
    # (0.5, 0.6, 0.7): mean 0.6, s = 0.1, half = t_{.975,2} * 0.1 / sqrt(3).
    half = T975[3] * 0.1 / math.sqrt(3)
    mean, low, high, n = t_interval([0.7, np.nan, 0.5, 0.6])
    assert (n, mean) == (3, pytest.approx(0.6))
    assert (low, high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    # Two values 1 and 3: s = sqrt(2), half = t_{.975,1} * sqrt(2) / sqrt(2).
    assert t_interval([1.0, 3.0])[1:3] == (pytest.approx(2 - T975[2]), pytest.approx(2 + T975[2]))
    # Equal values: zero width.
    assert t_interval([0.3] * 4)[1:3] == (pytest.approx(0.3), pytest.approx(0.3))
    assert t_interval([np.nan])[3] == 0 and math.isnan(t_interval([])[0])
    with pytest.raises(ValueError, match="confidence must be in \\(0, 1\\), got 1.5"):
        t_interval([1.0, 2.0], confidence=1.5)


def test_t_quantile_is_the_one_of_scipy_stats():
    from scipy.stats import t

    for n in (2, 3, 5, 30):
        values = [0.0] * (n - 1) + [1.0]
        mean, low, high, _ = t_interval(values, confidence=0.9)
        s = math.sqrt((n - 1) / n**2 + (1 - 1 / n) ** 2) / math.sqrt(n - 1)
        assert high - mean == pytest.approx(t.ppf(0.95, n - 1) * s / math.sqrt(n), rel=1e-12)


def test_summary_table_cells():
    records = [(s, "naive", 4, "ndcg@10", v) for s, v in enumerate([0.40, 0.44, 0.46, 0.50])]
    records += [(s, "naive", 4, "ece", [0.1, np.nan, np.nan, 0.3][s]) for s in range(4)]
    records += [(s, "naive", 0, "ndcg@10", 0.0) for s in range(4)]  # not the final round
    records += [(0, "skyline", 0, "ndcg@10", 0.8), (0, "skyline", 0, "ece", np.nan)]
    records += [(s, "ips", 4, "ndcg@10", 0.6) for s in range(2)]
    records += [(0, "logger", 0, "ece", 0.05)]
    table = summary_table(MetricRows.from_records(records))
    lines = table.splitlines()
    assert lines[0] == "| variant | seeds | final round | ndcg@10 | ece |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| skyline", "| logger", "| naive", "| ips"]
    # naive ndcg@10: mean 0.45, s = sqrt(((.05)^2 + (.01)^2 + (.01)^2 + (.05)^2) / 3) = sqrt(0.0052 / 3),
    # half = t_{.975,3} * s / 2.
    half = T975[4] * math.sqrt(0.0052 / 3) / 2
    assert f"| naive | 4 | 4 | 0.4500 [{0.45 - half:.4f}, {0.45 + half:.4f}] |" in table
    # naive ece: two finite of four seeds -> (n=2); mean 0.2, half = t_{.975,1} * sqrt(0.02) / sqrt(2).
    assert f"0.2000 [{0.2 - T975[2] * 0.1:.4f}, {0.2 + T975[2] * 0.1:.4f}] (n=2) |" in table
    assert "| skyline | 1 | 0 | 0.8000 (n=1) | nan |" in table
    assert "| logger | 1 | 0 | – | 0.0500 (n=1) |" in table
    assert "| ips | 2 | 4 | 0.6000 [0.6000, 0.6000] | – |" in table
    assert summary_table(MetricRows.from_records(records), metrics="ece").splitlines()[0] == \
        "| variant | seeds | final round | ece |"


def test_summary_table_rejects_bad_input():
    rows = MetricRows.from_records([(0, "naive", 0, "ctr", 0.1)])
    with pytest.raises(ValueError, match=r"metrics must name metrics of the rows, got \['nope'\]; present: ctr"):
        summary_table(rows, metrics=["nope"])
    with pytest.raises(ValueError, match="rows must be MetricRows or Results"):
        summary_table([(0, "naive", 0, "ctr", 0.1)])


def test_write_summary_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    rows = MetricRows.from_records([(0, "naive", 0, "ctr", 0.1)])
    path = write_summary(rows, tmp_path / "summary.md")
    assert path.read_text().startswith("# Summary of the final round\n")
    assert "| naive | 1 | 0 | 0.1000 (n=1) |" in path.read_text()
    # A failure while moving the file into place keeps the old file and no temporary.
    def fail(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_summary(MetricRows.from_records([(0, "ips", 0, "ctr", 0.2)]), path)
    assert "naive" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]


def test_written_files_follow_the_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_summary(MetricRows.from_records([(0, "naive", 0, "ctr", 0.1)]),
                             tmp_path / "summary.md")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
