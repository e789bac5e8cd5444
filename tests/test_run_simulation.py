"""The main command end to end on a small number of sessions, and its bad-input path."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "run_simulation.py"), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_demo_writes_table_and_plots(tmp_path):
    out = tmp_path / "out"
    result = run("--sessions", "20000", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = (out / "ctr_by_rank.csv").read_text().splitlines()
    assert rows[0] == "model,rank,ctr" and len(rows) == 1 + 7 * 10
    ctr = {(m, int(r)): float(v) for m, r, v in (row.split(",") for row in rows[1:])}
    # Position bias: every model clicks rank 1 more than rank 10 under this logger.
    assert all(ctr[(m, 1)] > ctr[(m, 10)] for m, _ in ctr)
    for suffix in (".png", ".svg"):
        assert (out / "plots" / f"ctr_by_rank{suffix}").stat().st_size > 10_000


def test_bad_argument_exits_2_with_one_line(tmp_path):
    result = run("--sessions", "-5", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "expected a positive integer, got -5" in result.stderr
    assert not (tmp_path / "out").exists()
