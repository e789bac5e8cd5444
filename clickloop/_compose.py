"""The composition root: a validated configuration turned into data, users, serving and learners.

This is the one place that imports every package: :mod:`simulator` (data
and click models), :mod:`policies` (serving) and :mod:`ltr` (learners).  The
configuration names them by string; :func:`build_variant` turns a variant's
name and its settings (a built-in name or a ``[variants.NAME]`` table) into
a :class:`clickloop.Variant`.
"""

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import LetorFormatError, RankingDataset

from ._config import STATIC_VARIANTS, ConfigError, variant_gate, variant_settings
from ._loop import Variant

__all__ = ["MixedLogger", "ObservedDataset", "build_click_model", "build_datasets", "build_variant", "check_data",
           "check_variants", "engagement_settings", "logger_learner", "logger_queries", "policy_factory"]


_DATASETS = {}  # the last configuration's datasets (read-only arrays): every task of a process reuses them


def build_datasets(config):
    """(served, held-out or None) datasets of the configuration.

    With ``logger.confounding > 0`` or ``logger.popularity > 0`` the data set
    gains observable columns that the logger mixes into its scores (and that
    every learner sees): see :func:`logger_learner`.  The datasets of the last
    configuration asked for are kept (one entry): the tasks a process runs
    share one copy instead of generating or reading the data each.
    """
    key = _data_key(config)
    if key not in _DATASETS:
        _DATASETS.clear()  # free the previous data before building the next
        _DATASETS[key] = _build_datasets(config)
    return _DATASETS[key]


def _data_key(config):
    data = config.data
    key = (repr(data), repr(config.logger))
    if data.source == "letor":
        stat = Path(data.path).stat()
        key += (str(Path(data.path).resolve()), stat.st_size, stat.st_mtime_ns)
    return key


def _build_datasets(config):
    from simulator import load_letor, make_synthetic

    data = config.data
    if data.source == "synthetic":
        lo, hi = data.docs_per_query
        full = make_synthetic(n_queries=data.n_queries, docs_per_query=(lo, hi) if lo != hi else lo,
                              n_features=data.n_features, relevance=data.relevance, label_noise=data.label_noise,
                              document_share=data.document_share, seed=data.seed)
    else:
        full = load_letor(data.path)
    full = _with_logger_columns(full, config)
    if data.test_fraction == 0:
        return full, None
    train, test = full.split((1 - data.test_fraction, data.test_fraction), seed=data.seed)
    return _tagged(train, full), _tagged(test, full)


_CONFOUNDER_STREAM, _POPULARITY_STREAM = 41, 42


@dataclass(frozen=True, eq=False)
class ObservedDataset(RankingDataset):
    """A data set with columns the logger ranks by that are not (only) relevance.

    Attributes
    ----------
    confounder_column : int
        Column of the confounding feature (independent of relevance), -1 if none.
    popularity_column : int
        Column of the popularity prior, log1p of each document's clicks from
        before the study, -1 if none.
    """

    confounder_column: int = -1
    popularity_column: int = -1


def _tagged(part, full):
    if not isinstance(full, ObservedDataset):
        return part
    return ObservedDataset(part.features, part.labels, part.query_boundaries, part.query_ids, name=part.name,
                           confounder_column=full.confounder_column, popularity_column=full.popularity_column)


def _with_logger_columns(full, config):
    """The data set with the confounder and popularity columns the [logger] section asks for."""
    lg = config.logger
    if lg.confounding == 0 and lg.popularity == 0:
        return full
    from simulator import GradeMapping

    columns, tags = [], {}
    n_features = full.n_features
    if lg.confounding > 0:
        # An observable feature independent of relevance: N(0, 1) per document.
        rng = np.random.default_rng(np.random.SeedSequence(config.data.seed, spawn_key=(_CONFOUNDER_STREAM,)))
        columns.append(rng.standard_normal(full.n_docs))
        tags["confounder_column"] = n_features + len(columns) - 1
    if lg.popularity > 0:
        # Clicks from before the study: a document's pre-study exposure (log-normal, sigma 1: promotions,
        # age, links from elsewhere) times its click probability when examined, 50 examinations on average.
        rng = np.random.default_rng(np.random.SeedSequence(config.data.seed, spawn_key=(_POPULARITY_STREAM,)))
        exposure = rng.lognormal(mean=-0.5, sigma=1.0, size=full.n_docs)
        attractiveness = GradeMapping.graded(eps_minus=config.click_model.noise).probabilities
        grades = np.minimum(full.labels, attractiveness.size - 1)
        columns.append(np.log1p(rng.poisson(50.0 * exposure * attractiveness[grades])))
        tags["popularity_column"] = n_features + len(columns) - 1
    features = np.hstack([full.features, np.column_stack(columns).astype(np.float32)])
    return ObservedDataset(features, full.labels, full.query_boundaries, full.query_ids, name=full.name, **tags)


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


