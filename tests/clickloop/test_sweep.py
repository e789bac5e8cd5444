"""Sweeps: the sweep file's validation, backends that agree byte for byte, failures, re-runs.

Every sweep here is the ``smoke`` preset cut to one retraining (``loop.rounds =
1``) and three learning variants (the tower for propensity.csv) on few
queries, so a task costs a fraction of a second once numba's cache is warm;
the Dask test pays for starting a LocalCluster of 2 worker processes on
127.0.0.1 once.
"""

import csv
import socket
import sys
from pathlib import Path

import pytest
import tomli_w

import clickloop
from clickloop import ConfigError, DaskBackend, ProcessBackend, expand, read_sweep, sweep_from_dict
from clickloop.cli import main

ROOT = Path(__file__).resolve().parents[2]

BASE = {"loop.rounds": 1, "loop.variants": ["naive", "ips", "tower"], "loop.sessions_per_round": 500,
        "data.n_queries": 24, "learner.n_estimators": 5}
TINY = {"preset": "smoke", "seeds": 2, "set": BASE, "grid": {"click_model.eta": [0.5, 2.0]}}


def write_sweep(folder, text):
    path = Path(folder) / "sweep.toml"
    path.write_text(text)
    return path


def tiny_spec(**changes):
    data = {**TINY, **changes}
    return sweep_from_dict(data)


# --------------------------------------------------------------------------
# The sweep file
# --------------------------------------------------------------------------

INVALID = [
    ({"preset": "smoke", "grid": {"click_model.etaa": [1.0]}},
     r"grid\.click_model\.etaa = 1\.0: unknown key 'click_model\.etaa'; allowed keys of \[click_model\]"),
    ({"preset": "smoke", "grid": {"click_model.eta": [0.5, -1.0]}},
     r"grid\.click_model\.eta = -1\.0: click_model\.eta must be >= 0\.0"),
    ({"preset": "smoke", "grid": {"policy.kind": ["deterministic", "greedy"]}},
     r"grid\.policy\.kind = 'greedy': policy\.kind must be one of deterministic, plackett_luce"),
    ({"preset": "smoke", "config": "base.toml", "grid": {"click_model.eta": [1.0]}},
     r'give one base, preset = "NAME" or config = "PATH", not both'),
    ({"grid": {"click_model.eta": [1.0]}}, r'no base; give preset = "NAME" or config = "PATH"'),
    ({"preset": "smoke", "grid": {"click_model.eta": []}}, r"grid\.click_model\.eta must be a non-empty list"),
    ({"preset": "smoke", "grid": {"click_model.eta": 0.5}}, r"grid\.click_model\.eta must be a non-empty list"),
    ({"preset": "smoke", "grid": {}}, r"\[grid\] must map at least one config key path"),
    ({"preset": "smoke"}, r"\[grid\] must map at least one config key path"),
    ({"preset": "smoke", "grid": {"click_model.eta": [1.0, 1]}}, r"grid\.click_model\.eta repeats the value 1\.0"),
    ({"preset": "smoke", "grid": {"click_model": [{"eta": 1.0}]}},
     r"grid\.click_model = \{'eta': 1\.0\}: a grid key must name a value, not the section \[click_model\]"),
    ({"preset": "smoke", "grid": {"seeds": [1, 2]}}, r"grid\.seeds: the seeds are the task axis"),
    ({"preset": "smok", "grid": {"click_model.eta": [1.0]}}, r"preset: unknown preset 'smok'"),
    ({"preset": "smoke", "seeds": 0, "grid": {"click_model.eta": [1.0]}}, r"seeds must be an integer >= 1, got 0"),
    ({"preset": "smoke", "gird": {"click_model.eta": [1.0]}}, r"unknown key 'gird'; allowed keys of a sweep file"),
    ({"preset": "smoke", "set": {"loop.rounds": 0}, "grid": {"click_model.eta": [1.0]}},
     r"set\.loop\.rounds = 0: loop\.rounds must be >= 1"),
    ({"preset": "smoke", "set": {"click_model.eta": 1.0}, "grid": {"click_model.eta": [1.0]}},
     r"grid\.click_model\.eta is also in \[set\]"),
]


