"""Deployment gates: decisions recorded per round, kept rankers really kept, decisions replayed on resume."""

import csv

import numpy as np
import pytest

import clickloop
from clickloop import config_from_dict, preset
from clickloop._config import _merge, config_to_dict
from clickloop._gate import OPEGate, logging_placement, top_lists
from policies import Deterministic, PlackettLuce
from simulator import PBM, make_synthetic, simulate_sessions

GATED = {
    "seeds": 1,
    "loop": {"rounds": 3, "variants": ["logger", "naive_g", "ips_g"]},
    "variants": {"naive_g": {"learner": "naive", "gate": "ope"}, "ips_g": {"learner": "ips", "gate": "ope"}},
}


def _config(**extra):
    base = config_to_dict(preset("smoke", overrides=["data.n_queries=30", "loop.sessions_per_round=1500",
                                                      "learner.n_estimators=5"]))
    return config_from_dict(_merge(_merge(base, GATED), extra))


def _rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# No engagement features: a kept ranker then serves exactly the lists it served (with CTR fed back, its
# scores would move with the history's features).
KEPT = {"loop": {"engagement": "none"}}


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gated") / "out"
    clickloop.run_experiment(_config(**KEPT), out, quiet=True)
    return out


def test_a_gated_variant_records_its_decisions_and_keeps_the_ranker_it_did_not_replace(gated_run):
    rows = _rows(gated_run)
    for variant in ("naive_g", "ips_g"):
        by = {(int(r["round"]), r["metric"]): float(r["value"]) for r in rows if r["variant"] == variant}
        deployed = [by[(t, "deployed")] for t in (1, 2, 3)]
        assert set(deployed) <= {0.0, 1.0} and (0, "deployed") not in by
        for t in (1, 2, 3):
            assert np.isfinite(by[(t, "estimated_improvement")]) and np.isfinite(by[(t, "exact_improvement")])
            if by[(t, "deployed")] == 0.0:  # the previous ranker serves again: the same NDCG
                assert by[(t, "ndcg@10")] == by[(t - 1, "ndcg@10")]
    assert not any(r["metric"] == "deployed" for r in rows if r["variant"] == "logger")


def test_the_candidates_held_out_ndcg_is_the_deployed_rankers_when_deployed(gated_run):
    """candidate_heldout_ndcg@10 of round t is that of the ranker retrained after round t - 1: the held-out
    NDCG of round t where the gate deployed it; recorded for gated variants only, from round 1."""
    rows = _rows(gated_run)
    decisions = []
    for variant in ("naive_g", "ips_g"):
        by = {(int(r["round"]), r["metric"]): float(r["value"]) for r in rows if r["variant"] == variant}
        assert (0, "candidate_heldout_ndcg@10") not in by
        for t in (1, 2, 3):
            decisions.append(by[(t, "deployed")])
            if by[(t, "deployed")] == 1.0:
                assert by[(t, "candidate_heldout_ndcg@10")] == by[(t, "heldout_ndcg@10")]
            else:
                assert 0.0 <= by[(t, "candidate_heldout_ndcg@10")] <= 1.0
    assert set(decisions) == {0.0, 1.0}, decisions  # both kinds of round are checked
    assert not any(r["metric"] == "candidate_heldout_ndcg@10" for r in rows if r["variant"] == "logger")