def engagement_settings(config, name=None):
    """The engagement settings a retrained :class:`Variant` carries (prior, minimum examinations, unseen value, dropout).

    ``[loop]``'s, with those the variant's ``[variants.NAME]`` table sets for
    itself (``name``; a built-in name has no table).
    """
    lp = config.loop
    settings = {"engagement_prior": lp.engagement_prior,
                "engagement_min_examinations": lp.engagement_min_examinations,
                "engagement_unseen": lp.engagement_unseen, "engagement_dropout": lp.engagement_dropout}
    for table in config.variants:
        if table.name == name:
            settings.update(table.engagement_settings())
    return settings


def _with_engagement(build):
    """``build``'s variants carry their engagement settings (static ones need none)."""

    @functools.wraps(build)
    def wrapped(config, name, seed):
        variant = build(config, name, seed)
        return variant if variant.static else dataclasses.replace(variant, **engagement_settings(config, name))

    return wrapped


def _with_gate(build):
    """``build``'s variants carry their deployment gate, and what it needs: the session logs and placements."""

    @functools.wraps(build)
    def wrapped(config, name, seed):
        variant = build(config, name, seed)
        if variant.static or variant_gate(config, name) != "ope":
            return variant
        from ._gate import OPEGate

        d = config.deployment
        estimator = "naive" if not variant.debiased else d.estimator  # a naive variant estimates naively
        sessions = config.loop.sessions_per_round * (config.loop.window or config.loop.rounds + 1)
        gate = OPEGate(estimator, d.confidence, d.holdout, d.explore, d.objective, d.theta, d.direct_model,
                       d.test, d.reuse)
        if d.holdout > 0:  # the gate keeps its own sessions: the training history needs only what the learner needs
            # (and the placements the reused gate sessions bring, which every added statistics must then have)
            return dataclasses.replace(variant, gate=gate, max_log_sessions=max(variant.max_log_sessions, sessions),
                                       needs_placement=variant.needs_placement or d.reuse)
        return dataclasses.replace(variant, gate=gate, needs_log=True,
                                   max_log_sessions=max(variant.max_log_sessions, sessions), needs_placement=True)

    return wrapped


