"""The multi-round feedback loop: serve, click, retrain, redeploy.

Every variant runs its own loop.  Round 0 deploys the initial ranker (the
logger); in round t the deployed ranker's scores make the policy of the
round, ``sessions_per_round`` sessions are simulated with it and added to the
variant's own history (all rounds, or the last ``window`` ones), and a new
ranker is fitted on that history and deployed in round t + 1.  Rankers
0..rounds are deployed, so there are ``rounds`` retrainings.

Two feedback channels:

(a) the training targets are the variant's own clicks (the learner turns the
    history's :class:`~simulator.ClickStatistics` into targets);
(b) optionally, engagement features computed from the history are appended to
    the ranking features, as real systems do: a document's historic
    click-through rate (``engagement="ctr"``) and also its log click count
    (``"ctr_count"``).  Raw for a variant that ignores the bias; for a
    debiased one the CTR divides the clicks by the expected examinations
    (the learner's own position-bias estimate ``theta_`` where it has one,
    else the true examination probabilities of the log), so it estimates
    P(click | examined).  The features of a round are those of the history
    before the round: the ranker trains on the features its impressions were
    served with and the clicks they got.

    "Never shown" is not "shown and never clicked": a document without an
    impression in the history (a served document never in a top k, and every
    held-out document) gets the value of :attr:`Variant.engagement_unseen`
    (``"missing"``: NaN, which LightGBM routes down its own branch;
    ``"estimate"``: what the formula gives with no observation, 0 for a raw CTR
    and the prior mean for a smoothed one).  The CTR may be smoothed towards
    the variant's own mean CTR with :attr:`Variant.engagement_prior`
    pseudo-impressions (or with a prior estimated from the history, ``"auto"``),
    a document with fewer (expected) examinations than
    :attr:`Variant.engagement_min_examinations` is treated as never shown (its
    CTR is not measured yet), and a share :attr:`Variant.engagement_dropout` of the
    training documents may have their engagement hidden (set to the unseen
    value), so that the ranker learns what the features alone say for a
    document nobody has seen.  A learner with ``backend = "linear"`` cannot
    take NaN: its unseen value is the estimate.

The loop knows learners and policies only by duck typing (``fit(dataset,
statistics, log=None)``, ``predict(features)``; ``make_policy(scorer)``),
and returns per-round :class:`RoundRecord` values; metrics are computed from
them downstream (:mod:`analysis`).

Randomness: the sessions of round t use the seed ``SeedSequence(seed,
spawn_key=(_ROUND_STREAM, t))``, the same for every variant of a seed (common
random numbers: round 0 is identical across variants).  A continued run
(``completed=``) replays the records of the finished rounds and refits the
ranker from them, so it equals an uninterrupted run exactly as long as the
learner's fit is deterministic.
"""

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ltr import StackedFeatures
from simulator import ClickStatistics, RankingDataset, simulate_sessions

__all__ = ["LoopEnvironment", "RoundRecord", "Variant", "engagement_features", "run_loop"]

_ROUND_STREAM = 7
_DROPOUT_STREAM = 8
_GATE_STREAM = 9
ENGAGEMENT = ("none", "ctr", "ctr_count")
UNSEEN = ("estimate", "missing")


