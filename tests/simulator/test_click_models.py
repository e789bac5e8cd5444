"""Click models against their closed forms (exact enumeration in tests/reference.py).

Statistical tolerances: a simulated rate p_hat over n independent sessions is
compared with its exact value p by |p_hat - p| <= 5 * sqrt(p (1 - p) / n).  With
a fixed seed the outcome is deterministic; 5 sigma keeps the chance that a
correct kernel fails any of the few thousand comparisons made here below 1e-3.
"""

import warnings

import numba
import numpy as np
import pytest

from simulator import _click_kernels as kernels
from simulator import _rng
from simulator._click_models import (
    CLICK_MODEL_PRESETS,
    CLICK_MODELS,
    DBN,
    DCM,
    PBM,
    UBM,
    CascadeModel,
    TrustBias,
    click_model,
    pbm_theta,
)
from simulator._grade_mapping import GradeMapping, relevance_mapping
from simulator._rng import derive_key, mix64, uniform
from tests.reference import exact_click_distribution

Z = 5.0
N_SESSIONS = 1_000_000
LISTS = {
    "mixed": np.array([0, 1, 0, 2, 4, 0, 3, 1, 0, 2]),
    "weak_top": np.array([2, 0, 1, 3, 0, 4, 1, 0, 2, 1]),
}

MODELS = {name: click_model(name) for name in CLICK_MODEL_PRESETS}
MODELS["pbm_eta0"] = click_model("pbm", eta=0.0)
MODELS["pbm_eta2"] = click_model("pbm", eta=2.0)
MODELS["ubm_eta2"] = UBM(eta=2.0)
MODELS["dcm_stop_on_best"] = DCM([0.1, 0.2, 0.3, 0.5, 0.7], [0.0, 0.0, 0.0, 0.0, 1.0])
MODELS["dbn_lightgbm_like"] = DBN(attractiveness=[0.4, 0.5, 0.6, 0.7, 0.9], satisfaction=[0.0] * 5, gamma=0.8)


def reference_of(model, grades):
    """Exact click distribution of ``model`` on a list with these grades (one per rank)."""
    k = grades.size
    if isinstance(model, PBM):
        return exact_click_distribution(
            "pbm", k, theta=model.examination_by_rank(k), click_given_exam=model.attractiveness(grades)
        )
    if isinstance(model, TrustBias):
        rel = model.relevance(grades)
        q = model.eps_minus[:k] + (model.eps_plus[:k] - model.eps_minus[:k]) * rel
        return exact_click_distribution("pbm", k, theta=model.theta[:k], click_given_exam=q)
    if isinstance(model, UBM):
        gamma = [list(model.gamma[r, : r + 1]) for r in range(k)]
        return exact_click_distribution("ubm", k, gamma=gamma, attract=model.attractiveness(grades))
    attract = model.attractiveness(grades)
    if isinstance(model, CascadeModel):
        after_click, after_skip = np.zeros(k), 1.0
    elif isinstance(model, DCM):
        after_click, after_skip = 1.0 - model.stop(grades), 1.0
    elif isinstance(model, DBN):
        after_click, after_skip = (1.0 - model.satisfaction(grades)) * model.gamma, model.gamma
    else:  # pragma: no cover - a new model must be added here
        raise TypeError(type(model))
    return exact_click_distribution("cascade", k, attract=attract, after_click=after_click, after_skip=after_skip)


def pattern_codes(clicks):
    """Code sum_r click_r 2^r of every session's click pattern, and of every prefix above rank r."""
    weights = 2 ** np.arange(clicks.shape[1], dtype=np.int64)
    prefix = np.zeros(clicks.shape, dtype=np.int64)
    prefix[:, 1:] = np.cumsum(clicks[:, :-1] * weights[:-1], axis=1)
    return clicks @ weights, prefix


def assert_rates(observed, expected, n, what):
    se = np.sqrt(expected * (1.0 - expected) / n)
    excess = np.abs(observed - expected) - Z * se
    worst = int(np.argmax(excess))
    assert excess[worst] <= 1e-12, (
        f"{what}[{worst}]: simulated {observed[worst]:.6f}, exact {expected[worst]:.6f}, "
        f"{abs(observed[worst] - expected[worst]) / max(se[worst], 1e-300):.1f} standard errors apart"
    )