def test_the_candidates_held_out_scores_use_the_engagement_row_the_next_round_serves(tmp_path):
    """With CTR fed back and the unseen row estimated from the history, a deployed candidate's held-out NDCG
    is still the next round's (its unseen row is the one that round computes, after the gate's sessions joined
    the history); and resuming from checkpoints without the candidate's scores (written before they existed)
    fills them in by the replay."""
    config = _config(loop={"engagement": "ctr", "engagement_unseen": "estimate", "engagement_prior": 10.0})
    clickloop.run_experiment(config, tmp_path / "a", quiet=True)
    rows = _rows(tmp_path / "a")
    deployed = 0
    for variant in ("naive_g", "ips_g"):
        by = {(int(r["round"]), r["metric"]): float(r["value"]) for r in rows if r["variant"] == variant}
        for t in (1, 2, 3):
            if by[(t, "deployed")] == 1.0:
                deployed += 1
                assert by[(t, "candidate_heldout_ndcg@10")] == by[(t, "heldout_ndcg@10")]
    assert deployed > 0
    task = tmp_path / "a" / ".state" / "seed_0" / "ips_g"
    (task / "rows.csv").unlink()
    (task / "round_3.npz").unlink()
    for t in (1, 2):  # as an older version wrote them
        path = task / f"round_{t}.npz"
        with np.load(path) as z:
            arrays = {name: z[name] for name in z.files if name != "candidate_test_scores"}
        np.savez(path, **arrays)
    clickloop.run_experiment(config, tmp_path / "a", quiet=True, resume=True)
    assert _rows(tmp_path / "a") == rows


def test_decisions_are_replayed_exactly_on_resume(gated_run, tmp_path):
    out = tmp_path / "out"
    clickloop.run_experiment(_config(**KEPT), out, quiet=True)
    task = out / ".state" / "seed_0" / "ips_g"
    (task / "rows.csv").unlink()
    for t in (2, 3):
        (task / f"round_{t}.npz").unlink()
    clickloop.run_experiment(_config(**KEPT), out, quiet=True, resume=True)
    assert _rows(out) == _rows(gated_run)


def test_the_gate_of_a_naive_variant_estimates_naively_and_a_table_overrides_the_default():
    config = _config(deployment={"gate": "ope", "estimator": "policy_aware", "confidence": 0.9},
                     variants={"ips_g": {"gate": "none"}})
    naive = clickloop.build_variant(config, "naive_g", 0)
    ips = clickloop.build_variant(config, "ips_g", 0)
    logger = clickloop.build_variant(config, "logger", 0)
    # the gate keeps its own sessions (then reuses them for training: placements needed in the history)
    assert naive.gate == OPEGate("naive", 0.9, 0.5, 0.3, "ndcg", "em", "history", "split", True)
    assert not naive.needs_log and naive.needs_placement
    assert ips.gate is None and logger.gate is None
    in_sample = clickloop.build_variant(_config(deployment={"gate": "ope", "holdout": 0.0}), "naive_g", 0)
    assert in_sample.gate == OPEGate("naive", 0.95, 0.0, 0.3, "ndcg", "em", "history", "split", True)
    assert in_sample.needs_log and in_sample.needs_placement


def test_a_gate_with_a_holdout_judges_on_sessions_the_learner_never_trains_on():
    """Each round 20 % of the sessions go to the gate alone: the training statistics hold the rest, and the
    in-sample gate (holdout 0) trains on every session."""
    from clickloop._compose import logger_learner

    for holdout, trained in ((0.2, 1200), (0.0, 1500)):
        config = _config(deployment={"holdout": holdout})
        train, test = clickloop.build_datasets(config)
        env = clickloop.LoopEnvironment(train, test, clickloop.build_click_model(config),
                                        clickloop.policy_factory(config), config.loop.sessions_per_round)
        variant = clickloop.build_variant(config, "ips_g", 0)
        records = clickloop.run_loop(env, variant, logger_learner(config, 0).fit(train), 2, 0)
        assert [r.statistics.n_sessions for r in records] == [trained] * 3
        assert all(r.deployed in (0, 1) for r in records[1:])