@_with_gate
@_with_engagement
def build_variant(config, name, seed):
    """The :class:`Variant` of a variant name: a built-in or a ``[variants.NAME]`` table."""
    from ltr import FullInformation, LGBMPosition, Naive, PositionTower

    kind, params = variant_settings(config, name)
    lc = config.learner
    common = {"n_estimators": lc.n_estimators, "num_threads": lc.num_threads, "seed": seed}
    shared = dict(common, backend=lc.backend)
    if kind == "naive":
        loss = params.get("loss") or lc.loss  # empty: the shared learner.loss
        return Variant(name, lambda: Naive(loss=loss, **shared), kind=kind)
    if kind in ("ips", "dr"):
        return _debiased_variant(config, name, kind, params, shared)
    if kind in ("pl_rank", "lambdamart"):
        return _metric_variant(config, name, kind, params, common)
    if kind == "tower":
        prior = np.inf if params["theta_prior"] == "fixed" else params["theta_prior"]
        return Variant(name, lambda: PositionTower(n_iter=params["n_iter"], dropout=params["dropout"],
                                                   document_prior=params["document_prior"], theta=params["theta"],
                                                   theta_prior=prior, assumed_eta=params["assumed_eta"],
                                                   relevance=params["relevance"], **shared),
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


def _affine(config, name):
    """(alpha, beta) of the true click model per rank: trust bias, or PBM as alpha = theta, beta = 0."""
    model = build_click_model(config)
    k = config.policy.k
    affine = model.affine_parameters(np.zeros(1, dtype=np.int64), k)
    if affine is None:
        raise ConfigError(f"variants.{name}.affine = true needs an affine click model (pbm, trust_*), "
                          f"not click_model.name = {config.click_model.name!r}")
    theta, eps_minus, slope, _ = affine
    return theta * slope, theta * eps_minus


def _clip(params, name):
    """A variant's clip setting: a number in [0, 1], 'auto', 'global', or -1 (the 'auto' of earlier configurations)."""
    clip = params["clip"]
    if isinstance(clip, str) or clip >= 0:
        return clip
    if clip != -1:
        raise ConfigError(f"variants.{name}.clip must be in [0, 1], 'auto', 'global' or -1 (auto), got {clip!r}")
    return "auto"


def _debiased_variant(config, name, kind, params, shared):
    """IPS or DR with its propensities, clip and the parts of the loop it needs (placements, logs)."""
    from ltr import DR, IPS
    from simulator import pbm_theta

    loss = params.get("loss") or config.learner.loss  # empty: the shared learner.loss
    clip = _clip(params, name)
    propensity, assumed = params["propensity"], None
    if propensity == "pbm":  # a misspecifiable assumption, e.g. PBM propensities on cascade clicks
        propensity = assumed = pbm_theta(config.policy.k, params["assumed_eta"])
    settings = {"propensity": propensity, "clip": clip, "assumed_eta": params["assumed_eta"],
                "estimator": params["estimator"], "affine": _affine(config, name) if params["affine"] else None,
                "loss": loss, **shared}
    if kind == "ips":
        settings.update(click_model=params["assumed_click_model"])
        make = lambda: IPS(**settings)  # noqa: E731
    else:
        settings.update(candidates=params["candidates"], dm_n_estimators=params["dm_n_estimators"])
        make = lambda: DR(**settings)  # noqa: E731
    needs_log = kind == "ips" and params["propensity"] == "cascade_model"
    sessions = config.loop.sessions_per_round * (config.loop.window or config.loop.rounds + 1)
    return Variant(name, make, kind=kind, debiased=True, assumed_theta=assumed, needs_log=needs_log,
                   max_log_sessions=sessions if needs_log else 0,
                   needs_placement=params["propensity"] == "policy_aware")


def _metric_variant(config, name, kind, params, common):
    """PL-Rank or LambdaMART on click-based relevance estimates (issue 17)."""
    from ltr import LambdaMARTClicks, PLRank
    from policies import PlackettLuce

    clip = _clip(params, name)
    shared = {"targets": params["targets"], "propensity": params["propensity"], "clip": clip,
              "cutoff": config.policy.k, **common}
    serving = None
    if kind == "pl_rank":
        settings = dict(shared, metric=params["metric"], n_samples=params["n_samples"], serving=params["serving"],
                        learning_rate=params["learning_rate"])
        make = lambda: PLRank(**settings)  # noqa: E731
        if params["serving"] == "stochastic":  # its own policy: Plackett-Luce on its raw scores, temperature 1
            serving = lambda scorer: PlackettLuce(scorer, config.policy.k, 1.0)  # noqa: E731
    else:
        settings = dict(shared, labels=params["labels"], n_grades=params["n_grades"])
        make = lambda: LambdaMARTClicks(**settings)  # noqa: E731
    debiased = params["targets"] != "naive"
    placement = params["propensity"] == "policy_aware"
    return Variant(name, make, kind=kind, debiased=debiased, needs_placement=placement, make_policy=serving,
                   needs_log=params["propensity"] == "cascade_model",
                   max_log_sessions=config.loop.sessions_per_round * (config.loop.window or config.loop.rounds + 1)
                   if params["propensity"] == "cascade_model" else 0)


def logger_learner(config, seed):
    """The initial production ranker: full information on ``logger.query_fraction`` of the served queries.

    It uses ``max(round(query_fraction * n_served), min(min_queries,
    n_served))`` queries (the learner's ``n_queries_`` after ``fit``).  With
    ``logger.confounding = w`` (and/or ``logger.popularity = w``) its score is
    ``(1 - w) * z(f(x)) + w * z(c)``: the standardised relevance model mixed
    with the standardised confounding column (the popularity column), the
    standardisation fixed on the served queries at ``fit``.
    """
    from ltr import FullInformation

    lc = config.learner
    learner = FullInformation(config.logger.query_fraction, min_queries=config.logger.min_queries,
                              backend=lc.backend, n_estimators=lc.n_estimators, num_threads=lc.num_threads, seed=seed)
    mixed = {name: weight for name, weight in (("confounder_column", config.logger.confounding),
                                                ("popularity_column", config.logger.popularity)) if weight > 0}
    return MixedLogger(learner, mixed) if mixed else learner


_LOGGERS = {}  # the last (configuration, seed)'s fitted initial logger, shared by the tasks of a process


def initial_logger(config, seed, train):
    """The fitted :func:`logger_learner` of ``seed`` on ``train``, shared by every task of this process.

    Every retrained variant of a seed serves the same initial logger in
    round 0: it is fitted once per process (one entry kept), and its
    predictions on an array it has already scored are returned again
    (read-only) instead of being recomputed.
    """
    key = (_data_key(config), repr(config.learner), seed, id(train))
    cached = _LOGGERS.get(key)
    if cached is None or cached[0] is not train:
        _LOGGERS.clear()
        cached = (train, _RememberedScores(logger_learner(config, seed).fit(train)))
        _LOGGERS[key] = cached
    return cached[1]


class _RememberedScores:
    """A fitted ranker whose ``predict`` remembers its last two inputs' scores (by identity)."""

    def __init__(self, ranker):
        self._ranker = ranker
        self._scores = []  # (features, scores) pairs, the features kept alive so identity stays valid

    def predict(self, features):
        for seen, scores in self._scores:
            if seen is features:
                return scores
        scores = np.asarray(self._ranker.predict(features))
        scores.flags.writeable = False
        self._scores = [(features, scores)] + self._scores[:1]
        return scores

    def __getattr__(self, name):  # n_queries_ and every other attribute of the ranker
        if name == "_ranker":  # not yet set (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._ranker, name)


def logger_queries(config, train=None):
    """(labelled, served): the served queries whose labels train the logger, and the served queries.

    ``labelled = max(round(logger.query_fraction * served), min(logger.min_queries,
    served))``, what :class:`ltr.FullInformation` uses (its ``n_queries_``), so
    a run can say what its logger had before anything is fitted.

    Parameters
    ----------
    config : ExperimentConfig
    train : RankingDataset, optional
        The served queries, if already built (else :func:`build_datasets`).

    Examples
    --------
    >>> from clickloop import preset
    >>> logger_queries(preset("default", overrides=["logger.query_fraction=0.01"]))
    (20, 400)
    """
    train = build_datasets(config)[0] if train is None else train
    served = train.n_queries
    lg = config.logger
    return max(int(round(lg.query_fraction * served)), min(lg.min_queries, served)), served


class MixedLogger:
    """A fitted ranker's standardised scores mixed with standardised observable columns of the data.

    Parameters
    ----------
    learner : learner
        ``fit(dataset)``, ``predict(features)``: the relevance model.
    weights : dict of str to float
        The data set's column attribute (``confounder_column``,
        ``popularity_column``) and its weight; the relevance model keeps
        ``1 - sum(weights)`` (at least 0).

    Examples
    --------
    A relevance model that scores by column 0, mixed with the confounder in
    column 1 at weight 0.7 (both standardised on the data it is fitted on):

    >>> class ByFirst:
    ...     def fit(self, dataset, statistics=None, log=None):
    ...         return self
    ...     def predict(self, features):
    ...         return features[:, 0]
    >>> data = ObservedDataset(np.array([[3.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 3.0]]), [3, 2, 1, 0],
    ...                        [0, 4], [0], confounder_column=1)
    >>> logger = MixedLogger(ByFirst(), {"confounder_column": 0.7}).fit(data)
    >>> np.argsort(-logger.predict(data.features)).tolist()  # the confounder wins: 0.7 > 0.3
    [3, 2, 1, 0]
    """

    def __init__(self, learner, weights):
        self.learner = learner
        self.weights = weights

    def fit(self, dataset, statistics=None, log=None):
        self.learner.fit(dataset, statistics, log)
        self.n_queries_ = getattr(self.learner, "n_queries_", None)
        self.columns_ = [getattr(dataset, name) for name in self.weights]
        if any(c < 0 for c in self.columns_):
            raise ValueError(f"the data set has no {', '.join(self.weights)} (build it with build_datasets)")
        # Every column's scale is fixed here, on the served queries, so held-out scores mix the same way.
        scores = np.asarray(self.learner.predict(dataset.features), dtype=np.float64)
        self.scale_ = [(scores.mean(), scores.std() + 1e-12)]
        for c in self.columns_:
            x = dataset.features[:, c].astype(np.float64)
            self.scale_.append((x.mean(), x.std() + 1e-12))
        return self

    def predict(self, features):
        scores = np.asarray(self.learner.predict(features), dtype=np.float64)
        (mean, std), rest = self.scale_[0], self.scale_[1:]
        out = max(0.0, 1.0 - sum(self.weights.values())) * (scores - mean) / std
        for c, w, (m, sd) in zip(self.columns_, self.weights.values(), rest):
            out = out + w * (features[:, c].astype(np.float64) - m) / sd
        return out


#: Fewest shown documents a LightGBM learner can fit on: min_child_samples (20) on each side of a split.
_MIN_ROWS = 40


def check_variants(config):
    """Build every variant of ``config`` once, before anything is written: what only composing them refuses.

    (``affine = true`` with a click model that is not affine, a negative
    clip other than -1, ...).  Building is cheap: no data, no fit.

    Raises
    ------
    ConfigError
    """
    for name in config.loop.variants:
        try:
            build_variant(config, name, 0).make_learner()
        except ConfigError:
            raise
        except ValueError as exc:  # a learner's own check of its settings
            raise ConfigError(f"variants.{name}: {' '.join(str(exc).split())}") from None


def check_data(config):
    """Read the data once before anything is written: what a reader accepts but the experiment cannot use.

    Checks that the data set splits into served and held-out queries that
    hold at least one query with two candidates each, and that its grades
    are ones the click model maps to click probabilities; for a LETOR file,
    that it exists and reads.  Returns the number of served documents.

    Raises
    ------
    ConfigError
        One line naming the key (``data.path``, ``data.n_queries``, ...).
    """
    where = "data.path" if config.data.source == "letor" else "data"
    if config.data.source == "letor":
        path = Path(config.data.path)
        try:
            if path.exists() and not path.is_file():
                raise ConfigError(f"data.path {str(path)!r} is not a regular file (a folder, a device, ...)")
            if not path.is_file():
                raise ConfigError(f"data.path: no such file {str(path)!r}")
        except OSError as exc:  # a name too long, a symlink loop, ...
            raise ConfigError(f"data.path {str(path)!r}: {exc.strerror}") from None
    try:
        train, test = build_datasets(config)
    except LetorFormatError:  # its own line: path:line: what is wrong
        raise
    except ValueError as exc:  # a split that leaves one side without queries, among others
        raise ConfigError(f"{where}: cannot split the data (data.test_fraction = {config.data.test_fraction}): "
                          f"{' '.join(str(exc).split())}") from None
    for name, part in (("served", train), ("held-out", test)):
        if part is None:
            continue
        if part.n_queries < 2 and name == "served":
            raise ConfigError(f"{where}: the served part holds {part.n_queries} query; at least 2 are needed "
                              "(more queries, or a smaller data.test_fraction)")
        if int(part.query_sizes.max()) < 2:
            raise ConfigError(f"{where}: no {name} query has two candidates: there is nothing to rank")
    features = np.asarray(train.features)
    if features.shape[1] == 0 or not np.any(features.max(axis=0) > features.min(axis=0)):
        raise ConfigError(f"{where}: every feature has one value on the served queries: there is nothing to "
                          "learn a ranking from")
    shown = int(np.minimum(train.query_sizes, config.policy.k).sum())
    learns = any(variant_settings(config, name)[0] not in STATIC_VARIANTS for name in config.loop.variants)
    if config.learner.backend == "lightgbm" and learns and shown < _MIN_ROWS:  # the references fit on labels
        raise ConfigError(f"{where}: the served queries show {shown} documents in their top policy.k = "
                          f"{config.policy.k}; a LightGBM learner needs at least {_MIN_ROWS} (more queries, a "
                          "larger policy.k or a smaller data.test_fraction)")
    grades = _click_grades(config)
    top = int(max(train.labels.max(), test.labels.max() if test is not None else 0))
    if grades is not None and top >= grades:
        raise ConfigError(f"{where}: labels go up to {top}, but click_model.relevance = "
                          f"{config.click_model.relevance!r} maps grades 0..{grades - 1} only")
    return train.n_docs


def _click_grades(config):
    """Number of grades the click model maps to probabilities (None: the model takes any grade)."""
    model = build_click_model(config)
    for name in ("attractiveness", "relevance"):
        mapping = getattr(model, name, None)
        if mapping is not None and hasattr(mapping, "probabilities"):
            return len(mapping.probabilities)
    return None
