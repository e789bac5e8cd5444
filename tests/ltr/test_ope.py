"""Off-policy estimators and the exact value of a ranker (ltr._ope).

Statistical tolerances: a mean over R independent repetitions (or sessions) is
compared with its exact value within Z = 4.5 standard errors of that mean, the
standard error estimated from the same repetitions; seeded, so deterministic.
"""

import itertools

import numpy as np
import pytest

from ltr._ope import (
    OPEEstimate,
    cascade_dr_estimate,
    dcg_discount,
    dr_estimate,
    estimate_difference,
    estimate_value,
    exact_attractiveness,
    exact_query_values,
    exact_value,
    ips_estimate,
    logging_prefix_probabilities,
    naive_estimate,
    policy_aware_estimate,
)
from policies import Deterministic, EpsilonGreedy, PlackettLuce, UniformRandom
from simulator import PBM, CascadeModel, ClickLog, RankingDataset, simulate_sessions

Z = 4.5
N_QUERIES, DOCS = 12, 4


@pytest.fixture(scope="module")
def world():
    """12 queries x 4 documents; a logging score (noisy labels) and a target ranking (other noise)."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, N_QUERIES * DOCS)
    data = RankingDataset.from_group_sizes(np.zeros((labels.size, 1)), labels, [DOCS] * N_QUERIES)
    logger_scores = labels + 1.5 * rng.standard_normal(labels.size)
    target_scores = labels + 0.5 * rng.standard_normal(labels.size)
    return data, logger_scores, target_scores


def target_lists(data, scores, k):
    return Deterministic(lambda X: scores, k=k).bind(data.features, data.query_boundaries).fixed_lists()


def repeated_estimates(data, policy, model, target, estimator, n_sessions, reps, **inputs):
    """Estimates on ``reps`` disjoint blocks of ``n_sessions`` sessions of one log (independent sessions)."""
    log = simulate_sessions(data, policy, model, n_sessions * reps, seed=11, keep_log=True).log
    prefix = logging_prefix_probabilities(policy, data.features, data.query_boundaries, log.query, log.displayed)
    values = []
    for rep in range(reps):
        block = slice(rep * n_sessions, (rep + 1) * n_sessions)
        part = ClickLog(query=log.query[block], round=log.round[block], displayed=log.displayed[block],
                        clicks=log.clicks[block], examination=log.examination[block], policy=log.policy)
        values.append(estimate_value(estimator, part, target, seed=rep, prefix_probability=prefix[block],
                                     **inputs).value)
    return np.array(values)


def test_exact_value_matches_simulated_clicks_of_the_target(world):
    data, _, target_scores = world
    for model in (PBM(eta=1.0), CascadeModel()):
        target = Deterministic(lambda X: target_scores, k=3)
        n = 200_000
        log = simulate_sessions(data, target, model, n, seed=1, keep_log=True).log
        clicks = log.clicks.sum(axis=1)
        truth = exact_value(data, target_lists(data, target_scores, 3), model)
        tolerance = Z * clicks.std() / np.sqrt(n)
        assert abs(clicks.mean() - truth) <= tolerance, (
            f"{type(model).__name__}: simulated clicks per session {clicks.mean():.4f} vs exact {truth:.4f}")


def test_exact_value_of_pbm_is_theta_times_attractiveness(world):
    data, _, target_scores = world
    lists = target_lists(data, target_scores, 3)
    model = PBM(eta=2.0)
    by_hand = (model.examination_by_rank(3) * model.attractiveness(data.labels[lists])).sum(axis=1)
    np.testing.assert_allclose(exact_query_values(data, lists, model), by_hand)
    weights = np.arange(1, N_QUERIES + 1)
    assert exact_value(data, lists, model, weights) == pytest.approx((weights * by_hand).sum() / weights.sum())
    # The DCG-style value is the PBM value with the DCG discount as examination.
    dcg = PBM(eta=1.0, theta=dcg_discount(3))
    np.testing.assert_allclose(exact_query_values(data, lists, dcg),
                               (dcg_discount(3) * model.attractiveness(data.labels[lists])).sum(axis=1))


def test_the_weighted_exact_value_is_the_dcg_of_the_attractiveness(world):
    """exact_value(target_examination=w) = mean over queries of sum_r w_r alpha(d_r): under PBM the value of a
    PBM whose examination is w; under a cascade alpha is the click probability of a document shown alone."""
    data, _, target_scores = world
    lists = target_lists(data, target_scores, 3)
    w = dcg_discount(3)
    assert exact_value(data, lists, PBM(eta=2.0), target_examination=w) == pytest.approx(
        exact_value(data, lists, PBM(eta=1.0, theta=w)))
    cascade = CascadeModel()
    np.testing.assert_allclose(exact_attractiveness(data, cascade), cascade.attractiveness(data.labels))
    by_hand = (w * cascade.attractiveness(data.labels[lists])).sum(axis=1).mean()
    assert exact_value(data, lists, cascade, target_examination=w) == pytest.approx(by_hand)


def test_naive_with_rank_weights_counts_each_click_at_its_target_rank():
    log = ClickLog(query=[0, 0], round=[0, 0], displayed=[[0, 1], [1, 0]],
                   clicks=[[True, True], [False, True]], examination=[[1, .5], [1, .5]], policy="p")
    # target [1, 0]: document 1 at rank 1 (weight 1), document 0 at rank 2 (weight 0.25)
    estimate = naive_estimate(log, [[1, 0]], target_examination=[1.0, 0.25])
    assert estimate.per_session.tolist() == [1.25, 0.25]
    assert naive_estimate(log, [[1, 0]], target_examination=[1.0, 1.0]).value == naive_estimate(log, [[1, 0]]).value


@pytest.mark.parametrize("estimator", ["policy_aware", "dr"])
def test_dcg_weighted_estimates_are_unbiased_for_the_weighted_exact_value(world, estimator):
    """What a deployment gate with objective = "dcg" estimates, against what it is graded on."""
    data, logger_scores, target_scores = world
    policy = EpsilonGreedy(lambda X: logger_scores, k=2, epsilon=0.5)
    target = target_lists(data, target_scores, 2)
    w = dcg_discount(2)
    truth = exact_value(data, target, PBM(eta=1.0), target_examination=w)
    placement = policy.bind(data.features, data.query_boundaries).placement_probabilities()
    reps = 200
    values = repeated_estimates(data, policy, PBM(eta=1.0), target, estimator, 2_000, reps,
                                theta=PBM(eta=1.0).examination_by_rank(2), logging_placement=placement,
                                target_examination=w)
    assert abs(values.mean() - truth) <= Z * values.std(ddof=1) / np.sqrt(reps)


@pytest.mark.parametrize("estimator, logger, model, k", [
    # item-position IPS: PBM clicks and every document in every list (k = all candidates)
    ("ips", "deterministic", "pbm", DOCS),
    ("ips", "plackett_luce", "pbm", DOCS),
    # policy-aware and DR: PBM clicks, a logger that shows every document with positive probability
    ("policy_aware", "plackett_luce", "pbm", 2),
    ("policy_aware", "epsilon_greedy", "pbm", 2),
    ("dr", "plackett_luce", "pbm", 2),
    # cascade DR: any cascade-type clicks, a logger that gives every prefix positive probability
    ("cascade_dr", "plackett_luce", "cascade", 2),
    ("cascade_dr", "epsilon_greedy", "pbm", 2),
])
def test_estimators_are_unbiased_where_their_assumptions_hold(world, estimator, logger, model, k):
    data, logger_scores, target_scores = world
    score = lambda X: logger_scores  # noqa: E731
    policy = {"deterministic": Deterministic(score, k=k), "epsilon_greedy": EpsilonGreedy(score, k=k, epsilon=0.5),
              "plackett_luce": PlackettLuce(score, k=k, temperature=1.0)}[logger]
    click_model = PBM(eta=1.0) if model == "pbm" else CascadeModel()
    target = target_lists(data, target_scores, k)
    truth = exact_value(data, target, click_model)
    theta = PBM(eta=1.0).examination_by_rank(k)
    placement = policy.bind(data.features, data.query_boundaries).placement_probabilities(n_samples=100_000)
    reps = 200
    values = repeated_estimates(data, policy, click_model, target, estimator, 2_000, reps, theta=theta,
                                logging_placement=placement)
    error = values.mean() - truth
    tolerance = Z * values.std(ddof=1) / np.sqrt(reps)
    assert abs(error) <= tolerance, (
        f"{estimator} under {logger}/{model}: mean estimate {values.mean():.4f}, exact {truth:.4f}, "
        f"off by {error / tolerance:.2f} tolerances")


def test_ips_is_naive_with_unit_theta_when_logging_is_the_target(world):
    data, _, target_scores = world
    target = Deterministic(lambda X: target_scores, k=3)
    log = simulate_sessions(data, target, PBM(eta=1.0), 5_000, seed=2, keep_log=True).log
    lists = target_lists(data, target_scores, 3)
    naive = naive_estimate(log, lists)
    ips = ips_estimate(log, lists, theta=np.ones(3))
    np.testing.assert_array_equal(ips.per_session, naive.per_session)
    # ... and the naive estimate is then the on-policy mean of the clicks
    assert naive.value == pytest.approx(log.clicks.sum(axis=1).mean())


def test_policy_aware_is_ips_under_a_deterministic_logger(world):
    data, logger_scores, target_scores = world
    logger = Deterministic(lambda X: logger_scores, k=3)
    log = simulate_sessions(data, logger, PBM(eta=1.0), 5_000, seed=3, keep_log=True).log
    lists, theta = target_lists(data, target_scores, 3), np.array([1.0, 0.6, 0.3])
    placement = logger.bind(data.features, data.query_boundaries).placement_probabilities()
    np.testing.assert_allclose(policy_aware_estimate(log, lists, theta, placement).per_session,
                               ips_estimate(log, lists, theta).per_session)


@pytest.mark.parametrize("policy", [
    PlackettLuce(lambda X: X[:, 0], k=2, temperature=0.7),
    EpsilonGreedy(lambda X: X[:, 0], k=2, epsilon=0.4),
    Deterministic(lambda X: X[:, 0], k=2),
    UniformRandom(k=2),
])
def test_prefix_probabilities_match_the_policy(policy):
    """Exact prefix probabilities sum to 1 over all prefixes and match the frequencies of rank()."""
    features = np.array([[0.3], [1.2], [-0.4], [0.9], [0.0], [2.0]])  # query 0: 4 documents, query 1: 2
    boundaries = np.array([0, 4, 6])
    prefixes = np.array(list(itertools.permutations(range(4), 2)))
    exact = logging_prefix_probabilities(policy, features, boundaries, np.zeros(len(prefixes), int), prefixes)
    assert exact[:, 1].sum() == pytest.approx(1.0)
    n = 100_000
    shown = policy.bind(features, boundaries).rank(np.zeros(n, dtype=int), seed=4)
    codes = shown[:, 0] * 4 + shown[:, 1]
    frequency = np.bincount(codes, minlength=16)[prefixes[:, 0] * 4 + prefixes[:, 1]] / n
    p = exact[:, 1]
    worst = np.max(np.abs(frequency - p) / (Z * np.sqrt(p * (1 - p) / n) + 1e-12))
    assert worst <= 1.0, f"{policy.name}: a prefix frequency is {worst:.2f} tolerances from its probability"
    # depth 1 is the placement probability of rank 1
    first = logging_prefix_probabilities(policy, features, boundaries, [0] * 4, np.c_[np.arange(4), [-1] * 4])
    placement = policy.bind(features, boundaries).placement_probabilities(n_samples=200_000)[:4, 0]
    np.testing.assert_allclose(first[:, 0], placement, atol=Z * np.sqrt(0.25 / 200_000))


def test_difference_is_paired():
    a = OPEEstimate.from_scores("a", [1.0, 2.0, 4.0, 3.0])
    b = OPEEstimate.from_scores("b", [0.9, 1.9, 3.95, 2.9])
    d = estimate_difference(a, b, confidence=0.9)
    assert d.value == pytest.approx(a.value - b.value)
    assert d.standard_error < 0.1 * a.standard_error
    assert d.confidence == 0.9 and d.estimator == "a - b"


def test_interval_covers_at_the_stated_rate():
    """Means of 400 samples of an exponential: the 90 % interval covers the mean in 90 % of 2000 draws."""
    rng = np.random.default_rng(0)
    covered = [OPEEstimate.from_scores("x", rng.exponential(size=400), 0.9).covers(1.0) for _ in range(2000)]
    assert abs(np.mean(covered) - 0.9) <= Z * np.sqrt(0.9 * 0.1 / 2000) + 0.01  # + the CLT's skew at n = 400


def test_dr_with_an_outside_direct_model_and_known_queries_is_unbiased_with_less_variance(world):
    """direct_counts from other sessions and the direct term's exact mean over P(q): the estimate of a
    query-weighted value stays unbiased, and its spread over repetitions is smaller than the cross-fitted one's."""
    data, logger_scores, target_scores = world
    model = PBM(eta=1.0)
    policy = EpsilonGreedy(lambda X: logger_scores, k=2, epsilon=0.5)
    target = target_lists(data, target_scores, 2)
    u = np.linspace(0.5, 1.5, N_QUERIES)  # the value's query weights (mean 1, as the gate's)
    truth = exact_value(data, target, model, query_weights=u)
    theta = model.examination_by_rank(2)
    placement = policy.bind(data.features, data.query_boundaries).placement_probabilities()
    other = simulate_sessions(data, policy, model, 20_000, seed=99).statistics  # sessions outside the judged log
    counts = (other.row_sums("clicks").astype(float), other.row_sums("impressions", weights=theta))
    reps = 200
    common = dict(theta=theta, logging_placement=placement, query_weights=u)
    plain = repeated_estimates(data, policy, model, target, "dr", 500, reps, **common)
    outside = repeated_estimates(data, policy, model, target, "dr", 500, reps, direct_counts=counts,
                                 query_probabilities=np.full(N_QUERIES, 1 / N_QUERIES), **common)
    for values in (plain, outside):
        assert abs(values.mean() - truth) <= Z * values.std(ddof=1) / np.sqrt(reps)
    assert outside.std() < 0.8 * plain.std(), (outside.std(), plain.std())


