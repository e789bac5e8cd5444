"""Click logs: value-object validation, exact Parquet round trips, streaming, and failures.

Logs are built directly with numpy (random displayed rows) and PBM clicks; no
other part of the simulator is involved.
"""

import dataclasses
import gc
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator import _click_log
from simulator._click_log import (
    ClickLog,
    ClickLogError,
    ClickLogWriter,
    aggregate_click_log,
    iter_click_log,
    load_click_log,
    save_click_log,
)
from simulator._click_models import PBM

N_DOCS = 300
LABELS = np.random.default_rng(12).integers(0, 5, N_DOCS)


def make_log(n_sessions=500, k=10, seed=0, *, placement=True, empty_slots=False, policy="pbm_ranker",
             round_=0):
    """A log of random rankings of N_DOCS documents with PBM clicks."""
    rng = np.random.default_rng(seed)
    displayed = rng.integers(0, N_DOCS, size=(n_sessions, k)).astype(np.int32)
    if empty_slots:
        # Short result lists (the tail of a session is empty) and a few holes anywhere.
        length = rng.integers(0, k + 1, size=n_sessions)
        displayed[np.arange(k)[None, :] >= length[:, None]] = -1
        displayed[rng.random((n_sessions, k)) < 0.05] = -1
    sim = PBM(eta=1.0).simulate(displayed, LABELS, seed=seed)
    return ClickLog(
        query=rng.integers(0, 50, n_sessions), round=np.full(n_sessions, round_), displayed=displayed,
        clicks=sim.clicks, examination=sim.examination, policy=policy,
        placement=rng.random((n_sessions, k), dtype=np.float32) if placement else None,
    )


def assert_identical(got, want):
    """Every array bit-equal with the same dtype and shape; same policy names and placement presence."""
    assert got.policy == want.policy
    for name in ("query", "round", "displayed", "clicks", "examination", "placement", "policy_index"):
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, f"{name} should be None"
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, f"{name}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{name} differs"
    assert got.equals(want)


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "log.parquet"
    log = make_log(400, seed=3, empty_slots=True)
    save_click_log(log, path, row_group_size=150)
    return path, log


# ------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("k", [1, 10])
@pytest.mark.parametrize("placement", [True, False])
@pytest.mark.parametrize("empty_slots", [False, True])
def test_round_trip_is_bit_identical(tmp_path, k, placement, empty_slots):
    log = make_log(700, k, seed=k, placement=placement, empty_slots=empty_slots)
    if empty_slots:
        assert (log.displayed == -1).any()
    path = tmp_path / "log.parquet"
    save_click_log(log, path, row_group_size=256)
    back = load_click_log(path)
    assert_identical(back, log)
    assert back.displayed.dtype == np.int32 and back.clicks.dtype == np.bool_
    assert back.examination.dtype == np.float32 and back.query.dtype == np.int64 and back.round.dtype == np.int32
    assert pq.ParquetFile(path).metadata.num_row_groups == 3


@pytest.mark.parametrize("compression", ["none", "snappy", "lz4", "zstd"])
def test_round_trip_for_every_compression(tmp_path, compression):
    log = make_log(300, seed=5, empty_slots=True)
    save_click_log(log, tmp_path / "log.parquet", compression=compression)
    assert_identical(load_click_log(tmp_path / "log.parquet"), log)


def test_round_trip_keeps_special_floats_and_extremes(tmp_path):
    """-0.0, subnormals, 0 and 1 survive bit for bit; int32 and int64 extremes too."""
    values = np.array([[-0.0, 1.0, 0.0, np.float32(1e-45)]], dtype=np.float32)
    log = ClickLog(query=[np.iinfo(np.int64).max], round=[np.iinfo(np.int32).max],
                   displayed=[[np.iinfo(np.int32).max, 0, -1, 5]], clicks=[[True, True, False, False]],
                   examination=values, placement=values[:, ::-1], policy="edge")
    save_click_log(log, tmp_path / "log.parquet")
    assert_identical(load_click_log(tmp_path / "log.parquet"), log)


def test_round_trip_of_several_policies_and_unused_names(tmp_path):
    log = ClickLog.concatenate([make_log(50, seed=s, policy=name) for s, name in enumerate("abca")])
    log = dataclasses.replace(log, policy=log.policy + ("never_used",))
    save_click_log(log, tmp_path / "log.parquet", row_group_size=40)
    back = load_click_log(tmp_path / "log.parquet")
    assert_identical(back, log)
    assert back.session_policy.tolist() == ["a"] * 50 + ["b"] * 50 + ["c"] * 50 + ["a"] * 50


