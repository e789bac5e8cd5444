"""Click-log I/O: write throughput per compression, load time, and bounded-memory aggregation.

1. Builds a log of ``--sessions`` sessions (k=10, with placement) that looks
   like a feedback-loop log: 10,000 queries of 100 documents each (global rows
   ``100 * query + i``), 10 documents of the query per session, PBM clicks and
   examination (eta=1), random float32 placement probabilities, 10 rounds, two
   policies.  It writes it with :func:`save_click_log` for each compression
   (best of ``--repeats``, round-robin over the options; the time includes
   the fsync and the rename, not the removal of the previous file) and reports
   the file size, MB/s of written file (10^6 bytes per second) and MB/s of the
   in-memory log, then the time of :func:`load_click_log` (for the default
   compression, or every option with ``--load-every-option``).  With
   ``--compare-layouts`` it also writes the same table with one fixed-size-list
   column per field instead of one column per rank (plain pyarrow, same
   options): the layout the module does not use.  The first load after each
   write is reported apart from the best of the following ones: it pays the
   page faults of fresh memory, which on a virtual machine can dominate it.
2. Writes a log of ``--agg-sessions`` sessions (no placement) block by block
   with :class:`ClickLogWriter`, and one five times smaller, and aggregates
   each with :func:`aggregate_click_log` in ``--batch`` sessions per block, in
   a fresh process.  Peak RSS (VmHWM of /proc/self/status, reset with
   ``echo 5 > /proc/self/clear_refs`` just before the call) is reported above
   the RSS before the call, next to the size of the statistics and of the whole
   log in memory; the smaller file is also aggregated after
   :func:`load_click_log` for contrast.  The streaming peak should not grow
   with the file.

Usage::

    python benchmarks/bench_click_log.py [--sessions 10000000] [--agg-sessions 20000000]
        [--batch 1000000] [--repeats 1] [--dir DIR] [--load-every-option] [--compare-layouts]
        [--json out.json]
"""

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


from simulator._click_log import (
    DEFAULT_COMPRESSION,
    ClickLog,
    ClickLogWriter,
    load_click_log,
    save_click_log,
)
from simulator._click_models import PBM

from clickloop._arguments import OneLineParser, existing_folder, output_file, positive_int
from _timing import best_time

K = 10
N_QUERIES = 10_000
DOCS_PER_QUERY = 100
N_DOCS = N_QUERIES * DOCS_PER_QUERY
BLOCK = 1_000_000
COMPRESSIONS = ("none", "snappy", "lz4", "zstd")
MB = 1e6


def make_block(n, seed, first_session, *, placement, round_, policy, policy_index=None):
    """n sessions of the synthetic feedback-loop log."""
    rng = np.random.default_rng(seed)
    labels = np.random.default_rng(0).integers(0, 5, N_DOCS)
    query = rng.integers(0, N_QUERIES, n)
    displayed = (query[:, None] * DOCS_PER_QUERY
                 + rng.integers(0, DOCS_PER_QUERY, (n, K), dtype=np.int32)).astype(np.int32)
    sim = PBM(eta=1.0).simulate(displayed, labels, seed=seed, first_session=first_session)
    round_ = np.full(n, round_, np.int32) if np.ndim(round_) == 0 else round_
    return ClickLog(query=query, round=round_, displayed=displayed, clicks=sim.clicks,
                    examination=sim.examination, policy=policy, policy_index=policy_index,
                    placement=rng.random((n, K), dtype=np.float32) if placement else None)


def make_log(n_sessions, placement=True):
    """Ten rounds; round 0 logged by a uniform policy, the others by a ranker."""
    round_ = ((10 * np.arange(n_sessions)) // max(n_sessions, 1)).astype(np.int32)
    return make_block(n_sessions, 0, 0, placement=placement, round_=round_, policy=("uniform", "ranker"),
                      policy_index=(round_ > 0).astype(np.int32))


def log_bytes(log):
    arrays = [log.query, log.round, log.policy_index, log.displayed, log.clicks, log.examination]
    return sum(a.nbytes for a in arrays) + (log.placement.nbytes if log.placement is not None else 0)


def list_layout_table(log, rows):
    """The rejected layout: one fixed_size_list<k> column per ranked field (benchmark only)."""
    arrays = [pa.array(log.query[rows]), pa.array(log.round[rows]),
              pa.DictionaryArray.from_arrays(pa.array(log.policy_index[rows]), pa.array(log.policy))]
    fields = [pa.field("query", pa.int64(), False), pa.field("round", pa.int32(), False),
              pa.field("policy", pa.dictionary(pa.int32(), pa.string()), False)]
    for name in ("displayed", "clicks", "examination", "placement"):
        values = getattr(log, name)[rows]
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), K))
        fields.append(pa.field(name, pa.list_(pa.field("item", arrays[-1].type.value_type, False), K), False))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def save_list_layout(log, path, compression):
    writer = pq.ParquetWriter(path, list_layout_table(log, slice(0, 1)).schema, compression=compression,
                              use_dictionary=["policy"], write_statistics=["query", "round"],
                              write_page_checksum=True)
    for start in range(0, log.n_sessions, BLOCK):
        writer.write_table(list_layout_table(log, slice(start, start + BLOCK)), row_group_size=BLOCK)
    writer.close()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def load_list_layout(path):
    table = pq.read_table(path, page_checksum_verification=True)
    return {name: table.column(name).combine_chunks().values.to_numpy(zero_copy_only=False).reshape(-1, K)
            for name in ("displayed", "clicks", "examination", "placement")}


