"""Wall time and peak memory of one round of the feedback loop as the data grows (issue 18).

One round of the ``naive``, ``ips`` and ``tower`` variants (``loop.rounds = 1``:
round 0 served by the logger, one refit, round 1 served by the refitted
ranker; 10^6 sessions per round; ``--jobs 1``; one seed) on the default
preset's synthetic data at several sizes (``data.n_queries``; 20 % of the
queries are held out, as in the default preset), and on a synthetic data set
of MSLR-WEB30K's shape (31,531 queries of 10 to 230 documents, 120 on
average, 136 features).  Each size runs as the command line does
(``python -m clickloop ... --jobs 1 --quiet``) in a fresh process; its wall
time, CPU time (user + system) and peak RSS (``ru_maxrss`` of that process
alone, from ``os.wait4``) are recorded with the load average before and
after.  A warm-up smoke run first fills Numba's on-disk cache, so no timed
run compiles.

``--baseline DIR`` runs the same commands on another checkout (a ``git
worktree`` of the commit before the change) through ``PYTHONPATH=DIR``, at the
sizes up to ``--baseline-max-queries`` (its dense statistics need about
1.45 kB per document: 3.2 x 10^5 queries would take about 11 GB).

Writes a JSON of every measurement, a log-log plot of wall time and peak RSS
against the number of served documents, and prints a README-ready table.

Usage::

    python benchmarks/bench_scale.py [--sizes 20000,80000,320000] [--mslr] [--baseline /tmp/before]
        [--baseline-max-queries 80000] [--json scale.json] [--plot docs/scale.png]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clickloop._arguments import OneLineParser, existing_folder, int_list, nonnegative_int, positive_int

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("naive", "ips", "tower")
#: MSLR-WEB30K's shape: queries, documents per query (low, high), features.  MSLR's list lengths
#: vary widely (mean about 120); the synthetic lists are uniform on [10, 230] (mean 120, the
#: same 3.78 M documents): a list must hold at least policy.k = 10 candidates (a configuration rule).
MSLR = {"n_queries": 31_531, "docs_per_query": (10, 230), "n_features": 136}


def _overrides(n_queries, docs_per_query=None, n_features=None, sessions=1_000_000):
    sets = [f"data.n_queries={n_queries}", "loop.rounds=1", f"loop.sessions_per_round={sessions}", "seeds=1",
            "loop.variants=[" + ",".join(f'"{v}"' for v in VARIANTS) + "]"]
    if docs_per_query is not None:
        sets.append(f"data.docs_per_query=[{docs_per_query[0]},{docs_per_query[1]}]")
    if n_features is not None:
        sets.append(f"data.n_features={n_features}")
    return sets


def _command(sets, out):
    command = [sys.executable, "-m", "clickloop", "--preset", "default", "--jobs", "1", "--out", str(out),
               "--quiet", "--force", "--allow-long"]
    for s in sets:
        command += ["--set", s]
    return command


def _run(command, tree=None):
    """(wall s, cpu s, peak RSS bytes, return code, stderr tail) of one command in a fresh process."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=str(tree or ROOT))
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, process.returncode, stderr[-2000:]


def _served_documents(n_queries, docs_per_query, n_features):
    """(served documents, held-out documents, bytes of their float32 features), from the data set itself."""
    from clickloop._compose import build_datasets
    from clickloop._config import preset

    sets = [s for s in _overrides(n_queries, docs_per_query, n_features) if s.startswith("data.")]
    train, test = build_datasets(preset("default", sets))
    n_test = 0 if test is None else test.n_docs
    return train.n_docs, n_test, (train.n_docs + n_test) * train.n_features * 4


