"""Tests of analysis._plots and ``python -m analysis`` on a tiny synthetic output folder."""

import csv
import math
import pathlib
import struct
import subprocess
import sys

import pytest

from analysis import (
    MetricRows,
    PropensityRows,
    VARIANT_LABELS,
    plot_degeneracy,
    plot_final_round,
    plot_propensity,
    read_results,
    replot,
)
from analysis.__main__ import main
from analysis._plots import _metric_labels, _styles

REPO = pathlib.Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)
VARIANTS = ("naive", "ips", "skyline", "logger", "my_variant")
ROUNDS = range(4)
METRICS = ("ndcg@10", "ctr", "exposure_gini", "kendall_tau")
# naive ndcg@10 at the final round (3) per seed: by hand, mean 0.6, s = 0.1,
# half width t_{0.975, 2} * 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248414.
NAIVE_FINAL = (0.5, 0.6, 0.7)
NAIVE_CELL = "0.6000 [0.3516, 0.8484]"
# 4 panels: 3 columns x 2 rows of 4.8 x 3.2 in plus 0.8 in of legend, at 150 dpi.
DEGENERACY_PIXELS = (3 * 720, 2 * 480 + 120)
SINGLE_PIXELS = (1050, 675)  # 7 x 4.5 in


def metric_value(seed, variant, round_, metric):
    if (variant, round_, metric) == ("naive", 3, "ndcg@10"):
        return NAIVE_FINAL[seed]
    base = {"naive": 0.3, "ips": 0.5, "skyline": 0.7, "logger": 0.2, "my_variant": 0.4}[variant]
    return base + 0.02 * round_ + 0.01 * seed


