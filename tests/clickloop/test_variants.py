"""User-named variants: [variants.NAME] tables in the configuration, sweeps over their parameters, reports."""

import csv
import dataclasses
from pathlib import Path

import pytest

import clickloop
from clickloop import ConfigError, config_from_dict, config_to_toml, expand, preset, sweep_from_dict, variant_settings
from clickloop._run import load_config_text

THREE_IPS = {
    "loop": {"variants": ["logger", "ips", "ips_oracle_clip", "ips_pbm05", "ips_pbm2"]},
    "variants": {
        "ips_oracle_clip": {"learner": "ips", "clip": 0.2},
        "ips_pbm05": {"learner": "ips", "propensity": "pbm", "assumed_eta": 0.5},
        "ips_pbm2": {"learner": "ips", "propensity": "pbm", "assumed_eta": 2.0, "loss": "logistic"},
    },
}


def test_a_variant_table_has_its_learners_settings_with_defaults_filled_in():
    config = config_from_dict(THREE_IPS)
    assert variant_settings(config, "ips_pbm05") == ("ips", {
        "propensity": "pbm", "assumed_eta": 0.5, "clip": "auto", "loss": "", "estimator": "harvesting",
        "affine": False, "assumed_click_model": "dcm"})
    # built-ins read their sections
    assert variant_settings(config, "ips")[1] == dataclasses.asdict(config.ips)
    assert variant_settings(config, "logger") == ("logger", {})


def test_variant_tables_round_trip_through_the_resolved_toml():
    config = config_from_dict(THREE_IPS)
    text = config_to_toml(config)
    assert "[variants.ips_pbm2]" in text
    assert load_config_text(text) == config
    # a configuration without tables writes none (configs of earlier runs read back equal)
    assert "variants." not in config_to_toml(preset("smoke")).replace("loop.variants", "")


def test_the_variants_build_their_own_learners():
    config = config_from_dict(THREE_IPS)
    learners = {name: clickloop.build_variant(config, name, seed=0).make_learner()
                for name in ("ips", "ips_oracle_clip", "ips_pbm05", "ips_pbm2")}
    assert learners["ips"].clip == "auto" and learners["ips"].propensity == "oracle"
    assert learners["ips_oracle_clip"].clip == 0.2
    assert learners["ips_pbm05"].propensity == pytest.approx((1.0 / (1 + __import__("numpy").arange(10))) ** 0.5)
    assert learners["ips_pbm2"].loss == "logistic" and learners["ips"].loss == config.learner.loss


def test_a_variant_table_sets_its_own_engagement_and_the_others_keep_the_loops():
    config = config_from_dict({
        "loop": {"variants": ["ips", "tower", "tower_smooth"], "engagement": "ctr", "engagement_prior": 5.0},
        "variants": {"tower_smooth": {"learner": "tower", "engagement_prior": 20.0, "engagement_dropout": 0.8,
                                      "engagement_min_examinations": 5.0}}})
    built = {name: clickloop.build_variant(config, name, seed=0) for name in ("ips", "tower", "tower_smooth")}
    assert (built["tower_smooth"].engagement_prior, built["tower_smooth"].engagement_dropout) == (20.0, 0.8)
    assert [built[name].engagement_min_examinations for name in ("ips", "tower", "tower_smooth")] == [20.0, 20.0, 5.0]
    assert built["tower_smooth"].engagement_unseen == config.loop.engagement_unseen  # not set: the loop's
    for name in ("ips", "tower"):
        assert (built[name].engagement_prior, built[name].engagement_dropout) == (5.0, config.loop.engagement_dropout)
    assert clickloop._config.config_value(config, "variants.tower_smooth.engagement_prior") == 20.0
    assert clickloop._config.config_value(config, "variants.tower_smooth.engagement_unseen") == "missing"
    text = config_to_toml(config)
    assert "engagement_prior = 20.0" in text and load_config_text(text) == config
    spec = sweep_from_dict({"preset": "smoke", "set": {"loop.variants": ["tower", "t"], "variants.t.learner": "tower"},
                            "grid": {"variants.t.engagement_prior": [0.0, 20.0]}})
    assert [clickloop.build_variant(p.config, "t", seed=0).engagement_prior for p in expand(spec)] == [0.0, 20.0]


