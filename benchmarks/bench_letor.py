"""Time and peak memory of load_letor on MSLR-shaped files, text and .gz, against the sklearn-based reader.

Generates a synthetic LETOR file of MSLR-WEB30K's shape (by default 31,531
queries of 1 to 239 documents, about 120 on average, 136 features written
densely as MSLR writes them: integer counts, reals with six decimals, ratios
in [0, 1]; about 1,530 bytes per row, like the 3.5 GB of Fold1's 2.27 M-row
train.txt; labels 0-4 in MSLR's proportions) into a temporary folder,
compresses a copy with gzip (level 6), then loads each file in a fresh
process.  Each child first loads a tiny file (imports, Numba's cache), then
times one ``load_letor`` (wall and CPU seconds: the machine may be shared)
and reports its peak RSS, its RSS just before the load and the size of the
arrays it returned.  The peak is ``VmHWM`` of /proc/self/status, the peak of
the child's own process image (it includes RankingDataset's finiteness
check, a bool per feature cell); ``ru_maxrss`` is recorded in the JSON
beside it but can include the RSS of the parent at the fork (Linux keeps it
across exec).

The baseline is the reader this module replaced: ``simulator/_letor.py`` at
commit ``be52496`` (scikit-learn's ``load_svmlight_file`` on the whole
decompressed file, then a dense copy), taken from git in the child.  It runs
on files of at most ``--baseline-max-queries`` queries (default 3,000): it
peaks near 12x the final arrays, so the full shape (about 2 GB of arrays)
would not fit in this machine's 24 GiB.

Usage::

    python benchmarks/bench_letor.py [--queries 31531] [--baseline-max-queries 3000] [--no-gz] [--keep DIR] [--json out.json]
"""

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from clickloop._arguments import OneLineParser, nonnegative_int, output_file, output_folder, positive_int

ROOT = Path(__file__).resolve().parents[1]

BASELINE_REVISION = "be52496"
N_FEATURES = 136
#: Label frequencies of MSLR-WEB30K (grades 0..4).
LABEL_SHARES = [0.517, 0.325, 0.134, 0.017, 0.007]
#: Distinct values drawn for each feature; a row picks one of them per feature.
POOL = 64


def _feature_pools(rng):
    """Token bytes ``b" j:value"`` for each feature j: a flat buffer, and the
    start and length of pool entry ``(j - 1, k)``."""
    tokens = []
    for j in range(1, N_FEATURES + 1):
        kind = rng.choice(["count", "real", "ratio"], p=[0.2, 0.65, 0.15])
        if kind == "count":
            values = rng.poisson(np.exp(rng.uniform(np.log(0.3), np.log(500))), size=POOL)
            texts = [str(int(v)) for v in values]
        elif kind == "real":
            scale = np.exp(rng.uniform(0, np.log(100)))
            values = rng.lognormal(0, 1, size=POOL) * scale * rng.choice([-1, 1])
            texts = [f"{v:.6f}" for v in values]
        else:
            values = rng.random(POOL) * (rng.random(POOL) < 0.7)
            texts = [f"{v:.6f}".rstrip("0").rstrip(".") for v in values]
        tokens.extend(f" {j}:{t}".encode() for t in texts)
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    return flat, starts.reshape(N_FEATURES, POOL), lengths.reshape(N_FEATURES, POOL)


def generate(path, n_queries, seed=0, block_rows=4096):
    """Write an MSLR-shaped text file; return (rows, bytes)."""
    rng = np.random.default_rng(seed)
    pool, pool_start, pool_len = _feature_pools(rng)
    sizes = rng.integers(1, 240, size=n_queries)
    qids = np.repeat(1 + 15 * np.arange(n_queries), sizes)
    n_rows = int(sizes.sum())
    columns = np.arange(N_FEATURES)
    written = 0
    with open(path, "wb") as fh:
        for start in range(0, n_rows, block_rows):
            stop = min(start + block_rows, n_rows)
            labels = rng.choice(5, size=stop - start, p=LABEL_SHARES)
            heads = [b"%d qid:%d" % (label, qid) for label, qid in zip(labels.tolist(), qids[start:stop].tolist())]
            head_len = np.array([len(h) for h in heads], dtype=np.int64)
            # One buffer holding the feature pool, the heads and a newline; each row
            # is the segments head, 136 tokens, newline gathered from it.
            buffer = np.concatenate([pool, np.frombuffer(b"".join(heads) + b"\n", dtype=np.uint8)])
            head_start = pool.size + np.concatenate([[0], np.cumsum(head_len)[:-1]])
            pick = rng.integers(0, POOL, size=(stop - start, N_FEATURES))
            seg_start = np.empty((stop - start, N_FEATURES + 2), dtype=np.int64)
            seg_len = np.empty_like(seg_start)
            seg_start[:, 0], seg_len[:, 0] = head_start, head_len
            seg_start[:, 1:-1], seg_len[:, 1:-1] = pool_start[columns, pick], pool_len[columns, pick]
            seg_start[:, -1], seg_len[:, -1] = buffer.size - 1, 1
            seg_start, seg_len = seg_start.ravel(), seg_len.ravel()
            out_start = np.cumsum(seg_len) - seg_len
            index = np.repeat(seg_start - out_start, seg_len) + np.arange(int(seg_len.sum()))
            chunk = buffer[index].tobytes()
            fh.write(chunk)
            written += len(chunk)
    return n_rows, written


