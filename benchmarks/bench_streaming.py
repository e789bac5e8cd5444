"""Bounded memory of one long feedback-loop round: peak RSS and time against the number of sessions.

One round of the loop (round 0: the initial logger serves, the sessions are
simulated and aggregated per (document, rank), nothing is refitted) of a
naive-only configuration of the ``default`` preset at k = 10, with
``output.save_logs = false`` so no per-session log is kept.  Each size runs in
a fresh process, so its ``ru_maxrss`` is its own; memory that grew with the
sessions would show as a larger peak at 10^8 than at 10^7 sessions.

Settings: PBM clicks under a deterministic policy (the fused fixed-list
kernel), under Plackett-Luce (the fused sampler), and DBN clicks under a
deterministic policy (the general block pipeline).

Usage::

    python benchmarks/bench_streaming.py [--sessions 10000000 100000000] [--settings pbm-det ...] [--json out.json]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from clickloop._arguments import OneLineParser, output_file, positive_int

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {
    "pbm-det": ["click_model.name='pbm'", "policy.kind='deterministic'"],
    "pbm-pl": ["click_model.name='pbm'", "policy.kind='plackett_luce'"],
    "dbn-det": ["click_model.name='dbn'", "policy.kind='deterministic'"],
}


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(setting, sessions):
    """One round of ``sessions`` sessions in this process; prints a JSON line."""
    import numpy as np

    from clickloop import (LoopEnvironment, build_click_model, build_datasets, build_variant, load_config,
                           policy_factory, run_loop)
    from clickloop._compose import logger_learner

    config = load_config(preset_name="default", overrides=[
        "loop.variants=['naive']", "policy.k=10", "output.save_logs=false", "seeds=1",
        *SETTINGS[setting]])
    train, test = build_datasets(config)
    variant = build_variant(config, "naive", 0)
    env = LoopEnvironment(train, test, build_click_model(config), policy_factory(config), 10_000,
                          keep_logs=config.output.save_logs)
    initial = logger_learner(config, 0).fit(train)
    run_loop(env, variant, initial, 0, 0)  # compile and warm up outside the timing
    env = LoopEnvironment(train, test, env.click_model, env.make_policy, sessions, keep_logs=False)
    before = _rss_mib()
    start = time.perf_counter()
    (record,) = run_loop(env, variant, initial, 0, 0)
    seconds = time.perf_counter() - start
    impressions = int(record.statistics.impressions.sum())
    assert record.log is None and record.statistics.n_sessions == sessions
    assert impressions == sessions * config.policy.k, (impressions, sessions)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"setting": setting, "sessions": sessions, "impressions": impressions,
                      "seconds": seconds, "impressions_per_s": impressions / seconds,
                      "rss_before_mib": before, "peak_rss_mib": peak,
                      "n_docs": int(train.n_docs), "clicks": int(np.sum(record.statistics.clicks))}))


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive_int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--json", type=output_file)
    parser.add_argument("--child", nargs=2, metavar=("SETTING", "SESSIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores {os.cpu_count()}")
    print("| setting | sessions | impressions | s | M impressions/s | RSS before round (MiB) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = []
    for setting in args.settings:
        for sessions in args.sessions:
            out = subprocess.run([sys.executable, __file__, "--child", setting, str(sessions)],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(row)
            print(f"| {setting} | {sessions:,} | {row['impressions']:,} | {row['seconds']:.1f} | "
                  f"{row['impressions_per_s'] / 1e6:.0f} | {row['rss_before_mib']:.0f} | {row['peak_rss_mib']:.0f} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
