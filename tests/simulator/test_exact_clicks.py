"""Exact click probabilities (ClickModel.click_probabilities) against enumeration and Monte Carlo.

Two independent checks per registered click model: the plain-Python
enumeration of tests/reference.py (agreement to 1e-12), and the click
frequencies of ``simulate`` over n sessions, |p_hat - p| <= Z sqrt(p (1 - p) / n)
with Z = 5 (seeded, so deterministic; 5 sigma keeps a false failure among the
few hundred comparisons below 1e-4).
"""

import numpy as np
import pytest

from simulator import CLICK_MODELS, PBM, UBM, CascadeModel, TrustBias, click_model
from tests.simulator.test_click_models import reference_of

Z = 5.0
N_SESSIONS = 200_000
# Three lists over 6 documents with grades 0..4, one with empty slots (-1).
LABELS = np.array([0, 1, 2, 3, 4, 2])
DISPLAYED = np.array([
    [4, 0, 3, 1, 2, 5, 0, 1, 2, 3],
    [0, 1, 2, 3, 4, 5, 0, 2, 4, 1],
    [3, -1, 4, 2, -1, -1, 1, 0, 5, 2],
])


def model_named(name):
    return click_model(name, n_ranks=10) if "n_ranks" in CLICK_MODELS[name].parameters else click_model(name)


@pytest.mark.parametrize("name", sorted(CLICK_MODELS))
def test_click_probabilities_equal_exact_enumeration(name):
    model = model_named(name)
    exact = model.click_probabilities(DISPLAYED[:2], LABELS)
    for row in range(2):
        ref = reference_of(model, LABELS[DISPLAYED[row]])["ctr"]
        np.testing.assert_allclose(exact[row], ref, rtol=0, atol=1e-12,
                                   err_msg=f"{name}: list {row} differs from the enumeration")


@pytest.mark.parametrize("name", sorted(CLICK_MODELS))
def test_click_probabilities_match_simulated_click_rates(name):
    model = model_named(name)
    exact = model.click_probabilities(DISPLAYED, LABELS)
    displayed = np.repeat(DISPLAYED, N_SESSIONS, axis=0)
    clicks = model.simulate(displayed, LABELS, seed=3).clicks.reshape(len(DISPLAYED), N_SESSIONS, -1)
    rate = clicks.mean(axis=1)
    tolerance = Z * np.sqrt(exact * (1 - exact) / N_SESSIONS) + 1e-12
    worst = np.max(np.abs(rate - exact) / tolerance)
    assert worst <= 1.0, f"{name}: a simulated click rate is {worst:.2f} tolerances from its exact value"
    assert np.all(exact[DISPLAYED == -1] == 0.0), f"{name}: an empty slot has a click probability"


def test_empty_slot_is_passed_over():
    """An empty slot neither stops a cascade user nor counts for UBM's distance differently from simulate."""
    for model in (CascadeModel(), UBM(), PBM()):
        with_gap = model.click_probabilities([[0, -1, 1]], [3, 2])
        assert with_gap[0, 1] == 0.0
    cascade = CascadeModel()
    np.testing.assert_allclose(cascade.click_probabilities([[0, -1, 1]], [3, 2])[0, [0, 2]],
                               cascade.click_probabilities([[0, 1]], [3, 2])[0])


def test_no_position_bias_gives_attractiveness():
    labels = np.arange(5)
    probability = PBM(eta=0.0).click_probabilities([[4, 3, 2, 1, 0]], labels)
    np.testing.assert_allclose(probability[0], PBM().attractiveness(labels)[::-1])


@pytest.mark.parametrize("displayed, labels, match", [
    ([0, 1], [1, 2], r"displayed must have shape \(n_sessions, k\)"),
    ([[0, 2]], [1, 2], "displayed refers to document 2"),
    ([[0, -2]], [1, 2], "only -1 marks an empty slot"),
    ([[0.0, 1.0]], [1, 2], "integer document indices"),
    ([[0, 1]], [1, -2], "labels must be >= 0"),
])
def test_bad_inputs_raise(displayed, labels, match):
    with pytest.raises(ValueError, match=match):
        PBM().click_probabilities(displayed, labels)


def test_ranks_beyond_the_model_raise():
    with pytest.raises(ValueError, match="gamma defines 10 ranks but the lists show k=11"):
        UBM().click_probabilities([list(range(11))], np.ones(11, dtype=int))
    with pytest.raises(ValueError, match="theta defines 3 ranks"):
        TrustBias.vardasbi(n_ranks=3).click_probabilities([[0, 1, 2, 3]], [1, 1, 1, 1])