def bench_writes(log, folder, repeats, compare_layouts, load_every_option):
    """Write (and load) the log with every option; repeats go round-robin over the options, so that
    the load of a shared machine affects them alike, and the best time of each is kept."""
    path = folder / "write.parquet"
    logical = log_bytes(log)
    options = [("column per rank", c) for c in COMPRESSIONS]
    if compare_layouts:
        options += [("fixed-size list", c) for c in ("none", DEFAULT_COMPRESSION)]
    save_click_log(log, path)  # a first write faults in the page cache and pyarrow's memory pool
    best = {option: dict(write_s=float("inf"), loads=[]) for option in options}
    for _ in range(repeats):
        for option in options:
            layout, compression = option
            if layout == "column per rank":
                write = lambda: save_click_log(log, path, compression=compression)  # noqa: E731
                read = lambda: load_click_log(path)  # noqa: E731
            else:
                write = lambda: save_list_layout(log, path, compression)  # noqa: E731
                read = lambda: load_list_layout(path)  # noqa: E731
            result = best[option]
            remove = lambda: path.unlink(missing_ok=True)  # noqa: E731  (untimed, before the write)
            result["write_s"] = min(result["write_s"], best_time(write, 1, before=remove))
            result["file_mb"] = path.stat().st_size / MB
            if load_every_option or option == ("column per rank", DEFAULT_COMPRESSION):
                # The first load after a write pays the page faults of fresh memory (slow on a virtual
                # machine whose host reclaims freed guest pages); the next reuses what it freed.
                result["loads"] += [best_time(read, 1) for _ in range(2 if not result["loads"] else 1)]
    path.unlink()
    rows = []
    for (layout, compression), r in best.items():
        first, fastest = (r["loads"][0], min(r["loads"][1:])) if r["loads"] else (None, None)
        rows.append(dict(layout=layout, compression=compression, write_s=r["write_s"], file_mb=r["file_mb"],
                         file_mb_s=r["file_mb"] / r["write_s"], logical_mb_s=logical / MB / r["write_s"],
                         first_load_s=first, load_s=fastest,
                         load_logical_mb_s=logical / MB / fastest if fastest else None))
    return rows


def cpu_pressure():
    """Share of the last 60 s in which some runnable task waited for a CPU (Linux PSI), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


CHILD = """
import json, sys, time
import numpy as np
from simulator._click_log import aggregate_click_log, load_click_log, save_click_log, ClickLog

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

path, warmup, n_docs, batch, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# Import, numba compilation (or cache load) and pyarrow's first allocations happen before the measurement.
save_click_log(ClickLog(query=[0], round=[0], displayed=[list(range(10))], clicks=[[False] * 10],
                        examination=[[1.0] * 10], policy="p"), warmup)
aggregate_click_log(warmup, n_docs)
load_click_log(warmup).aggregate(n_docs)
baseline = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start = time.perf_counter()
if mode == "stream":
    stats = aggregate_click_log(path, n_docs, batch_sessions=batch)
else:
    stats = load_click_log(path).aggregate(n_docs)