@pytest.fixture(scope="module", params=sorted(LISTS))
def grades(request):
    return LISTS[request.param]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_closed_form(name, grades):
    model = MODELS[name]
    k = grades.size
    displayed = np.broadcast_to(np.arange(k), (N_SESSIONS, k))
    ref = reference_of(model, grades)
    cond = model.simulate(displayed, grades, seed=11)
    marg = model.simulate(displayed, grades, seed=11, examination="marginal")

    # Clicks do not depend on which examination probability is reported.
    np.testing.assert_array_equal(cond.clicks, marg.clicks)
    # Click-through rate per rank.
    assert_rates(cond.clicks.mean(axis=0), ref["ctr"], N_SESSIONS, f"{name}: CTR by rank")
    # The joint distribution of click patterns; patterns expected fewer than 20
    # times are pooled into one bin so that the normal approximation holds.
    codes, prefix = pattern_codes(cond.clicks)
    freq = np.bincount(codes, minlength=2**k) / N_SESSIONS
    common = ref["pattern_prob"] * N_SESSIONS >= 20
    observed = np.append(freq[common], freq[~common].sum())
    expected = np.append(ref["pattern_prob"][common], ref["pattern_prob"][~common].sum())
    assert_rates(observed, expected, N_SESSIONS, f"{name}: click-pattern frequency")
    # Examination probabilities are exact, not estimated (float32 output).
    np.testing.assert_allclose(marg.examination[0], ref["exam_marginal"], rtol=1e-6, atol=1e-7)
    expected_cond = ref["exam_conditional"][np.arange(k), prefix]
    assert not np.isnan(expected_cond).any(), "a session shows a click prefix the model cannot produce"
    np.testing.assert_allclose(cond.examination, expected_cond, rtol=1e-6, atol=1e-7)