def test_reused_gate_sessions_join_the_training_history_once_judged(monkeypatch):
    """Holdout 0.5 of 1,500 sessions: each candidate is fitted on the training halves so far, plus, with
    reuse, the gate halves already judged (those of the rounds before its own), whichever way they are served."""
    import clickloop._loop as loop
    from clickloop._compose import logger_learner

    fitted = []
    refit = loop._refit
    monkeypatch.setattr(loop, "_refit", lambda env, variant, history, *a: (
        fitted.append(history.total.n_sessions), refit(env, variant, history, *a))[1])
    seen = {}
    for test in ("explore", "split"):
        for reuse in (False, True):
            fitted.clear()
            config = _config(deployment={"holdout": 0.5, "test": test, "reuse": reuse})
            train, held_out = clickloop.build_datasets(config)
            env = clickloop.LoopEnvironment(train, held_out, clickloop.build_click_model(config),
                                            clickloop.policy_factory(config), config.loop.sessions_per_round)
            variant = clickloop.build_variant(config, "ips_g", 0)
            records = clickloop.run_loop(env, variant, logger_learner(config, 0).fit(train), 3, 0)
            assert [r.statistics.n_sessions for r in records] == [750] * 4
            seen[test, reuse] = list(fitted)
    for test in ("explore", "split"):
        assert seen[test, False] == [750, 1500, 2250]
        assert seen[test, True] == [750, 2250, 3750]


def test_a_split_test_serves_half_of_the_gate_sessions_with_each_ranker():
    """test = "split": the gate's log places each query's current top k and the candidate's top k, each in
    about half of its sessions (no exploration here), so both lists have support."""
    from clickloop._loop import _History, _validate_split

    config = _config()
    train, test = clickloop.build_datasets(config)
    env = clickloop.LoopEnvironment(train, test, clickloop.build_click_model(config),
                                    clickloop.policy_factory(config), config.loop.sessions_per_round)
    variant = clickloop.build_variant(config, "ips_g", 0)
    gated = variant.__class__(**{**variant.__dict__, "gate": OPEGate("dr", 0.95, 0.5, 0.0, test="split")})
    current, candidate = train.features[:, 0].astype(np.float64), -train.features[:, 0].astype(np.float64)
    validation = _History(train.n_docs, 10, 0, 10**6)
    _validate_split(env, gated, validation, 3000, current, candidate, 0, 1, 10)
    assert validation.total.n_sessions == 3000 and validation.log().n_sessions == 3000
    placement = logging_placement(validation.total, train.query_boundaries)
    mine, theirs = (top_lists(s, train.query_boundaries, 10) for s in (current, candidate))
    for q in range(train.n_queries):
        only_current = np.setdiff1d(mine[q][mine[q] >= 0], theirs[q])
        only_candidate = np.setdiff1d(theirs[q][theirs[q] >= 0], mine[q])
        share = placement[only_current].sum(axis=1)  # each such document is in every current-arm session
        np.testing.assert_allclose(share, share[0] if share.size else share)
        if only_current.size and only_candidate.size:
            np.testing.assert_allclose(share + placement[only_candidate].sum(axis=1)[0], 1.0)
    sessions = np.bincount(validation.log().query, minlength=train.n_queries)
    arm = np.array([placement[np.setdiff1d(mine[q][mine[q] >= 0], theirs[q])].sum(axis=1)[:1].sum()
                    for q in range(train.n_queries)])
    split = arm[arm > 0]  # queries whose lists differ: the current arm's share of their sessions
    assert abs(np.average(split, weights=sessions[arm > 0]) - 0.5) < 5 * np.sqrt(0.25 / sessions[arm > 0].sum())


def test_the_logging_placement_of_a_mixture_of_rankers():
    data = make_synthetic(n_queries=6, docs_per_query=5, n_features=2, seed=0)
    stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 3), PBM(), 3000, seed=1, placement=True).statistics
    stats = stats + simulate_sessions(data, Deterministic(lambda X: -X[:, 0], 3), PBM(), 1000, seed=2,
                                      placement=True).statistics
    placement = logging_placement(stats, data.query_boundaries)
    first = top_lists(data.features[:, 0], data.query_boundaries, 3)
    second = top_lists(-data.features[:, 0], data.query_boundaries, 3)
    expected = np.zeros_like(placement)
    for lists, share in ((first, 0.75), (second, 0.25)):
        for q in range(data.n_queries):
            for r, d in enumerate(lists[q]):
                expected[d, r] += share
    # each query's share of sessions from each ranker is random: compare with its realised share, 5 SE
    np.testing.assert_allclose(placement.sum(axis=1).reshape(-1)[placement.sum(axis=1) > 0].max(), 1.0, atol=1e-12)
    assert np.abs(placement - expected).max() < 5 * np.sqrt(0.25 * 0.75 / (4000 / data.n_queries))


