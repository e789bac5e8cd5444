"""Faults: a killed or interrupted run, two runs on one folder, damaged checkpoints.

Processes end with their parent (kill -9 included), Ctrl-C stops a run within
about 2 s with one line and exit 130, a second run on a folder is refused, an
interrupted fresh run never leaves its config beside another run's results, and
a damaged checkpoint is recomputed, never read as empty.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from clickloop import cli

LONG = ["--preset", "default", "--seeds", "2", "--set", "loop.rounds=30", "--quiet"]
SMALL = ["--preset", "smoke", "--seeds", "1", "--set", "loop.rounds=1", "--set", 'loop.variants=["logger", "naive"]',
         "--set", "data.n_queries=24", "--set", "loop.sessions_per_round=500", "--set", "learner.n_estimators=5",
         "--quiet"]


def start(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "clickloop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(processes):
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def rounds_done(out):
    return len(list(Path(out).glob(".state/seed_*/*/round_*.npz")))


@pytest.mark.parametrize("backend", [["--jobs", "2"], ["--dask-local", "2"]], ids=["processes", "dask-local"])
def test_kill_9_of_the_parent_leaves_no_worker_behind(backend, tmp_path):
    if backend[0] == "--dask-local":
        args = _long_sweep(tmp_path, backend)
    else:
        args = [*LONG, "--out", str(tmp_path / "out"), *backend]
    proc = start(args)
    try:
        wait_for(lambda: len(descendants(proc.pid)) >= 2 and rounds_done(tmp_path / "out") > 0
                 or list((tmp_path / "out").glob("runs/*/.state/seed_*/*/round_*.npz")), 60, "workers at work")
        workers = descendants(proc.pid)
        proc.kill()
        proc.wait(5)
        wait_for(lambda: not alive(workers), 5, "the workers to exit")
    finally:
        for p in alive(descendants(proc.pid)):
            p.kill()
        proc.kill()


def _long_sweep(tmp_path, backend):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('preset = "default"\nseeds = 2\n[set]\n"loop.rounds" = 30\n[grid]\n"click_model.eta" = [1.0, 2.0]\n')
    return ["--sweep", str(sweep), "--out", str(tmp_path / "out"), "--quiet", *backend]


@pytest.mark.parametrize("backend", [["--jobs", "2"], ["--dask-local", "2"]], ids=["processes", "dask-local"])
def test_ctrl_c_stops_within_2_s_with_one_line_and_exit_130(backend, tmp_path):
    out = tmp_path / "out"
    sweep = backend[0] == "--dask-local"
    args = _long_sweep(tmp_path, backend) if sweep else [*LONG, "--out", str(out), *backend]
    proc = start(args, start_new_session=True)
    try:
        wait_for(lambda: len(list(out.glob("**/.state/seed_*/*/round_*.npz"))) >= 2, 60, "rounds to finish")
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        _, err = proc.communicate(timeout=10)
        latency = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    expected = "run the same command again to continue" if sweep else "continue with --resume"
    assert err.splitlines() == [f"clickloop: interrupted; {expected}"], err
    assert latency <= 2.5, f"Ctrl-C took {latency:.2f} s"


def test_a_second_run_on_the_same_folder_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    proc = start([*LONG, "--out", str(out)])
    try:
        wait_for(lambda: (out / "config.toml").exists(), 60, "the first run to start")
        code = cli.main([*SMALL, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"is in use by another clickloop run (pid {proc.pid} on" in err and err.count("\n") == 1, err
    finally:
        proc.kill()
        proc.wait()


def test_an_interrupted_fresh_run_never_sits_beside_an_older_result(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main([*SMALL, "--out", str(out)]) == 0
    assert (out / "metrics.csv").exists() and cli.main.__module__  # a finished run
    user_file = out / "notes.txt"
    user_file.write_text("my notes\n")  # not clickloop's: never deleted
    old = (out / "config.toml").read_text()
    proc = start([*LONG, "--out", str(out)])
    try:
        wait_for(lambda: _text(out / "config.toml") not in (old, None), 60, "the new run to start")
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
    assert not (out / "metrics.csv").exists() and not (out / "summary.md").exists()
    assert user_file.read_text() == "my notes\n"
    from analysis.__main__ import main as analysis_main

    capsys.readouterr()
    assert analysis_main([str(out)]) == 2
    assert "holds an unfinished run (status running" in capsys.readouterr().err


def test_analysis_refuses_a_finished_run_whose_configuration_was_removed(tmp_path, capsys):
    """The manifest lists config.toml: results without it no longer say what produced them."""
    out = tmp_path / "out"
    assert cli.main([*SMALL, "--set", "loop.rounds=1", "--out", str(out)]) == 0
    (out / "config.toml").unlink()
    from analysis.__main__ import main as analysis_main

    capsys.readouterr()
    assert analysis_main([str(out)]) == 2
    err = capsys.readouterr().err
    assert "config.toml is missing" in err and len(err.strip().splitlines()) == 1, err


def _text(path):
    try:
        return path.read_text()
    except OSError:  # between the old run's removal and the new run's write
        return None


def _metrics(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.reader(f))


def test_damaged_checkpoints_are_named_and_recomputed_on_resume(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert cli.main([*SMALL, "--set", "loop.rounds=2", "--out", str(reference)]) == 0
    out = tmp_path / "out"
    assert cli.main([*SMALL, "--set", "loop.rounds=2", "--out", str(out)]) == 0
    task = out / ".state" / "seed_0" / "naive"
    (task / "rows.csv").write_text("")  # emptied
    with open(task / "round_1.npz", "r+b") as f:  # truncated
        f.truncate(100)
    (task / ".round_2.npz.123.0123abcd.tmp").write_bytes(b"half")  # a crashed writer's leftover
    capsys.readouterr()
    assert cli.main([*SMALL, "--set", "loop.rounds=2", "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "rows.csv: not a whole checkpoint" in err and "recomputing the task's metrics" in err, err
    assert "round_1.npz: not a whole checkpoint" in err and "recomputing from round 1" in err, err
    assert not (task / ".round_2.npz.123.0123abcd.tmp").exists()
    assert _metrics(out) == _metrics(reference)