def _baseline_module():
    """The sklearn-based reader at BASELINE_REVISION, imported from git."""
    source = subprocess.run(["git", "show", f"{BASELINE_REVISION}:simulator/_letor.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    source = source.replace("from ._dataset import", "from simulator._dataset import")
    module = types.ModuleType("letor_baseline")
    exec(compile(source, f"{BASELINE_REVISION}:simulator/_letor.py", "exec"), module.__dict__)
    return module


def _rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(reader, path, tiny):
    """Load ``path`` once with ``reader`` ("new" or "baseline"); print a JSON line."""
    if reader == "new":
        from simulator import load_letor
    else:
        load_letor = _baseline_module().load_letor
    load_letor(tiny)  # imports, Numba's cache: outside the measurement
    before = _rss_mib()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    data = load_letor(path)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    peak = _peak_mib()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    arrays = sum(a.nbytes for a in (data.features, data.labels, data.query_boundaries, data.query_ids))
    print(json.dumps({"reader": reader, "file": os.path.basename(path), "seconds": seconds, "cpu_seconds": cpu,
                      "rss_before_mib": before, "peak_rss_mib": peak, "ru_maxrss_mib": maxrss,
                      "arrays_mib": arrays / 2**20,
                      "features_dtype": str(data.features.dtype), "n_docs": data.n_docs,
                      "n_queries": data.n_queries, "n_features": data.n_features}))


def _run_child(reader, path, tiny):
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path), str(tiny)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"reader": reader, "file": os.path.basename(path), "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=positive_int, default=31_531)
    parser.add_argument("--baseline-max-queries", type=nonnegative_int, default=3_000)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--keep", type=output_folder, help="folder to write the files into and keep (default: a temporary one)")
    parser.add_argument("--no-gz", action="store_true", help="only the text file")
    parser.add_argument("--json", type=output_file)
    parser.add_argument("--child", nargs=3, metavar=("READER", "PATH", "TINY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_letor_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        load = os.getloadavg()
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores {os.cpu_count()}")
        tiny = folder / "tiny.txt"
        tiny.write_bytes(b"1 qid:1 1:0.5 2:1\n0 qid:2 1:1\n")
        text = folder / f"mslr_like_{args.queries}.txt"
        start = time.perf_counter()
        n_rows, n_bytes = generate(text, args.queries, seed=args.seed)
        print(f"generated {text.name}: {args.queries:,} queries, {n_rows:,} rows, {n_bytes / 2**20:,.0f} MiB "
              f"({n_bytes / n_rows:.0f} bytes per row) in {time.perf_counter() - start:.0f} s", flush=True)
        files = [text]
        if not args.no_gz:
            start = time.perf_counter()
            packed = folder / (text.name + ".gz")
            with open(text, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 16 * 2**20)
            files.append(packed)
            print(f"compressed {packed.name}: {packed.stat().st_size / 2**20:,.0f} MiB "
                  f"in {time.perf_counter() - start:.0f} s", flush=True)
        readers = ["new"] + (["baseline"] if args.queries <= args.baseline_max_queries else [])
        print("| reader | file | wall s | CPU s | MB/s of text (wall) | RSS before load (MiB) | peak RSS (MiB) "
              "| final arrays (MiB) | peak - before - arrays (MiB) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        results = []
        for path in files:
            for reader in readers:
                row = _run_child(reader, path, tiny)
                results.append(row)
                if "error" in row:
                    print(f"| {reader} | {row['file']} | failed: {row['error']} ||||||", flush=True)
                    continue
                extra = row["peak_rss_mib"] - row["rss_before_mib"] - row["arrays_mib"]
                print(f"| {reader} | {row['file']} | {row['seconds']:.1f} | {row['cpu_seconds']:.1f} "
                      f"| {n_bytes / 1e6 / row['seconds']:.0f} "
                      f"| {row['rss_before_mib']:.0f} | {row['peak_rss_mib']:.0f} | {row['arrays_mib']:.0f} "
                      f"| {extra:.0f} |", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"load_average": load, "queries": args.queries, "rows": n_rows,
                                             "text_bytes": n_bytes, "results": results}, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