def test_round_trip_of_an_empty_log(tmp_path):
    log = make_log(0, k=4, policy="nothing_yet")
    save_click_log(log, tmp_path / "log.parquet")
    back = load_click_log(tmp_path / "log.parquet")
    assert_identical(back, log)
    assert back.n_sessions == 0 and back.k == 4
    assert list(iter_click_log(tmp_path / "log.parquet")) == []


def test_file_metadata_describes_the_log(tmp_path):
    save_click_log(make_log(10, k=3, policy="p"), tmp_path / "log.parquet")
    meta = pq.ParquetFile(tmp_path / "log.parquet").metadata.metadata
    assert meta[b"clickloop_schema_version"] == b"1"
    assert meta[b"clickloop_k"] == b"3"
    assert meta[b"clickloop_placement"] == b"true"
    assert json.loads(meta[b"clickloop_policies"]) == ["p"]
    assert set(json.loads(meta[b"clickloop_columns"])) == {
        "query", "round", "policy", "displayed_r", "clicks_r", "examination_r", "placement_r"}
    schema = pq.ParquetFile(tmp_path / "log.parquet").schema_arrow
    assert schema.names[:6] == ["query", "round", "policy", "displayed_1", "displayed_2", "displayed_3"]
    assert pa.types.is_dictionary(schema.field("policy").type)


def test_writer_appends_blocks(tmp_path):
    blocks = [make_log(120, seed=s, round_=s, policy=f"round{s % 2}") for s in range(4)]
    path = tmp_path / "log.parquet"
    with ClickLogWriter(path, k=10, placement=True, row_group_size=100) as writer:
        for block in blocks:
            writer.write(block)
        assert not path.exists(), "the target appears only once the writer is closed"
    assert writer.closed and writer.n_sessions == 480
    assert_identical(load_click_log(path), ClickLog.concatenate(blocks))
    assert pq.ParquetFile(path).metadata.num_row_groups == 8


def test_loaded_arrays_are_read_only(good_file):
    log = load_click_log(good_file[0])
    for name in ("query", "round", "displayed", "clicks", "examination", "placement", "policy_index"):
        assert not getattr(log, name).flags.writeable, name


# ------------------------------------------------------------------------------------------------
# Concatenation and aggregation


def test_concatenation_across_rounds():
    rounds = [make_log(100 + 10 * r, seed=r, round_=r, policy=name)
              for r, name in enumerate(["uniform", "ranker", "uniform"])]
    log = ClickLog.concatenate(rounds)
    assert log.n_sessions == 330 and log.k == 10
    assert log.policy == ("uniform", "ranker")
    assert np.array_equal(log.round, np.repeat([0, 1, 2], [100, 110, 120]))
    assert np.array_equal(log.policy_index, np.repeat([0, 1, 0], [100, 110, 120]))
    for name in ("query", "displayed", "clicks", "examination", "placement"):
        assert np.array_equal(getattr(log, name), np.concatenate([getattr(r, name) for r in rounds])), name
    assert ClickLog.concatenate([rounds[1]]).equals(rounds[1])


def test_concatenation_remaps_policy_codes():
    a = ClickLog.concatenate([make_log(3, seed=0, policy="x"), make_log(2, seed=1, policy="y")])
    b = ClickLog.concatenate([make_log(2, seed=2, policy="y"), make_log(1, seed=3, policy="z")])
    log = ClickLog.concatenate([a, b])
    assert log.policy == ("x", "y", "z")
    assert log.session_policy.tolist() == ["x"] * 3 + ["y"] * 4 + ["z"]


@pytest.mark.parametrize("logs, match", [
    ([], "at least one ClickLog"),
    (["not a log"], r"logs\[0\] must be a ClickLog"),
    ([make_log(5, k=10), make_log(5, k=9)], r"same k; logs\[0\] has k=10, logs\[1\] has k=9"),
    ([make_log(5), make_log(5, placement=False)], r"placement is known for logs \[0\] but not"),
])
def test_concatenation_rejects(logs, match):
    with pytest.raises(ValueError, match=match):
        ClickLog.concatenate(logs)