@pytest.mark.parametrize("variants, message", [
    ({"x": {"learner": "tower", "engagement_prior": -1.0}}, "variants.x.engagement_prior must be >= 0"),
    ({"x": {"learner": "ips", "engagement_unseen": "zero"}}, "variants.x.engagement_unseen must be one of"),
    ({"x": {"learner": "naive", "engagement_window": 2}}, "allowed keys of [variants.x] (learner naive): learner, "
                                                          "loss, gate, engagement_prior, engagement_min_examinations"),
    ({"x": {"learner": "ips", "clp": 0.1}}, "unknown key 'variants.x.clp'"),
    ({"x": {"learner": "tower", "clip": 0.1}}, "unknown key 'variants.x.clip'; allowed keys of [variants.x] "
                                                "(learner tower): learner, n_iter, dropout, document_prior"),
    ({"x": {"learner": "nope"}}, "variants.x.learner must be one of naive, ips, dr, pl_rank, lambdamart, tower, lgbm_position"),
    ({"x": {"learner": "ips", "clip": "sometimes"}}, "variants.x.clip must be a number or one of 'auto', 'global'"),
    ({"x": {"learner": "dr", "propensity": "cascade_model"}}, "variants.x.propensity must be one of oracle, pbm"),
    ({"x": {"clip": 0.1}}, "variants.x.learner is required"),
    ({"naive": {"learner": "naive"}}, "[variants.naive]: 'naive' is a built-in variant"),
    ({"x": {"learner": "ips", "propensity": "magic"}}, "variants.x.propensity must be one of oracle"),
    ({"1x": {"learner": "ips"}}, "[variants.1x]: a variant name is at most 64 characters: a letter"),
    ({"x": 3}, "[variants.x] must be a table with learner = KIND"),
])
def test_bad_variant_tables_name_the_key_path(variants, message):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        config_from_dict({"loop": {"variants": ["naive"]}, "variants": variants})


def test_a_listed_name_must_be_built_in_or_defined():
    with pytest.raises(ConfigError, match=r"loop.variants names 'ips_x', which is neither a built-in variant .* "
                                          r"nor a \[variants.ips_x\] table; defined tables: ips_y"):
        config_from_dict({"loop": {"variants": ["ips_x"]}, "variants": {"ips_y": {"learner": "ips"}}})


def test_a_sweep_grids_over_a_variant_parameter():
    spec = sweep_from_dict({"preset": "smoke", "set": {"loop.variants": ["naive", "ips_c"],
                                                       "variants.ips_c.learner": "ips"},
                            "grid": {"variants.ips_c.clip": [0.1, 0.3]}})
    points = expand(spec)
    assert [p.id for p in points] == ["clip=0.1", "clip=0.3"]
    assert [variant_settings(p.config, "ips_c")[1]["clip"] for p in points] == [0.1, 0.3]
    with pytest.raises(ConfigError, match=r"grid.variants.ips_c.clip = 2.0: variants.ips_c.clip must be <= 1.0"):
        sweep_from_dict({"preset": "smoke", "set": {"loop.variants": ["ips_c"], "variants.ips_c.learner": "ips"},
                         "grid": {"variants.ips_c.clip": [0.1, 2.0]}})


def test_three_named_variants_of_one_learner_run_and_every_report_names_them(tmp_path):
    data = dict(THREE_IPS, seeds=1)
    base = clickloop._config.config_to_dict(preset("smoke", overrides=["loop.rounds=1"]))
    config = config_from_dict(clickloop._config._merge(base, data))
    out = tmp_path / "out"
    clickloop.run_experiment(config, out, quiet=True)
    names = ["logger", "ips", "ips_oracle_clip", "ips_pbm05", "ips_pbm2"]
    with open(out / "metrics.csv", newline="") as f:
        variants = {row["variant"] for row in csv.DictReader(f)}
    assert variants == set(names)
    summary = (out / "summary.md").read_text()
    plots = {p.name: p.read_text() for p in (out / "plots").glob("*.svg")}
    assert {"headline.svg", "degeneracy.svg", "final_round.svg"} <= set(plots)
    for name in names[2:]:  # the built-ins are shown by their labels
        assert f"| {name} |" in summary, name
        for plot, text in plots.items():
            if plot != "propensity.svg":  # only variants that estimate theta are drawn there
                assert name in text, (name, plot)