def test_stochastic_logging_placement_matches_its_policy():
    data = make_synthetic(n_queries=4, docs_per_query=5, n_features=2, seed=0)
    policy = PlackettLuce(lambda X: X[:, 0], 3)
    stats = simulate_sessions(data, policy, PBM(), 4000, seed=3, placement=True).statistics
    placement = logging_placement(stats, data.query_boundaries)
    truth = policy.bind(data.features, data.query_boundaries).placement_probabilities()
    np.testing.assert_allclose(placement, truth, atol=1e-9)


def test_exploring_gate_sessions_give_support_to_documents_the_ranking_never_shows():
    """Served deterministically, the gate's sessions place only each query's top k; epsilon-greedy
    (deployment.explore) places every candidate with probability >= explore * k / n at some rank."""
    from clickloop._loop import _History, _validate

    config = _config()
    train, test = clickloop.build_datasets(config)
    env = clickloop.LoopEnvironment(train, test, clickloop.build_click_model(config),
                                    clickloop.policy_factory(config), config.loop.sessions_per_round)
    variant = clickloop.build_variant(config, "ips_g", 0)
    scores = train.features[:, 0].astype(np.float64)
    placed = {}
    for explore in (0.0, 0.3):
        gated = variant.__class__(**{**variant.__dict__, "gate": OPEGate("dr", 0.95, 0.2, explore)})
        validation = _History(train.n_docs, 10, 0, 10**6)
        _validate(env, gated, validation, 300, scores, 0, 1, 10)
        placed[explore] = logging_placement(validation.total, train.query_boundaries).sum(axis=1)
    sizes = np.diff(train.query_boundaries)
    assert ((placed[0.0] > 0).sum() == np.minimum(sizes, 10).sum())  # the top 10 of each query only
    assert (placed[0.3] > 0).all()
    np.testing.assert_allclose(placed[0.3].sum(), np.minimum(sizes, 10).sum())  # k placements per session


def _two_query_case():
    """Query 0 has three relevant documents (a large ideal DCG), query 1 one of grade 2.  The candidate swaps
    ranks 1 and 4 of query 0 (its best document up: a DCG gain of alpha_4 (1 - 1/log2(5))) and moves query
    1's relevant document from rank 1 to rank 4 (a DCG loss of a fifth of that, and most of its NDCG)."""
    from simulator import RankingDataset

    labels = np.array([0, 3, 3, 4, 0, 2, 0, 0, 0, 0])
    data = RankingDataset.from_group_sizes(np.zeros((10, 1)), labels, [5, 5])
    current = np.array([[0, 1, 2, 3], [5, 6, 7, 8]])
    candidate = np.array([[3, 1, 2, 0], [6, 7, 8, 5]])
    return data, current, candidate


