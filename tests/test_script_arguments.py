"""Bad command-line arguments of the scripts in experiments/ and benchmarks/: one line on stderr, exit code 2.

Each row runs the script as a user does (``python experiments/NAME.py`` from the
repository root); the bad argument must be refused before any work starts.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    ("experiments/ablation.py", ["--seeds", "0"], "argument --seeds: expected a positive integer, got 0"),
    ("experiments/ablation.py", ["--out", "/dev/null/x"], "argument --out: cannot write to '/dev/null/x'"),
    ("experiments/dr_small_n.py", ["--sizes", "abc"], "argument --sizes: expected a positive integer, got 'abc'"),
    ("experiments/confounding_study.py", ["--rounds", "-1"], "argument --rounds: expected a positive integer"),
    ("experiments/headline_map.py", ["--draw", "/nonexistent"], "argument --draw: no folder '/nonexistent'"),
    ("experiments/headline_map.py", ["--jobs", "-3"], "argument --jobs: expected a positive integer, got -3"),
    ("experiments/gate_alignment.py", ["--jobs", "5000"], "argument --jobs: expected at most 1024 worker processes"),
    ("experiments/ope_study.py", ["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    ("experiments/loop_gaps.py", [".", "--pair", "ab"], "argument --pair: expected A:B (two variant names), got 'ab'"),
    ("benchmarks/bench_letor.py", ["--queries", "0"], "argument --queries: expected a positive integer, got 0"),
    ("benchmarks/bench_scale.py", ["--sizes", "0"], "argument --sizes: expected a positive integer, got 0"),
    ("benchmarks/bench_sweep.py", ["--backends", "nonsense"], "argument --backends: 'nonsense' is not one of"),
]


@pytest.mark.parametrize(("script", "arguments", "message"), CASES, ids=[f"{s} {' '.join(a)}" for s, a, _ in CASES])
def test_a_bad_argument_is_one_line_and_exit_code_2(script, arguments, message):
    done = subprocess.run([sys.executable, script, *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, f"exit code {done.returncode}, stderr:\n{done.stderr}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{done.stderr}"
    assert lines[0].startswith(f"{Path(script).name}: error: {message}"), lines[0]
    assert done.stdout == ""
