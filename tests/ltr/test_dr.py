"""Doubly robust estimates (Oosterhuis 2023) and policy-aware / estimated-propensity IPS."""

import re

import numpy as np
import pytest

from ltr import DR, IPS, estimate_harvesting, estimate_pbm_em
from policies import Deterministic, PlackettLuce
from simulator import PBM, ClickStatistics, TrustBias, make_synthetic, relevance_mapping, simulate_sessions

K = 5


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_queries=40, docs_per_query=10, n_features=5, seed=0)


def test_dr_equals_ips_on_shown_documents_under_a_deterministic_logger(data):
    """Every session of a query shows one list, so A_d = X_d and the DR target of a shown
    document is (C_d - B_d) / A_d whatever the regression; never-shown candidates get R_hat."""
    stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], K), PBM(), 20_000, seed=0).statistics
    dr = DR(candidates="all", clip=0.0, n_estimators=5, dm_n_estimators=5)
    estimates = dr.relevance_estimates(data, stats)
    shown = stats.impressions.sum(axis=1) > 0
    ips = IPS(clip=0.0).relevance_estimates(data, stats)
    np.testing.assert_allclose(estimates[shown], ips[shown], rtol=1e-12)
    r_hat = np.clip(dr.direct_model_.predict(data.features), 0, 1)
    np.testing.assert_allclose(estimates[~shown], r_hat[~shown], rtol=1e-12)


def z_scores(estimate, truth, stats, alpha, r_hat, exposure, monte_carlo):
    """(estimate - truth) / se with se^2 = sum over cells of I E[(c - alpha_r r_hat)^2] / X^2, the
    variance of the sum of independent per-session residuals (its per-cell second moment
    estimated from the cell's clicks), plus the Monte Carlo error of the exposure X."""
    p = np.clip(stats.clicks / np.maximum(stats.impressions, 1), 0, 1)
    m = alpha * r_hat[:, None]
    second = p * (1 - m) ** 2 + (1 - p) * m**2
    se = np.sqrt((stats.impressions * second).sum(axis=1) / exposure**2 + monte_carlo**2)
    return (estimate - truth) / se


def test_a_given_r_hat_replaces_the_regression(data):
    """The study hook: with R_hat = 0 the DR target is the clipped IPS estimate C / max(X, floor), shown
    documents and candidates alike; no regression is fitted (nor an earlier one kept); a bad R_hat is refused."""
    stats = simulate_sessions(data, PlackettLuce(lambda X: X[:, 0], K), PBM(), 2_000, seed=1,
                              placement=True).statistics
    dr = DR(propensity="policy_aware", candidates="all", clip=0.1, n_estimators=5, dm_n_estimators=5)
    dr.relevance_estimates(data, stats)
    assert dr.direct_model_ is not None
    rows, _, _, targets = dr._targets(data, stats, r_hat=np.zeros(data.n_docs))
    assert dr.direct_model_ is None
    ips = IPS(propensity="policy_aware", clip=0.1).relevance_estimates(data, stats)
    np.testing.assert_allclose(targets, ips[rows], rtol=1e-12)
    for bad in (np.zeros(data.n_docs - 1), np.full(data.n_docs, np.nan)):
        with pytest.raises(ValueError, match="r_hat must be finite and of shape"):
            dr._targets(data, stats, r_hat=bad)


@pytest.mark.parametrize("click_model", ["pbm", "trust"])
def test_dr_is_unbiased_under_plackett_luce_logging(data, click_model):
    """Plackett-Luce top 5 with placement=True, 4 * 10^5 sessions: the DR estimate of every
    document with an expected exposure of at least 50 examinations is within 5 standard errors
    of its true relevance (attractiveness for PBM; P(R) for trust bias, with the affine
    correction), the standard error from the residuals (``z_scores``); Monte Carlo placement
    (10^4 samples per query) adds a relative error of at most ~1 %, in the tolerance."""
    if click_model == "pbm":
        model = PBM(eta=1.0)
        truth = relevance_mapping("graded")(data.labels)
        alpha, beta = model.examination_by_rank(K), np.zeros(K)
        dr = DR(clip=0.0, n_estimators=5, dm_n_estimators=20)
    else:
        model = TrustBias.vardasbi(eta=1.0, n_ranks=K)
        theta, eps_minus, eps_slope, truth = model.affine_parameters(data.labels, K)
        alpha, beta = theta * eps_slope, theta * eps_minus
        dr = DR(affine=(alpha, beta), clip=0.0, n_estimators=5, dm_n_estimators=20)
    stats = simulate_sessions(data, PlackettLuce(lambda X: X[:, 0], K), model, 400_000, seed=1,
                              placement=True).statistics
    estimates = dr.relevance_estimates(data, stats)
    r_hat = np.clip(dr.direct_model_.predict(data.features), 0, 1)
    exposure = (stats.expected_impressions * alpha).sum(axis=1)
    rows = exposure >= 50
    assert rows.sum() > 200
    z = z_scores(estimates[rows], truth[rows], _rows(stats, rows), alpha, r_hat[rows], exposure[rows],
                 monte_carlo=0.01 * np.abs(estimates[rows] - r_hat[rows]))
    assert np.abs(z).max() < 5, np.abs(z).max()