def reference_statistics(log):
    """Plain-Python aggregation: (doc, rank) -> [impressions, clicks, summed examination]."""
    cells = {}
    for s in range(log.n_sessions):
        for r in range(log.k):
            d = int(log.displayed[s, r])
            if d < 0:
                continue
            cell = cells.setdefault((d, r), [0, 0, 0.0])
            cell[0] += 1
            cell[1] += int(log.clicks[s, r])
            cell[2] += float(log.examination[s, r])
    return cells


def test_aggregation_equals_a_python_loop():
    log = make_log(600, seed=9, empty_slots=True)
    stats = log.aggregate(N_DOCS)
    cells = reference_statistics(log)
    assert stats.n_sessions == 600 and stats.impressions.shape == (N_DOCS, 10)
    impressions = np.zeros((N_DOCS, 10), np.int64)
    clicks = np.zeros((N_DOCS, 10), np.int64)
    examination = np.zeros((N_DOCS, 10))
    for (d, r), (n, c, e) in cells.items():
        impressions[d, r], clicks[d, r], examination[d, r] = n, c, e
    assert np.array_equal(stats.impressions, impressions)
    assert np.array_equal(stats.clicks, clicks)
    # Same additions in the same (session) order: the float64 sums agree exactly.
    assert np.array_equal(stats.examination, examination)


def test_streaming_aggregation_equals_in_memory(tmp_path):
    log = ClickLog.concatenate([make_log(700, seed=s, round_=s, empty_slots=bool(s % 2)) for s in range(3)])
    path = tmp_path / "log.parquet"
    save_click_log(log, path, row_group_size=500)
    blocks = list(iter_click_log(path, batch_sessions=128))
    assert len(blocks) >= 15 and max(b.n_sessions for b in blocks) <= 128
    assert_identical(ClickLog.concatenate(blocks), log)
    for batch in (128, 500, 10_000):
        assert aggregate_click_log(path, N_DOCS, batch_sessions=batch).equals(log.aggregate(N_DOCS)), batch


def test_streaming_memory_does_not_grow_with_the_file(tmp_path):
    """Arrow memory held while iterating stays at about one block, not a growing part of the file.

    (pyarrow's pre-buffering would hold the raw bytes of every row group read, apache/arrow#39808.)
    """
    path = tmp_path / "log.parquet"
    save_click_log(make_log(24_000, seed=1), path, row_group_size=500)
    held = [pa.total_allocated_bytes() for _ in iter_click_log(path, batch_sessions=500)]
    assert len(held) == 48
    assert max(held) < path.stat().st_size / 8, f"arrow held {max(held)} bytes of a {path.stat().st_size}-byte file"
    assert max(held) <= 1.5 * held[1], f"arrow memory grew from {held[1]} to {max(held)} bytes while streaming"


def test_aggregation_needs_enough_documents(good_file):
    path, log = good_file
    with pytest.raises(ValueError, match=f"{path}: displayed refers to document row {log.displayed.max()}"):
        aggregate_click_log(path, n_docs=int(log.displayed.max()))


# ------------------------------------------------------------------------------------------------
# Unreadable files


def _truncated(path, tmp_path):
    data = path.read_bytes()
    bad = tmp_path / "truncated.parquet"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def _random_bytes(path, tmp_path):
    bad = tmp_path / "random.parquet"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return bad


def _empty_file(path, tmp_path):
    bad = tmp_path / "empty.parquet"
    bad.write_bytes(b"")
    return bad


def _other_parquet(path, tmp_path):
    bad = tmp_path / "other.parquet"
    pq.write_table(pa.table({"user": [1, 2], "score": [0.5, 0.1]}), bad)
    return bad


def _rewritten(path, tmp_path, name, edit_metadata=None, edit_table=None):
    """The good file's table and metadata, edited and written back with plain pyarrow."""
    meta = dict(pq.ParquetFile(path).metadata.metadata)
    meta.pop(b"ARROW:schema")
    table = pq.read_table(path)
    if edit_metadata:
        meta = edit_metadata(meta)
    if edit_table:
        table = edit_table(table)
    bad = tmp_path / name
    pq.write_table(table.replace_schema_metadata(meta), bad)
    return bad


def _wrong_version(path, tmp_path):
    return _rewritten(path, tmp_path, "v2.parquet", edit_metadata=lambda m: {**m, b"clickloop_schema_version": b"2"})


def _missing_column(path, tmp_path):
    return _rewritten(path, tmp_path, "missing.parquet", edit_table=lambda t: t.drop_columns(["clicks_3"]))