@dataclass(frozen=True)
class Variant:
    """One arm of the study: how a ranker is (re)trained from its own clicks.

    Parameters
    ----------
    name : str
        Name in the reports (``naive``, ``ips``, or a user's name such as ``ips_clip01``).
    make_learner : callable
        ``make_learner()`` returns a new unfitted learner with ``fit(dataset,
        statistics, log=None)`` and ``predict(features)``.
    static : bool, default=False
        A reference fitted once (``initial`` is then its ranker) and never
        retrained: the skyline and the initial logger.
    debiased : bool, default=False
        Its engagement features are position-debiased.
    needs_log : bool, default=False
        Its learner fits on the session log (``fit(..., log=...)``), not only on
        the aggregated statistics.
    max_log_sessions : int, default=0
        Sessions of the log kept for such a learner (the most recent ones).
    assumed_theta : ndarray of shape (k,), optional
        Examination per rank the variant assumes (e.g. IPS with PBM
        propensities), used for its debiased engagement features; default:
        the learner's own ``theta_`` if it has one, else the truth of the log.
    needs_placement : bool, default=False
        Its learner needs the serving policy's expected placements
        (``statistics.expected_impressions``, for policy-aware propensities).
    make_policy : callable, optional
        How this variant serves its rankers (``make_policy(scorer)``), where it
        differs from the environment's: a learner that serves its own
        stochastic policy (PL-Rank).
    gate : OPEGate, optional
        Deployment gate: a retrained ranker replaces the current one only if
        ``gate.decide(...)`` says so (:mod:`clickloop._gate`); it needs the
        session logs and the expected placements of the history.
    kind : str, default=""
        The learner kind (``naive``, ``ips``, ...), for the record.
    engagement_prior : float or "auto", default=0.0
        Pseudo-impressions of the prior of a smoothed CTR, ``(clicks + a p0) /
        (impressions + a)`` with ``p0`` the variant's own mean CTR over its
        history; 0 = the raw CTR; ``"auto"``: ``a`` estimated from the history
        each round (empirical Bayes, method of moments).
    engagement_min_examinations : float, default=0.0
        A document with fewer examinations than this (expected examinations
        for a debiased CTR, impressions for a raw one) gets the unseen value.
    engagement_unseen : {"estimate", "missing"}, default="estimate"
        Engagement of a document never shown: the formula's value without
        observations, or NaN (missing).
    engagement_dropout : float, default=0.0
        Share of the training documents (drawn per round) whose engagement is
        replaced by the unseen value when the ranker is refitted.
    """

    name: str
    make_learner: Callable[[], Any]
    static: bool = False
    debiased: bool = False
    needs_log: bool = False
    max_log_sessions: int = 0
    assumed_theta: Any = None
    needs_placement: bool = False
    make_policy: Callable[[Any], Any] | None = None
    gate: Any = None
    kind: str = ""
    engagement_prior: float = 0.0
    engagement_min_examinations: float = 0.0
    engagement_unseen: str = "estimate"
    engagement_dropout: float = 0.0

    def __post_init__(self):
        if not (self.engagement_prior == "auto" or self.engagement_prior >= 0):
            raise ValueError(f"engagement_prior must be >= 0 or 'auto', got {self.engagement_prior!r}")
        if not self.engagement_min_examinations >= 0:
            raise ValueError(f"engagement_min_examinations must be >= 0, got {self.engagement_min_examinations!r}")
        if self.engagement_unseen not in UNSEEN:
            raise ValueError(f"engagement_unseen must be one of {UNSEEN}, got {self.engagement_unseen!r}")
        if not 0 <= self.engagement_dropout < 1:
            raise ValueError(f"engagement_dropout must be in [0, 1), got {self.engagement_dropout!r}")


@dataclass(frozen=True)
class LoopEnvironment:
    """What every variant of one seed shares: queries, users, serving, protocol.

    Parameters
    ----------
    train : RankingDataset
        The served queries (sessions are drawn from them; rankers train on them).
    test : RankingDataset or None
        Held-out queries, never served (for generalisation of the ranker).
    click_model : ClickModel
    make_policy : callable
        ``make_policy(scorer)`` returns a logging policy (``bind``) that shows
        the top k of the scorer's scores.
    sessions_per_round : int
    window : int, default=0
        Rounds of history to train on; 0 = all rounds.
    engagement : {"none", "ctr", "ctr_count"}, default="none"
    keep_logs : bool, default=False
        Return every round's session log in its record.
    """

    train: RankingDataset
    test: RankingDataset | None
    click_model: Any
    make_policy: Callable[[Any], Any]
    sessions_per_round: int
    window: int = 0
    engagement: str = "none"
    keep_logs: bool = False

    def __post_init__(self):
        if self.engagement not in ENGAGEMENT:
            raise ValueError(f"engagement must be one of {ENGAGEMENT}, got {self.engagement!r}")
        if int(self.sessions_per_round) != self.sessions_per_round or self.sessions_per_round < 1:
            raise ValueError(f"sessions_per_round must be an integer >= 1, got {self.sessions_per_round!r}")
        if int(self.window) != self.window or self.window < 0:
            raise ValueError(f"window must be an integer >= 0 (0 = all rounds), got {self.window!r}")


