"""Tests of simulator._letor: load_letor, save_letor, LetorFormatError."""

import bz2
import gzip
import lzma
import os
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from simulator._dataset import RankingDataset
from simulator._letor import (
    LetorFormatError,
    _exact_texts,
    _first_error,
    load_letor,
    save_letor,
)
from simulator._synthetic import make_synthetic

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lightgbm-lambdarank"


def bits(array):
    return np.ascontiguousarray(array).view(np.uint32)


def tricky_dataset(seed=0):
    """Features with random float32 bit patterns (all finite ones: subnormals,
    huge values, -0.0), about half zeros, and an all-zero last column."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 8, size=40)
    n = int(sizes.sum())
    raw = rng.integers(0, 2**32, size=(n, 9), dtype=np.uint64).astype(np.uint32)
    features = raw.view(np.float32).copy()
    features[~np.isfinite(features)] = 1.5
    features[rng.random((n, 9)) < 0.5] = 0.0
    features[:5, 0] = [-0.0, np.finfo(np.float32).max, np.finfo(np.float32).smallest_subnormal, 0.1, -1e-8]
    features[:, -1] = 0.0
    query_ids = rng.choice(np.arange(-1000, 1000), size=40, replace=False)
    query_ids[0] = 2**62
    return RankingDataset.from_group_sizes(
        features, rng.integers(0, 5, size=n), sizes, query_ids=query_ids, name="tricky"
    )


def assert_identical(loaded, original, same_ids=True):
    assert loaded.features.shape == original.features.shape
    np.testing.assert_array_equal(bits(loaded.features), bits(original.features))
    np.testing.assert_array_equal(loaded.labels, original.labels)
    np.testing.assert_array_equal(loaded.query_boundaries, original.query_boundaries)
    if same_ids:
        np.testing.assert_array_equal(loaded.query_ids, original.query_ids)
    else:
        np.testing.assert_array_equal(loaded.query_ids, np.arange(original.n_queries))


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("suffix", ["txt", "txt.gz"])
def test_round_trip_with_qid_is_bit_identical(tmp_path, suffix):
    data = tricky_dataset()
    path = tmp_path / f"tricky.{suffix}"
    save_letor(data, path)
    loaded = load_letor(path)
    assert_identical(loaded, data)
    assert loaded.name == f"tricky.{suffix}"


def test_round_trip_with_group_file_is_identical(tmp_path):
    data = tricky_dataset(seed=1)
    path = tmp_path / "rank.train"
    save_letor(data, path, with_qid=False)
    assert "qid:" not in path.read_text()
    sizes = [int(line) for line in (tmp_path / "rank.train.query").read_text().split()]
    assert sizes == data.query_sizes.tolist()
    assert_identical(load_letor(path), data, same_ids=False)


def test_round_trip_with_explicit_group_path(tmp_path):
    data = make_synthetic(n_queries=20, docs_per_query=(1, 6), n_features=4, seed=2)
    save_letor(data, tmp_path / "d.svm", with_qid=False, group_path=tmp_path / "groups")
    assert not (tmp_path / "d.svm.query").exists()
    loaded = load_letor(tmp_path / "d.svm", group_path=tmp_path / "groups", name="x")
    assert_identical(loaded, data)  # synthetic query ids are 0 .. n - 1 anyway
    assert loaded.name == "x"


def test_saved_files_pass_the_line_scanner(tmp_path):
    # The fast path and the Python scanner must agree on what is valid.
    save_letor(tricky_dataset(), tmp_path / "a")
    assert _first_error((tmp_path / "a").read_bytes(), None) is None


def test_exact_texts_falls_back_to_the_float64_repr():
    values = np.array([0.1, 2.5, 1 / 3], dtype=np.float32)
    wrong = np.array(["0.1", "2.4", "0.3333"])  # the last two do not read back
    texts = _exact_texts(values, wrong)
    assert texts[0] == "0.1" and texts[1] == "2.5"
    assert texts[2] == repr(float(np.float32(1 / 3)))
    assert np.float32(float(texts[2])) == values[2]


def test_zeros_are_omitted_and_indices_are_one_based(tmp_path):
    data = RankingDataset.from_group_sizes([[0.0, 0.5, 0.0], [2.0, 0.0, 0.25]], [1, 0], [2])
    save_letor(data, tmp_path / "f")
    assert (tmp_path / "f").read_text() == "1 qid:0 2:0.5\n0 qid:0 1:2.0 3:0.25\n"


def test_n_features_pads_columns(tmp_path):
    path = tmp_path / "f"
    path.write_text("1 qid:3 1:1 3:2\n0 qid:3 2:4\n")
    loaded = load_letor(path, n_features=5)
    assert loaded.features.shape == (2, 5)
    np.testing.assert_array_equal(loaded.features[:, 3:], 0)
    np.testing.assert_array_equal(loaded.features[:, :3], [[1, 0, 2], [0, 4, 0]])


def test_comments_blank_lines_and_spacing(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(
        b"# MQ2007-like header\n\n"
        b"2 qid:10 1:0.5\t3:1 #docid = GX000 inc = 1\r\n"
        b"   0 qid:10 2:1e-3\n"
        b"1 qid:4 # a row without features\n"
    )
    loaded = load_letor(path)
    np.testing.assert_array_equal(loaded.query_ids, [10, 4])
    np.testing.assert_array_equal(loaded.labels, [2, 0, 1])
    np.testing.assert_array_equal(loaded.features, np.float32([[0.5, 0, 1], [0, 1e-3, 0], [0, 0, 0]]))


# ------------------------------------------------------------- malformed files
MALFORMED = [
    ("1 qid:1 1:0.5\n1 qid:1 x:1\n", 2, r"feature token 'x:1' is not idx:value with a positive integer idx"),
    ("1 qid:1 1:0.5\n\n# comment\n0 qid:1 2:abc\n", 4, r"feature token '2:abc' is not idx:value with a numeric value"),
    ("1 qid:1 1:\n", 1, r"feature token '1:' is not idx:value with a numeric value"),
    ("1 qid:1 junk\n", 1, r"feature token 'junk' is not idx:value"),
    ("1 qid:1 1:1 qid:2\n", 1, r"feature token 'qid:2' is not idx:value"),
    ("1 qid:1 0:1\n", 1, r"feature token '0:1' is not idx:value with a positive integer idx"),
    ("1 qid:1 -3:1\n", 1, r"feature token '-3:1' is not idx:value with a positive integer idx"),
    ("1 qid:1 1.5:1\n", 1, r"feature token '1.5:1' is not idx:value with a positive integer idx"),
    ("1 qid:1 99999999999:1\n", 1, r"feature index in '99999999999:1' is above 100,000, the largest read without n_features"),
    ("1 qid:1 1:1 99999999999999999999999:1\n", 1, r"feature index in '99999999999999999999999:1' is above 100,000"),
    ("1 qid:1 1:1_0\n", 1, r"feature token '1:1_0' is not idx:value with a numeric value"),
    ("1 qid:1 1_0:1\n", 1, r"feature token '1_0:1' is not idx:value with a positive integer idx"),
    ("1 qid:1 1:0.5.3\n", 1, r"feature token '1:0.5.3' is not idx:value with a numeric value"),
    ("1 qid:1 1:2:3\n", 1, r"feature token '1:2:3' is not idx:value with a numeric value"),
    ("1 qid:1 1:1e\n", 1, r"feature token '1:1e' is not idx:value with a numeric value"),
    ("1 qid:1 1:-inf\n", 1, r"feature value in '1:-inf' is not a finite float32"),
    ("1 qid:1 1:1e400\n", 1, r"feature value in '1:1e400' is not a finite float32"),
    ("1 qid:1 1:-3.5e38\n", 1, r"feature value in '1:-3.5e38' is not a finite float32"),
    ("1 qid:1 1:\xff\n", 1, r"feature token '1:\\\\xff' is not idx:value with a numeric value"),
    ("1_0 qid:1 1:1\n", 1, r"label '1_0' is not a number"),
    ("1e400 qid:1 1:1\n", 1, r"label '1e400' is not a non-negative integer grade"),
    ("1e16 qid:1 1:1\n", 1, r"label '1e16' is not a non-negative integer grade"),
    ("1 qid:1_0 1:1\n", 1, r"qid token 'qid:1_0' is not qid:<64-bit integer>"),
    ("1 qid:9223372036854775808 1:1\n", 1, r"qid token 'qid:9223372036854775808' is not qid:<64-bit integer>"),
    ("1 qid:1 1:1 # a comment with a NUL \x00\n", 1, r"line contains a NUL byte"),
    ("1 qid:1 2:1 1:1\n", 1, r"feature index in '1:1' is not larger than the previous index 2"),
    ("1 qid:1 2:1 2:1\n", 1, r"feature index in '2:1' is not larger than the previous index 2"),
    ("1 qid:1 1:inf\n", 1, r"feature value in '1:inf' is not a finite float32"),
    ("1 qid:1 1:nan\n", 1, r"feature value in '1:nan' is not a finite float32"),
    ("1 qid:1 1:1e39\n", 1, r"feature value in '1:1e39' is not a finite float32"),
    ("qid:1 1:0.5\n", 1, r"label 'qid:1' is not a number"),
    ("0 1:1\n1:0.5 2:1\n", 2, r"label '1:0.5' is not a number"),
    ("1.5 qid:1 1:1\n", 1, r"label '1.5' is not a non-negative integer grade"),
    ("1 qid:1 1:1\n-1 qid:1 1:1\n", 2, r"label '-1' is not a non-negative integer grade"),
    ("nan qid:1 1:1\n", 1, r"label 'nan' is not a non-negative integer grade"),
    ("1 qid:abc 1:1\n", 1, r"qid token 'qid:abc' is not qid:<64-bit integer>"),
    ("1 qid 1:1\n", 1, r"qid token 'qid' is not qid:<64-bit integer>"),
    ("1 qid:1 1:1\n0 1:1\n", 2, r"row has no qid: field but the first row \(line 1\) does"),
    ("1 1:1\n0 qid:1 1:1\n", 2, r"row has a qid: field but the first row \(line 1\) does not"),
    ("1 qid:1 1:1\n0 qid:2 1:1\n1 qid:1 1:2\n", 3, r"qid 1 reappears after other queries \(first seen at line 1\)"),
    ("1 qid:1 1:1\x00\n", 1, r"line contains a NUL byte"),
    ("", 1, r"no data rows \(the file is empty or holds only comments\)"),
    ("# only a comment\n\n", 1, r"no data rows"),
    ("\xe9 1:1\n", 1, r"label '\\\\xe9' is not a number"),
]


@pytest.mark.parametrize("content, line, message", MALFORMED)
def test_malformed_files_name_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content.encode("latin-1"))
    (tmp_path / "bad.txt.query").write_text("1\n")  # so no-qid files get that far
    with pytest.raises(LetorFormatError, match=rf"^{re.escape(str(path))}:{line}: {message}") as info:
        load_letor(path)
    assert "\n" not in str(info.value), "the message must be one line"


def test_the_first_bad_line_is_reported_after_many_good_ones(tmp_path):
    data = make_synthetic(n_queries=50, docs_per_query=10, n_features=5, seed=0)
    path = tmp_path / "big.txt"
    save_letor(data, path)
    lines = path.read_text().splitlines(keepends=True)
    assert " 3:" in lines[337]  # synthetic features are never exactly zero
    lines[337] = lines[337].replace(" 3:", " 3:x", 1)
    lines.insert(0, "# header\n")  # the bad row is now line 339
    path.write_text("".join(lines))
    with pytest.raises(LetorFormatError, match=r"big\.txt:339: feature token '3:x"):
        load_letor(path)


def test_n_features_smaller_than_the_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("1 qid:1 1:1\n0 qid:1 2:1 5:1\n")
    with pytest.raises(LetorFormatError, match=r"f:2: feature index in '5:1' exceeds n_features=2"):
        load_letor(path, n_features=2)


@pytest.mark.parametrize("n_features", [0, -1, 2.0, True])
def test_bad_n_features(tmp_path, n_features):
    with pytest.raises(ValueError, match=r"n_features must be None or an integer >= 1, got"):
        load_letor(tmp_path / "never-read", n_features=n_features)


# ----------------------------------------------------------------- group files
GROUP_ERRORS = [
    ("2\n3\n", 2, r"group sizes add up to 5 but .*data has 6 rows"),
    ("2\n3\n4\n", 3, r"group sizes add up to 9 by this line but .*data has only 6 rows"),
    ("2\n0\n4\n", 2, r"group size '0' is not a positive integer"),
    ("2\n-1\n5\n", 2, r"group size '-1' is not a positive integer"),
    ("2\nx\n4\n", 2, r"group size 'x' is not a positive integer"),
    ("2 4\n", 1, r"group size '2 4' is not a positive integer"),
    ("", 1, r"group file holds no group sizes"),
]


@pytest.mark.parametrize("groups, line, message", GROUP_ERRORS)
def test_bad_group_files(tmp_path, groups, line, message):
    (tmp_path / "data").write_text("1 1:1\n" * 6)
    group_path = tmp_path / "data.query"
    group_path.write_text(groups)
    with pytest.raises(LetorFormatError, match=rf"^{re.escape(str(group_path))}:{line}: {message}"):
        load_letor(tmp_path / "data")


def test_group_file_with_blank_lines(tmp_path):
    (tmp_path / "data").write_text("1 1:1\n" * 6)
    (tmp_path / "data.query").write_text("2\n\n4\n\n")
    np.testing.assert_array_equal(load_letor(tmp_path / "data").query_sizes, [2, 4])


def test_no_qid_and_no_group_file(tmp_path):
    path = tmp_path / "data"
    path.write_text("1 1:1\n0 2:1\n")
    with pytest.raises(LetorFormatError, match=r"rows have no qid: field and no group file was found \(looked for .*data\.query\)"):
        load_letor(path)


def test_group_path_for_a_file_with_qid(tmp_path):
    path = tmp_path / "data"
    path.write_text("1 qid:1 1:1\n")
    (tmp_path / "groups").write_text("1\n")
    with pytest.raises(ValueError, match=r"group_path must be None for .*data, whose rows have qid: fields"):
        load_letor(path, group_path=tmp_path / "groups")


def test_missing_files(tmp_path):
    # A missing file is a LetorFormatError of one line naming it, like a folder or an unreadable file.
    missing = re.escape(str(tmp_path / "nope"))
    with pytest.raises(LetorFormatError, match=f"^{missing}: cannot be read: No such file or directory$"):
        load_letor(tmp_path / "nope")
    (tmp_path / "data").write_text("1 1:1\n")
    missing = re.escape(str(tmp_path / "groups"))
    with pytest.raises(LetorFormatError, match=f"^{missing}: cannot be read: No such file or directory$"):
        load_letor(tmp_path / "data", group_path=tmp_path / "groups")


@pytest.mark.parametrize("content, line", [
    (b"0 qid:1\n1 qid:1\n0 qid:2\n1 qid:2\n", 1),
    (b"# header\n\n0 qid:1 # no feature\n1 qid:2\n", 3),
    (b"0\n1\n", 1),
])
def test_a_file_without_any_feature_is_refused(tmp_path, content, line):
    # Labels and queries but not one idx:value: no ranking data (LightGBM would fail on it later).
    path = tmp_path / "d.txt"
    path.write_bytes(content)
    (tmp_path / "d.txt.query").write_text("2\n")
    message = "no feature values: no row holds an idx:value token"
    with pytest.raises(LetorFormatError, match=f"^{re.escape(str(path))}:{line}: {message}$"):
        load_letor(path)
    with pytest.raises(LetorFormatError, match=f":{line}: {message}$"):
        load_letor(path, n_features=3)
    assert _first_error(content, None) == (line, message)


def test_rows_without_features_are_fine_when_others_have_some(tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes(b"0 qid:1\n1 qid:1 2:0.5\n0 qid:2\n")
    data = load_letor(path)
    np.testing.assert_array_equal(data.features, [[0.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    assert _first_error(path.read_bytes(), None) is None


# -------------------------------------------------------------------- writing
def test_failed_write_leaves_old_files_untouched(tmp_path, monkeypatch):
    path = tmp_path / "rank.train"
    path.write_text("old data\n")
    (tmp_path / "rank.train.query").write_text("old groups\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("simulator._letor.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_letor(tricky_dataset(), path, with_qid=False)
    assert path.read_text() == "old data\n"
    assert (tmp_path / "rank.train.query").read_text() == "old groups\n"
    assert sorted(os.listdir(tmp_path)) == ["rank.train", "rank.train.query"], "temporary files left"


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"dataset must be a RankingDataset, got dict"):
        save_letor({}, tmp_path / "f")
    with pytest.raises(ValueError, match=r"group_path must be None when with_qid is True"):
        save_letor(tricky_dataset(), tmp_path / "f", group_path=tmp_path / "g")
    assert not (tmp_path / "f").exists()


# ------------------------------------------------------------ the shared sample
@pytest.fixture(scope="module")
def sample_path():
    if not SAMPLE.is_dir():
        pytest.skip(f"shared LightGBM sample not found at {SAMPLE}")
    return SAMPLE / "rank.train"


def test_shared_lightgbm_sample_loads(sample_path):
    data = load_letor(sample_path)
    assert data.n_queries == 201
    assert data.n_docs == 3005
    assert data.n_features == 300
    np.testing.assert_array_equal(np.unique(data.labels), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(np.bincount(data.labels), [645, 1211, 858, 222, 69])
    assert _first_error(sample_path.read_bytes(), None) is None


def test_shared_sample_equals_sklearns_reader(sample_path):
    # The reader this one replaced was scikit-learn's load_svmlight_file
    # (1-based indices, float64 values) made dense and cast to float32.
    from sklearn.datasets import load_svmlight_file

    matrix, labels = load_svmlight_file(str(sample_path), zero_based=False, dtype=np.float64)
    sizes = np.loadtxt(str(sample_path) + ".query", dtype=np.int64)
    data = load_letor(sample_path)
    assert data.features.dtype == np.float32
    np.testing.assert_array_equal(bits(data.features), bits(matrix.toarray().astype(np.float32)))
    np.testing.assert_array_equal(data.labels, labels.astype(np.int64))
    np.testing.assert_array_equal(data.query_sizes, sizes)
    np.testing.assert_array_equal(data.query_ids, np.arange(201))


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_shared_sample_compressed_equals_plain(sample_path, tmp_path, suffix):
    opener = gzip.open if suffix == ".gz" else bz2.open
    with opener(tmp_path / f"rank.train{suffix}", "wb") as fh:
        fh.write(sample_path.read_bytes())
    (tmp_path / f"rank.train{suffix}.query").write_bytes((SAMPLE / "rank.train.query").read_bytes())
    assert_identical(load_letor(tmp_path / f"rank.train{suffix}"), load_letor(sample_path))


def test_shared_sample_round_trips(sample_path, tmp_path):
    data = load_letor(sample_path)
    save_letor(data, tmp_path / "copy")
    assert_identical(load_letor(tmp_path / "copy"), data)


# ------------------------------------------------------- bad input, one table
def _gz(text):
    return gzip.compress(text, mtime=0)


def _bz2(text):
    return bz2.compress(text)


GOOD = b"".join(b"%d qid:%d 1:0.5 2:1.25 # doc\n" % (i % 3, i // 10) for i in range(2000))


def _damaged(data, at):
    data = bytearray(data)
    data[at : at + 16] = bytes(16)
    return bytes(data)


# (case id, files to write {name: bytes, or None for a folder}, file to load,
#  keyword arguments, message after "^<folder>/")
BAD_INPUTS = [
    ("single query", {"d.txt": b"1 qid:7 1:1\n0 qid:7 1:2\n"}, "d.txt", {"min_queries": 2},
     r"d\.txt:1: the file holds 1 query \(qid 7\) but at least 2 are needed$"),
    ("single group", {"d": b"1 1:1\n0 1:2\n", "d.query": b"2\n"}, "d", {"min_queries": 2},
     r"d:1: the file holds 1 query \(group file .*d\.query\) but at least 2 are needed$"),
    ("index 10**7", {"d.txt": b"1 qid:1 1:1\n0 qid:1 10000000:1\n"}, "d.txt", {},
     r"d\.txt:2: feature index in '10000000:1' is above 100,000, the largest read without n_features"),
    ("index 2**31-1", {"d.txt": b"1 qid:1 2147483647:1\n"}, "d.txt", {},
     r"d\.txt:1: feature index in '2147483647:1' is above 100,000"),
    ("index above n_features", {"d.txt": b"1 qid:1 1:1\n0 qid:1 2147483647:1\n"}, "d.txt", {"n_features": 10},
     r"d\.txt:2: feature index in '2147483647:1' exceeds n_features=10$"),
    ("named .gz, plain text", {"d.gz": GOOD}, "d.gz", {},
     r"d\.gz: is not gzip data although its name ends in \.gz \(it starts with '0 qid:'\); the file is corrupt or misnamed$"),
    ("named .gz, empty", {"d.gz": b""}, "d.gz", {},
     r"d\.gz: is not gzip data although its name ends in \.gz \(it is empty\)"),
    ("named .bz2, plain text", {"d.bz2": GOOD}, "d.bz2", {},
     r"d\.bz2: is not bzip2 data although its name ends in \.bz2"),
    ("truncated .gz", {"d.gz": _gz(GOOD)[:-200]}, "d.gz", {},
     r"d\.gz: the gzip data is truncated \(the compressed stream ends before its end marker\); the file is incomplete$"),
    ("gz header only", {"d.gz": _gz(GOOD)[:10]}, "d.gz", {}, r"d\.gz: the gzip data is truncated"),
    ("corrupt .gz", {"d.gz": _damaged(_gz(GOOD), 300)}, "d.gz", {}, r"d\.gz: the gzip data is corrupt \(.+\)$"),
    ("bad gz checksum", {"d.gz": _gz(GOOD)[:-8] + bytes(4) + _gz(GOOD)[-4:]}, "d.gz", {},
     r"d\.gz: the gzip data is corrupt \(Error -3 while decompressing data: incorrect data check\)$"),
    ("truncated .bz2", {"d.bz2": _bz2(GOOD)[:-200]}, "d.bz2", {}, r"d\.bz2: the bzip2 data is truncated"),
    ("corrupt .bz2", {"d.bz2": _damaged(_bz2(GOOD), 300)}, "d.bz2", {}, r"d\.bz2: the bzip2 data is corrupt \(.+\)$"),
    ("gz with a wrong length", {"d.gz": _gz(GOOD)[:-4] + bytes(4)}, "d.gz", {},
     r"d\.gz: the gzip data is corrupt \(Error -3 while decompressing data: incorrect length check\)$"),
    ("gz with trailing garbage", {"d.gz": _gz(GOOD) + b"\x00\x00garbage"}, "d.gz", {},
     r"d\.gz: the gzip data is corrupt \(data after the last member: b'garbag'\)$"),
    ("gz cut inside the header", {"d.gz": _gz(GOOD)[:5]}, "d.gz", {}, r"d\.gz: the gzip data is truncated"),
    ("gzip magic, truncated, any name", {"d.txt": _gz(GOOD)[:-200]}, "d.txt", {}, r"d\.txt: the gzip data is truncated"),
    ("xz data", {"d.txt": lzma.compress(GOOD)}, "d.txt", {},
     r"d\.txt: is xz-compressed; the reader takes plain text, gzip and bzip2: decompress it first$"),
    ("zip data", {"d.zip": b"PK\x03\x04" + bytes(40)}, "d.zip", {}, r"d\.zip: is zip-compressed"),
    ("data file is a folder", {"d.txt": None}, "d.txt", {}, r"d\.txt: cannot be read: Is a directory$"),
    ("group file is a folder", {"d": b"1 1:1\n0 1:2\n", "d.query": None}, "d", {},
     r"d\.query: cannot be read: Is a directory$"),
    ("given group file is a folder", {"d": b"1 1:1\n0 1:2\n", "g": None}, "d", {"group_path": "g"},
     r"g: cannot be read: Is a directory$"),
    ("non-UTF-8 label", {"d.txt": b"\xff\xfe1 qid:1 1:1\n"}, "d.txt", {}, r"d\.txt:1: label '\\\\xff\\\\xfe1' is not a number$"),
    ("non-UTF-8 value", {"d.txt": b"1 qid:1 1:0.\xe9\n"}, "d.txt", {},
     r"d\.txt:1: feature token '1:0\.\\\\xe9' is not idx:value with a numeric value$"),
    ("non-UTF-8 group size", {"d": b"1 1:1\n", "d.query": b"\xe91\n"}, "d", {},
     r"d\.query:1: group size '\\\\xe91' is not a positive integer$"),
    ("UTF-16 text", {"d.txt": "1 qid:1 1:1\n".encode("utf-16")}, "d.txt", {},
     r"d\.txt:1: line contains a NUL byte \(a binary file, or text in UTF-16\?\)$"),
    ("empty file", {"d.txt": b""}, "d.txt", {}, r"d\.txt:1: no data rows \(the file is empty or holds only comments\)$"),
    ("empty .gz", {"d.gz": _gz(b"")}, "d.gz", {}, r"d\.gz:1: no data rows"),
    ("comments only", {"d.txt": b"# header\n\n  \t\n"}, "d.txt", {}, r"d\.txt:1: no data rows"),
    ("qid not an integer", {"d.txt": b"1 qid:1 1:1\n0 qid:1.5 1:1\n"}, "d.txt", {},
     r"d\.txt:2: qid token 'qid:1\.5' is not qid:<64-bit integer>$"),
    ("qid without a value", {"d.txt": b"1 qid: 1:1\n"}, "d.txt", {}, r"d\.txt:1: qid token 'qid:' is not qid:<64-bit integer>$"),
    ("label not a number", {"d.txt": b"1 qid:1 1:1\nrelevant qid:1 1:1\n"}, "d.txt", {},
     r"d\.txt:2: label 'relevant' is not a number$"),
    ("NaN feature", {"d.txt": b"1 qid:1 1:1 2:NaN\n"}, "d.txt", {}, r"d\.txt:1: feature value in '2:NaN' is not a finite float32$"),
    ("infinite feature", {"d.txt": b"1 qid:1 1:Infinity\n"}, "d.txt", {},
     r"d\.txt:1: feature value in '1:Infinity' is not a finite float32$"),
    ("feature beyond float32", {"d.txt": b"1 qid:1 1:3.5e38\n"}, "d.txt", {},
     r"d\.txt:1: feature value in '1:3\.5e38' is not a finite float32$"),
    ("qid not contiguous", {"d.txt": b"1 qid:1 1:1\n0 qid:2 1:1\n\n1 qid:1 1:2\n"}, "d.txt", {},
     r"d\.txt:4: qid 1 reappears after other queries \(first seen at line 1\); the rows of a query must be contiguous$"),
    ("qid not contiguous, .gz", {"d.gz": _gz(b"1 qid:1 1:1\n0 qid:2 1:1\n1 qid:1 1:2\n")}, "d.gz", {},
     r"d\.gz:3: qid 1 reappears after other queries \(first seen at line 1\)"),
    ("line of over 64 MiB", {"d.txt": b"1 qid:1 " + b"1" * (64 * 2**20 + 1)}, "d.txt", {},
     r"d\.txt:1: line is longer than 64 MiB$"),
]


@pytest.mark.parametrize("files, target, kwargs, message", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_clear_line(tmp_path, files, target, kwargs, message):
    for name, content in files.items():
        if content is None:
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(content)
    kwargs = {key: tmp_path / value if key == "group_path" else value for key, value in kwargs.items()}
    threads = threading.active_count()
    with pytest.raises(LetorFormatError, match="^" + re.escape(str(tmp_path)) + "/" + message) as info:
        load_letor(tmp_path / target, **kwargs)
    assert "\n" not in str(info.value), "the message must be one line"
    assert threading.active_count() == threads, "the read-ahead thread was left running"


@pytest.mark.parametrize("which", ["data", "group"])
def test_unreadable_files_are_one_line(tmp_path, monkeypatch, which):
    # Tests run as root, for whom chmod 000 does not deny reading: deny in open.
    data = tmp_path / "d"
    data.write_bytes(b"1 1:1\n0 1:2\n")
    (tmp_path / "d.query").write_bytes(b"1\n1\n")
    denied = str(data if which == "data" else tmp_path / "d.query")

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return open(file, *args, **kwargs)

    monkeypatch.setattr("simulator._letor.open", guarded_open, raising=False)
    with pytest.raises(LetorFormatError, match=rf"^{re.escape(denied)}: cannot be read: Permission denied$"):
        load_letor(data)


def test_features_that_cannot_fit_in_memory_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "d.txt"
    path.write_bytes(b"1 qid:1 1:1\n0 qid:2 5000:1\n")
    monkeypatch.setattr("simulator._letor._available_memory", lambda: 10_000)
    with pytest.raises(LetorFormatError, match=re.escape(str(path)) + r":2: the features need 0\.0 GiB as a dense float32 "
                       r"matrix \(2 rows so far x 5,000 columns, the largest index, on this line\) but only 0\.0 GiB"):
        load_letor(path)
    with pytest.raises(LetorFormatError, match=r"d\.txt:2: the features need 0\.0 GiB as a dense float32 matrix "
                       r"\(2 rows so far x 2,000,000 columns \(n_features\), by this line\)"):
        load_letor(path, n_features=2_000_000)
    monkeypatch.setattr("simulator._letor._available_memory", lambda: None)  # unknown: no check
    assert load_letor(path).n_features == 5000


@pytest.mark.parametrize("min_queries", [0, -1, 2.0, True, None])
def test_bad_min_queries(tmp_path, min_queries):
    with pytest.raises(ValueError, match=r"min_queries must be an integer >= 1, got"):
        load_letor(tmp_path / "never-read", min_queries=min_queries)


def test_min_queries_passes_with_enough_queries(tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes(b"1 qid:7 1:1\n0 qid:8 1:2\n")
    assert load_letor(path, min_queries=2).n_queries == 2


def test_non_utf8_bytes_in_comments_are_ignored(tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes(b"# caf\xe9\n1 qid:1 1:0.5 #docid = \xff\xfe\n0 qid:1 2:1#\xe9")
    loaded = load_letor(path)
    np.testing.assert_array_equal(loaded.features, np.float32([[0.5, 0], [0, 1]]))


def test_compression_is_told_by_content_not_name(tmp_path):
    data = tricky_dataset(seed=3)
    save_letor(data, tmp_path / "a.gz")
    save_letor(data, tmp_path / "b.bz2")
    os.rename(tmp_path / "a.gz", tmp_path / "a.txt")
    os.rename(tmp_path / "b.bz2", tmp_path / "b")
    assert_identical(load_letor(tmp_path / "a.txt"), data)
    assert_identical(load_letor(tmp_path / "b"), data)


@pytest.mark.parametrize("step", [1, 7, 2**20])
def test_concatenated_gzip_members_are_one_file(tmp_path, monkeypatch, step):
    monkeypatch.setattr("simulator._letor._GZIP_STEP", step)
    # As gzip.GzipFile reads them: members one after the other, zero padding
    # between and after them, a member that ends just at a read step.
    path = tmp_path / "d.gz"
    path.write_bytes(_gz(b"1 qid:1 1:1\n0 qid:1 ") + bytes(3) + _gz(b"") + _gz(b"2:3\n2 qid:5 1:4\n") + bytes(5))
    with gzip.open(path) as fh:
        assert fh.read() == b"1 qid:1 1:1\n0 qid:1 2:3\n2 qid:5 1:4\n"
    loaded = load_letor(path)
    np.testing.assert_array_equal(loaded.features, np.float32([[1, 0], [0, 3], [4, 0]]))
    np.testing.assert_array_equal(loaded.query_ids, [1, 5])


# ------------------------------------------- streaming: blocks and the kernels
@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1000])
def test_any_block_size_gives_the_same_dataset(tmp_path, monkeypatch, block_bytes):
    data = tricky_dataset(seed=4)
    save_letor(data, tmp_path / "a.txt")
    text = (tmp_path / "a.txt").read_bytes().replace(b"\n", b" # c\r\n\n", 7)
    (tmp_path / "a.txt").write_bytes(b"# header\n" + text)
    monkeypatch.setattr("simulator._letor._BLOCK_BYTES", block_bytes)
    assert_identical(load_letor(tmp_path / "a.txt"), data)


@pytest.mark.parametrize("block_bytes", [64, 4096, 2**25])
def test_the_matrix_grows_in_rows_and_columns(tmp_path, monkeypatch, block_bytes):
    # Row r has feature r // 700 + 1 (and feature 1): the width grows four
    # times after rows were written, the rows pass capacities of 1024, 2048.
    rng = np.random.default_rng(11)
    n_rows = 3000
    expected = np.zeros((n_rows, n_rows // 700 + 1), dtype=np.float32)
    lines = []
    for r in range(n_rows):
        j = r // 700
        a, b = float(np.float32(rng.normal())), r + 0.5
        expected[r, 0] += a
        expected[r, j] = b if j else a
        tokens = f"1:{a!r}" + (f" {j + 1}:{b!r}" if j else "")
        lines.append(f"{r % 3} qid:{r // 10} {tokens}\n")
    (tmp_path / "g.txt").write_text("".join(lines))
    monkeypatch.setattr("simulator._letor._BLOCK_BYTES", block_bytes)
    loaded = load_letor(tmp_path / "g.txt")
    np.testing.assert_array_equal(bits(loaded.features), bits(expected))
    np.testing.assert_array_equal(loaded.query_sizes, np.full(300, 10))
    assert loaded.features.flags.c_contiguous and not loaded.features.flags.writeable


@pytest.mark.parametrize("block_bytes", [5, 100, 2**25])
def test_errors_are_found_across_blocks(tmp_path, monkeypatch, block_bytes):
    data = make_synthetic(n_queries=40, docs_per_query=5, n_features=3, seed=0)
    save_letor(data, tmp_path / "a.txt")
    lines = (tmp_path / "a.txt").read_bytes().splitlines(keepends=True)
    monkeypatch.setattr("simulator._letor._BLOCK_BYTES", block_bytes)
    # A query that comes back 120 lines later.
    moved = lines[:150] + [lines[10]] + lines[150:]
    (tmp_path / "b.txt").write_bytes(b"".join(moved))
    qid = int(lines[10].split()[1][4:])
    with pytest.raises(LetorFormatError, match=rf"b\.txt:151: qid {qid} reappears after other queries \(first seen at line 11\)"):
        load_letor(tmp_path / "b.txt")
    # A bad value far from the start, after slow numbers, in a block of its own.
    here = lines[169].split()[1]  # the qid of the line before: contiguous
    bad = lines[:170] + [b"1 " + here + b" 1:1e-300 2:0.1234567890123456789 3:x\n"] + lines[170:]
    (tmp_path / "c.txt").write_bytes(b"".join(bad))
    with pytest.raises(LetorFormatError, match=r"c\.txt:171: feature token '3:x' is not idx:value with a numeric value"):
        load_letor(tmp_path / "c.txt")


@pytest.mark.parametrize("slow_rows", [1, 2, 3])
def test_a_full_slow_table_changes_nothing(tmp_path, monkeypatch, slow_rows):
    # The tricky dataset's random float32 bit patterns are mostly "slow"
    # numbers (more than 15 digits or powers of ten beyond 1e22).
    data = tricky_dataset(seed=5)
    save_letor(data, tmp_path / "a.txt")
    monkeypatch.setattr("simulator._letor._SLOW_ROWS", slow_rows)
    assert_identical(load_letor(tmp_path / "a.txt"), data)
    text = (tmp_path / "a.txt").read_bytes()
    (tmp_path / "b.txt").write_bytes(text + b"1e999 qid:5 1:0.5\n")
    with pytest.raises(LetorFormatError, match=rf"b\.txt:{data.n_docs + 1}: label '1e999' is not a non-negative integer grade"):
        load_letor(tmp_path / "b.txt")


def test_numbers_are_read_as_python_reads_them(tmp_path):
    # Each token's value is float(token) rounded to float32, on both the fast
    # (Clinger) path and the slow one, for decimal texts of every shape.
    rng = np.random.default_rng(6)
    mantissas = rng.integers(0, 10**rng.integers(1, 19, size=3000), dtype=np.int64)
    exponents = rng.integers(-60, 60, size=3000)
    texts = [f"{m}e{e}" for m, e in zip(mantissas, exponents)]
    texts += [f"{rng.choice(['', '+', '-'])}{m / 10.0 ** int(rng.integers(0, 25)):.{rng.integers(0, 30)}f}" for m in mantissas]
    texts += ["0", "-0", "-0.0", "0e999", "1e-400", "00012.5000", ".5", "5.", "-.25E+2", "3.4028235e38",
              "1.4e-45", "7e-46", "123456789012345678901234567890", "0.000000000000000000000000001"]
    with np.errstate(over="ignore"):  # beyond float32: dropped below
        expected = np.array([float(t) for t in texts]).astype(np.float32)
    keep = np.isfinite(expected)
    texts = [t for t, k in zip(texts, keep) if k]
    expected = expected[keep]
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"0 qid:1 1:{t}\n" for t in texts))
    loaded = load_letor(path)
    np.testing.assert_array_equal(bits(loaded.features[:, 0]), bits(expected))


def _reference_parse(data):
    """Labels, qids and dense features of a valid file, in plain Python."""
    rows = []
    for raw in data.split(b"\n"):
        tokens = raw.split(b"#", 1)[0].split()
        if tokens:
            rows.append(tokens)
    labels = [int(float(t[0])) for t in rows]
    with_qid = [t[1:2] and t[1].startswith(b"qid") for t in rows]
    qids = [int(t[1][4:]) for t in rows] if all(with_qid) else None
    pairs = [[token.split(b":", 1) for token in t[2 if qids is not None else 1:]] for t in rows]
    width = max([int(p[-1][0]) for p in pairs if p] or [0])
    features = np.zeros((len(rows), width), dtype=np.float32)
    for r, row in enumerate(pairs):
        for index, value in row:
            features[r, int(index) - 1] = np.float32(float(value))
    return labels, qids, features


ALPHABET = b"0123456789.:+-eEqid# \t\r\n\x00\xffx_"


def test_the_kernels_accept_exactly_what_the_reference_accepts(tmp_path):
    # Random edits of valid files: the streaming reader must raise the
    # reference checker's message for the first bad line, or return what a
    # plain-Python parse returns.
    rng = np.random.default_rng(7)
    base = [b"2 qid:10 1:0.5 3:-1.25e-3", b"0 qid:10 2:7 4:1e30", b"1 qid:11 1:3 # doc",
            b"", b"4 qid:12 2:.5 5:123456789.123456789"]
    path = tmp_path / "f.txt"
    n_valid = n_invalid = 0
    for case in range(1000):
        lines = list(base)
        for _ in range(rng.integers(1, 4)):
            i = rng.integers(len(lines))
            line = bytearray(lines[i])
            at = int(rng.integers(len(line) + 1))
            op = rng.integers(3)
            if op == 0:
                line[at:at] = bytes([ALPHABET[rng.integers(len(ALPHABET))]])
            elif op == 1:
                del line[at : at + 1]
            else:
                line[at : at + 1] = bytes([ALPHABET[rng.integers(len(ALPHABET))]])
            lines[i] = bytes(line)
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        path.write_bytes(data)
        found = _first_error(data, None)
        if found is not None:
            n_invalid += 1
            with pytest.raises(LetorFormatError) as info:
                load_letor(path)
            assert str(info.value) == f"{path}:{found[0]}: {found[1]}", (case, data)
            continue
        n_valid += 1
        labels, qids, features = _reference_parse(data)
        try:
            loaded = load_letor(path)
        except LetorFormatError as exc:  # only the queries may be wrong
            assert qids is None and "no group file" in str(exc), (case, data, exc)
            continue
        np.testing.assert_array_equal(loaded.labels, labels, err_msg=repr(data))
        np.testing.assert_array_equal(bits(loaded.features), bits(features), err_msg=repr(data))
        starts = np.flatnonzero(np.diff(qids)) + 1
        np.testing.assert_array_equal(loaded.query_ids, np.asarray(qids)[np.r_[0, starts]], err_msg=repr(data))
    assert n_valid > 150 and n_invalid > 150, (n_valid, n_invalid)


# ------------------------------------------------------------ compressed round trips
@pytest.mark.parametrize("suffix", ["txt.bz2"])
def test_round_trip_bz2(tmp_path, suffix):
    data = tricky_dataset(seed=8)
    save_letor(data, tmp_path / f"t.{suffix}")
    assert (tmp_path / f"t.{suffix}").read_bytes()[:3] == b"BZh"
    assert_identical(load_letor(tmp_path / f"t.{suffix}"), data)


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2"])
def test_round_trip_with_group_file_compressed(tmp_path, suffix):
    data = make_synthetic(n_queries=30, docs_per_query=(1, 9), n_features=7, seed=9)
    save_letor(data, tmp_path / f"r{suffix}", with_qid=False)
    assert_identical(load_letor(tmp_path / f"r{suffix}"), data)


# ------------------------------------------------------------------- memory
MEMORY_CHILD = """
import json, os, sys
import simulator._letor as letor
letor._BLOCK_BYTES = int(sys.argv[3])
letor.load_letor(sys.argv[2])  # imports and the compiled kernels, outside the measure
with open("/proc/self/statm") as fh:
    before = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