def test_query_weights_multiply_each_sessions_score_by_its_querys_weight(world):
    data, logger_scores, target_scores = world
    policy = EpsilonGreedy(lambda X: logger_scores, k=2, epsilon=0.5)
    log = simulate_sessions(data, policy, PBM(eta=1.0), 300, seed=4, keep_log=True).log
    target = target_lists(data, target_scores, 2)
    u = np.arange(1.0, N_QUERIES + 1)
    inputs = dict(theta=[1.0, 0.5], logging_placement=policy.bind(data.features, data.query_boundaries)
                  .placement_probabilities(), prefix_probability=logging_prefix_probabilities(
                      policy, data.features, data.query_boundaries, log.query, log.displayed))
    for name in ("naive", "ips", "policy_aware", "dr", "cascade_dr"):
        weighted = estimate_value(name, log, target, query_weights=u, **inputs).per_session
        np.testing.assert_allclose(weighted, estimate_value(name, log, target, **inputs).per_session * u[log.query],
                                   err_msg=name)


def small_log():
    return ClickLog(query=[0, 0, 0], round=[0] * 3, displayed=[[0, 1], [1, 0], [0, 1]],
                    clicks=[[True, False], [False, True], [False, False]], examination=[[1, .5]] * 3, policy="p")


@pytest.mark.parametrize("call, match", [
    (lambda: naive_estimate(small_log(), [[0, 1, 2]]), r"target_lists must have shape \(n_queries, k=2\)"),
    (lambda: naive_estimate(small_log(), [[0.0, 1.0]]), "target_lists must hold integer document rows"),
    (lambda: naive_estimate(small_log(), [[0, 0]]), "at most once"),
    (lambda: naive_estimate(small_log(), [[0, -3]]), r"target_lists must be >= -1"),
    (lambda: naive_estimate(small_log(), [[0, 1]], confidence=1.0), r"confidence must be a number in \(0, 1\)"),
    (lambda: naive_estimate("log", [[0, 1]]), "log must be a ClickLog"),
    (lambda: ips_estimate(small_log(), [[0, 1]], theta=[1.0, 0.0]), "theta must be 2 finite numbers > 0"),
    (lambda: ips_estimate(small_log(), [[0, 1]], theta=[1.0]), "theta must be 2 finite numbers > 0"),
    (lambda: ips_estimate(small_log(), [[0, 1]], [1, .5], target_examination=[1, -1]),
     "target_examination must be 2 finite numbers >= 0"),
    (lambda: policy_aware_estimate(small_log(), [[0, 1]], [1, .5], np.ones((1, 2))),
     r"logging_placement must have shape \(n_docs >= 2, k=2\)"),
    (lambda: policy_aware_estimate(small_log(), [[0, 1]], [1, .5], [[0.0, 0.0], [1.0, 0.0]]),
     "clicked document has policy-aware propensity 0"),
    (lambda: dr_estimate(small_log(), [[0, 1]], [1, .5], np.full((2, 2), .5), n_folds=1),
     r"n_folds must be an integer in \[2, n_sessions=3\]"),
    (lambda: dr_estimate(small_log(), [[0, 1]], [1, .5], np.full((2, 2), .5), prior_strength=-1),
     "prior_strength must be a finite number >= 0"),
    (lambda: dr_estimate(small_log(), [[0, 1]], [1, .5], np.full((2, 2), .5), direct_counts=np.ones(2)),
     r"direct_counts must be a pair \(clicks, examinations\)"),
    (lambda: dr_estimate(small_log(), [[0, 1]], [1, .5], np.full((2, 2), .5), direct_counts=([1.0], [1.0, 1.0])),
     "direct_counts clicks must be >= 2 finite counts >= 0"),
    (lambda: dr_estimate(small_log(), [[0, 1]], [1, .5], np.full((2, 2), .5), query_probabilities=[0.5]),
     "query_probabilities must sum to 1"),
    (lambda: naive_estimate(small_log(), [[0, 1]], query_weights=[1.0, 2.0]),
     r"query_weights must be 1 finite numbers >= 0"),
    (lambda: cascade_dr_estimate(small_log(), [[0, 1]], [1, .5], np.ones((2, 2))),
     r"prefix_probability must be probabilities of shape \(n_sessions, k\) = \(3, 2\)"),
    (lambda: cascade_dr_estimate(small_log(), [[0, 1]], [1, .5], np.zeros((3, 2))),
     "logged prefix has prefix_probability 0"),
    (lambda: estimate_value("dr", small_log(), [[0, 1]], theta=[1, .5]), "estimator 'dr' needs logging_placement"),
    (lambda: estimate_value("snips", small_log(), [[0, 1]]), "unknown estimator 'snips'"),
    (lambda: OPEEstimate.from_scores("x", [1.0]), "at least 2 sessions"),
    (lambda: estimate_difference(OPEEstimate.from_scores("a", [1, 2]), OPEEstimate.from_scores("b", [1, 2, 3])),
     "same sessions"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda data, lists, model: exact_value(data, lists, model),
    lambda data, lists, model: exact_value(data, lists, model, target_examination=[1.0, 0.5]),
    lambda data, lists, model: exact_query_values(data, lists, model),
    lambda data, lists, model: exact_attractiveness(data, model),
], ids=["exact_value", "exact_value_weighted", "exact_query_values", "exact_attractiveness"])
@pytest.mark.parametrize("model", ["pbm", None])
def test_exact_values_reject_what_is_not_a_click_model(world, call, model):
    data, _, _ = world
    lists = target_lists(data, np.arange(data.n_docs, dtype=float), 2)
    with pytest.raises(ValueError, match=r"^click_model must be a click model object \(e\.g\. "
                                         r"simulator\.click_model\(name\)\), got "):
        call(data, lists, model)


def test_exact_value_rejects_bad_lists(world):
    data, _, _ = world
    lists = target_lists(data, np.arange(data.n_docs, dtype=float), 2)
    lists[0] = [4, 5]                      # the documents of query 1
    lists[1] = [6, 7]
    with pytest.raises(ValueError, match="is a document of query 1, not 0"):
        exact_value(data, lists, PBM())
    with pytest.raises(ValueError, match=f"one row per query \\({N_QUERIES}\\)"):
        exact_value(data, [[0, 1]], PBM())
    with pytest.raises(ValueError, match="query_weights must be 12 finite weights"):
        exact_value(data, target_lists(data, np.arange(data.n_docs, dtype=float), 2), PBM(), query_weights=[1.0])