@dataclass(frozen=True, eq=False)
class RoundRecord:
    """What one round of one variant produced.

    Attributes
    ----------
    round : int
    statistics : ClickStatistics
        The round's sessions aggregated per (document, rank) of ``train``.
    scores : ndarray of shape (train.n_docs,)
        Scores of the deployed ranker on the served queries (as served).
    test_scores : ndarray of shape (test.n_docs,) or None
        Its scores on the held-out queries (engagement features: those of a
        document never shown).
    theta : ndarray of shape (k,) or None
        The deployed ranker's position-bias estimate (theta_1 = 1), if it has one.
    click_probability : ClickProbability or None
        The deployed ranker's predicted P(click | document at rank), made before
        the round's clicks, if its loss gives probabilities.
    log : ClickLog or None
        The round's sessions, when kept.
    labelled_queries : int or None
        Round 0 only: the number of served queries whose true labels trained
        the ranker deployed in round 0 (its ``n_queries_``: the logger's, or
        a static reference's own), if it reports one.
    candidate_test_scores : ndarray of shape (test.n_docs,) or None
        For a gated variant, from round 1 on: the held-out scores of the
        ranker retrained after round t - 1, deployed or not (what the gate's
        refusal costs or saves on queries it never judged).
    deployed, estimated_improvement, exact_improvement, exact_ndcg_improvement : int, float or None
        For a gated variant, from round 1 on: whether the ranker retrained
        after round t - 1 was deployed in round t (1) or the previous one kept
        (0), the gate's estimate of its improvement in its objective, the
        exact improvement in that objective under the true click model, and
        the exact change in NDCG@k of its lists on the true labels.
    """

    round: int
    statistics: ClickStatistics
    scores: np.ndarray
    test_scores: np.ndarray | None = None
    theta: np.ndarray | None = None
    click_probability: "ClickProbability | None" = None
    log: Any = field(default=None, repr=False)
    labelled_queries: int | None = None
    candidate_test_scores: np.ndarray | None = None
    deployed: int | None = None
    estimated_improvement: float | None = None
    exact_improvement: float | None = None
    exact_ndcg_improvement: float | None = None


def engagement_features(statistics, kind, debiased, theta=None, *, prior=0.0, min_examinations=0.0,
                        unseen="estimate"):
    """Engagement features of every document from a history of clicks.

    Parameters
    ----------
    statistics : ClickStatistics
        The history.
    kind : {"ctr", "ctr_count"}
    debiased : bool
        Divide clicks by expected examinations instead of impressions.
    theta : ndarray of shape (k,), optional
        Examination per rank to use for the expected examinations (a
        learner's estimate); default: the true examination of the log.
    prior : float or "auto", default=0.0
        Pseudo-impressions of a prior at the history's mean CTR ``p0 = sum
        clicks / sum denominators``: the CTR is ``(clicks + prior * p0) /
        (denominator + prior)``. 0: the raw CTR. ``"auto"``: the
        pseudo-examinations of a beta prior fitted to the history by the
        method of moments (empirical Bayes, :func:`_empirical_bayes_prior`).
    min_examinations : float, default=0.0
        A document whose denominator (expected examinations, or impressions
        for the raw CTR) is below this is treated as never shown.
    unseen : {"estimate", "missing"}, default="estimate"
        Features of a document without an impression (or below
        ``min_examinations``): the formula's value with no observation (CTR
        0, or ``p0`` with a prior; log count 0), or NaN.

    Returns
    -------
    ndarray of shape (n_docs, 1 or 2), float32
        CTR, then log1p of the (debiased) click count.

    Examples
    --------
    >>> stats = ClickStatistics.empty(n_docs=3, k=2)
    >>> stats.impressions[0] = [10, 10]; stats.clicks[0] = [6, 2]
    >>> stats.impressions[1] = [0, 20]; stats.examination[0] = [10.0, 5.0]
    >>> engagement_features(stats, "ctr", debiased=False)[:, 0].round(4).tolist()
    [0.4, 0.0, 0.0]
    >>> engagement_features(stats, "ctr", debiased=False, unseen="missing")[:, 0].round(4).tolist()
    [0.4, 0.0, nan]

    With a prior of 10 pseudo-impressions at the mean CTR 8 / 40 = 0.2, the
    document never clicked in 20 impressions and the one never shown differ:

    >>> engagement_features(stats, "ctr", debiased=False, prior=10.0)[:, 0].round(4).tolist()
    [0.3333, 0.0667, 0.2]

    Debiased with theta (1, 0.5), the second document's 20 impressions at
    rank 2 are 10 expected examinations: below ``min_examinations = 12`` its
    CTR counts as not measured yet, like the third document's:

    >>> engagement_features(stats, "ctr", debiased=True, theta=[1.0, 0.5], min_examinations=12,
    ...                     unseen="missing")[:, 0].round(4).tolist()
    [0.5333, nan, nan]
    """
    values, unseen_row = _engagement_columns(statistics, kind, debiased, theta, prior, unseen, min_examinations)
    return values