def _wrong_type(path, tmp_path):
    def edit(table):
        i = table.schema.get_field_index("displayed_2")
        return table.set_column(i, pa.field("displayed_2", pa.int64(), False),
                                table.column(i).cast(pa.int64()))
    return _rewritten(path, tmp_path, "int64.parquet", edit_table=edit)


def _no_policies(path, tmp_path):
    return _rewritten(path, tmp_path, "nopolicies.parquet",
                      edit_metadata=lambda m: {k: v for k, v in m.items() if k != b"clickloop_policies"})


def _absurd_k(path, tmp_path):
    return _rewritten(path, tmp_path, "k.parquet", edit_metadata=lambda m: {**m, b"clickloop_k": b"1000000000"})


def _missing_file(path, tmp_path):
    return tmp_path / "does_not_exist.parquet"


def _directory(path, tmp_path):
    (tmp_path / "a_folder.parquet").mkdir()
    return tmp_path / "a_folder.parquet"


BAD_FILES = {
    "truncated": (_truncated, "not a readable Parquet file"),
    "random_bytes": (_random_bytes, "not a readable Parquet file"),
    "empty": (_empty_file, "not a readable Parquet file"),
    "other_parquet": (_other_parquet, "not a click log"),
    "wrong_version": (_wrong_version, "schema version '2' is not supported"),
    "missing_column": (_missing_column, r"columns do not match a click log with k=10: missing \['clicks_3'\]$"),
    "wrong_type": (_wrong_type, "column displayed_2 must be a non-nullable int32, got int64"),
    "no_policy_metadata": (_no_policies, "incomplete click log metadata \\(no clickloop_policies\\)"),
    "absurd_k": (_absurd_k, r"invalid click log metadata \(clickloop_k = 1000000000 does not fit"),
    "missing_file": (_missing_file, "no such file"),
    "directory": (_directory, "is a directory"),
}

