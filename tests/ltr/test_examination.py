"""Examination under an assumed click model, computed from a log (ltr._examination)."""

import numpy as np
import pytest

from ltr import IPS, assumed_examination, assumed_statistics, estimate_dcm_lambda
from ltr import _examination_kernels as kernels
from simulator import DCM, PBM, GradeMapping, make_synthetic, simulate_sessions


def reference_examination(displayed, clicks, after_click, after_skip):
    out = np.zeros(displayed.shape)
    for s in range(displayed.shape[0]):
        e = 1.0
        for r in range(displayed.shape[1]):
            if displayed[s, r] < 0:
                continue
            out[s, r] = e
            e *= after_click[r] if clicks[s, r] else after_skip[r]
    return out


def test_chain_kernel_equals_plain_python_and_its_py_func():
    rng = np.random.default_rng(0)
    displayed = rng.integers(-1, 20, size=(500, 6))
    clicks = rng.random((500, 6)) < 0.3
    after_click, after_skip = rng.random(6), rng.random(6)
    expected = reference_examination(displayed, clicks, after_click, after_skip)
    for kernel in (kernels.chain_examination, kernels.chain_examination.py_func):
        out = np.empty(displayed.shape)
        kernel(displayed, clicks, after_click, after_skip, out)
        np.testing.assert_array_equal(out, expected)
    dbn = assumed_examination(displayed, clicks, "dbn", gamma=0.9, sigma=after_click)
    np.testing.assert_allclose(dbn, reference_examination(displayed, clicks, 0.9 * (1 - after_click),
                                                          np.full(6, 0.9)), rtol=1e-12)


def test_cascade_model_ips_is_unbiased_when_the_assumed_dcm_is_right():
    """DCM clicks with a constant stop probability 0.4 (lambda = 0.6 at every rank) on one fixed
    list of 5 documents: the per-click weights 1 / e of the assumed DCM give a click rate per
    impression whose mean is the attractiveness, within 5 standard errors (the standard error
    of the mean of c / e over the sessions), while the naive click rate is below it."""
    labels = np.array([3, 2, 4, 0, 1])
    model = DCM(stop=GradeMapping([0.4] * 5))
    n = 200_000
    displayed = np.tile(np.arange(5), (n, 1))
    clicks = model.simulate(displayed, labels, seed=3).clicks
    exam = assumed_examination(displayed, clicks, "dcm", lambdas=0.6)
    weighted = np.where(clicks, 1.0 / exam, 0.0)
    truth = model.attractiveness(labels)
    se = weighted.std(axis=0, ddof=1) / np.sqrt(n)
    z = (weighted.mean(axis=0) - truth) / se
    assert np.all(np.abs(z) < 5), z
    assert np.all(clicks.mean(axis=0)[1:] < truth[1:] - 5 * se[1:])


def _dcm_log(n=100_000, n_lists=50, k=5, seed=0):
    """DCM clicks with a constant stop probability 0.4 (lambda = 0.6 at every rank) on 50 fixed lists of 5
    documents of random grades, each served n / 50 times."""
    labels = np.random.default_rng(0).integers(0, 5, n_lists * k)
    model = DCM(stop=GradeMapping([0.4] * 5))
    displayed = (np.arange(n) % n_lists)[:, None] * k + np.arange(k)
    return model, labels, displayed, model.simulate(displayed, labels, seed=seed).clicks


def test_dcm_lambda_is_the_maximum_likelihood_estimate():
    """EM recovers lambda = 0.6 at every rank with a document below (the last rank has none and gets 1).
    Tolerance: 5 times the largest standard deviation of the estimate over 10 seeds of this design
    (0.010, at rank 4).  Guo et al.'s last-click closed form counts the users who went on after their last
    click and found nothing more as stopped: it tends to lambda (1 - P(a click below)), 0 at the last rank."""
    _, _, displayed, clicks = _dcm_log()
    lam = estimate_dcm_lambda(displayed, clicks)
    assert lam[-1] == 1.0
    np.testing.assert_array_less(np.abs(lam[:-1] - 0.6), 5 * 0.010, err_msg=f"EM lambda {lam}")
    last_click = estimate_dcm_lambda(displayed, clicks, method="last_click")
    assert last_click[-1] == 0.0 and np.all(last_click[1:-1] < 0.6 - 5 * 0.010), last_click