def _engagement_columns(statistics, kind, debiased, theta, prior, unseen, min_examinations=0.0):
    """(features of every document, the feature row of a document never shown), float32."""
    if statistics is None:
        raise ValueError("engagement_features needs click statistics")
    if kind not in ("ctr", "ctr_count"):
        raise ValueError(f"engagement kind must be 'ctr' or 'ctr_count', got {kind!r}")
    if unseen not in UNSEEN:
        raise ValueError(f"unseen must be one of {UNSEEN}, got {unseen!r}")
    if not (prior == "auto" or prior >= 0):
        raise ValueError(f"prior must be >= 0 or 'auto', got {prior!r}")
    if not min_examinations >= 0:
        raise ValueError(f"min_examinations must be >= 0, got {min_examinations!r}")
    impressions = statistics.row_sums("impressions").astype(np.float64)
    clicks = statistics.row_sums("clicks").astype(np.float64)
    if debiased:
        if theta is None:
            expected = statistics.row_sums("examination")
        else:
            # ranks added in order, as the dense rank-major sum (not ``@``: BLAS depends on its threads)
            expected = statistics.row_sums("impressions", weights=theta)
        # guard: an impression is examined with probability >= 1e-3 (clicks / tiny examination explode)
        denominator = np.maximum(expected, 1e-3 * impressions)
    else:
        denominator = impressions
    if prior == "auto":
        prior = _empirical_bayes_prior(statistics, clicks, denominator, theta if debiased else None, debiased)
    if prior > 0:
        total = denominator.sum()
        mean = clicks.sum() / total if total > 0 else 0.0
        ctr = (clicks + prior * mean) / (denominator + prior)
    else:
        mean = 0.0
        ctr = np.divide(clicks, denominator, out=np.zeros_like(clicks), where=denominator > 0)
    columns, row = [ctr], [mean]
    if kind == "ctr_count":
        scaled = np.divide(clicks * impressions, denominator, out=np.zeros_like(clicks), where=denominator > 0)
        columns.append(np.log1p(scaled))
        row.append(0.0)
    values = np.column_stack(columns)
    row = np.asarray(row)
    if unseen == "missing":
        row[:] = np.nan
    values[(impressions == 0) | (denominator < min_examinations)] = row
    return values.astype(np.float32), row.astype(np.float32)


def _empirical_bayes_prior(statistics, clicks, denominator, theta, debiased):
    """Pseudo-examinations of a beta prior on P(click | examined), by the method of moments (empirical Bayes).

    A document with ``E`` expected examinations (``denominator``) and click
    probability ``p`` per examination has ``E[c | p] = p E`` and ``Var[c | p] =
    p E - p^2 F``, ``F`` the sum over its impressions of the squared
    examination probability (``F = E`` without debiasing).  Over documents, with
    ``p`` of mean ``m`` and variance ``tau^2``, ``E[(c - m E)^2 - m E + m^2 F] =
    tau^2 (E^2 - F)``, which gives ``tau^2``; a beta prior of that mean and
    variance has ``a = m (1 - m) / tau^2 - 1`` pseudo-examinations.  No spread
    left after the sampling noise (``tau^2 <= 0``) gives ``a = 1e6`` (every
    CTR at the mean).
    """
    impressions = statistics.values("impressions").astype(np.float64)
    row, rank = statistics.cell_index()
    if not debiased:
        per_cell = impressions  # every impression examined: F = E
    else:
        examined = (impressions * np.asarray(theta, dtype=np.float64)[rank] if theta is not None
                    else statistics.values("examination"))
        per_cell = np.divide(examined ** 2, impressions, out=np.zeros_like(impressions), where=impressions > 0)
    second = np.bincount(row, weights=per_cell, minlength=clicks.size)
    seen = denominator > 0
    c, e, f = clicks[seen], denominator[seen], second[seen]
    if c.sum() <= 0:
        return 0.0
    mean = c.sum() / e.sum()
    spread = np.sum((c - mean * e) ** 2 - mean * e + mean ** 2 * f)
    scale = np.sum(e ** 2 - f)
    if not (scale > 0 and spread > 0):
        return 1e6
    tau2 = spread / scale
    if mean >= 1:  # debiased with too flat an examination curve: a gamma prior of that mean and variance
        return float(min(mean / tau2, 1e6))
    return float(np.clip(mean * (1.0 - mean) / tau2 - 1.0, 0.0, 1e6))