READERS = {
    "load": load_click_log,
    "iter": lambda path: list(iter_click_log(path, batch_sessions=100)),
    "aggregate": lambda path: aggregate_click_log(path, N_DOCS),
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("make_bad, match", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_unreadable_files_raise_click_log_error(good_file, tmp_path, make_bad, match, reader):
    bad = make_bad(good_file[0], tmp_path)
    with pytest.raises(ClickLogError, match=match) as info:
        reader(bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message, message
    assert isinstance(info.value, ValueError)


def test_corrupted_data_page_is_detected(tmp_path):
    """Bytes flipped inside the data fail the page checksums instead of yielding other clicks."""
    path = tmp_path / "log.parquet"
    save_click_log(make_log(3000, seed=4), path, compression="none")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))
    with pytest.raises(ClickLogError, match=f"^{path}: ") as info:
        load_click_log(path)
    assert "\n" not in str(info.value)


def test_iteration_reports_the_file_when_opening(tmp_path):
    """The error comes at the first next(), naming the path, not as a pyarrow error later."""
    blocks = iter_click_log(tmp_path / "nothing.parquet")
    with pytest.raises(ClickLogError, match="nothing.parquet: no such file"):
        next(blocks)


# ------------------------------------------------------------------------------------------------
# Failed saves leave nothing behind and never clobber a good file


def test_failed_write_midway_keeps_the_previous_file(good_file, monkeypatch):
    path, log = good_file
    before = path.read_bytes()
    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_click_log(make_log(1000, seed=8), path, row_group_size=100)
    assert len(calls) == 2
    assert os.listdir(path.parent) == [path.name]
    assert path.read_bytes() == before
    assert_identical(load_click_log(path), log)


def test_failed_write_cannot_be_committed(tmp_path, monkeypatch):
    """Outside a with block too: after a failed write, close() must not publish a partial file."""
    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("no space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    writer = ClickLogWriter(tmp_path / "log.parquet", k=10, placement=True, row_group_size=100)
    writer.write(make_log(150))
    with pytest.raises(OSError, match="no space left"):
        writer.write(make_log(300))
    assert writer.closed
    writer.close()
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pq.ParquetWriter, "write_table", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_click_log(make_log(50), tmp_path / "log.parquet")
    assert os.listdir(tmp_path) == []


def test_failed_commit_removes_the_temporary_file(tmp_path):
    """The target is a folder: everything is written, the final rename fails, nothing is left."""
    (tmp_path / "log.parquet").mkdir()
    with pytest.raises(OSError):
        save_click_log(make_log(50), tmp_path / "log.parquet")
    assert os.listdir(tmp_path) == ["log.parquet"] and (tmp_path / "log.parquet").is_dir()


def test_save_into_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "no" / "such" / "log.parquet"
    with pytest.raises(FileNotFoundError, match="cannot create a temporary file next to the click log") as info:
        save_click_log(make_log(5), target)
    assert info.value.filename == str(target)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_save_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            save_click_log(make_log(5), folder / "log.parquet")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_writer_aborted_or_abandoned_leaves_nothing(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with ClickLogWriter(tmp_path / "a.parquet", k=10, placement=True) as writer:
            writer.write(make_log(20))
            1 / 0
    assert writer.closed
    writer = ClickLogWriter(tmp_path / "b.parquet", k=10, placement=True)
    writer.write(make_log(20))
    del writer
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_saved_file_honours_the_umask(tmp_path):
    path = tmp_path / "log.parquet"
    save_click_log(make_log(5), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------------------------------
# Validation


def valid_arrays(**changes):
    arrays = dict(
        query=np.array([0, 1, 2]), round=np.array([0, 0, 1]),
        displayed=np.array([[0, 1, 2], [3, -1, -1], [5, 4, 3]]),
        clicks=np.array([[True, False, False], [False, False, False], [False, True, False]]),
        examination=np.array([[1.0, 0.5, 0.25], [1.0, 0.0, 0.0], [1.0, 0.5, 0.25]]),
        placement=np.full((3, 3), 0.5), policy="p",
    )
    arrays.update(changes)
    return arrays


INVALID = {
    "displayed_1d": (dict(displayed=np.array([0, 1, 2])), r"displayed must have shape \(n_sessions, k\), got shape \(3,\)"),
    "displayed_float": (dict(displayed=np.zeros((3, 3))), "displayed must hold integers, got dtype float64"),
    "displayed_below_-1": (dict(displayed=np.array([[0, 1, 2], [3, -2, -1], [5, 4, 3]])),
                           r"displayed must be >= -1 .* got displayed\[1, 1\] = -2"),
    "displayed_too_large": (dict(displayed=np.full((3, 3), 2**40)), r"displayed must fit in int32, got values in"),
    "k_zero": (dict(displayed=np.zeros((3, 0), int), clicks=np.zeros((3, 0), bool), examination=np.zeros((3, 0)),
                    placement=None), "k >= 1"),
    "clicks_shape": (dict(clicks=np.zeros((3, 2), bool)), r"clicks must have the shape of displayed \(3, 3\), got \(3, 2\)"),
    "clicks_not_boolean": (dict(clicks=np.full((3, 3), 2)), r"clicks must hold booleans \(or 0/1\)"),
    "clicks_strings": (dict(clicks=np.full((3, 3), "yes")), "clicks must hold booleans, got dtype <U3"),
    "click_on_empty_slot": (dict(clicks=np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])),
                            r"clicks must be False on empty slots .* click at \[1, 2\]"),
    "examination_above_1": (dict(examination=np.full((3, 3), 1.5)),
                            r"examination must hold probabilities in \[0, 1\], got examination\[0, 0\] = 1.5"),
    "examination_negative": (dict(examination=np.full((3, 3), -0.1)), r"examination must hold probabilities in \[0, 1\]"),
    "examination_nan": (dict(examination=np.where(np.eye(3, dtype=bool), np.nan, 0.5)),
                        r"examination must hold probabilities .* = nan"),
    "examination_shape": (dict(examination=np.ones((3, 4))), r"examination must have the shape of displayed"),
    "placement_above_1": (dict(placement=np.full((3, 3), 2.0)), r"placement must hold probabilities in \[0, 1\]"),
    "placement_shape": (dict(placement=np.ones((2, 3))), r"placement must have the shape of displayed"),
    "query_length": (dict(query=np.array([0, 1])), r"query must have shape \(3,\) like displayed's sessions, got \(2,\)"),
    "query_negative": (dict(query=np.array([0, -4, 2])), r"query must be >= 0, got query\[1\] = -4"),
    "query_2d": (dict(query=np.zeros((3, 1), int)), r"query must have shape \(n_sessions,\)"),
    "round_negative": (dict(round=np.array([0, 0, -1])), "round must be >= 0"),
    "round_float": (dict(round=np.array([0.0, 0.5, 1.0])), "round must hold integers, got dtype float64"),
    "round_too_large": (dict(round=np.array([0, 0, 2**33])), "round must fit in int32"),
    "policy_empty_name": (dict(policy=""), "policy names must be non-empty strings"),
    "policy_not_str": (dict(policy=7), "policy must be a str or a sequence of str, got int"),
    "policy_name_not_str": (dict(policy=("a", 3)), "policy names must be non-empty strings, got 3"),
    "policy_duplicates": (dict(policy=("a", "a")), "policy names must be distinct"),
    "policy_none_named": (dict(policy=()), "policy must name the logging policy"),
    "policy_index_missing": (dict(policy=("a", "b")), "policy_index is required when policy holds 2 names"),
    "policy_index_range": (dict(policy=("a", "b"), policy_index=np.array([0, 2, 1])),
                           r"policy_index must lie in 0..1 .* got values in \[0, 2\]"),
    "policy_index_length": (dict(policy=("a", "b"), policy_index=np.array([0, 1])),
                            r"policy_index must have shape \(3,\)"),
}


@pytest.mark.parametrize("changes, match", INVALID.values(), ids=INVALID.keys())
def test_invalid_logs_are_rejected(changes, match):
    with pytest.raises(ValueError, match=match):
        ClickLog(**valid_arrays(**changes))


def test_valid_log_converts_dtypes_once_and_is_read_only():
    arrays = valid_arrays()
    log = ClickLog(**arrays)
    assert log.displayed.dtype == np.int32 and log.examination.dtype == np.float32
    assert log.placement.dtype == np.float32 and log.query.dtype == np.int64 and log.round.dtype == np.int32
    assert log.clicks.dtype == np.bool_ and log.policy_index.tolist() == [0, 0, 0] and log.policy == ("p",)
    with pytest.raises(ValueError, match="read-only"):
        log.clicks[0, 0] = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.policy = "q"
    # An array of the right dtype is shared, not copied; the caller's array stays writable.
    displayed = np.zeros((3, 3), np.int32)
    shared = ClickLog(**valid_arrays(displayed=displayed, clicks=np.zeros((3, 3), bool)))
    assert np.shares_memory(shared.displayed, displayed) and displayed.flags.writeable


BAD_CALLS = {
    "save_not_a_log": (lambda p: save_click_log({"query": []}, p), "log must be a ClickLog, got dict"),
    "save_row_group_size": (lambda p: save_click_log(make_log(3), p, row_group_size=0),
                            "row_group_size must be an integer >= 1, got 0"),
    "save_compression": (lambda p: save_click_log(make_log(3), p, compression="lzo"),
                         "compression must be one of .* got 'lzo'"),
    "writer_k": (lambda p: ClickLogWriter(p, k=0, placement=True), "k must be an integer >= 1, got 0"),
    "writer_placement": (lambda p: ClickLogWriter(p, k=2, placement="yes"), "placement must be True or False"),
    "writer_other_k": (lambda p: ClickLogWriter(p, k=9, placement=True).write(make_log(3)),
                       "log must show k=9 ranks like the writer, got k=10"),
    "writer_other_placement": (lambda p: ClickLogWriter(p, k=10, placement=False).write(make_log(3)),
                               "opened with placement=False, got a log with placement known"),
    "iter_batch": (lambda p: next(iter_click_log(p, batch_sessions=0)), "batch_sessions must be an integer >= 1"),
    "aggregate_n_docs": (lambda p: aggregate_click_log(p, n_docs=-1), "n_docs must be an integer >= 0, got -1"),
    "aggregate_method_n_docs": (lambda p: make_log(3).aggregate(2.5), "n_docs must be an integer >= 0, got 2.5"),
}


@pytest.mark.parametrize("call, match", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_parameters_are_rejected(good_file, call, match):
    with pytest.raises(ValueError, match=match):
        call(good_file[0])
    gc.collect()  # abandoned writers remove their temporary files
    assert os.listdir(good_file[0].parent) == [good_file[0].name]


def test_writer_refuses_writes_after_close(tmp_path):
    writer = ClickLogWriter(tmp_path / "log.parquet", k=10, placement=True)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="writer of .* is closed"):
        writer.write(make_log(2))
    assert load_click_log(tmp_path / "log.parquet").n_sessions == 0


def test_default_compression_is_a_known_codec():
    assert _click_log.DEFAULT_COMPRESSION in _click_log._COMPRESSIONS