def test_cascade_model_ips_with_estimated_lambda_is_unbiased():
    """propensity='cascade_model' with DCM's lambda estimated from the log (the default): the weighted click
    rate per rank minus the attractiveness has mean 0 within 5 standard errors of the mean over the sessions
    (the error of the estimated lambda is far smaller).  With the last-click estimate of lambda the clicks
    below rank 1 were overweighted by 11 to 53 standard errors."""
    model, labels, displayed, clicks = _dcm_log()
    exam = assumed_examination(displayed, clicks, "dcm")
    error = np.where(clicks, 1.0 / exam, 0.0) - model.attractiveness(labels)[displayed]
    z = error.mean(axis=0) / (error.std(axis=0, ddof=1) / np.sqrt(error.shape[0]))
    assert np.all(np.abs(z) < 5), f"weighted click rate minus attractiveness, in standard errors per rank: {z}"


def test_dcm_em_kernel_equals_its_py_func(monkeypatch):
    _, _, displayed, clicks = _dcm_log(n=5_000)
    compiled = estimate_dcm_lambda(displayed, clicks)
    monkeypatch.setattr(kernels, "dcm_em", kernels.dcm_em.py_func)
    np.testing.assert_array_equal(estimate_dcm_lambda(displayed, clicks), compiled)


def test_assumed_statistics_match_the_log():
    data = make_synthetic(n_queries=20, docs_per_query=8, n_features=3, seed=0)
    from policies import Deterministic

    run = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), DCM(), 3000, seed=0, keep_log=True)
    stats = assumed_statistics(run.log, data.n_docs, "dcm")
    np.testing.assert_array_equal(stats.impressions, run.statistics.impressions)
    np.testing.assert_array_equal(stats.clicks, run.statistics.clicks)
    lam = estimate_dcm_lambda(run.log.displayed, run.log.clicks)
    assert np.all((lam >= 0) & (lam <= 1))
    # PBM with theta: the examination sum is theta_r per impression.
    pbm = assumed_statistics(run.log, data.n_docs, "pbm", theta=np.full(5, 0.5))
    np.testing.assert_allclose(pbm.examination, 0.5 * stats.impressions)


def test_cascade_model_ips_needs_the_log_and_per_click_is_renamed():
    data = make_synthetic(n_queries=20, docs_per_query=8, n_features=3, seed=0)
    from policies import Deterministic

    run = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), DCM(), 3000, seed=0, keep_log=True)
    ips = IPS(propensity="cascade_model", n_estimators=3)
    assert ips.needs_log and not IPS().needs_log
    with pytest.raises(ValueError, match="pass the session log"):
        ips.fit(data, run.statistics)
    assert ips.fit(data, run.statistics, log=run.log).predict(data.features).shape == (data.n_docs,)
    with pytest.raises(ValueError, match="renamed 'oracle_per_click'"):
        IPS(propensity="per_click").fit(data, run.statistics)


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="ubm"), "model must be one of"),
    (dict(model="pbm"), "needs theta"),
    (dict(model="pbm", theta=np.ones(3)), "theta must be an array of shape \\(2,\\)"),
    (dict(model="dbn", gamma=0.9), "needs gamma \\(perseverance\\) and sigma"),
    (dict(model="dbn", gamma=1.5, sigma=0.5), "gamma must be a probability"),
    (dict(model="dcm", lambdas=[0.5, 2.0]), "lambdas must be a probability"),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        assumed_examination([[0, 1]], [[True, False]], **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="mle"), "method must be one of \\('em', 'last_click'\\), got 'mle'"),
    (dict(max_iter=0), "max_iter"),
    (dict(tol=-1.0), "tol must be >= 0, got -1.0"),
])
def test_invalid_dcm_lambda_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_dcm_lambda([[0, 1]], [[True, False]], **kwargs)
