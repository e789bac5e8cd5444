"""The main command end to end: the smoke preset, determinism, resume after a kill, bad input.

Every run here uses the ``smoke`` preset (2 seeds x 6 variants x 3 deployed
rankers on 48 served queries) with fewer rounds where the test allows, so
the whole module costs a few runs of a few seconds each.
"""

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

import clickloop
from clickloop import cli

ROOT = Path(__file__).resolve().parents[2]

VARIANTS = ["skyline", "logger", "naive", "ips", "tower", "lgbm_position"]


def run(*args, cwd, env=None, timeout=300):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "clickloop", *args], cwd=cwd,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def read_metrics(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seed", "variant", "round", "metric", "value"]
    return rows[1:]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run through the command line, with 2 worker processes."""
    out = tmp_path_factory.mktemp("smoke") / "out"
    result = run("--preset", "smoke", "--out", str(out), "--jobs", "2", "--quiet", cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out, result


def test_smoke_writes_every_output(smoke_run):
    out, result = smoke_run
    rows = read_metrics(out / "metrics.csv")
    seen = {(int(s), v, int(r)) for s, v, r, _, _ in rows}
    # 2 seeds x 6 variants x rounds 0..2
    assert seen == {(s, v, r) for s in range(2) for v in VARIANTS for r in range(3)}
    by_key = {(int(s), v, int(r), m): float(x) for s, v, r, m, x in rows}
    for s in range(2):
        # Round 0 serves the same logger with the same sessions in every retrained variant.
        first = {by_key[(s, v, 0, "ndcg@10")] for v in ("logger", "naive", "ips", "tower", "lgbm_position")}
        assert len(first) == 1, f"round 0 differs between variants of seed {s}: {first}"
        assert 0.0 < by_key[(s, "skyline", 0, "ndcg@10")] <= 1.0
        assert 0.0 < by_key[(s, "naive", 2, "ctr")] < 1.0
    metrics = {m for _, _, _, m, _ in rows}
    assert {"ndcg@10", "heldout_ndcg@10", "ctr", "exposure_gini", "coverage", "kendall_tau"} <= metrics
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["loop"]["rounds"] == 2 and config["seeds"] == 2
    with open(out / "propensity.csv", newline="") as f:
        prop = list(csv.reader(f))
    assert prop[0] == ["seed", "variant", "round", "rank", "true", "estimated"]
    assert {row[1] for row in prop[1:]} == {"tower"}
    assert "| variant |" in (out / "summary.md").read_text()
    assert (out / "plots" / "degeneracy.png").stat().st_size > 10_000
    assert result.stdout == "" and result.stderr == ""  # --quiet and not a terminal: nothing extra


@pytest.mark.parametrize("threads", ["1", "2"])
def test_same_metrics_with_one_job_on_one_or_two_threads(smoke_run, tmp_path, threads):
    """Two workers own one core each; a task alone owns every core, and its LightGBM fits and
    predictions and Numba kernels run on them (ltr.task_threads): the results must not move."""
    out, _ = smoke_run
    other = tmp_path / "serial"
    result = run("--preset", "smoke", "--out", str(other), "--jobs", "1", "--quiet", cwd=tmp_path,
                 env={"NUMBA_NUM_THREADS": threads})
    assert result.returncode == 0, result.stderr
    assert (other / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()
    assert (other / "propensity.csv").read_bytes() == (out / "propensity.csv").read_bytes()


def test_resume_after_kill_equals_uninterrupted(smoke_run, tmp_path):
    out, _ = smoke_run
    target = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_simulation.py"), "--preset", "smoke", "--out",
                             str(target), "--quiet"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Kill -9 once the first task has checkpointed a round and before the run is over.
    deadline = time.monotonic() + 240
    checkpoint = target / ".state" / "seed_0" / "naive" / "round_1.npz"
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (target / "metrics.csv").exists()
    result = run("--preset", "smoke", "--out", str(target), "--resume", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (target / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()


def test_resume_rejects_another_configuration(smoke_run, tmp_path):
    out, _ = smoke_run
    result = run("--preset", "smoke", "--set", "loop.rounds=1", "--out", str(out), "--resume", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.toml differs" in result.stderr and result.stderr.count("\n") == 1


def test_a_config_toml_written_before_a_key_existed_is_another_configuration(tmp_path):
    # Loaded, the file would get the key's present default, which the run it describes may not have used.
    from clickloop._run import _same_config, load_config_text

    resolved = clickloop.config_to_toml(clickloop.preset("smoke"))
    written = tmp_path / "config.toml"
    written.write_text(resolved)
    assert _same_config(written, resolved)
    written.write_text(resolved.replace("engagement_min_examinations = 20.0\n", ""))
    assert load_config_text(written.read_text()) == clickloop.preset("smoke")
    assert not _same_config(written, resolved)


def test_list_presets():
    result = run("--list-presets", cwd=ROOT)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["default", "smoke", "letor-sample"]


BAD = [
    (["--set", "loop.roundz=3"], "unknown key 'loop.roundz'; allowed keys of [loop]: rounds"),
    (["--set", "nosuch.key=1"], "unknown key 'nosuch'"),
    (["--set", "loop.rounds=0"], "loop.rounds must be >= 1, got 0"),
    (["--set", "loop.rounds=ten"], "loop.rounds must be an integer, got str 'ten'"),
    (["--set", "loop.rounds=2.5"], "loop.rounds must be an integer, got float 2.5"),
    (["--set", "click_model.eta=-1"], "click_model.eta must be >= 0.0 and <= 10.0, got -1.0"),
    (["--set", "click_model.noise=1.5"], "click_model.noise must be <= 1.0 and >= 0.0, got 1.5"),
    (["--set", "click_model.name=bogus"], "click_model.name must be one of pbm"),
    (["--set", "policy.epsilon=2"], "policy.epsilon must be <= 1.0 and >= 0.0, got 2.0"),
    (["--set", "policy.kind=greedy"], "policy.kind must be one of deterministic, plackett_luce, epsilon_greedy"),
    (["--set", "policy.temperature=0"], "policy.temperature must be > 0.0, got 0.0"),
    (["--set", "policy.k=50"], "policy.k = 50 is larger than the smallest candidate list"),
    (["--set", "loop.variants=['naive', 'oracle']"],
     "loop.variants names 'oracle', which is neither a built-in variant (skyline, logger, naive, ips, dr, tower, "
     "lgbm_position) nor a [variants.oracle] table"),
    (["--set", "loop.variants=['naive', 'a b']"], "loop.variants must list variant names"),
    (["--set", "variants.ips_x.learner='ipz'"], "variants.ips_x.learner must be one of naive, ips, dr, pl_rank, lambdamart, tower"),
    (["--set", "variants.ips_x.clip=0.1"], "variants.ips_x.learner is required"),
    (["--set", "variants.ips_x={learner = 'ips', clp = 0.1}"],
     "unknown key 'variants.ips_x.clp'; allowed keys of [variants.ips_x] (learner ips): learner, propensity"),
    (["--set", "variants.ips_x={learner = 'ips', clip = 2.0}"], "variants.ips_x.clip must be <= 1.0"),
    (["--set", "variants.ips={learner = 'ips', clip = 0.1}"],
     "[variants.ips]: 'ips' is a built-in variant (its settings are in [ips])"),
    (["--set", "variants=3"], "[variants] must be a table of [variants.NAME] tables"),
    (["--set", "loop.variants=[]"], "loop.variants must name at least one"),
    (["--set", "loop.engagement=clicks"], "loop.engagement must be one of none, ctr, ctr_count"),
    (["--set", "output.save_logs=1"], "output.save_logs must be true or false"),
    (["--set", "logger.query_fraction=0"], "logger.query_fraction must be > 0.0"),
    (["--set", "data.docs_per_query=[30, 20]"], "data.docs_per_query must be [low, high] with low <= high"),
    (["--set", "loop"], "--set expects key.path=value, got 'loop'"),
    (["--set", "loop=3"], "[loop] must be a table"),
    (["--set", "click_model.name='cascade'", "--set", "click_model.eta=2"],
     "click_model.eta applies to pbm, pbm_eye_tracking, trust_vardasbi, ubm only"),
    (["--set", "data.source='letor'", "--set", "data.path='nowhere.txt'"], "data.path: no such file 'nowhere.txt'"),
    (["--preset", "nosuch"], "unknown preset 'nosuch'; choose one of default, smoke, letor-sample"),
    (["--config", "missing.toml"], "cannot read config file 'missing.toml'"),
    (["--seeds", "0"], "expected a positive integer, got 0"),
]


def call_main(args, capsys):
    """clickloop.cli.main in this process (the table is too long for a subprocess per row)."""
    try:
        code = cli.main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_configuration_exits_2_with_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = list(args)
    if "--preset" not in args and "--config" not in args:
        args = ["--preset", "smoke"] + args
    code, err = call_main(args + ["--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_bad_input_from_the_real_command_line(tmp_path):
    result = run("--preset", "smoke", "--set", "click_model.eta=-1", "--out", str(tmp_path / "out"),
                 cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "clickloop: error: click_model.eta must be >= 0.0 and <= 10.0, got -1.0\n"
    assert not (tmp_path / "out").exists()


def test_bad_toml_file_and_malformed_data_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[loop\nrounds = 3\n")
    code, err = call_main(["--config", str(bad), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "not valid TOML" in err and err.count("\n") == 1
    data = tmp_path / "broken.txt"
    data.write_text("1 qid:1 1:0.5\n2 qid:1 1:zz\n")
    config = tmp_path / "letor.toml"
    config.write_text(f'preset = "smoke"\n[data]\nsource = "letor"\npath = "{data}"\n')
    code, err = call_main(["--config", str(config), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "broken.txt:2" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_failed_task_is_reported_the_others_finish_and_nothing_is_merged(tmp_path, capsys, monkeypatch):
    # Bad data is refused up front now, so a run-time failure is injected: naive's learner raises when it
    # fits, while the static logger finishes.
    real = clickloop._tasks.build_variant

    def failing(config, name, seed):
        variant = real(config, name, seed)
        if name != "naive":
            return variant

        class Broken:
            def fit(self, *args, **kwargs):
                raise RuntimeError("injected fit failure")

        return dataclasses.replace(variant, make_learner=Broken)

    monkeypatch.setattr(clickloop._tasks, "build_variant", failing)
    out = tmp_path / "out"
    args = ["--preset", "smoke", "--seeds", "1", "--set", 'loop.variants=["logger", "naive"]', "--set",
            "loop.rounds=1", "--out", str(out), "--quiet"]
    code, err = call_main(args, capsys)
    assert code == 1, err
    ours = [line for line in err.splitlines() if line.startswith("clickloop:")]
    assert len(ours) == 2, err
    assert ours[0] == "clickloop: task failed: seed 0, variant naive: RuntimeError: injected fit failure"
    assert ours[1] == ("clickloop: error: 1 of 2 tasks failed (see above); the finished ones are checkpointed: "
                       "run the same command with --resume to retry")
    assert (out / ".state" / "seed_0" / "logger" / "rows.csv").is_file()
    assert not (out / ".state" / "seed_0" / "naive" / "rows.csv").exists()
    assert not (out / "metrics.csv").exists() and not (out / "summary.md").exists()
    # --resume runs only the unfinished task (it fails again: the configuration is at fault).
    finished = (out / ".state" / "seed_0" / "logger" / "rows.csv").stat().st_mtime_ns
    code, err = call_main(args + ["--resume"], capsys)
    assert code == 1 and "variant naive" in err and "variant logger" not in err, err
    assert (out / ".state" / "seed_0" / "logger" / "rows.csv").stat().st_mtime_ns == finished


def test_resolved_config_round_trips():
    from clickloop import config_to_toml, preset

    for name in ("default", "smoke", "letor-sample"):
        config = preset(name)
        assert clickloop._run.load_config_text(config_to_toml(config)) == config


def test_saved_logs_load_and_match_the_statistics(tmp_path):
    from clickloop import preset
    from simulator import aggregate_click_log

    config = preset("smoke", overrides=["seeds=1", "loop.rounds=1", "loop.variants=['naive']",
                                        "output.save_logs=true"])
    rows = clickloop.run_experiment(config, tmp_path / "out", quiet=True)
    logs = sorted((tmp_path / "out" / "logs" / "seed_0" / "naive").glob("round_*.parquet"))
    assert [p.name for p in logs] == ["round_0.parquet", "round_1.parquet"]
    train, _ = clickloop.build_datasets(config)
    stats = aggregate_click_log(logs[1], train.n_docs)
    ctr = {(r, m): v for _, _, r, m, v in rows}[(1, "ctr")]
    assert stats.n_sessions == config.loop.sessions_per_round
    assert stats.clicks.sum() / stats.impressions.sum() == ctr


LETOR = ROOT.parent / "shared" / "data" / "lightgbm-lambdarank" / "rank.train"


@pytest.mark.skipif(not LETOR.exists(), reason="../shared/data is not beside this checkout")
def test_letor_sample_preset_runs_on_the_real_features(tmp_path):
    from clickloop import preset

    config = preset("letor-sample", overrides=["seeds=1", "loop.rounds=1", "loop.sessions_per_round=2000",
                                               "loop.variants=['logger', 'naive']", "learner.n_estimators=10"])
    rows = clickloop.run_experiment(config, tmp_path / "out", quiet=True)
    ndcg = {(v, r): x for _, v, r, m, x in rows if m == "ndcg@10"}
    assert set(ndcg) == {("logger", 0), ("logger", 1), ("naive", 0), ("naive", 1)}
    assert all(0.0 < x <= 1.0 for x in ndcg.values())
    assert ndcg[("logger", 0)] == ndcg[("naive", 0)]  # round 0 serves the logger in both


def test_a_relative_out_records_its_outputs_inside_the_folder(tmp_path, monkeypatch):
    """The manifest lists every output relative to the folder, whatever the working directory: with --out ../x
    it recorded '../x/plots/...' (cwd-relative), refused the next run, and a re-run with other variants left
    the first run's plots beside the new results."""
    from analysis import read_manifest

    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    base = ["--preset", "smoke", "--seeds", "1", "--set", "loop.rounds=1", "--out", "../x", "--quiet"]
    assert cli.main(base + ["--set", "loop.variants=['logger','tower']"]) == 0
    outputs = read_manifest(tmp_path / "x").outputs
    assert "plots/propensity.png" in outputs and all(not name.startswith(("..", "x/")) for name in outputs)
    assert cli.main(base + ["--set", "loop.variants=['logger','naive']"]) == 0  # refused before: "outside the folder"
    assert not (tmp_path / "x" / "plots" / "propensity.png").exists()  # the tower's plot went with its run


def test_a_learners_warning_is_one_line_on_stderr(tmp_path):
    """A RuntimeWarning raised in a worker process (IPS estimating theta from deterministic lists, which
    identify no rank) reaches stderr as one line per warning naming its category, without the source line
    Python prints under it by default."""
    result = run("--preset", "smoke", "--out", str(tmp_path / "out"), "--jobs", "2", "--quiet",
                 "--set", 'variants.ipse.learner="ips"', "--set", 'variants.ipse.propensity="estimated"',
                 "--set", 'loop.variants=["ipse"]', "--set", 'policy.kind="deterministic"', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    ours = [line for line in lines if line.startswith("clickloop: warning: RuntimeWarning: IPS(propensity='estimated'")]
    assert len(ours) == 2, lines  # one per seed (one task each); no source line under it
    assert not any(line.startswith(" ") for line in lines), lines


def test_main_called_in_process_puts_the_callers_warning_format_back(capsys):
    """The one-line format is the command's: a caller of clickloop.cli.main (a test, a notebook) keeps its own."""
    import warnings

    from clickloop.cli import main

    before = warnings.formatwarning
    assert main(["--list-presets"]) == 0
    assert warnings.formatwarning is before
