"""Checkpoints round-trip every field a resumed loop needs, and name damaged files."""

import numpy as np
import pytest

from clickloop._checkpoints import CheckpointError, load_record, read_rows, save_record, write_rows
from clickloop._loop import RoundRecord
from policies import PlackettLuce
from simulator import PBM, make_synthetic, simulate_sessions


@pytest.fixture(scope="module")
def record():
    data = make_synthetic(n_queries=12, docs_per_query=8, n_features=3, seed=0)
    run = simulate_sessions(data, PlackettLuce(lambda X: X[:, 0], 5), PBM(), 2000, seed=1, placement=True)
    return RoundRecord(round=3, statistics=run.statistics, scores=np.linspace(0, 1, data.n_docs),
                       theta=np.array([1.0, 0.5, 0.3, 0.2, 0.1]))


def test_a_round_checkpoint_round_trips_bit_for_bit(record, tmp_path):
    save_record(tmp_path / "round_3.npz", record)
    back = load_record(tmp_path / "round_3.npz", 3)
    assert back.statistics.equals(record.statistics)  # expected placements included
    assert back.statistics.expected_impressions is not None
    np.testing.assert_array_equal(back.scores, record.scores)
    np.testing.assert_array_equal(back.theta, record.theta)
    assert back.test_scores is None and back.click_probability is None


def test_a_click_probability_round_trips_and_reads_the_dense_products(record, tmp_path):
    """Kept as its two factors; of_cells gives the floats of the (documents x ranks) product."""
    from dataclasses import replace

    from clickloop._loop import ClickProbability

    rng = np.random.default_rng(0)
    probability = ClickProbability(rng.random(record.statistics.n_docs), np.array([1.0, 0.5, 0.3, 0.2, 0.1]))
    save_record(tmp_path / "round_3.npz", replace(record, click_probability=probability))
    back = load_record(tmp_path / "round_3.npz", 3).click_probability
    np.testing.assert_array_equal(back.attractiveness, probability.attractiveness)
    np.testing.assert_array_equal(back.examination, probability.examination)
    dense = probability.attractiveness[:, None] * probability.examination[None, :]
    cells = record.statistics.cells
    np.testing.assert_array_equal(back.of_cells(cells, 5), dense.reshape(-1)[cells])


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_round_checkpoint_is_named(record, tmp_path, damage):
    path = tmp_path / "round_3.npz"
    save_record(path, record)
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x00" * 64}[damage])
    with pytest.raises(CheckpointError, match=r"round_3\.npz: not a whole checkpoint"):
        load_record(path, 3)


def test_task_rows_round_trip_and_an_edited_file_is_refused(tmp_path):
    metrics = [(0, "naive", 1, "ndcg@10", 0.1 + 0.2), (0, "naive", 1, "ctr", float("nan"))]
    propensity = [(0, "tower", 1, 2, 0.5, 0.4999999999999999)]
    path = write_rows(tmp_path / "rows.csv", metrics, propensity)
    back = read_rows(path)
    assert back[0][0] == metrics[0] and np.isnan(back[0][1][4]) and back[1] == propensity
    text = path.read_text()
    for damaged in ("", text.replace("ndcg@10", "ndcg@5"), text.splitlines(keepends=True)[0]):
        path.write_text(damaged)
        with pytest.raises(CheckpointError, match="rows.csv: not a whole checkpoint"):
            read_rows(path)