def measure(label, n_queries, tree, docs_per_query=None, n_features=None, sessions=1_000_000):
    """One timed run; a dict of its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as folder:
        before = os.getloadavg()
        wall, cpu, rss, code, stderr = _run(_command(_overrides(n_queries, docs_per_query, n_features, sessions),
                                                     Path(folder) / "out"), tree)
        after = os.getloadavg()
    if code != 0:
        raise RuntimeError(f"{label} at {n_queries} queries failed ({code}): {stderr}")
    return {"label": label, "n_queries": n_queries, "wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss,
            "load_before": before, "load_after": after}


def _warm_up(tree):
    with tempfile.TemporaryDirectory(prefix="bench_scale_warm_") as folder:
        command = [sys.executable, "-m", "clickloop", "--preset", "smoke", "--jobs", "1", "--out",
                   str(Path(folder) / "out"), "--quiet"]
        _run(command, tree)


def _plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, marker in (("after", "o"), ("baseline", "s")):
        rows = [r for r in results if r["label"] == label and not r.get("mslr")]
        if rows:
            docs = [r["served_docs"] for r in rows]
            axes[0].plot(docs, [r["wall_s"] for r in rows], marker=marker, label=label)
            axes[1].plot(docs, [r["peak_rss_bytes"] / 2**30 for r in rows], marker=marker, label=label)
        mslr = [r for r in results if r["label"] == label and r.get("mslr")]
        for r in mslr:
            axes[0].plot([r["served_docs"]], [r["wall_s"]], marker="*", markersize=12, linestyle="none",
                         label=f"{label}, MSLR-shaped (136 features)")
            axes[1].plot([r["served_docs"]], [r["peak_rss_bytes"] / 2**30], marker="*", markersize=12,
                         linestyle="none", label=f"{label}, MSLR-shaped (136 features)")
    for ax, title in zip(axes, ("wall time (s)", "peak RSS (GB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("served documents")
        ax.set_title(f"one round of naive, IPS, tower: {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def table(results):
    """README-ready markdown table of the measurements."""
    lines = ["| data | served queries | served documents | code | wall | CPU | peak RSS | load (1 min) |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in results:
        name = "MSLR-shaped (136 features)" if r.get("mslr") else "default synthetic"
        lines.append(f"| {name} | {r['served_queries']:,} | {r['served_docs']:,} | {r['label']} | "
                     f"{r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['peak_rss_bytes'] / 1e9:.2f} GB | "
                     f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default="20000,80000,320000", help="data.n_queries of the default data")
    parser.add_argument("--mslr", action="store_true", help="also the MSLR-WEB30K-shaped data set")
    parser.add_argument("--baseline", type=existing_folder, default=None, help="checkout of the code before the change")
    parser.add_argument("--baseline-max-queries", type=nonnegative_int, default=80_000)
    parser.add_argument("--sessions", type=positive_int, default=1_000_000)
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args(argv)
    sizes = args.sizes
    trees = [("after", None)] + ([("baseline", Path(args.baseline))] if args.baseline else [])
    for _, tree in trees:
        _warm_up(tree)
    results = []
    jobs = [(n, None, None, False) for n in sizes]
    if args.mslr:
        jobs.append((MSLR["n_queries"], MSLR["docs_per_query"], MSLR["n_features"], True))
    for n, docs, features, mslr in jobs:
        served, held_out, feature_bytes = _served_documents(n, docs, features)
        for label, tree in trees:
            if label == "baseline" and (mslr or n > args.baseline_max_queries):
                continue
            r = measure(label, n, tree, docs, features, args.sessions)
            r.update(served_docs=served, held_out_docs=held_out, feature_bytes=feature_bytes, mslr=mslr,
                     served_queries=round(n * 0.8))
            results.append(r)
            print(f"{label:8s} {'MSLR' if mslr else 'default':7s} n_queries={n:>7,} served_docs={served:>9,} "
                  f"wall={r['wall_s']:7.1f}s cpu={r['cpu_s']:7.1f}s rss={r['peak_rss_bytes'] / 1e9:5.2f}GB "
                  f"load={r['load_before'][0]:.1f}->{r['load_after'][0]:.1f}"
                  + (f" (float32 features {feature_bytes / 1e9:.2f} GB)" if mslr else ""), flush=True)
    print()
    print(table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        _plot(results, args.plot)


if __name__ == "__main__":
    main()