def _rows(stats, rows):
    return ClickStatistics(stats.impressions[rows], stats.clicks[rows], stats.examination[rows], stats.n_sessions)


def test_policy_aware_ips_is_unbiased_and_oblivious_is_not(data):
    """Plackett-Luce top 5 over 10 candidates, PBM: the policy-aware estimate C_d / X_d of every
    candidate with X_d >= 50 is within 5 standard errors of its attractiveness (Poisson
    se = sqrt(C_d) / X_d, conservative for Bernoulli clicks, plus 1 % Monte Carlo error of X);
    the policy-oblivious one of the same candidates is too low by more than that in total."""
    stats = simulate_sessions(data, PlackettLuce(lambda X: X[:, 0], K), PBM(eta=1.0), 400_000, seed=2,
                              placement=True).statistics
    truth = relevance_mapping("graded")(data.labels)
    aware = IPS(propensity="policy_aware", clip=0.0).relevance_estimates(data, stats)
    oblivious = IPS(propensity="policy_oblivious", clip=0.0).relevance_estimates(data, stats)
    theta = PBM(eta=1.0).examination_by_rank(K)
    exposure = (stats.expected_impressions * theta).sum(axis=1)
    rows = exposure >= 50
    se = np.sqrt(np.maximum(stats.clicks.sum(axis=1), 1)[rows] / exposure[rows] ** 2 + (0.01 * aware[rows]) ** 2)
    assert np.abs((aware[rows] - truth[rows]) / se).max() < 5
    assert (truth[rows] - oblivious[rows]).sum() > 5 * np.sqrt((se**2).sum())


def test_estimated_propensities_from_two_rankers(data):
    """Statistics pooled from two deterministic rankers over the same queries: IPS's harvested
    theta_ equals estimate_harvesting's on the two logs (the same pooled AllPairs fit) and is
    within 5 bootstrap standard errors of (1/r) at every rank; EM's equals estimate_pbm_em's."""
    big = make_synthetic(n_queries=300, docs_per_query=10, n_features=5, seed=1)
    a = simulate_sessions(big, Deterministic(lambda X: X[:, 0], K), PBM(eta=1.0), 200_000, seed=0).statistics
    b = simulate_sessions(big, Deterministic(lambda X: X[:, 0] + X[:, 1], K), PBM(eta=1.0), 200_000, seed=1,
                          first_session=200_000).statistics
    ips = IPS(propensity="estimated", n_estimators=3).fit(big, a + b)
    reference = estimate_harvesting([a, b], big.query_boundaries, n_bootstrap=40, seed=0)
    np.testing.assert_allclose(ips.theta_, reference.theta, rtol=1e-9)
    se = (np.log(reference.upper) - np.log(reference.lower)) / (2 * 1.959964)  # bootstrap sd of log theta
    z = (np.log(ips.theta_) - np.log(1.0 / np.arange(1, K + 1)))[1:] / se[1:]
    assert np.abs(z).max() < 5, z
    em = IPS(propensity="estimated", estimator="em", n_estimators=3).fit(big, a + b)
    np.testing.assert_allclose(em.theta_, estimate_pbm_em(a + b).theta, rtol=1e-12)


def test_estimated_propensities_fall_back_with_a_warning(data):
    """One deterministic ranker: no document is seen at two ranks, theta is not identified (the warning
    names ranks 2..K: rank 1 is 1 by definition)."""
    stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], K), PBM(), 5000, seed=0).statistics
    ranks = re.escape(str(list(range(2, K + 1))))
    with pytest.warns(RuntimeWarning, match=f"ranks {ranks} are not identified"):
        ips = IPS(propensity="estimated", assumed_eta=0.5, n_estimators=3).fit(data, stats)
    np.testing.assert_allclose(ips.theta_, (1.0 / np.arange(1, K + 1)) ** 0.5)


@pytest.mark.parametrize("learner, message", [
    (IPS(propensity="policy_aware"), "needs the logging policy's expected placements"),
    (DR(propensity="policy_aware"), "needs the logging policy's expected placements"),
    (DR(propensity="cascade_model"), "propensity must be one of"),
    (DR(candidates="some"), "candidates must be 'all' or 'shown'"),
    (IPS(propensity="estimated", estimator="dla"), "estimator must be one of"),
    (IPS(clip="sometimes"), "clip must be in \\[0, 1\\], 'auto' or 'global'"),
    (IPS(propensity="pbm", assumed_eta=-1.0), "assumed_eta must be a finite number >= 0, got -1.0"),
    (IPS(propensity="pbm", assumed_eta="1"), "assumed_eta must be a finite number >= 0, got str '1'"),
    (IPS(propensity="estimated", assumed_eta=np.nan), "assumed_eta must be a finite number >= 0, got nan"),
])
def test_invalid_learners(data, learner, message):
    stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], K), PBM(), 1000, seed=0).statistics
    with pytest.raises(ValueError, match=message):
        learner.fit(data, stats)
