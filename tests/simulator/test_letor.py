"""Tests of simulator._letor: load_letor, save_letor, LetorFormatError."""

import os
import re
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
    ("1 qid:1 99999999999:1\n", 1, r"feature index in '99999999999:1' is larger than 2\*\*31 - 1"),
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
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        load_letor(tmp_path / "nope")
    (tmp_path / "data").write_text("1 1:1\n")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "groups"))):
        load_letor(tmp_path / "data", group_path=tmp_path / "groups")


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


def test_shared_sample_round_trips(sample_path, tmp_path):
    data = load_letor(sample_path)
    save_letor(data, tmp_path / "copy")
    assert_identical(load_letor(tmp_path / "copy"), data)