def test_every_debiased_setting_builds_its_learner_and_what_the_loop_must_give_it():
    config = config_from_dict({
        "click_model": {"name": "trust_vardasbi"},
        "loop": {"variants": ["dr", "pa", "est", "casc", "aff"]},
        "variants": {"pa": {"learner": "ips", "propensity": "policy_aware"},
                     "est": {"learner": "ips", "propensity": "estimated", "estimator": "em"},
                     "casc": {"learner": "ips", "propensity": "cascade_model", "assumed_click_model": "dbn"},
                     "aff": {"learner": "dr", "affine": True, "clip": 0.05}}})
    variants = {name: clickloop.build_variant(config, name, seed=0) for name in config.loop.variants}
    learners = {name: v.make_learner() for name, v in variants.items()}
    assert type(learners["dr"]).__name__ == "DR" and learners["dr"].clip == "auto"
    assert variants["pa"].needs_placement and not variants["dr"].needs_placement
    assert learners["est"].estimator == "em"
    assert variants["casc"].needs_log and learners["casc"].click_model == "dbn"
    alpha, beta = learners["aff"].affine
    model = clickloop.build_click_model(config)
    np = __import__("numpy")
    np.testing.assert_allclose(alpha, model.theta[:10] * (model.eps_plus[:10] - model.eps_minus[:10]))
    np.testing.assert_allclose(beta, model.theta[:10] * model.eps_minus[:10])
    assert learners["aff"].clip == 0.05


def test_metric_learners_build_and_a_stochastic_pl_rank_serves_its_own_policy():
    config = config_from_dict({"loop": {"variants": ["plr", "plr_sto", "lm"]},
                               "variants": {"plr": {"learner": "pl_rank", "targets": "dr", "metric": "ndcg"},
                                            "plr_sto": {"learner": "pl_rank", "serving": "stochastic"},
                                            "lm": {"learner": "lambdamart", "labels": "real", "n_grades": 5}}})
    variants = {name: clickloop.build_variant(config, name, seed=0) for name in config.loop.variants}
    plr, sto, lm = (variants[name].make_learner() for name in ("plr", "plr_sto", "lm"))
    assert (plr.targets, plr.metric, plr.cutoff) == ("dr", "ndcg", config.policy.k)
    assert variants["plr"].make_policy is None
    policy = variants["plr_sto"].make_policy(lambda X: X[:, 0])
    assert type(policy).__name__ == "PlackettLuce" and policy.temperature == 1.0 and policy.k == config.policy.k
    assert (lm.labels, lm.n_grades) == ("real", 5)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "experiments").glob("*.toml")),
                         ids=lambda p: p.name)
def test_every_shipped_experiment_file_validates(path):
    """The experiments' TOML files load as they are (a bound on tower.document_prior once refused
    tower_first_retrain.toml, whose variant sets 1e12 on purpose): a sweep file expands, a config file loads."""
    import tomllib

    from clickloop._config import load_config
    from clickloop._sweep import expand, read_sweep

    if "grid" in tomllib.loads(path.read_text()):
        assert expand(read_sweep(path))
    else:
        assert load_config(path).loop.variants


def test_the_references_alone_need_no_clicked_rows():
    """The 40-shown-documents floor is for learners on clicks; the logger and the skyline fit on labels."""
    from clickloop._compose import check_data

    assert check_data(preset("smoke", overrides=["data.n_queries=4", "loop.variants=['logger','skyline']"])) > 0
    with pytest.raises(ConfigError, match="a LightGBM learner needs at least 40"):
        check_data(preset("smoke", overrides=["data.n_queries=4", "loop.variants=['logger','naive']"]))


def test_a_gate_with_a_holdout_is_estimated_at_its_own_sessions():
    """A gated variant keeps its gate sessions (one round's holdout when reused), not every round's log:
    counting every round's refused a default-preset run with 10^6 sessions per round that fits."""
    from clickloop._budget import _KEPT_LOG_SLOT, estimate

    base = ["loop.sessions_per_round=1000000"]  # naive_gated: the preset's gated twin; naive: ungated
    gated = estimate(preset("default", overrides=base + ["loop.variants=['naive_gated']"]))[2]
    plain = estimate(preset("default", overrides=base + ["loop.variants=['naive']"]))[2]
    assert gated - plain == 500_000 * 10 * _KEPT_LOG_SLOT