def _served_features(dataset, extra, engaged):
    """The features a ranker scores the served documents with: with the ``extra`` columns if it is engaged
    (never stacked into one array: the tree walk reads both blocks, anything else stacks them)."""
    return StackedFeatures(dataset.features, extra) if engaged else dataset.features


class _TrainingData:
    """The served queries with engagement columns, for a fit: ``dataset``'s attributes, its features
    with the ``extra`` columns stacked row by row as the learner reads them (:class:`ltr.StackedFeatures`)."""

    def __init__(self, dataset, extra):
        self._dataset = dataset
        self.features = StackedFeatures(dataset.features, extra)

    def __getattr__(self, name):
        return getattr(self._dataset, name)


class _History:
    """A variant's click history: per-round statistics in a window, their sum, and the log tail."""

    def __init__(self, n_docs, k, window, max_log_sessions):
        self.rounds = deque(maxlen=window or None)
        self.logs = deque(maxlen=window or None)
        self.total = ClickStatistics.empty(n_docs, k)  # sparse: memory follows the shown cells
        self.max_log_sessions = max_log_sessions

    def add(self, statistics, log=None):
        full = self.rounds.maxlen is not None and len(self.rounds) == self.rounds.maxlen
        self.rounds.append(statistics)  # drops the oldest round when the window is full
        if full:
            self.total = sum(self.rounds, ClickStatistics.empty(*statistics.shape))
        else:
            self.total = self.total + statistics
        if log is not None and self.max_log_sessions:
            self.logs.append(log)
            # Whole rounds, oldest first, as long as the rest still holds max_log_sessions.
            while len(self.logs) > 1 and sum(x.n_sessions for x in self.logs) - self.logs[0].n_sessions \
                    >= self.max_log_sessions:
                self.logs.popleft()

    def extend_last(self, statistics, log=None):
        """Add sessions to the newest round (the window keeps or drops them with it)."""
        self.rounds[-1] = self.rounds[-1] + statistics
        self.total = self.total + statistics
        if log is not None and self.max_log_sessions and self.logs:
            from simulator import ClickLog

            self.logs[-1] = ClickLog.concatenate([self.logs[-1], log])

    def clear(self):
        """Forget every round (the gate's sessions once they have joined the training history)."""
        self.rounds.clear()
        self.logs.clear()
        self.total = ClickStatistics.empty(*self.total.shape)

    def log(self):
        if not self.logs:
            return None
        from simulator import ClickLog

        return self.logs[0] if len(self.logs) == 1 else ClickLog.concatenate(list(self.logs))