def write_output_folder(outdir, metrics_rows=None):
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "variant", "round", "metric", "value"])
        for seed in SEEDS:
            for variant in VARIANTS:
                for round_ in ROUNDS:
                    for metric in METRICS:
                        if metric == "kendall_tau" and round_ == 0:
                            continue
                        writer.writerow([seed, variant, round_, metric,
                                         metric_value(seed, variant, round_, metric)])
    with open(outdir / "propensity.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "variant", "round", "rank", "true", "estimated"])
        for seed in SEEDS:
            for rank in range(1, 6):
                estimated = 1.0 if rank == 1 else (1 + 0.05 * (seed - 1)) / rank
                writer.writerow([seed, "ips", 3, rank, 1 / rank, estimated])
    (outdir / "config.toml").write_text('preset = "tiny"\n')
    return outdir


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def leftovers(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def start_module(*args):
    """``python -m analysis ARGS`` in the background (it runs beside the in-process replot)."""
    return subprocess.Popen([sys.executable, "-m", "analysis", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def command_line_runs(tmp_path_factory):
    """Two runs of the command line, started at once: a good folder and a malformed one."""
    base = tmp_path_factory.mktemp("cli")
    good = write_output_folder(base / "good")
    bad = write_output_folder(base / "bad")
    lines = (bad / "metrics.csv").read_text().splitlines()
    lines[2] = "0,naive,one,ctr,0.3"
    (bad / "metrics.csv").write_text("\n".join(lines) + "\n")
    processes = {"good": (good, start_module(good)), "bad": (bad, start_module(bad))}
    yield processes
    for _, process in processes.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def finished(command_line_runs, name):
    outdir, process = command_line_runs[name]
    stdout, stderr = process.communicate(timeout=120)
    return outdir, process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def replotted(tmp_path_factory, command_line_runs):
    outdir = write_output_folder(tmp_path_factory.mktemp("run") / "out")
    return outdir, replot(outdir)


def test_replot_writes_every_file(replotted):
    outdir, written = replotted
    assert sorted(p.relative_to(outdir).as_posix() for p in written) == [
        "plots/degeneracy.png", "plots/degeneracy.svg", "plots/final_round.png",
        "plots/final_round.svg", "plots/headline.png", "plots/headline.svg", "plots/propensity.png",
        "plots/propensity.svg", "summary.md",
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert not leftovers(outdir)


@pytest.mark.parametrize("name, pixels", [("degeneracy", DEGENERACY_PIXELS),
                                          ("propensity", SINGLE_PIXELS),
                                          ("final_round", SINGLE_PIXELS)])
def test_png_size_and_svg(replotted, name, pixels):
    outdir, _ = replotted
    assert png_size(outdir / "plots" / f"{name}.png") == pixels
    svg = (outdir / "plots" / f"{name}.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg


def test_plots_name_variants_in_words_with_fixed_colours(replotted):
    outdir, _ = replotted
    svg = (outdir / "plots" / "degeneracy.svg").read_text()
    for variant in ("naive", "ips", "skyline", "logger"):
        assert VARIANT_LABELS[variant] in svg, variant
    assert "my_variant" in svg  # unknown names shown as they are
    assert "round (retraining iteration)" in svg and "clicks per impression" in svg
    # A variant keeps its colour whatever the other variants are.
    assert _styles(["skyline", "naive"])["naive"][0] == _styles(["naive", "ips", "x"])["naive"][0]
    assert len({colour for colour, _ in _styles(VARIANTS).values()}) == len(VARIANTS)


def test_metric_labels_have_units_and_follow_the_cut_off():
    assert _metric_labels("ctr") == ("Click-through rate", "clicks per impression")
    assert _metric_labels("ndcg@5") == ("NDCG@5 on served queries (in-sample)", "NDCG@5 on true labels")
    assert _metric_labels("rbo@5")[1] == "rank-biased overlap (1 = same top 5)"
    assert _metric_labels("mrr@3") == ("mrr@3", "MRR@3")
    assert _metric_labels("custom") == ("custom", "custom")


def test_summary_holds_the_interval_computed_by_hand(replotted):
    outdir, _ = replotted
    text = (outdir / "summary.md").read_text()
    assert f"| naive | 3 | 3 | {NAIVE_CELL} |" in text
    assert text.index("| skyline |") < text.index("| logger |") < text.index("| naive |") \
        < text.index("| ips |") < text.index("| my_variant |")


def test_degeneracy_panel_size_follows_the_number_of_panels(tmp_path):
    rows = MetricRows.from_records([(s, "naive", r, "ctr", 0.1 * r + s) for s in (0, 1) for r in (0, 1)])
    png, svg = plot_degeneracy(rows, tmp_path / "one")
    assert png_size(png) == (720, 480 + 120)
    assert svg.exists() and not leftovers(tmp_path)


def test_one_seed_draws_without_a_band(tmp_path):
    rows = PropensityRows.from_records([(0, "tower", 1, k, 1 / k, 1.1 / k) for k in (1, 2, 3)])
    png, _ = plot_propensity(rows, tmp_path / "propensity.png")  # a suffix is replaced
    assert png.name == "propensity.png" and png_size(png) == SINGLE_PIXELS
    rows = MetricRows.from_records([(0, "naive", 2, "ctr", 0.3), (0, "logger", 0, "ctr", 0.2)])
    png, _ = plot_final_round(rows, tmp_path / "final", metric="ctr")
    assert png_size(png) == SINGLE_PIXELS


BAD_CALLS = [
    (lambda d: plot_degeneracy([("a", 1)], d / "x"), "results must be Results"),
    (lambda d: plot_degeneracy(MetricRows.from_records([]), d / "x"), "results has no rows"),
    (lambda d: plot_degeneracy(MetricRows.from_records([(0, "a", 0, "ctr", 1.0)]), d / "x",
                               metrics=["ece"]), r"metrics must name metrics of the results, got \['ece'\]"),
    (lambda d: plot_final_round(MetricRows.from_records([(0, "a", 0, "ctr", 1.0)]), d / "x"),
     r"metric must be one of the metrics of the results \(ctr\), got 'ndcg@10'"),
    (lambda d: plot_propensity(PropensityRows.from_records([]), d / "x"), "propensity_rows has no rows"),
    (lambda d: plot_propensity(MetricRows.from_records([]), d / "x"), "propensity_rows must be PropensityRows"),
]


@pytest.mark.parametrize("call, match", BAD_CALLS)
def test_plots_reject_bad_input(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path)
    assert not any(tmp_path.iterdir())


def test_replot_skips_propensity_without_rows(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    rows = [["seed", "variant", "round", "metric", "value"], [0, "naive", 0, "ctr", 0.1],
            [0, "naive", 1, "ctr", 0.2]]
    with open(outdir / "metrics.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (outdir / "propensity.csv").write_text("seed,variant,round,rank,true,estimated\n")
    written = replot(outdir)
    names = sorted(p.name for p in written)
    assert names == ["degeneracy.png", "degeneracy.svg", "final_round.png", "final_round.svg",
                     "headline.png", "headline.svg", "summary.md"]  # final round of ctr, the only metric
    assert "| naive | 1 | 1 | 0.2000 (n=1) |" in (outdir / "summary.md").read_text()


# ------------------------------------------------------------ command line
def test_module_replots_a_folder(replotted, command_line_runs):
    source, _ = replotted
    outdir, returncode, stdout, stderr = finished(command_line_runs, "good")
    assert returncode == 0, stderr
    printed = [pathlib.Path(line) for line in stdout.splitlines()]
    assert len(printed) == 9 and all(p.exists() for p in printed)
    assert png_size(outdir / "plots" / "degeneracy.png") == DEGENERACY_PIXELS
    # Re-plotting gives the same table as in-process.
    assert (outdir / "summary.md").read_text() == (source / "summary.md").read_text()
    assert not leftovers(outdir)


def test_module_reports_a_malformed_metrics_file_in_one_line(command_line_runs):
    outdir, returncode, stdout, stderr = finished(command_line_runs, "bad")
    assert returncode == 2
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("python -m analysis: error: ")
    assert "metrics.csv: line 3: round must be an integer, got 'one'" in stderr
    assert stdout == ""
    assert not (outdir / "plots").exists() and not (outdir / "summary.md").exists()
    assert not leftovers(outdir)


@pytest.mark.parametrize("setup, match", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "metrics.csv: no such file"),
    (lambda d: (d.mkdir(), (d / "metrics.csv").write_text("seed,variant,round,metric,value\n")),
     "no data rows after the header"),
    (lambda d: (d.mkdir(), (d / "metrics.csv").write_text("a,b\n1,2\n")), "line 1: expected the header"),
    (lambda d: (d.mkdir(), (d / "metrics.csv").write_text("seed,variant,round,metric,value\n0,a,0,ctr,1\n"),
                (d / "propensity.csv").write_text("seed,variant,round,rank,true,estimated\n0,a,0,x,1,1\n")),
     "propensity.csv: line 2: rank must be an integer, got 'x'"),
])
def test_main_exits_2_with_one_line_on_bad_input(tmp_path, capsys, setup, match):
    outdir = tmp_path / "out"
    setup(outdir)
    assert main([str(outdir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and match in captured.err, captured.err


def test_main_without_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "OUTDIR" in capsys.readouterr().err


def test_read_results_of_the_synthetic_folder(replotted):
    outdir, _ = replotted
    results = read_results(outdir)
    assert results.metrics.variants == ("skyline", "logger", "naive", "ips", "my_variant")
    assert results.metrics.metrics == METRICS
    assert results.metrics.final("naive", "ndcg@10")[1].tolist() == list(NAIVE_FINAL)
    assert math.isclose(results.propensity.final("ips")[3][0, 1], 0.95 / 2)
