"""Throughput of every click model against the cost floor of independent clicks.

For each click-model preset, simulate ``--sessions`` sessions of k=10 random
documents (from a pool of 10,000 with random grades 0..4) and report
impressions/s and sessions/s (best of ``--repeats``, all numba threads), next to
the rate of ``numpy.random.default_rng().random(n)`` for the same number of
draws on one core, measured in the same process.  It also measures the import
plus first compile time with a cold and a warm numba cache (in fresh
subprocesses) and the peak memory of 10^8 sessions simulated block by block.

Usage::

    python benchmarks/bench_click_models.py [--sessions 10000000] [--json out.json]
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap

import numba
import numpy as np


from simulator import click_model
from clickloop._arguments import OneLineParser, nonnegative_int, output_file, positive_int
from _timing import best_time

K = 10
MODELS = ["pbm", "trust_vardasbi", "cascade", "dcm_informational", "dbn", "sdbn", "ubm"]


def numpy_floor(n_draws, repeats):
    """Uniform draws per second of numpy's default generator, one core, preallocated output."""
    rng = np.random.default_rng(0)
    out = np.empty(n_draws)
    rng.random(n_draws, out=out)  # fault the pages in once
    return n_draws / best_time(lambda: rng.random(n_draws, out=out), repeats)


COMPILE_SNIPPET = textwrap.dedent(
    """
    import time
    start = time.perf_counter()
    import numpy as np
    from simulator import click_model
    displayed = np.tile(np.arange(10), (4, 1))
    labels = np.arange(10) % 5
    click_model("pbm").simulate(displayed, labels, seed=0)
    pbm = time.perf_counter() - start
    for name in {models!r}:
        for examination in ("conditional", "marginal"):
            click_model(name).simulate(displayed, labels, seed=0, examination=examination)
    print(pbm, time.perf_counter() - start)
    """
)


def compile_times():
    """Import plus first call of every kernel, with an empty and then a warm numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = COMPILE_SNIPPET.format(models=MODELS)
        run = lambda: [float(x) for x in subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                                        capture_output=True, text=True).stdout.split()]
        return run(), run()


MEMORY_SNIPPET = textwrap.dedent(
    """
    import numpy as np
    from simulator import click_model
    model = click_model("pbm")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=10_000)
    block = 1_000_000
    model.simulate(np.zeros((1, 10), dtype=np.int32), labels)  # compile (or load) before measuring
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak-RSS mark (Linux)
        f.write("5")
    ctr = np.zeros(10)
    for b in range({n_blocks}):
        displayed = rng.integers(0, 10_000, size=(block, 10), dtype=np.int32)
        ctr += model.simulate(displayed, labels, seed=1, first_session=b * block).clicks.sum(axis=0)
    status = open("/proc/self/status").read()
    print(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    """
)


def block_memory(n_sessions):
    """Peak RSS (MiB) of a process that simulates ``n_sessions`` PBM sessions in blocks of 10^6."""
    code = MEMORY_SNIPPET.format(n_blocks=n_sessions // 1_000_000)
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, default=10_000_000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--memory-sessions", type=nonnegative_int, default=100_000_000)
    parser.add_argument("--json", type=output_file, help="also write the results here")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=10_000)
    displayed = rng.integers(0, labels.size, size=(args.sessions, K), dtype=np.int32)
    n_impressions = args.sessions * K
    floor = numpy_floor(n_impressions, args.repeats)

    rows = []
    for name in MODELS:
        model = click_model(name)
        model.simulate(displayed[:1000], labels)  # compile outside the timing
        seconds = best_time(lambda: model.simulate(displayed, labels, seed=1), args.repeats)
        rows.append({
            "model": name,
            "impressions_per_s": n_impressions / seconds,
            "sessions_per_s": args.sessions / seconds,
            "ratio_to_numpy_floor": n_impressions / seconds / floor,
        })
    del displayed
    cold, warm = compile_times()
    peak = block_memory(args.memory_sessions) if args.memory_sessions else None

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}"
    print(f"machine: {machine}; numpy {np.__version__}, numba {numba.__version__}")
    print(f"sessions: {args.sessions:,} at k={K} (best of {args.repeats})")
    print(f"numpy default_rng().random, one core: {floor / 1e6:,.0f} M draws/s\n")
    print("| model | M impressions/s | M sessions/s | x numpy floor |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['impressions_per_s'] / 1e6:,.0f} | {row['sessions_per_s'] / 1e6:,.1f} "
              f"| {row['ratio_to_numpy_floor']:.2f} |")
    print(f"\nimport + first PBM call: cold cache {cold[0]:.1f} s, warm cache {warm[0]:.2f} s")
    print(f"import + first call of every model (all kernels): cold cache {cold[1]:.1f} s, warm cache {warm[1]:.2f} s")
    if peak is not None:
        print(f"peak RSS simulating {args.memory_sessions:,} PBM sessions in blocks of 10^6: {peak:,.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine, "sessions": args.sessions, "k": K,
            "numpy_draws_per_s": floor, "models": rows,
            "pbm_compile_cold_s": cold[0], "pbm_compile_warm_s": warm[0],
            "all_compile_cold_s": cold[1], "all_compile_warm_s": warm[1],
            "block_memory_sessions": args.memory_sessions, "block_memory_peak_mib": peak,
        }, indent=2))


if __name__ == "__main__":
    main()