@dataclass(frozen=True)
class ClickProbability:
    """P(click | document d at rank r) = ``attractiveness[d] * examination[r]``, kept as its two factors.

    The (documents x ranks) product is never formed: a metric reads the cells
    it needs with :meth:`of_cells`.
    """

    attractiveness: np.ndarray
    examination: np.ndarray

    def of_cells(self, cells, k):
        """The probabilities of flat cells ``document * k + rank`` (the same floats as the dense product)."""
        cells = np.asarray(cells, dtype=np.int64)
        return self.attractiveness[cells // k] * self.examination[cells % k]


def _click_probability(ranker, scores, k, oracle_theta):
    """P(click | document at rank r) predicted by a ranker whose loss is pointwise logistic, else None.

    ``scores`` are the ranker's predictions of the served documents: for these
    rankers the logits of attractiveness (a second prediction took a tenth of
    a small sweep task).
    """
    loss = getattr(ranker, "loss", None)
    theta = getattr(ranker, "theta_", None)
    if theta is None and loss != "logistic":
        return None
    attractiveness = 1.0 / (1.0 + np.exp(-scores))
    if theta is not None:
        examination = np.asarray(theta, dtype=np.float64)
    elif getattr(ranker, "predicts_clicks", False):
        examination = np.ones(k)  # it models the click-through rate itself, whatever the rank
    else:
        examination = oracle_theta
    return ClickProbability(attractiveness, np.asarray(examination[:k], dtype=np.float64))


def run_loop(env, variant, initial, rounds, seed, *, completed=(), on_round=None):
    """Run one variant's feedback loop.

    Parameters
    ----------
    env : LoopEnvironment
    variant : Variant
    initial : fitted ranker
        Deployed in round 0 (for a static variant: in every round).  It scores
        the base features (no engagement columns).
    rounds : int
        Number of retrainings; rankers 0..rounds are deployed.
    seed : int
        Experiment seed; the sessions of round t use ``SeedSequence(seed,
        spawn_key=(7, t))``.
    completed : sequence of RoundRecord, default=()
        Records of rounds 0..c-1 of an earlier run of the same configuration,
        to continue from round c.
    on_round : callable, optional
        ``on_round(record)`` after every round, as soon as it is done (a
        checkpoint).

    Returns
    -------
    list of RoundRecord
        Rounds 0..rounds, the completed ones included.
    """
    if int(rounds) != rounds or rounds < 0:
        raise ValueError(f"rounds must be an integer >= 0, got {rounds!r}")
    train, test = env.train, env.test
    probe = env.make_policy(lambda X: np.zeros(len(X))).bind(train.features[:1], np.array([0, 1]))
    k = probe.k
    history = _History(train.n_docs, k, env.window, variant.max_log_sessions if variant.needs_log else 0)
    oracle_theta = getattr(env.click_model, "examination_by_rank", None)
    oracle_theta = oracle_theta(k) if oracle_theta is not None else np.ones(k)
    records = list(completed)
    labelled = getattr(initial, "n_queries_", None)
    labelled = None if labelled is None else int(labelled)
    if records:  # not checkpointed: the initial ranker is fitted again on every (re)start
        records[0] = replace(records[0], labelled_queries=labelled)
    ranker, engaged, decision, candidate_test = initial, False, None, None
    unseen = _unseen_mode(env, variant)
    holdout = _gate_sessions(env, variant)
    # A gate with a holdout judges on sessions its candidates were not trained on (their own history).
    validation = _History(train.n_docs, k, env.window, variant.max_log_sessions) if holdout else None
    for i, record in enumerate(records):  # replay the finished rounds: same history, same refits
        extra, unseen_row = _engagement(env, variant, history, ranker, unseen)
        history.add(record.statistics, record.log if variant.needs_log else None)
        if not variant.static and record.round < rounds:
            # the gate's sessions are not checkpointed: drawn again from the round's seed and served scores
            ranker, engaged, decision, candidate_test = _retrain(
                env, variant, history, validation, holdout, ranker, engaged, record.scores, extra, unseen_row,
                unseen, seed, record.round, k)
            if i + 1 < len(records) and records[i + 1].candidate_test_scores is None and candidate_test is not None:
                records[i + 1] = replace(records[i + 1], candidate_test_scores=candidate_test)  # an older checkpoint
    for t in range(len(records), rounds + 1):
        # Engagement features of the history before this round: what the round is served with,
        # and what the ranker of the next round trains on (with this round's clicks as targets).
        extra, unseen_row = _engagement(env, variant, history, ranker, unseen)
        served = _served_features(train, extra, engaged)
        scores = np.asarray(ranker.predict(served), dtype=np.float64)
        test_scores = None
        if test is not None:
            # held-out documents were never shown: every one has the engagement row of the unseen
            test_scores = _test_scores(test, ranker, engaged, unseen_row)
        # Round 0 serves the initial logger as every variant does; a variant's own serving starts with its rankers.
        # A gated variant with a holdout trains on the round's other sessions.
        policy = _serving_policy(env, variant, scores, t)
        keep_log = env.keep_logs or variant.needs_log
        run = simulate_sessions(train, policy, env.click_model, env.sessions_per_round - holdout,
                                seed=np.random.SeedSequence(seed, spawn_key=(_ROUND_STREAM, t)),
                                round=t, keep_log=keep_log, placement=variant.needs_placement)
        theta = getattr(ranker, "theta_", None)
        record = RoundRecord(
            round=t, statistics=run.statistics, scores=scores, test_scores=test_scores,
            theta=None if theta is None else np.asarray(theta, dtype=np.float64),
            click_probability=_click_probability(ranker, scores, k, oracle_theta),
            log=run.log if keep_log else None, labelled_queries=labelled if t == 0 else None,
            candidate_test_scores=candidate_test,
            deployed=None if decision is None else int(decision.deployed),
            estimated_improvement=None if decision is None else decision.estimated_improvement,
            exact_improvement=None if decision is None else decision.exact_improvement,
            exact_ndcg_improvement=None if decision is None else decision.exact_ndcg_improvement,
        )
        records.append(record)
        if on_round is not None:
            on_round(record)
        if variant.static or t == rounds:
            continue
        history.add(run.statistics, run.log if variant.needs_log else None)
        ranker, engaged, decision, candidate_test = _retrain(env, variant, history, validation, holdout, ranker,
                                                             engaged, scores, extra, unseen_row, unseen, seed, t, k)
    return records


def _test_scores(test, ranker, engaged, unseen_row):
    """A ranker's scores on the held-out queries: every document has the engagement row of one never shown."""
    return np.asarray(ranker.predict(StackedFeatures(test.features, unseen_row) if engaged else test.features),
                      dtype=np.float64)


def _retrain(env, variant, history, validation, holdout, ranker, engaged, scores, extra, unseen_row, unseen,
             seed, t, k):
    """(ranker, engaged, decision, candidate's held-out scores) after round t: a candidate fitted on the
    history, deployed if the gate lets it (the last two None without a gate; the scores None without held-out
    queries).

    A gate with ``test = "explore"`` draws its sessions of round t around the
    round's ranking (``scores``) before the candidate exists; ``"split"``
    draws them after, served half by the current ranker and half by the
    candidate.
    """
    test = getattr(variant.gate, "test", "explore")
    if validation is not None and test == "explore":
        _validate(env, variant, validation, holdout, scores, seed, t, k)
    candidate = _refit(env, variant, history, extra, unseen_row, seed, t)
    if variant.gate is None:
        return candidate, env.engagement != "none", None, None
    current_scores = _served_scores(env, variant, history, ranker, engaged, unseen)
    candidate_scores = _served_scores(env, variant, history, candidate, env.engagement != "none", unseen)
    if validation is not None and test == "split":
        _validate_split(env, variant, validation, holdout, current_scores, candidate_scores, seed, t, k)
    decision = _deploy(env, variant, history, validation, ranker, engaged, candidate, current_scores,
                       candidate_scores, k)
    if validation is not None and variant.gate.reuse:  # judged: the gate's sessions become training data
        history.extend_last(validation.total, validation.log() if variant.needs_log else None)
        validation.clear()
    candidate_test = None
    if env.test is not None:  # as the next round would show it: the unseen row of the history so far
        candidate_test = _test_scores(env.test, candidate, env.engagement != "none",
                                      _engagement(env, variant, history, candidate, unseen)[1])
    return (*decision, candidate_test)


def _gate_sessions(env, variant):
    """Sessions of each round a gated variant keeps out of training for its gate (0: none)."""
    share = getattr(variant.gate, "holdout", 0.0) if variant.gate is not None and not variant.static else 0.0
    return int(round(share * env.sessions_per_round)) if share else 0


def _serving_policy(env, variant, scores, t):
    """The policy serving round t: the initial logger's in round 0, then the variant's own (if it has one)."""
    serve = variant.make_policy if variant.make_policy is not None and t > 0 else env.make_policy
    return serve(lambda X, s=scores: s)


def _validate(env, variant, validation, n_sessions, scores, seed, t, k):
    """Add round t's held-out gate sessions, served around the round's ranking (``scores``), to ``validation``."""
    _add_gate_sessions(env, validation, _gate_policy(env, variant, scores, t, k), n_sessions, seed, t, ())


def _validate_split(env, variant, validation, n_sessions, current_scores, candidate_scores, seed, t, k):
    """Add round t's gate sessions served half by the current ranker, half by the candidate (an A/B split).

    Each half is served as :func:`_validate` serves its sessions; the gate's
    logging placement is their mixture, so both rankers' lists have support.
    """
    for arm, (arm_scores, size) in enumerate([(current_scores, n_sessions - n_sessions // 2),
                                               (candidate_scores, n_sessions // 2)]):
        if size > 0:
            _add_gate_sessions(env, validation, _gate_policy(env, variant, arm_scores, t, k), size, seed, t,
                               (arm,))


def _gate_policy(env, variant, scores, t, k):
    """How gate sessions are served around a ranking: as the variant serves, or epsilon-greedy.

    With ``gate.explore`` > 0 every candidate document gets a chance to be
    shown, so the gate's estimators have support for the documents a new
    ranker brings up (a deterministic ranking shows none of them).
    """
    if variant.gate.explore > 0:
        from policies import EpsilonGreedy

        return EpsilonGreedy(lambda X, s=scores: s, k, variant.gate.explore)
    return _serving_policy(env, variant, scores, t)


def _add_gate_sessions(env, validation, policy, n_sessions, seed, t, arm):
    """Simulate round t's gate sessions of ``policy`` (seed stream (gate, t, *arm)) and add them to ``validation``."""
    run = simulate_sessions(env.train, policy, env.click_model, n_sessions,
                            seed=np.random.SeedSequence(seed, spawn_key=(_GATE_STREAM, t, *arm)),
                            round=t, keep_log=True, placement=True)
    validation.add(run.statistics, run.log)


def _served_scores(env, variant, history, ranker, engaged, unseen):
    """A ranker's scores on the served queries with the engagement features it would be served with."""
    extra, _ = _engagement(env, variant, history, ranker, unseen)
    return np.asarray(ranker.predict(_served_features(env.train, extra, engaged)), dtype=np.float64)


def _deploy(env, variant, history, validation, ranker, engaged, candidate, current_scores, candidate_scores, k):
    """(ranker, engaged, decision) of the next round: the candidate, unless the variant's gate keeps the current one.

    The gate estimates from ``validation`` (the held-out gate sessions) when
    there is one, else from the training ``history`` itself.
    """
    engaged_candidate = env.engagement != "none"
    from ._gate import logging_placement, top_lists

    boundaries = env.train.query_boundaries
    current = top_lists(current_scores, boundaries, k)
    new = top_lists(candidate_scores, boundaries, k)
    judged = history if validation is None else validation
    stats = judged.total
    theta = variant.assumed_theta
    if theta is None:
        theta = getattr(candidate, "theta_", None)
        if theta is not None and variant.gate.theta == "em":
            theta = _gate_theta_em(stats, theta)
    if theta is None:  # the truth of the log: mean examination per rank (what the oracle learners use)
        impressions = stats.rank_sums("impressions")
        theta = np.where(impressions > 0, stats.rank_sums("examination") / np.maximum(impressions, 1), 1.0)
    decision = variant.gate.decide(env.train, env.click_model, judged.log(),
                                   logging_placement(stats, boundaries), np.asarray(theta, dtype=np.float64),
                                   current, new, reference=history.total)
    if decision.deployed:
        return candidate, engaged_candidate, decision
    return ranker, engaged, decision


def _gate_theta_em(stats, fallback):
    """The PBM EM estimate of theta on the gate's sessions; ``fallback`` at the ranks it does not identify."""
    import warnings

    from ltr import NotIdentifiedError, estimate_pbm_em

    fallback = np.asarray(fallback, dtype=np.float64) / float(np.asarray(fallback)[0])
    with warnings.catch_warnings():  # unidentified ranks are expected (NaN), and filled below
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            estimate = np.asarray(estimate_pbm_em(stats).theta, dtype=np.float64)
        except NotIdentifiedError as exc:  # e.g. the explored sessions happened to move no document off its rank
            estimate, reason = None, exc
    if estimate is None:
        warnings.warn(f"deployment.theta = 'em': the gate's sessions identify no rank ({reason}); the gate assumes "
                      "the learner's theta", RuntimeWarning, stacklevel=2)
        return fallback
    return np.where(np.isfinite(estimate), estimate, fallback[: estimate.size])


def _unseen_mode(env, variant):
    """The variant's unseen value, "estimate" for a learner that cannot take NaN (``backend = "linear"``)."""
    if env.engagement == "none" or variant.static or variant.engagement_unseen != "missing":
        return variant.engagement_unseen
    return "estimate" if getattr(variant.make_learner(), "backend", None) == "linear" else "missing"


def _engagement(env, variant, history, ranker, unseen):
    """(engagement features of the history so far, the row of a document never shown), or (None, None)."""
    if env.engagement == "none" or variant.static:
        return None, None
    width = 1 if env.engagement == "ctr" else 2
    if history.total.n_sessions == 0:  # nothing shown yet: every document is unseen
        fill = np.nan if unseen == "missing" else 0.0
        return np.full((env.train.n_docs, width), fill, dtype=np.float32), np.full(width, fill, np.float32)
    theta = None
    if variant.debiased:
        theta = variant.assumed_theta if variant.assumed_theta is not None else getattr(ranker, "theta_", None)
    return _engagement_columns(history.total, env.engagement, variant.debiased, theta,
                               variant.engagement_prior, unseen, variant.engagement_min_examinations)


def _refit(env, variant, history, extra, unseen_row, seed, t):
    """A new ranker fitted on the history; a share of its training documents' engagement hidden (dropout)."""
    learner = variant.make_learner()
    if extra is not None and variant.engagement_dropout > 0:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_DROPOUT_STREAM, t)))
        hidden = rng.random(extra.shape[0]) < variant.engagement_dropout
        extra = extra.copy()
        extra[hidden] = unseen_row
    # Learners read the features of the rows they fit on: no copy of every served document's.
    data = env.train if extra is None else _TrainingData(env.train, extra)
    return learner.fit(data, history.total, log=history.log() if variant.needs_log else None)