seconds = time.perf_counter() - start
peak = status("VmHWM")
print(json.dumps(dict(sessions=stats.n_sessions, seconds=seconds, baseline=baseline, peak=peak)))
"""


def write_agg_file(path, n_sessions):
    """Blocks of BLOCK sessions (one simulated block reused with new rounds), written as they come."""
    block = make_block(BLOCK, 7, 0, placement=False, round_=0, policy="ranker")
    with ClickLogWriter(path, K, placement=False) as writer:
        for start in range(0, n_sessions, BLOCK):
            n = min(BLOCK, n_sessions - start)
            part = block if n == BLOCK else make_block(n, 8, start, placement=False, round_=0, policy="ranker")
            writer.write(dataclasses.replace(part, round=np.full(n, start // BLOCK, np.int32)))


def measure_in_child(path, folder, batch, mode):
    """Peak RSS of one aggregation in a fresh process, above its RSS just before the call."""
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(folder / "warmup.parquet"), str(N_DOCS),
                          str(batch), mode], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_aggregation(folder, n_sessions, batch):
    stats_mb = 4 * 8 * N_DOCS * K / MB  # ClickStatistics: four (n_docs, k) arrays of 8-byte numbers
    rows = []
    sizes = (max(n_sessions // 5, 1), n_sessions)
    for n in sizes:
        path = folder / f"agg_{n}.parquet"
        start = time.perf_counter()
        write_agg_file(path, n)
        write_s = time.perf_counter() - start
        modes = ("stream", "load") if n == sizes[0] else ("stream",)
        for mode in modes:
            m = measure_in_child(path, folder, batch, mode)
            assert m["sessions"] == n, m
            rows.append(dict(method=("aggregate_click_log" if mode == "stream" else "load_click_log().aggregate()"),
                             sessions=n, batch=batch if mode == "stream" else None,
                             file_mb=path.stat().st_size / MB, write_s=write_s, aggregate_s=m["seconds"],
                             sessions_per_s=n / m["seconds"], baseline_rss_mb=m["baseline"] / MB,
                             peak_above_baseline_mb=(m["peak"] - m["baseline"]) / MB, statistics_mb=stats_mb,
                             whole_log_in_memory_mb=n * (8 + 4 + 4 + K * (4 + 1 + 4)) / MB))
        path.unlink()
    return rows


def main(argv=None):
    parser = OneLineParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=positive_int, default=10_000_000, help="sessions of the write benchmark")
    parser.add_argument("--agg-sessions", type=positive_int, default=20_000_000, help="sessions of the aggregated file")
    parser.add_argument("--batch", type=positive_int, default=1_000_000, help="sessions per block when aggregating")
    parser.add_argument("--repeats", type=positive_int, default=1, help="writes per option (the best is kept)")
    parser.add_argument("--dir", type=existing_folder, default=None, help="folder for the files (default: a temporary one)")
    parser.add_argument("--load-every-option", action="store_true", help="time the load of every option")
    parser.add_argument("--compare-layouts", action="store_true", help="also time a fixed-size-list layout")
    parser.add_argument("--json", type=output_file, default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench_click_log_", dir=args.dir))
    try:
        started = time.perf_counter()
        log = make_log(args.sessions)
        size = log_bytes(log)
        print(f"click log: {log.n_sessions:,} sessions, k={K}, {size / MB:.0f} MB in memory "
              f"(built in {time.perf_counter() - started:.1f} s); files in {folder}")
        writes = bench_writes(log, folder, args.repeats, args.compare_layouts, args.load_every_option)
        del log
        print(f"\n{'layout':16} {'compression':>11} {'write s':>8} {'file MB':>8} {'file MB/s':>10} "
              f"{'memory MB/s':>12} {'first load s':>13} {'load s':>7} {'load memory MB/s':>17}")
        for r in writes:
            load = (f"{r['first_load_s']:13.2f} {r['load_s']:7.2f} {r['load_logical_mb_s']:17.0f}" if r["load_s"]
                    else f"{'-':>13} {'-':>7} {'-':>17}")
            print(f"{r['layout']:16} {r['compression']:>11} {r['write_s']:8.2f} {r['file_mb']:8.0f} "
                  f"{r['file_mb_s']:10.0f} {r['logical_mb_s']:12.0f} {load}")
        print(f"(default compression: {DEFAULT_COMPRESSION}; first load: right after the write, with page "
              "faults of fresh memory; load: best of the loads that follow it)")

        aggregation = bench_aggregation(folder, args.agg_sessions, args.batch)
        print(f"\n{'method':29} {'sessions':>11} {'batch':>10} {'file MB':>8} {'seconds':>8} {'sessions/s':>11} "
              f"{'peak RSS above start MB':>24} {'statistics MB':>14} {'whole log MB':>13}")
        for r in aggregation:
            batch = f"{r['batch']:,}" if r["batch"] else "-"
            print(f"{r['method']:29} {r['sessions']:11,} {batch:>10} {r['file_mb']:8.0f} {r['aggregate_s']:8.2f} "
                  f"{r['sessions_per_s']:11,.0f} {r['peak_above_baseline_mb']:24.0f} {r['statistics_mb']:14.0f} "
                  f"{r['whole_log_in_memory_mb']:13.0f}")
        total = time.perf_counter() - started
        pressure = cpu_pressure()
        print(f"\ntotal {total:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
              + (f"; CPU pressure (some, avg60) {pressure:.0f}%" if pressure is not None else ""))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if args.json:
        result = dict(
            args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            machine=dict(platform=platform.platform(), cpus=os.cpu_count(), numba_threads=numba.get_num_threads(),
                         numpy=np.__version__, pyarrow=pa.__version__, load_average=os.getloadavg(),
                         cpu_pressure_avg60=pressure),
            default_compression=DEFAULT_COMPRESSION, log_mb=size / MB, writes=writes,
            aggregation=aggregation, total_s=total,
        )
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