data = letor.load_letor(sys.argv[1])
# VmHWM, the peak of this process image: ru_maxrss would include the RSS of
# the forked parent (pytest), kept across exec.
with open("/proc/self/status") as fh:
    peak = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"before": before, "peak": peak, "features": data.features.nbytes,
                  "labels": data.labels.nbytes, "rows": data.n_docs}))
"""


def test_peak_memory_follows_the_final_arrays(tmp_path):
    """Loading a ~20 MB file takes the final arrays plus a few blocks of
    memory (peak RSS of a fresh process, VmHWM; not timed).

    What may come on top of the features: RankingDataset's finiteness check
    (a bool per cell, 1/4 of the features), the labels twice (per block and
    joined), and per block of text (1 MiB here) its buffer, the read-ahead
    (at most 3/4 block), the sparse rows (8 bytes per token of at least 4
    bytes: 2 blocks) and the qids and row arrays (< 1 block). The reader this
    one replaced peaked at about 11x the arrays (benchmarks/bench_letor.py).
    """
    rng = np.random.default_rng(10)
    n_rows, n_features = 36_000, 100
    tokens = [[f"{j + 1}:{k}" for k in range(10)] for j in range(n_features)]
    picks = rng.integers(0, 10, size=(n_rows, n_features)).tolist()
    path = tmp_path / "big.txt"
    with open(path, "w") as fh:
        fh.writelines(
            f"{r % 5} qid:{r // 100} " + " ".join([column[k] for column, k in zip(tokens, row)]) + "\n"
            for r, row in enumerate(picks)
        )
    assert 15e6 < path.stat().st_size < 30e6, path.stat().st_size
    (tmp_path / "tiny.txt").write_bytes(b"1 qid:1 1:1e-300\n")
    block = 2**20
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(path), str(tmp_path / "tiny.txt"), str(block)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    m = json.loads(out.stdout)
    assert m["features"] == n_rows * n_features * 4
    extra = m["peak"] - m["before"]
    bound = 1.25 * m["features"] + 2 * m["labels"] + 5 * block
    assert extra <= bound, f"peak - before = {extra / 2**20:.1f} MiB > {bound / 2**20:.1f} MiB ({m})"


def test_compiled_kernels_equal_their_python(tmp_path):
    from simulator import _letor_kernels as kernels

    save_letor(tricky_dataset(seed=12), tmp_path / "t.txt")
    buf = np.frombuffer((tmp_path / "t.txt").read_bytes() + b"1 qid:3 2:x\n", dtype=np.uint8)

    def run(parse):
        outputs = [np.zeros(400, np.int64) for _ in range(4)] + [np.zeros(4000, np.int32), np.zeros(4000, np.float32)]
        slow = np.zeros((8, 4), np.int64)
        state = (0, 1, 0, 0, -1, 0, 0, 100_000)
        calls = []
        while True:
            result = parse(buf, *state, *outputs, slow)
            calls.append((result, slow[: result[5]].copy()))
            if result[0] != kernels.SLOW_FULL:
                return calls, outputs
            state = (result[1], result[2], result[3], result[4], result[6], result[7], result[8], 100_000)

    compiled, py = run(kernels.parse_block), run(kernels.parse_block.py_func)
    assert [c[0] for c in compiled[0]] == [p[0] for p in py[0]]
    assert compiled[0][-1][0][0] == kernels.BAD_LINE and len(compiled[0]) > 3
    for a, b in zip(compiled[0], py[0]):
        np.testing.assert_array_equal(a[1], b[1])
    for a, b in zip(compiled[1], py[1]):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))

    flat = np.arange(1, 13, dtype=np.float32)
    wide, wide_py = np.zeros(20, np.float32), np.zeros(20, np.float32)
    wide[:12], wide_py[:12] = flat, flat
    kernels.widen_rows(wide, 4, 3, 5)
    kernels.widen_rows.py_func(wide_py, 4, 3, 5)
    np.testing.assert_array_equal(wide, wide_py)
    np.testing.assert_array_equal(wide.reshape(4, 5), np.c_[flat.reshape(4, 3), np.zeros((4, 2))])