def test_pbm_ctr_by_rank_and_grade():
    """CTR(rank, grade) = theta_r * alpha(y) on random lists from a pool of documents."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=500)
    displayed = rng.integers(0, 500, size=(N_SESSIONS, 10))
    model = PBM(eta=1.0)
    clicks = model.simulate(displayed, labels, seed=5).clicks
    shown_grade = labels[displayed]
    theta = model.examination_by_rank(10)
    for y in range(5):
        mask = shown_grade == y
        n = mask.sum(axis=0)
        observed = (clicks & mask).sum(axis=0) / n
        expected = theta * model.attractiveness.probabilities[y]
        se = np.sqrt(expected * (1 - expected) / n)
        assert np.all(np.abs(observed - expected) <= Z * se), f"grade {y}: {observed} vs {expected}"


def test_cascade_at_most_one_click():
    clicks = CascadeModel().simulate(np.broadcast_to(np.arange(10), (200_000, 10)), LISTS["mixed"], seed=2).clicks
    assert clicks.sum(axis=1).max() == 1
    assert clicks.any(axis=1).mean() > 0.5  # the model does click


def test_dcm_stops_after_a_satisfying_click():
    """With stop(4) = 1 nothing below a clicked grade-4 document is ever clicked,
    while with stop = 0 (the `perfect` user) clicks below it do happen."""
    displayed = np.broadcast_to(np.arange(10), (200_000, 10))
    grades = LISTS["mixed"]  # grade 4 at rank 5
    stopping = MODELS["dcm_stop_on_best"].simulate(displayed, grades, seed=4).clicks
    below = stopping[:, 5:].any(axis=1)
    assert not below[stopping[:, 4]].any()
    assert below[~stopping[:, 4]].any()
    going_on = DCM.preset("perfect").simulate(displayed, grades, seed=4).clicks
    assert going_on[going_on[:, 4], 5:].any()


def test_ubm_depends_on_distance_to_last_click():
    """P(C_r | last click above at j) = gamma[r, r - j - 1] * alpha(d_r) for each observed (r, j)."""
    model = UBM()
    grades = np.full(10, 3)  # one grade: the click rate differs only through gamma
    clicks = model.simulate(np.broadcast_to(np.arange(10), (N_SESSIONS, 10)), grades, seed=9).clicks
    alpha = model.attractiveness.probabilities[3]
    last = np.full(N_SESSIONS, -1)
    for r in range(10):
        for j in range(-1, r):
            mask = last == j
            n = int(mask.sum())
            if n < 1000:
                continue
            p = model.gamma[r, r - j - 1] * alpha
            observed = clicks[mask, r].mean()
            assert abs(observed - p) <= Z * np.sqrt(p * (1 - p) / n), (r, j, observed, p)
        last = np.where(clicks[:, r], r, last)
    # The table really varies with the distance, so this is a test of UBM, not PBM.
    assert np.ptp(model.gamma[9, :10]) > 0.5


def test_eta_zero_removes_position_bias():
    grades = np.full(10, 2)
    ctr = PBM(eta=0.0).simulate(np.broadcast_to(np.arange(10), (N_SESSIONS, 10)), grades, seed=1).ctr_by_rank
    assert_rates(ctr, np.full(10, 0.28), N_SESSIONS, "eta=0 CTR")


@pytest.mark.parametrize("name", ["pbm", "dbn", "ubm"])
def test_zero_sessions_give_an_empty_simulation_without_warnings(name):
    # Like an empty ClickLog: an empty batch is valid; its CTR is NaN (no impression), not a RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = click_model(name).simulate(np.zeros((0, 10), dtype=int), np.array([0, 1, 4]), seed=0)
        ctr = sim.ctr_by_rank
    assert sim.clicks.shape == sim.examination.shape == (0, 10)
    assert ctr.shape == (10,) and np.isnan(ctr).all()


def test_empty_slots_are_never_clicked_nor_examined():
    displayed = np.array([[0, 1, -1, 2, -1]] * 5000)
    labels = np.array([4, 4, 4])
    for name in ("pbm", "dbn", "ubm"):
        sim = click_model(name).simulate(displayed, labels, seed=0)
        assert not sim.clicks[:, [2, 4]].any()
        assert (sim.examination[:, [2, 4]] == 0).all()


SIM_MODELS = ["pbm", "trust_vardasbi", "dcm_informational", "dbn", "ubm"]


@pytest.mark.parametrize("name", SIM_MODELS)
@pytest.mark.parametrize("examination", ["conditional", "marginal"])
def test_thread_count_and_block_invariance(name, examination):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=300)
    displayed = rng.integers(-1, 300, size=(50_000, 10))
    model = click_model(name)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = model.simulate(displayed, labels, seed=123, examination=examination)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = model.simulate(displayed, labels, seed=123, examination=examination)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.clicks, many.clicks)
    np.testing.assert_array_equal(one.examination, many.examination)
    # A run split into two blocks with first_session equals the run at once.
    head = model.simulate(displayed[:17_001], labels, seed=123, examination=examination)
    tail = model.simulate(displayed[17_001:], labels, seed=123, first_session=17_001, examination=examination)
    np.testing.assert_array_equal(np.vstack([head.clicks, tail.clicks]), one.clicks)
    # Another seed gives other clicks.
    other = model.simulate(displayed, labels, seed=124, examination=examination)
    assert (other.clicks != one.clicks).any()


@pytest.mark.parametrize("name", SIM_MODELS)
def test_compiled_equals_py_func(name, monkeypatch):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=50)
    displayed = rng.integers(-1, 50, size=(300, 10))
    model = click_model(name)
    compiled = model.simulate(displayed, labels, seed=7, examination="marginal")
    for kernel in ("affine_clicks", "affine_click", "cascade_clicks", "ubm_clicks", "session_key", "uniform"):
        monkeypatch.setattr(kernels, kernel, getattr(kernels, kernel).py_func)
    monkeypatch.setattr(_rng, "mix64", _rng.mix64.py_func)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        python = model.simulate(displayed, labels, seed=7, examination="marginal")
    np.testing.assert_array_equal(compiled.clicks, python.clicks)
    np.testing.assert_array_equal(compiled.examination, python.examination)


def test_rng_helpers_compiled_equal_python():
    key = derive_key(5)
    with np.errstate(over="ignore"):
        for z in (0, 1, 2**63, 2**64 - 1, 123456789):
            assert mix64(np.uint64(z)) == mix64.py_func(np.uint64(z))
        for s, c in ((0, 0), (10**9, 19), (7, 3)):
            assert uniform(key, c) == uniform.py_func(key, c)
    draws = np.array([uniform(key, c) for c in range(100_000)])
    assert 0.0 <= draws.min() and draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < Z * np.sqrt(1 / 12 / draws.size)


GOOD_DISPLAYED = np.array([[0, 1, 2]])
GOOD_LABELS = np.array([0, 1, 4])

INVALID_MODELS = [
    (lambda: PBM(eta=-1.0), "eta must be a finite number >= 0"),
    (lambda: PBM(theta=[1.0, 1.2]), "theta must hold probabilities in \\[0, 1\\]"),
    (lambda: PBM(attractiveness="nope"), "unknown relevance mapping 'nope'"),
    (lambda: GradeMapping([]), "non-empty 1-D"),
    (lambda: GradeMapping([0.5, np.nan]), "probabilities in \\[0, 1\\], got nan at index 1"),
    (lambda: GradeMapping.graded(eps_minus=0.5, eps_plus=0.2), "0 <= eps_minus <= eps_plus <= 1"),
    (lambda: DBN(gamma=1.5), "gamma must be a probability"),
    (lambda: DCM.preset("lost"), "unknown DCM preset 'lost'"),
    (lambda: DCM(stop=[0.1, -0.1]), "got -0.1 at index 1"),
    (lambda: UBM(gamma=[[1.0], [0.5]]), "gamma row 1 must hold at least 2"),
    (lambda: UBM(gamma=[[1.0], [0.5, 2.0]]), "bad entry at \\(1, 1\\)"),
    (lambda: UBM(eta=-2), "eta must be"),
    (lambda: TrustBias([1.0], [1.0, 1.0], [0.0]), "one length"),
    (lambda: TrustBias.vardasbi(n_ranks=120), "n_ranks must be in 1..99"),
    (lambda: click_model("nope"), "unknown click model 'nope'"),
    (lambda: click_model("pbm", foo=1), "click model 'pbm' takes no parameter 'foo'; it accepts: eta, attractiveness"),
    (lambda: relevance_mapping("graded2"), "unknown relevance mapping"),
    (lambda: click_model("trust_vardasbi", eta="1"), "^eta must be a finite number >= 0, got str '1'$"),
    (lambda: click_model("pbm", eta=True), "^eta must be a finite number >= 0, got bool True$"),
    (lambda: click_model("trust_oosterhuis2023", n_ranks=2.5), "^n_ranks must be an integer >= 1, got float 2.5$"),
    (lambda: click_model("ubm", gamma=3), "^gamma must be a table of probabilities, one row per rank, got int 3$"),
    (lambda: UBM(gamma=[[1.0], [0.5, "x"]]), "^gamma row 1 must be a sequence of probabilities in \\[0, 1\\]"),
    (lambda: PBM(theta="abc"), "^theta must be a non-empty 1-D sequence of probabilities in .+, got str 'abc'$"),
    (lambda: GradeMapping(["0.1", "0.5"]), "^the 'custom' grade mapping must be a non-empty 1-D sequence of"),
]


@pytest.mark.parametrize("build, message", INVALID_MODELS)
def test_invalid_model_parameters(build, message):
    with pytest.raises(ValueError, match=message):
        build()


NUMERIC_PARAMETERS = ("eta", "n_ranks", "gamma")


@pytest.mark.parametrize("name, parameter", [(spec.name, p) for spec in CLICK_MODELS.values()
                                             for p in spec.parameters if p in NUMERIC_PARAMETERS])
@pytest.mark.parametrize("bad", ["1", None, [1.0]], ids=["str", "None", "list"])
def test_numeric_click_model_parameters_reject_non_numbers(name, parameter, bad):
    # A number of the wrong type is a ValueError naming the parameter, not a TypeError of numpy.
    with pytest.raises(ValueError, match=f"^{parameter}( row 0)? must "):
        click_model(name, **{parameter: bad})


@pytest.mark.parametrize("args, message", [
    ((0,), "^k must be an integer >= 1, got 0$"),
    ((-3,), "^k must be an integer >= 1, got -3$"),
    ((2.5,), "^k must be an integer >= 1, got float 2.5$"),
    ((5, float("nan")), "^eta must be a finite number >= 0, got nan$"),
    ((5, -1), "^eta must be a finite number >= 0, got -1.0$"),
    ((5, float("inf")), "^eta must be a finite number >= 0, got inf$"),
    ((5, "1"), "^eta must be a finite number >= 0, got str '1'$"),
])
def test_pbm_theta_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        pbm_theta(*args)


def test_pbm_theta_eta_zero_is_no_position_bias():
    np.testing.assert_array_equal(pbm_theta(5, eta=0), np.ones(5))
    np.testing.assert_allclose(pbm_theta(3, eta=1), [1.0, 1 / 2, 1 / 3])


INVALID_CALLS = [
    (PBM(), dict(displayed=np.array([0, 1])), "displayed must have shape \\(n_sessions, k\\)"),
    (PBM(), dict(displayed=np.array([[0.0, 1.0]])), "integer document indices"),
    (PBM(), dict(displayed=np.array([[0, 3]])), "refers to document 3 but labels has only 3"),
    (PBM(), dict(labels=np.array([0, 1, 5])), "labels must lie in 0..4"),
    (PBM(), dict(labels=np.array([0, -1, 2])), "labels must be >= 0"),
    (PBM(), dict(labels=np.array([0.5, 1, 2])), "labels must be integer"),
    (PBM(), dict(examination="joint"), "examination must be one of"),
    (PBM(), dict(first_session=-1), "first_session must be an integer >= 0"),
    (PBM(), dict(seed=-3), "seed must be >= 0"),
    (PBM(theta=[1.0, 0.5]), {}, "theta defines 2 ranks but the sessions show k=3"),
    (click_model("pbm_eye_tracking"), dict(displayed=np.zeros((1, 11), dtype=int)), "defines 10 ranks"),
    (UBM(), dict(displayed=np.zeros((1, 11), dtype=int)), "gamma defines 10 ranks but the sessions show k=11"),
    (TrustBias.vardasbi(n_ranks=2), {}, "theta defines 2 ranks"),
]


@pytest.mark.parametrize("model, override, message", INVALID_CALLS)
def test_invalid_simulate_arguments(model, override, message):
    args = dict(displayed=GOOD_DISPLAYED, labels=GOOD_LABELS, seed=0) | override
    with pytest.raises(ValueError, match=message):
        model.simulate(**args)
