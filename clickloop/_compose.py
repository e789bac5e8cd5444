"""The composition root: a validated configuration turned into data, users, serving and learners.

This is the one place that imports every package: :mod:`simulator` (data
and click models), :mod:`policies` (serving) and :mod:`ltr` (learners).  The
configuration names them by string; :func:`build_variant` turns a variant's
name and its settings (a built-in name or a ``[variants.NAME]`` table) into
a :class:`clickloop.Variant`.
"""

from pathlib import Path

import numpy as np

from ._config import ConfigError, variant_settings
from ._loop import Variant

__all__ = ["build_click_model", "build_datasets", "build_variant", "check_data", "logger_learner",
           "policy_factory"]


def build_datasets(config):
    """(served, held-out or None) datasets of the configuration."""
    from simulator import load_letor, make_synthetic

    data = config.data
    if data.source == "synthetic":
        lo, hi = data.docs_per_query
        full = make_synthetic(n_queries=data.n_queries, docs_per_query=(lo, hi) if lo != hi else lo,
                              n_features=data.n_features, relevance=data.relevance, label_noise=data.label_noise,
                              document_share=data.document_share, seed=data.seed)
    else:
        full = load_letor(data.path)
    if data.test_fraction == 0:
        return full, None
    train, test = full.split((1 - data.test_fraction, data.test_fraction), seed=data.seed)
    return train, test


def build_click_model(config):
    """The configuration's click model, built by the simulator's registry in one call."""
    from simulator import CLICK_MODELS, GradeMapping, click_model, relevance_mapping

    cm = config.click_model
    mapping = (GradeMapping.graded(eps_minus=cm.noise) if cm.relevance == "graded"
               else relevance_mapping(cm.relevance))
    # What the [click_model] section can say; each model takes the parameters its registry entry accepts
    # (the DCM presets carry their own tables, trust bias its own P(relevant | y)).
    offered = {"eta": cm.eta, "attractiveness": mapping, "n_ranks": max(config.policy.k, 10)}
    accepted = CLICK_MODELS[cm.name].parameters
    return click_model(cm.name, **{name: value for name, value in offered.items() if name in accepted})


class _Standardised:
    """Scores standardised over the whole data set, so a Plackett-Luce temperature has one meaning."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, features):
        s = np.asarray(self.scorer(features), dtype=np.float64)
        return (s - s.mean()) / (s.std() + 1e-12)


def policy_factory(config):
    """``make_policy(scorer)`` of the configuration's serving policy."""
    from policies import Deterministic, EpsilonGreedy, PlackettLuce

    p = config.policy
    if p.kind == "deterministic":
        return lambda scorer: Deterministic(scorer, p.k)
    if p.kind == "epsilon_greedy":
        return lambda scorer: EpsilonGreedy(scorer, p.k, p.epsilon)
    return lambda scorer: PlackettLuce(_Standardised(scorer), p.k, p.temperature)


def build_variant(config, name, seed):
    """The :class:`Variant` of a variant name: a built-in or a ``[variants.NAME]`` table."""
    from ltr import IPS, FullInformation, LGBMPosition, Naive, PositionTower
    from simulator import pbm_theta

    kind, params = variant_settings(config, name)
    lc = config.learner
    common = {"n_estimators": lc.n_estimators, "num_threads": lc.num_threads, "seed": seed}
    shared = dict(common, backend=lc.backend)
    if kind == "naive":
        loss = params.get("loss") or lc.loss  # empty: the shared learner.loss
        return Variant(name, lambda: Naive(loss=loss, **shared), kind=kind)
    if kind == "ips":
        loss = params.get("loss") or lc.loss  # empty: the shared learner.loss
        clip = "auto" if params["clip"] < 0 else params["clip"]
        propensity, assumed = params["propensity"], None
        if propensity == "pbm":  # a misspecifiable assumption, e.g. PBM propensities on cascade clicks
            propensity = assumed = pbm_theta(config.policy.k, params["assumed_eta"])
        return Variant(name, lambda: IPS(propensity=propensity, clip=clip, loss=loss, **shared),
                       kind=kind, debiased=True, assumed_theta=assumed)
    if kind == "tower":
        return Variant(name, lambda: PositionTower(n_iter=params["n_iter"], dropout=params["dropout"],
                                                   document_prior=params["document_prior"], **shared),
                       kind=kind, debiased=True)
    if kind == "lgbm_position":
        return Variant(name, lambda: LGBMPosition(
            position_bias_regularization=params["position_bias_regularization"],
            max_sessions=params["max_sessions"], **common),
            kind=kind, debiased=True, needs_log=True, max_log_sessions=params["max_sessions"])
    if kind == "skyline":
        return Variant(name, lambda: FullInformation(1.0, backend=lc.backend, **common), kind=kind, static=True)
    if kind == "logger":
        return Variant(name, lambda: logger_learner(config, seed), kind=kind, static=True)
    raise ConfigError(f"variants.{name}.learner: unknown learner kind {kind!r}")


def logger_learner(config, seed):
    """The initial production ranker: full information on ``logger.query_fraction`` of the served queries."""
    from ltr import FullInformation

    lc = config.learner
    return FullInformation(config.logger.query_fraction, min_queries=config.logger.min_queries,
                           backend=lc.backend, n_estimators=lc.n_estimators, num_threads=lc.num_threads, seed=seed)


def check_data(config):
    """Read the data once before anything is written, so a bad file fails with exit 2 and no output."""
    if config.data.source == "letor":
        path = Path(config.data.path)
        if not path.is_file():
            raise ConfigError(f"data.path: no such file {str(path)!r}")
        train, _ = build_datasets(config)
        if train.n_queries < 2:
            raise ConfigError(f"data.path: {path} holds too few queries ({train.n_queries}) to serve")
