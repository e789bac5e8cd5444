"""Examination under an assumed click model, computed from a log (ltr._examination)."""

import numpy as np
import pytest

from ltr import IPS, assumed_examination, assumed_statistics, estimate_dcm_lambda, estimate_sdbn_satisfaction
from ltr import _examination_kernels as kernels
from simulator import DCM, GradeMapping, make_synthetic, simulate_sessions


def reference_examination(displayed, clicks, after_click, after_skip, by_document=False):
    out = np.zeros(displayed.shape)
    for s in range(displayed.shape[0]):
        e = 1.0
        for r in range(displayed.shape[1]):
            d = displayed[s, r]
            if d < 0:
                continue
            out[s, r] = e
            e *= (after_click[d] if by_document else after_click[r]) if clicks[s, r] else after_skip[r]
    return out


def test_chain_kernel_equals_plain_python_and_its_py_func():
    rng = np.random.default_rng(0)
    displayed = rng.integers(-1, 20, size=(500, 6))
    clicks = rng.random((500, 6)) < 0.3
    after_click, after_skip = rng.random(6), rng.random(6)
    expected = reference_examination(displayed, clicks, after_click, after_skip)
    per_document = rng.random(20)
    expected_by_document = reference_examination(displayed, clicks, per_document, after_skip, by_document=True)
    for kernel in (kernels.chain_examination, kernels.chain_examination.py_func):
        out = np.empty(displayed.shape)
        kernel(displayed, clicks, after_click, False, after_skip, out)
        np.testing.assert_array_equal(out, expected)
        kernel(displayed, clicks, per_document, True, after_skip, out)
        np.testing.assert_array_equal(out, expected_by_document)
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
    monkeypatch.setattr(kernels, "cascade_em", kernels.cascade_em.py_func)
    np.testing.assert_array_equal(estimate_dcm_lambda(displayed, clicks), compiled)


def _graded_stop_log(n=200_000, n_lists=50, k=5, seed=0):
    """DCM clicks as the simulator makes them, stopping after a click by the clicked document's grade
    (``informational``: click 0.4 .. 0.9, stop 0.1 .. 0.5): the simplified DBN with sigma_d = stop(grade of
    d), on 50 fixed lists of 5 documents.  (With an attractiveness of 1 in a fixed list the documents below
    it are never examined for sure and SDBN's parameters are not identified.)"""
    labels = np.random.default_rng(1).integers(0, 5, n_lists * k)
    model = DCM.preset("informational")
    displayed = (np.arange(n) % n_lists)[:, None] * k + np.arange(k)
    return model, labels, displayed, model.simulate(displayed, labels, seed=seed).clicks


def test_sdbn_satisfaction_makes_cascade_model_ips_unbiased_where_per_rank_lambda_is_not():
    """When the stop after a click depends on the clicked document (the simulator's DCM), the examination
    with each document's satisfaction estimated by EM weights the clicks so that their mean per rank is the
    attractiveness within 5 standard errors of the mean over the sessions; DCM's per-rank lambda, estimated
    by the same EM, is misspecified and misses by more than 5 standard errors at some rank."""
    model, labels, displayed, clicks = _graded_stop_log()
    truth = model.attractiveness(labels)[displayed]
    z = {}
    for name, kwargs in (("dbn", {}), ("dcm", {})):
        error = np.where(clicks, 1.0 / assumed_examination(displayed, clicks, name, **kwargs), 0.0) - truth
        z[name] = error.mean(axis=0) / (error.std(axis=0, ddof=1) / np.sqrt(error.shape[0]))
    assert np.all(np.abs(z["dbn"]) < 5), f"SDBN-weighted click rate minus attractiveness, in standard errors: {z}"
    assert np.any(np.abs(z["dcm"]) > 5), f"per-rank DCM weighting, in standard errors: {z}"


def test_sdbn_satisfaction_recovers_the_stop_of_each_clicked_document():
    """sigma_d = stop(grade of d).  Over 6 seeds of this design the estimate's largest standard deviation
    was 0.022 at ranks 1 and 2 (every document within 5 of them here) and grows down the list (0.05 at rank
    3, 0.23 at rank 4, where only one document lies below to tell stopping from skipping); the mean error
    over the 50 lists at each of ranks 1-4 is within 0.05 (about 5 standard errors at rank 4).  The closed
    form, last clicks over clicks, counts the users who went on and found nothing as satisfied: above the
    truth by more than 0.05 on average.  The last rank (nothing below) and unclicked documents get 0."""
    model, labels, displayed, clicks = _graded_stop_log()
    sigma = estimate_sdbn_satisfaction(displayed, clicks)
    assert sigma.shape == (labels.size,)
    truth = model.stop(labels)
    error = (sigma - truth).reshape(50, 5)
    np.testing.assert_array_less(np.abs(error[:, :2]), 5 * 0.022)
    np.testing.assert_array_less(np.abs(error[:, :4].mean(axis=0)), 0.05)
    assert np.all(sigma.reshape(50, 5)[:, -1] == 0.0)
    clicked = clicks.any(axis=1)
    last_rank = 4 - np.argmax(clicks[:, ::-1], axis=1)
    last = np.bincount(displayed[clicked, last_rank[clicked]], minlength=labels.size)
    closed_form = last / np.bincount(displayed[clicks], minlength=labels.size)
    assert np.mean((closed_form - truth).reshape(50, 5)[:, :4]) > 0.05