@pytest.mark.parametrize("data, message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_sweep_raises_config_error_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        expand(sweep_from_dict(data))


def test_combination_error_names_the_grid_point_when_the_sweep_is_read():
    with pytest.raises(ConfigError, match=r"grid point click_model\.eta = 0\.5, click_model\.name = 'dbn': "
                                          r"click_model\.eta applies to"):
        sweep_from_dict({"preset": "smoke", "grid": {"click_model.eta": [0.5], "click_model.name": ["pbm", "dbn"]}})


def test_set_and_grid_are_validated_as_one_configuration_whatever_the_key_order():
    """data.path swept with data.source = letor in [set]: neither is valid alone on the synthetic base."""
    sample = str(ROOT.parent / "shared" / "data" / "lightgbm-lambdarank" / "rank.train")
    for fixed in ({"data.source": "letor", "data.path": sample}, {"data.path": sample, "data.source": "letor"}):
        spec = sweep_from_dict({"preset": "smoke", "set": fixed, "grid": {"data.test_fraction": [0.2, 0.3]}})
        assert [p.config.data.source for p in expand(spec)] == ["letor", "letor"]
    spec = sweep_from_dict({"preset": "smoke", "set": {"data.source": "letor"}, "grid": {"data.path": [sample]}})
    assert expand(spec)[0].config.data.path == sample


def test_a_grid_too_large_to_validate_is_refused_up_front():
    grid = {"click_model.eta": [0.1 * i for i in range(101)], "data.seed": list(range(100))}
    with pytest.raises(ConfigError, match=r"the grid has 10,100 points; at most 10,000"):
        sweep_from_dict({"preset": "smoke", "grid": grid})


def test_sweep_file_dotted_keys_and_relative_config(tmp_path):
    (tmp_path / "base.toml").write_text('preset = "smoke"\n[loop]\nrounds = 1\n')
    path = write_sweep(tmp_path, 'config = "base.toml"\nseeds = 3\n[grid]\nclick_model.eta = [0.5, 1.5]\n'
                                 '"policy.kind" = ["deterministic", "plackett_luce"]\n')
    points = expand(read_sweep(path))
    assert [p.id for p in points] == ["eta=0.5,kind=deterministic", "eta=0.5,kind=plackett_luce",
                                      "eta=1.5,kind=deterministic", "eta=1.5,kind=plackett_luce"]
    assert {(p.config.loop.rounds, p.config.seeds) for p in points} == {(1, 3)}


def test_cli_bad_sweep_exits_2_with_one_line_before_writing(tmp_path, capsys):
    path = write_sweep(tmp_path, 'preset = "smoke"\n[grid]\n"click_model.eta" = [0.5, 20.0]\n')
    out = tmp_path / "out"
    assert main(["--sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid.click_model.eta = 20.0: click_model.eta must be" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--preset", "smoke"], "not from --config, --preset or --set"),
    (["--set", "loop.rounds=1"], "not from --config, --preset or --set"),
    (["--jobs", "2", "--dask-local", "2"], "give one of --jobs, --scheduler and --dask-local"),
    (["--scheduler", "localhost:8786"], "--scheduler expects an address like tcp://HOST:PORT"),
    (["--dask-local", "2", "--scheduler-timeout", "5"], "--scheduler-timeout applies to --scheduler only"),
])
def test_cli_usage_errors_exit_2(tmp_path, capsys, extra, message):
    path = write_sweep(tmp_path, 'preset = "smoke"\n[grid]\n"click_model.eta" = [0.5]\n')
    assert main(["--sweep", str(path), "--out", str(tmp_path / "out"), "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


def test_dask_flag_without_sweep_exits_2(capsys):
    assert main(["--dask-local", "2"]) == 2
    assert "give --sweep FILE.toml" in capsys.readouterr().err


def test_unreachable_scheduler_exits_2_before_writing(tmp_path, capsys):
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    path = write_sweep(tmp_path, 'preset = "smoke"\n[grid]\n"click_model.eta" = [0.5]\n')
    out = tmp_path / "out"
    argv = ["--sweep", str(path), "--out", str(out), "--quiet", "--scheduler", address, "--scheduler-timeout", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot connect to the Dask scheduler at {address}: OSError: Timed out" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_scheduler_timeout_must_be_positive(value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--scheduler", "tcp://127.0.0.1:8786", "--scheduler-timeout", value])
    assert stop.value.code == 2
    assert "--scheduler-timeout: expected a number > 0" in capsys.readouterr().err


def test_dask_backend_rejects_a_bad_timeout():
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0, got 0"):
        DaskBackend(scheduler="tcp://127.0.0.1:8786", timeout=0)


# --------------------------------------------------------------------------
# Running: backends agree, failures are kept apart, re-runs skip what is done
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    run = clickloop.run_sweep(tiny_spec(), out, quiet=True)
    return out, run


def test_serial_sweep_outputs(serial_sweep):
    out, run = serial_sweep
    assert (run.n_tasks, run.n_skipped, run.failures) == (4, 0, [])
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["click_model.eta", "seed", "variant", "round", "metric", "value"]
    assert {(r[0], r[1], r[2], r[3]) for r in rows[1:] if r[4] == "ndcg@10"} == {
        (eta, str(s), v, str(t)) for eta in ("0.5", "2.0") for s in (0, 1) for v in ("naive", "ips", "tower")
        for t in (0, 1)}
    # The tower's estimated propensities of every point, after its first refit (round 1), ranks 1..k.
    with open(out / "propensity.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["click_model.eta", "seed", "variant", "round", "rank", "true", "estimated"]
    k = run.points[0].config.policy.k
    assert [tuple(r[:5]) for r in rows[1:]] == [
        (eta, str(s), "tower", "1", str(r)) for eta in ("0.5", "2.0") for s in (0, 1) for r in range(1, k + 1)]
    for r in rows[1:]:  # the truth is PBM's (1/rank)^eta relative to rank 1
        assert float(r[5]) == pytest.approx(float(r[4]) ** -float(r[0]), rel=1e-12)
    for point in ("eta=0.5", "eta=2.0"):
        assert (out / "runs" / point / "config.toml").is_file()
        assert (out / "runs" / point / ".state" / "seed_1" / "ips" / "rows.csv").is_file()
    summary = (out / "summary.md").read_text()
    assert "| click_model.eta | seeds | naive | ips | tower |" in summary
    assert "### click_model.eta = 2.0" in summary
    assert (out / "plots" / "sweep_click_model.eta.png").is_file()
    assert not (out / "failures.csv").exists()


def test_analysis_redraws_a_sweep_folder(serial_sweep, tmp_path, capsys):
    """``python -m analysis`` on a finished sweep writes the sweep's summary and plots (it read the sweep's
    metrics.csv as a run's and refused its header)."""
    import shutil

    from analysis.__main__ import main

    out = tmp_path / "copy"
    shutil.copytree(serial_sweep[0], out)
    summary = (out / "summary.md").read_text()
    (out / "summary.md").unlink()
    assert main([str(out)]) == 0, capsys.readouterr().err
    assert (out / "summary.md").read_text() == summary
    assert str(out / "plots" / "sweep_click_model.eta.png") in capsys.readouterr().out


def test_dask_local_cluster_equals_serial_byte_for_byte(serial_sweep, tmp_path):
    out, _ = serial_sweep
    run = clickloop.run_sweep(tiny_spec(), tmp_path, backend=DaskBackend(n_workers=2), quiet=True)
    assert run.failures == []
    for name in ("metrics.csv", "propensity.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


@pytest.fixture
def external_cluster(tmp_path):
    """A scheduler and 2 single-threaded workers started with the ``dask`` command, as a user would."""
    import shutil
    import subprocess

    from distributed import Client

    dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent))
    if dask_cli is None:
        pytest.skip("the dask command is not installed beside this Python")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                   "--no-dashboard"], **common)]
    try:
        with Client(address, timeout="30s") as client:
            processes.append(subprocess.Popen([dask_cli, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                               "--no-dashboard"], **common))
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        try:  # the cluster's own shutdown: workers close at once instead of draining on SIGTERM (8 s)
            with Client(address, timeout="10s") as client:
                client.shutdown()
        except Exception:  # noqa: BLE001 (already down, or never up: the signals below end it)
            pass
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_external_scheduler_equals_serial_byte_for_byte(serial_sweep, external_cluster, tmp_path, capsys):
    """``--scheduler tcp://...`` on separately started workers gives the serial sweep's files."""
    out, _ = serial_sweep
    path = write_sweep(tmp_path, tomli_w.dumps(TINY))
    assert main(["--sweep", str(path), "--out", str(tmp_path / "out"), "--quiet",
                                "--scheduler", external_cluster]) == 0, capsys.readouterr().err
    for name in ("metrics.csv", "propensity.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (out / name).read_bytes(), name


def test_processes_equal_serial_byte_for_byte(serial_sweep, tmp_path):
    out, _ = serial_sweep
    run = clickloop.run_sweep(tiny_spec(), tmp_path, backend=ProcessBackend(2), quiet=True)
    assert run.failures == []
    for name in ("metrics.csv", "propensity.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_failing_grid_point_is_reported_and_the_rest_complete(tmp_path, capsys, monkeypatch):
    # Bad data is refused up front, so the run-time failure of one grid point is injected.
    real = clickloop._sweep_run.run_point_seed

    def failing(config, seed, out, numba_threads=None):
        if config.data.test_fraction == 0.3:
            raise RuntimeError("injected failure")
        return real(config, seed, out, numba_threads)

    monkeypatch.setattr(clickloop._sweep_run, "run_point_seed", failing)
    path = write_sweep(tmp_path, tomli_w.dumps({"preset": "smoke", "seeds": 2, "set": BASE,
                                                "grid": {"data.test_fraction": [0.2, 0.3]}}))
    out = tmp_path / "out"
    assert main(["--sweep", str(path), "--out", str(out), "--quiet"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("clickloop:")]
    failed = [line for line in err if "task failed" in line]
    assert len(failed) == 2, err
    assert all("data.test_fraction=0.3, seed " in line and "RuntimeError: injected failure" in line
               for line in failed), failed
    with open(out / "failures.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["data.test_fraction", "seed", "error"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("0.3", "0"), ("0.3", "1")]
    with open(out / "metrics.csv", newline="") as f:
        points = {(r[0], r[1]) for r in list(csv.reader(f))[1:]}
    assert points == {("0.2", "0"), ("0.2", "1")}
    assert "2 task(s) failed" in (out / "summary.md").read_text()
    assert clickloop._outdir.read_manifest(out).status == "running"  # not complete until a re-run finishes


def test_rerun_retries_only_failed_and_skips_finished(serial_sweep, tmp_path):
    reference, _ = serial_sweep
    calls, failing = [], [True]

    def flaky(config, seed, out, numba_threads=None):
        calls.append((Path(out).name, seed))
        if failing[0] and Path(out).name == "eta=2.0" and seed == 1:
            raise RuntimeError("injected failure")
        return clickloop.run_point_seed(config, seed, out, numba_threads)

    first = clickloop.run_sweep(tiny_spec(), tmp_path, quiet=True, task=flaky)
    assert [(p.id, s, e) for p, s, e in first.failures] == [("eta=2.0", 1, "RuntimeError: injected failure")]
    assert (tmp_path / "failures.csv").is_file()
    done = sorted((tmp_path / "runs").glob("*/.state/seed_*/*/rows.csv"))
    assert len(done) == 9  # 3 finished tasks x 3 variants
    mtimes = {p: p.stat().st_mtime_ns for p in done}

    calls.clear()
    failing[0] = False
    second = clickloop.run_sweep(tiny_spec(), tmp_path, quiet=True, task=flaky)
    assert calls == [("eta=2.0", 1)], "only the failed task runs again"
    assert (second.n_tasks, second.n_skipped, second.failures) == (4, 3, [])
    assert {p: p.stat().st_mtime_ns for p in done} == mtimes
    assert not (tmp_path / "failures.csv").exists()
    for name in ("metrics.csv", "propensity.csv"):  # the skipped tasks' rows are read back unchanged
        assert (tmp_path / name).read_bytes() == (reference / name).read_bytes(), name

    calls.clear()
    third = clickloop.run_sweep(tiny_spec(seeds=3), tmp_path, quiet=True, task=flaky)
    assert calls == [("eta=0.5", 2), ("eta=2.0", 2)], "more seeds keep the finished ones"
    assert third.n_skipped == 4


def _counting_task(calls):
    """A sweep task that records (point, seed) in ``calls`` and runs the point."""

    def counting(config, seed, out, numba_threads=None):
        calls.append((Path(out).name, seed))
        return clickloop.run_point_seed(config, seed, out, numba_threads)

    return counting


def test_changed_base_config_reruns_the_point(serial_sweep, tmp_path):
    calls = []
    counting = _counting_task(calls)
    spec = tiny_spec(grid={"click_model.eta": [0.5]}, seeds=1)
    clickloop.run_sweep(spec, tmp_path, quiet=True, task=counting)
    changed = tiny_spec(grid={"click_model.eta": [0.5]}, seeds=1, set={**BASE, "learner.n_estimators": 6})
    clickloop.run_sweep(changed, tmp_path, quiet=True, task=counting)
    assert calls == [("eta=0.5", 0), ("eta=0.5", 0)], "checkpoints of another configuration are not reused"


def test_a_point_written_before_a_key_existed_is_rerun(serial_sweep, tmp_path):
    # Loading that config.toml would fill in the key's present default, which the run may not have used.
    calls = []
    counting = _counting_task(calls)
    spec = tiny_spec(grid={"click_model.eta": [0.5]}, seeds=1)
    clickloop.run_sweep(spec, tmp_path, quiet=True, task=counting)
    written = tmp_path / "runs" / "eta=0.5" / "config.toml"
    written.write_text(written.read_text().replace("engagement_min_examinations = 20.0\n", ""))
    clickloop.run_sweep(spec, tmp_path, quiet=True, task=counting)
    assert calls == [("eta=0.5", 0), ("eta=0.5", 0)]
    clickloop.run_sweep(spec, tmp_path, quiet=True, task=counting)  # now the same: nothing to run
    assert len(calls) == 2