def test_the_ndcg_objective_weighs_each_query_by_its_estimated_ideal_dcg():
    """The DCG of the attractiveness improves with the candidate (query 0 outweighs query 1), NDCG does not;
    the "dcg" gate deploys it and the "ndcg" gate keeps the current lists, each on 20,000 sessions of
    uniformly random lists (every document has support), and each gate's exact improvement is its own
    objective's: the ndcg one is exact_value with the gate's query weights."""
    from analysis import ndcg
    from clickloop._gate import ideal_dcg_weights
    from ltr import dcg_discount, exact_value
    from policies import UniformRandom
    from simulator import pbm_theta

    data, current, candidate = _two_query_case()
    model = PBM(eta=1.0)
    run = simulate_sessions(data, UniformRandom(4), model, 20_000, seed=0, keep_log=True, placement=True)
    theta = pbm_theta(4, 1.0)
    placement = logging_placement(run.statistics, data.query_boundaries)

    def ndcg_of(lists):
        scores = np.zeros(data.n_docs)
        for q in range(2):
            scores[lists[q]] = 4 - np.arange(4)
        return ndcg(scores, data.labels, data.query_boundaries, k=4).mean()

    assert ndcg_of(candidate) < ndcg_of(current) - 0.05
    decisions = {objective: OPEGate("ips", 0.95, objective=objective).decide(
        data, model, run.log, placement, theta, current, candidate, reference=run.statistics)
        for objective in ("dcg", "ndcg")}
    assert decisions["dcg"].exact_improvement > 0 and decisions["dcg"].deployed
    assert decisions["ndcg"].exact_improvement < 0 and not decisions["ndcg"].deployed
    weights = ideal_dcg_weights(run.statistics, data.query_boundaries, theta, 4)
    assert weights[1] > 1.5 * weights[0] and weights.mean() == pytest.approx(1.0)
    discount = dcg_discount(4)
    expected = (exact_value(data, candidate, model, weights, target_examination=discount)
                - exact_value(data, current, model, weights, target_examination=discount))
    assert decisions["ndcg"].exact_improvement == pytest.approx(expected, rel=1e-12)


def test_the_em_theta_of_the_gate_recovers_the_examination_from_exploring_sessions():
    """deployment.theta = "em": on epsilon-greedy PBM sessions (the gate's) the EM estimate of theta is within
    0.03 of the truth at every rank (it was within 0.012 here), while the learner's estimate handed to it
    is far off; ranks no session shows (queries of 6 documents, k = 10) keep the learner's values, scaled to
    theta_1 = 1."""
    from clickloop._loop import _gate_theta_em
    from policies import EpsilonGreedy
    from simulator import pbm_theta

    truth, wrong = pbm_theta(10, 1.0), np.linspace(2.0, 0.02, 10)
    data = make_synthetic(n_queries=200, docs_per_query=15, n_features=3, seed=0)
    stats = simulate_sessions(data, EpsilonGreedy(lambda X: X[:, 0], 10, 0.3), PBM(eta=1.0), 40_000,
                              seed=1).statistics
    np.testing.assert_array_less(np.abs(_gate_theta_em(stats, wrong) - truth), 0.03)
    short = make_synthetic(n_queries=200, docs_per_query=6, n_features=3, seed=0)
    stats = simulate_sessions(short, EpsilonGreedy(lambda X: X[:, 0], 10, 0.3), PBM(eta=1.0), 40_000,
                              seed=1).statistics
    theta = _gate_theta_em(stats, wrong)
    np.testing.assert_array_less(np.abs(theta[:6] - truth[:6]), 0.03)
    np.testing.assert_allclose(theta[6:], wrong[6:] / 2.0)


def test_the_em_theta_of_the_gate_falls_back_where_the_gate_sessions_move_no_document():
    """Gate sessions that happen to show every document at one rank identify no theta: the gate assumes the
    learner's (scaled to theta_1 = 1) instead of failing the run (it raised mid-run)."""
    from clickloop._loop import _gate_theta_em
    from policies import Deterministic

    wrong = np.linspace(2.0, 0.02, 5)
    data = make_synthetic(n_queries=40, docs_per_query=10, n_features=3, seed=0)
    stats = simulate_sessions(data, Deterministic(lambda X: X[:, 0], 5), PBM(eta=1.0), 4000, seed=1).statistics
    with pytest.warns(RuntimeWarning, match="the gate's sessions identify no rank"):
        np.testing.assert_allclose(_gate_theta_em(stats, wrong), wrong / 2.0)