def test_document_sigma_and_the_prior():
    """The examination with each document's true satisfaction equals the simulator's model by hand; a Beta
    prior of many pseudo-clicks pulls every estimate to the prior's satisfaction, and a prior of none is the
    maximum-likelihood estimate."""
    model, labels, displayed, clicks = _graded_stop_log()
    truth = model.stop(labels)
    exam = assumed_examination(displayed, clicks, "dbn", document_sigma=truth)
    np.testing.assert_allclose(exam, reference_examination(displayed, clicks, 1 - truth, np.ones(5), by_document=True))
    mle = estimate_sdbn_satisfaction(displayed, clicks)
    np.testing.assert_array_equal(estimate_sdbn_satisfaction(displayed, clicks, prior_count=0.0), mle)
    pulled = estimate_sdbn_satisfaction(displayed, clicks, prior_count=1e7, prior_satisfaction=0.25)
    upper = pulled.reshape(50, 5)[:, :-1]
    np.testing.assert_allclose(upper, 0.25, atol=1e-3)
    default_prior = estimate_sdbn_satisfaction(displayed, clicks, prior_count=1e7).reshape(50, 5)[:, :-1]
    lam = estimate_dcm_lambda(displayed, clicks)
    per_rank = clicks[:, :-1].sum(axis=0)
    np.testing.assert_allclose(default_prior, 1 - lam[:-1] @ per_rank / per_rank.sum(), atol=1e-3)
    with pytest.raises(ValueError, match="prior_count must be >= 0"):
        estimate_sdbn_satisfaction(displayed, clicks, prior_count=-1)
    with pytest.raises(ValueError, match="sigma \\(per rank\\) or document_sigma \\(per document\\), not both"):
        assumed_examination(displayed, clicks, "dbn", sigma=0.5, document_sigma=truth)
    with pytest.raises(ValueError, match="document_sigma must be probabilities, one per document row \\(at least 250\\)"):
        assumed_examination(displayed, clicks, "dbn", document_sigma=truth[:10])


def test_sdbn_em_equals_its_py_func_and_checks_n_docs(monkeypatch):
    _, _, displayed, clicks = _graded_stop_log(n=5_000)
    with pytest.warns(RuntimeWarning, match="did not converge in max_iter=50"):
        compiled = estimate_sdbn_satisfaction(displayed, clicks, n_docs=300, max_iter=50, tol=0.0)
    assert compiled.shape == (300,) and np.all(compiled[250:] == 0.0)
    monkeypatch.setattr(kernels, "cascade_em", kernels.cascade_em.py_func)
    with pytest.warns(RuntimeWarning):
        again = estimate_sdbn_satisfaction(displayed, clicks, n_docs=300, max_iter=50, tol=0.0)
    np.testing.assert_array_equal(again, compiled)
    with pytest.raises(ValueError, match="the log shows document 249 but n_docs is 10"):
        estimate_sdbn_satisfaction(displayed, clicks, n_docs=10)


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


@pytest.mark.parametrize("propensity, module, function", [
    (dict(propensity="cascade_model"), "ltr._examination", "assumed_statistics"),
    (dict(propensity="estimated", estimator="em"), "ltr._propensity", "estimate_pbm_em"),
])
def test_ips_estimates_its_examination_once_for_all_row_blocks(monkeypatch, propensity, module, function):
    """The targets are summed in blocks of rows; what the weights take from the whole log (cascade_model's
    examination, an EM over the log; the estimated theta, an EM over the statistics) is not recomputed per
    block (it was: twice the fit time at 10^4 queries), and the targets do not depend on the block size."""
    import importlib

    import ltr._learners as learners
    from policies import PlackettLuce
    from simulator import PBM

    data = make_synthetic(n_queries=30, docs_per_query=8, n_features=3, seed=0)
    click_model = DCM() if propensity["propensity"] == "cascade_model" else PBM(eta=1.0)
    run = simulate_sessions(data, PlackettLuce(lambda X: X[:, 0], 5), click_model, 3000, seed=0, keep_log=True)
    ips = IPS(n_estimators=3, **propensity)
    whole = ips.relevance_estimates(data, run.statistics, log=run.log)
    calls = []
    target = importlib.import_module(module)
    counted = getattr(target, function)
    monkeypatch.setattr(target, function, lambda *a, **kw: calls.append(1) or counted(*a, **kw))
    monkeypatch.setattr(learners, "_BLOCK_ROWS", 16)  # 30 queries x 5 shown rows or more: 10 blocks or more
    np.testing.assert_array_equal(ips.relevance_estimates(data, run.statistics, log=run.log), whole)
    assert len(calls) == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="ubm"), "model must be one of"),
    (dict(model="pbm"), "needs theta"),
    (dict(model="pbm", theta=np.ones(3)), "theta must be an array of shape \\(2,\\)"),
    (dict(model="dbn", gamma=0.9), "model='dbn' with gamma=0.9 needs sigma \\(satisfaction\\)"),
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
