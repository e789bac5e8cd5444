"""Click models: validated public API over the numba kernels.

Every model simulates the clicks of a batch of sessions, given the documents
displayed in each session and the true relevance grades of the documents, and
returns the true examination probability of every shown (session, rank).

Examination probability
-----------------------
``examination="conditional"`` (default) gives P(E_r = 1 | documents shown,
clicks above r): for PBM and trust bias this is theta_r; for UBM it is
gamma[r, distance to the last click above]; for the cascade family (CM, DCM,
DBN, SDBN) it is the posterior probability that the user is still scanning at
rank r given the clicks (and skips) above, computed by forward filtering. It is
what an oracle cascade-aware estimator uses, and E[click_r / examination_r] =
P(click | examined, d_r) wherever it is positive.  ``examination="marginal"``
gives P(E_r = 1 | documents shown), averaged over the clicks above, the
propensity of a PBM-style estimator.  Both are exact, not estimated.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable

import numpy as np

from . import _click_kernels as kernels
from ._grade_mapping import GradeMapping, _probability_array, relevance_mapping
from ._rng import derive_key
from .validation import (
    check_int,
    check_nonnegative,
    check_probability,
    check_real_array,
    describe,
    display_indices,
    read_only,
)

__all__ = [
    "CLICK_MODELS",
    "CLICK_MODEL_PRESETS",
    "ClickModelSpec",
    "DBN",
    "DCM",
    "PBM",
    "UBM",
    "CascadeModel",
    "ClickModel",
    "ClickSimulation",
    "TrustBias",
    "click_model",
    "pbm_theta",
    "EYE_TRACKING_THETA",
    "ULTRA_UBM_GAMMA",
]

# Eye-tracking examination curve of ranks 1..10 (Joachims et al., as used by ULTRA and DLA).
EYE_TRACKING_THETA = (0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)

# UBM examination table shipped with ULTRA: row r (rank r + 1), column dist - 1,
# where dist = rank - rank of the last click above (dist = rank when there is none).
ULTRA_UBM_GAMMA = (
    (1.0,),
    (0.98, 1.0),
    (1.0, 0.62, 0.95),
    (1.0, 0.77, 0.42, 0.82),
    (1.0, 0.92, 0.55, 0.31, 0.69),
    (1.0, 0.96, 0.63, 0.4, 0.22, 0.54),
    (1.0, 0.99, 0.73, 0.46, 0.29, 0.17, 0.47),
    (1.0, 1.0, 0.89, 0.52, 0.35, 0.24, 0.14, 0.43),
    (1.0, 1.0, 0.95, 0.68, 0.4, 0.29, 0.19, 0.12, 0.41),
    (1.0, 1.0, 1.0, 0.96, 0.52, 0.36, 0.27, 0.18, 0.12, 0.43),
)

_EXAMINATION_KINDS = ("conditional", "marginal")


@dataclass(frozen=True)
class ClickSimulation:
    """Clicks of a batch of sessions and the true examination probabilities.

    Attributes
    ----------
    clicks : ndarray of shape (n_sessions, k), bool
        ``clicks[s, r]`` is True when the document at rank r + 1 of session s
        was clicked.
    examination : ndarray of shape (n_sessions, k), float32
        True examination probability of each shown (session, rank), as defined
        by the ``examination`` argument of :meth:`ClickModel.simulate`; 0 for
        empty slots.
    """

    clicks: np.ndarray
    examination: np.ndarray

    def __post_init__(self):
        if self.clicks.shape != self.examination.shape or self.clicks.ndim != 2:
            raise ValueError(
                f"clicks and examination must be 2-D arrays of one shape, got {self.clicks.shape} "
                f"and {self.examination.shape}"
            )

    @property
    def ctr_by_rank(self):
        """Click-through rate of each rank, ndarray of shape (k,).

        NaN for a batch of zero sessions (no impression), as
        :meth:`ClickStatistics.ctr` is NaN where a document was never shown.

        Examples
        --------
        >>> import numpy as np
        >>> PBM().simulate(np.zeros((0, 2), dtype=int), labels=[4]).ctr_by_rank.tolist()
        [nan, nan]
        """
        if self.clicks.shape[0] == 0:
            return np.full(self.clicks.shape[1], np.nan)
        return self.clicks.mean(axis=0)


def _check_displayed(displayed, n_docs):
    displayed = np.asarray(displayed)
    if displayed.ndim != 2 or displayed.shape[1] == 0:
        raise ValueError(f"displayed must have shape (n_sessions, k) with k >= 1, got {displayed.shape}")
    return display_indices(displayed, n_docs, f"labels has only {n_docs} documents")


def _check_labels(labels):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if labels.size and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
            raise ValueError("labels must be integer relevance grades")
        labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    return labels


def _rank_table(values, name, k):
    """First k entries of a per-rank table, or a clear error when it is too short."""
    if values.size < k:
        raise ValueError(f"{name} defines {values.size} ranks but the sessions show k={k}")
    return np.ascontiguousarray(values[:k])


def pbm_theta(k, eta=1.0):
    """The PBM examination curve theta_r = (1 / r)^eta of ranks r = 1..k (the one place it is written).

    Parameters
    ----------
    k : int
        Ranks, >= 1.
    eta : float, default=1.0
        Strength of the position bias, a finite number >= 0 (0: none, every
        theta_r = 1).

    Returns
    -------
    ndarray of shape (k,), float64

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1 or ``eta`` not a finite number >= 0.

    Examples
    --------
    >>> pbm_theta(3, eta=2.0).round(3).tolist()
    [1.0, 0.25, 0.111]
    >>> pbm_theta(0)
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer >= 1, got 0
    """
    k = check_int(k, "k", 1)
    return (1.0 / np.arange(1, k + 1)) ** check_nonnegative(eta, "eta")


class ClickModel(ABC):
    """Base of all click models: validation, seeding and output allocation."""

    def affine_parameters(self, labels, k):
        """(theta, eps_minus, eps_slope, relevance) if clicks are affine per rank, else None.

        A model is affine per rank when P(click at r | document d) =
        theta_r (eps_minus_r + eps_slope_r R_d) with the examination theta_r
        depending on the rank alone (PBM, trust bias).  Such a model can be
        simulated by fused kernels that rank, click and count at once; every
        other model returns None (the default).

        Parameters
        ----------
        labels : array-like of int, shape (n_docs,)
        k : int
            Ranks shown.

        Returns
        -------
        tuple of four read-only float64 ndarrays of shapes (k,), (k,), (k,), (n_docs,), or None
        """
        return None

    def simulate(self, displayed, labels, seed=0, *, first_session=0, examination="conditional", out=None):
        """Simulate the clicks of a batch of sessions.

        Parameters
        ----------
        displayed : array-like of int, shape (n_sessions, k)
            Index into ``labels`` of the document shown at each rank (rank 1
            first); -1 marks an empty slot.
        labels : array-like of int, shape (n_docs,)
            True relevance grade of every document.
        seed : int or numpy.random.SeedSequence, default=0
            Seed of the run.  Clicks are a pure function of the seed, the
            global session index and the rank: identical for any thread count.
        first_session : int, default=0
            Global index of the first session, so that a long run simulated
            block by block equals a run simulated at once.
        examination : {"conditional", "marginal"}, default="conditional"
            Which examination probability to return (see the module docs).
        out : tuple of two ndarrays, optional
            ``(clicks, examination)`` buffers of shape (n_sessions, k), bool
            and float32, C-contiguous, to write into: reusing them across
            blocks avoids paging in fresh memory for every block.

        Returns
        -------
        ClickSimulation
        """
        labels = _check_labels(labels)
        displayed = _check_displayed(displayed, labels.size)
        if examination not in _EXAMINATION_KINDS:
            raise ValueError(f"examination must be one of {_EXAMINATION_KINDS}, got {examination!r}")
        if int(first_session) != first_session or first_session < 0:
            raise ValueError(f"first_session must be an integer >= 0, got {first_session!r}")
        key = derive_key(seed)
        if out is None:
            clicks = np.empty(displayed.shape, dtype=np.bool_)
            exam = np.empty(displayed.shape, dtype=np.float32)
        else:
            clicks, exam = out
            for buffer, dtype in ((clicks, np.bool_), (exam, np.float32)):
                if buffer.shape != displayed.shape or buffer.dtype != dtype or not buffer.flags.c_contiguous:
                    raise ValueError(
                        f"out must be C-contiguous (bool, float32) arrays of shape {displayed.shape}"
                    )
        self._run(displayed, labels, np.int64(first_session), key, examination == "marginal", clicks, exam)
        return ClickSimulation(clicks, exam)

    @abstractmethod
    def _run(self, displayed, labels, first_session, key, marginal, clicks, examination):
        """Validate model-specific inputs and call one kernel."""

    def click_probabilities(self, displayed, labels):
        """Exact marginal click probability P(C_r = 1) of every rank of every displayed list.

        Computed without sampling: a product for the models affine per rank
        (PBM, trust bias), a forward recursion over the examination
        probability for the cascade family (CM, DCM, DBN, SDBN) and a
        recursion over the rank of the last click for UBM.  The sum over the
        ranks of a list is its expected number of clicks per session.
        ``simulate`` draws clicks whose frequencies converge to these values.

        Parameters
        ----------
        displayed : array-like of int, shape (n_lists, k)
            Index into ``labels`` of the document shown at each rank (rank 1
            first); -1 marks an empty slot (probability 0; a cascade user
            passes over it, as in ``simulate``).
        labels : array-like of int, shape (n_docs,)
            True relevance grade of every document.

        Returns
        -------
        ndarray of shape (n_lists, k), float64

        Examples
        --------
        >>> PBM(eta=1.0).click_probabilities([[0, 1, -1]], labels=[2, 4]).round(3).tolist()
        [[0.28, 0.5, 0.0]]
        >>> CascadeModel().click_probabilities([[0, 1]], labels=[2, 4]).round(3).tolist()
        [[0.28, 0.72]]
        """
        labels = _check_labels(labels)
        displayed = _check_displayed(displayed, labels.size)
        if displayed.size and displayed.min() < -1:
            raise ValueError(f"displayed must be >= -1 (-1 marks an empty slot), got {displayed.min()}")
        return self._click_probabilities(displayed, labels)

    def _click_probabilities(self, displayed, labels):
        """Model-specific exact click probabilities of validated input (the default: affine models)."""
        theta, eps_minus, eps_slope, relevance = self.affine_parameters(labels, displayed.shape[1])
        shown = displayed >= 0
        probability = theta * (eps_minus + eps_slope * relevance[np.where(shown, displayed, 0)])
        return np.where(shown, probability, 0.0)


def _mapping_field(default):
    return field(default_factory=lambda: relevance_mapping(default))


@dataclass(frozen=True)
class PBM(ClickModel):
    """Position-based model: P(C_r) = theta_r * alpha(y_d).

    Parameters
    ----------
    eta : float, default=1.0
        Strength of the position bias: theta_r = (1 / r)^eta (r 1-based).
        eta = 0 means no position bias.
    theta : array-like of shape (n_ranks,), optional
        An explicit examination table (such as :data:`EYE_TRACKING_THETA`),
        raised to ``eta`` before use.  It must cover the k ranks shown.
    attractiveness : GradeMapping or str, default="graded"
        P(click | examined, y).

    Examples
    --------
    >>> model = PBM(eta=1.0)
    >>> model.examination_by_rank(3).round(3).tolist()
    [1.0, 0.5, 0.333]
    >>> sim = model.simulate([[0, 1, 2]], labels=[4, 0, 1], seed=7)
    >>> sim.clicks.shape, sim.examination[0].round(3).tolist()
    ((1, 3), [1.0, 0.5, 0.333])
    """

    eta: float = 1.0
    theta: np.ndarray | None = None
    attractiveness: GradeMapping = _mapping_field("graded")

    def __post_init__(self):
        object.__setattr__(self, "eta", check_nonnegative(self.eta, "eta"))
        if self.theta is not None:
            object.__setattr__(self, "theta", _probability_array(self.theta, "theta"))
        object.__setattr__(self, "attractiveness", relevance_mapping(self.attractiveness))

    def examination_by_rank(self, k):
        """theta_1..theta_k, ndarray of shape (k,)."""
        if self.theta is None:
            return pbm_theta(k, self.eta)
        return _rank_table(self.theta, "theta", k) ** self.eta

    def affine_parameters(self, labels, k):
        """PBM is affine with eps_minus = 0 and slope 1: P(click) = theta_r alpha(y_d)."""
        theta = np.ascontiguousarray(self.examination_by_rank(k), dtype=np.float64)
        relevance = np.ascontiguousarray(self.attractiveness(_check_labels(labels)), dtype=np.float64)
        return tuple(read_only(a) for a in (theta, np.zeros(k), np.ones(k), relevance))

    def _run(self, displayed, labels, first_session, key, marginal, clicks, examination):
        kernels.affine_clicks(displayed, first_session, key, *self.affine_parameters(labels, displayed.shape[1]),
                              clicks, examination)


@dataclass(frozen=True)
class TrustBias(ClickModel):
    """Trust bias (affine click model, Agarwal et al. 2019; Vardasbi et al. 2020).

    P(C_r) = theta_r * (eps_plus_r * R_d + eps_minus_r * (1 - R_d)), with
    R_d = P(relevant | y_d).  Examination is theta_r; the affine correction
    (c - beta_r) / alpha_r with alpha_r = theta_r (eps_plus_r - eps_minus_r) and
    beta_r = theta_r eps_minus_r is unbiased for R_d.

    Parameters
    ----------
    theta, eps_plus, eps_minus : array-like of shape (n_ranks,)
        Per-rank tables; every value in [0, 1].
    relevance : GradeMapping or str, default="graded"
        P(relevant | y).

    Examples
    --------
    >>> model = TrustBias.vardasbi(eta=1.0, n_ranks=3)
    >>> model.eps_plus.round(2).tolist(), model.eps_minus.round(3).tolist()
    ([0.98, 0.97, 0.96], [0.65, 0.325, 0.217])
    """

    theta: np.ndarray
    eps_plus: np.ndarray
    eps_minus: np.ndarray
    relevance: GradeMapping = _mapping_field("graded")

    def __post_init__(self):
        for name in ("theta", "eps_plus", "eps_minus"):
            object.__setattr__(self, name, _probability_array(getattr(self, name), name))
        if not self.theta.size == self.eps_plus.size == self.eps_minus.size:
            raise ValueError(
                "theta, eps_plus and eps_minus must have one length, got "
                f"{self.theta.size}, {self.eps_plus.size}, {self.eps_minus.size}"
            )
        object.__setattr__(self, "relevance", relevance_mapping(self.relevance))

    @classmethod
    def vardasbi(cls, eta=1.0, n_ranks=50, relevance="graded"):
        """Vardasbi et al. 2020: theta_r = (1/r)^eta, eps_plus_r = 0.98 - (r-1)/100, eps_minus_r = 0.65/r.

        ``n_ranks`` is capped at 99 so that eps_plus stays positive.
        """
        eta = check_nonnegative(eta, "eta")
        n_ranks = check_int(n_ranks, "n_ranks", 1)
        if n_ranks > 99:
            raise ValueError(f"n_ranks must be in 1..99 for the vardasbi preset, got {n_ranks}")
        r = np.arange(1, n_ranks + 1)
        return cls(pbm_theta(n_ranks, eta), 0.98 - (r - 1) / 100.0, 0.65 / r, relevance)

    @classmethod
    def oosterhuis2023(cls, n_ranks=50):
        """Oosterhuis 2023 (r 0-based): theta_r = 0.35/(r+1) + 0.65/(1+0.05r),
        eps_plus_r = 1/(1+0.005r), eps_minus_r = 0.65/(r+1), P(R | y) = 0.25 y."""
        n_ranks = check_int(n_ranks, "n_ranks", 1)
        r = np.arange(n_ranks)
        theta = 0.35 / (r + 1) + 0.65 / (1 + 0.05 * r)
        return cls(theta, 1.0 / (1 + 0.005 * r), 0.65 / (r + 1),
                   GradeMapping(0.25 * np.arange(5), name="oosterhuis2023"))

    def examination_by_rank(self, k):
        """theta_1..theta_k, ndarray of shape (k,)."""
        return _rank_table(self.theta, "theta", k)

    def affine_parameters(self, labels, k):
        """Trust bias is affine: eps_minus_r and slope eps_plus_r - eps_minus_r of P(relevant | y)."""
        theta = np.ascontiguousarray(self.examination_by_rank(k), dtype=np.float64)
        eps_minus = _rank_table(self.eps_minus, "eps_minus", k)
        slope = _rank_table(self.eps_plus, "eps_plus", k) - eps_minus
        relevance = np.ascontiguousarray(self.relevance(_check_labels(labels)), dtype=np.float64)
        return tuple(read_only(a) for a in (theta, np.ascontiguousarray(eps_minus, dtype=np.float64),
                                            np.ascontiguousarray(slope, dtype=np.float64), relevance))

    def _run(self, displayed, labels, first_session, key, marginal, clicks, examination):
        kernels.affine_clicks(displayed, first_session, key, *self.affine_parameters(labels, displayed.shape[1]),
                              clicks, examination)


class _Cascade(ClickModel):
    """Shared driver of the cascade family: subclasses define the continuation probabilities."""

    @abstractmethod
    def _continuation(self, labels):
        """(attractiveness per doc, continue-after-click per doc, continue-after-skip)."""

    def _click_probabilities(self, displayed, labels):
        """Forward recursion: P(C_r) = P(E_r) a(d_r), P(E_{r+1}) = P(E_r) (a cc(d_r) + (1 - a) cs)."""
        attract, after_click, after_skip = self._continuation(labels)
        attract, after_click = np.asarray(attract, dtype=np.float64), np.asarray(after_click, dtype=np.float64)
        out = np.zeros(displayed.shape)
        examined = np.ones(displayed.shape[0])
        for r in range(displayed.shape[1]):
            d = displayed[:, r]
            shown = d >= 0
            rows = np.where(shown, d, 0)
            a = np.where(shown, attract[rows], 0.0)
            out[:, r] = examined * a
            # An empty slot leaves the user's state unchanged (as in the kernel).
            go_on = np.where(shown, a * after_click[rows] + (1.0 - a) * float(after_skip), 1.0)
            examined = examined * go_on
        return out

    def _run(self, displayed, labels, first_session, key, marginal, clicks, examination):
        attract, after_click, after_skip = self._continuation(labels)
        kernels.cascade_clicks(
            displayed, first_session, key, attract, np.ascontiguousarray(after_click, dtype=np.float64),
            float(after_skip), marginal, clicks, examination,
        )


@dataclass(frozen=True)
class CascadeModel(_Cascade):
    """Cascade model (Craswell et al. 2008): scan down, stop after the first click.

    At most one click per session; rank r is examined iff nothing above was
    clicked, so the conditional examination is 1 or 0 and the marginal one is
    prod_{j<r} (1 - alpha(d_j)).

    Examples
    --------
    >>> sim = CascadeModel().simulate([[0, 1, 2]] * 1000, labels=[4, 1, 0], seed=1)
    >>> int(sim.clicks.sum(axis=1).max())
    1
    """

    attractiveness: GradeMapping = _mapping_field("graded")

    def __post_init__(self):
        object.__setattr__(self, "attractiveness", relevance_mapping(self.attractiveness))

    def _continuation(self, labels):
        return self.attractiveness(labels), np.zeros(labels.size), 1.0


@dataclass(frozen=True)
class DCM(_Cascade):
    """Dependent click model (Guo et al. 2009): after a click on a document of grade y
    the user stops with probability ``stop(y)``; without a click the user goes on.

    Presets of Hofmann et al. 2013: ``DCM.preset("navigational")``,
    ``"informational"``, ``"perfect"``, ``"almost_random"``.

    Examples
    --------
    >>> DCM.preset("navigational").stop.probabilities.tolist()
    [0.2, 0.3, 0.5, 0.7, 0.9]
    """

    attractiveness: GradeMapping = _mapping_field("graded")
    stop: GradeMapping = field(default_factory=lambda: GradeMapping([0.2, 0.3, 0.5, 0.7, 0.9]))

    PRESETS = {
        "navigational": ([0.05, 0.3, 0.5, 0.7, 0.95], [0.2, 0.3, 0.5, 0.7, 0.9]),
        "informational": ([0.4, 0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.4, 0.5]),
        "perfect": ([0.0, 0.2, 0.4, 0.8, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]),
        "almost_random": ([0.4, 0.45, 0.5, 0.55, 0.6], [0.5, 0.5, 0.5, 0.5, 0.5]),
    }

    def __post_init__(self):
        object.__setattr__(self, "attractiveness", relevance_mapping(self.attractiveness))
        object.__setattr__(self, "stop", relevance_mapping(self.stop))

    @classmethod
    def preset(cls, name):
        """One of Hofmann et al.'s (click, stop) user types."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown DCM preset {name!r}; choose one of {sorted(cls.PRESETS)}")
        click, stop = cls.PRESETS[name]
        return cls(GradeMapping(click, name=name), GradeMapping(stop, name=name))

    def _continuation(self, labels):
        return self.attractiveness(labels), 1.0 - self.stop(labels), 1.0


@dataclass(frozen=True)
class DBN(_Cascade):
    """Dynamic Bayesian network model (Chapelle and Zhang 2009).

    Examine, click with alpha(y); after a click the user is satisfied with
    probability sigma(y) and stops; otherwise continues with probability
    ``gamma``.  SDBN is ``gamma=1``.

    Parameters
    ----------
    attractiveness : GradeMapping or str, default="graded"
    satisfaction : GradeMapping or array-like, default (2^y - 1) / 15
        sigma(y); the default is ERR's satisfaction probability for grades 0..4.
    gamma : float, default=0.9
        Perseverance: probability of examining the next rank when not satisfied.

    Examples
    --------
    >>> DBN(gamma=1.0).satisfaction.probabilities.round(3).tolist()
    [0.0, 0.067, 0.2, 0.467, 1.0]
    """

    attractiveness: GradeMapping = _mapping_field("graded")
    satisfaction: GradeMapping = field(
        default_factory=lambda: GradeMapping((2.0 ** np.arange(5) - 1) / 15.0, name="err")
    )
    gamma: float = 0.9

    def __post_init__(self):
        object.__setattr__(self, "attractiveness", relevance_mapping(self.attractiveness))
        object.__setattr__(self, "satisfaction", relevance_mapping(self.satisfaction))
        object.__setattr__(self, "gamma", check_probability(self.gamma, "gamma"))

    def _continuation(self, labels):
        return (self.attractiveness(labels), (1.0 - self.satisfaction(labels)) * self.gamma, self.gamma)


@dataclass(frozen=True)
class UBM(ClickModel):
    """User browsing model (Dupret and Piwowarski 2008).

    P(E_r) = gamma[r - 1, dist - 1] with r the 1-based rank and dist = r - r',
    r' the rank of the last click above (0 if none); P(C_r | E_r) = alpha(y).

    Parameters
    ----------
    gamma : array-like, shape (n_ranks, n_ranks) or a ragged lower triangle
        Row r - 1 holds the r probabilities for dist = 1..r; entries above the
        diagonal are ignored.  Default: the 10x10 table shipped with ULTRA.
    eta : float, default=1.0
        The table is raised to ``eta`` (ULTRA's convention); 0 removes the bias.
    attractiveness : GradeMapping or str, default="graded"

    Examples
    --------
    >>> UBM().gamma.shape
    (10, 10)
    """

    gamma: np.ndarray = field(default_factory=lambda: ULTRA_UBM_GAMMA)
    eta: float = 1.0
    attractiveness: GradeMapping = _mapping_field("graded")

    def __post_init__(self):
        if isinstance(self.gamma, (str, bytes)) or not np.iterable(self.gamma):
            raise ValueError(f"gamma must be a table of probabilities, one row per rank, got {describe(self.gamma)}")
        rows = list(self.gamma)
        n = len(rows)
        table = np.zeros((n, n))
        for r, row in enumerate(rows):
            row = check_real_array(row, f"gamma row {r}", "a sequence of probabilities in [0, 1]")
            if row.ndim != 1 or row.size < r + 1:
                raise ValueError(f"gamma row {r} must hold at least {r + 1} probabilities, got {row.size}")
            table[r, : r + 1] = row[: r + 1]
        lower = np.tril(np.ones((n, n), dtype=bool))
        bad = lower & (~np.isfinite(table) | (table < 0) | (table > 1))
        if n == 0 or bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0]) if n else ()
            raise ValueError(f"gamma must be a non-empty table of probabilities in [0, 1]; bad entry at {where}")
        object.__setattr__(self, "eta", check_nonnegative(self.eta, "eta"))
        table = np.where(lower, table**self.eta, 0.0)
        table.flags.writeable = False
        object.__setattr__(self, "gamma", table)
        object.__setattr__(self, "attractiveness", relevance_mapping(self.attractiveness))

    def _click_probabilities(self, displayed, labels):
        """Recursion over the rank of the last click: state[:, j + 1] = P(last click above r is at j)."""
        n, k = displayed.shape
        if k > self.gamma.shape[0]:
            raise ValueError(f"gamma defines {self.gamma.shape[0]} ranks but the lists show k={k}")
        attract = np.asarray(self.attractiveness(labels), dtype=np.float64)
        out = np.zeros((n, k))
        state = np.zeros((n, k + 1))
        state[:, 0] = 1.0
        for r in range(k):
            d = displayed[:, r]
            shown = d >= 0
            a = np.where(shown, attract[np.where(shown, d, 0)], 0.0)
            # gamma[r, r - j - 1] for j = -1..r-1 (state columns 0..r)
            g = self.gamma[r, r - np.arange(-1, r) - 1]
            examined = state[:, : r + 1] * g
            p_click = examined.sum(axis=1) * a
            out[:, r] = p_click
            state[:, : r + 1] -= examined * a[:, None]
            state[:, r + 1] = p_click
        return out

    def _run(self, displayed, labels, first_session, key, marginal, clicks, examination):
        k = displayed.shape[1]
        if k > self.gamma.shape[0]:
            raise ValueError(f"gamma defines {self.gamma.shape[0]} ranks but the sessions show k={k}")
        kernels.ubm_clicks(
            displayed, first_session, key, read_only(np.ascontiguousarray(self.gamma[:k, :k])),
            self.attractiveness(labels), marginal, clicks, examination,
        )


@dataclass(frozen=True)
class ClickModelSpec:
    """One entry of the click-model registry: how a name is built and what it accepts.

    Attributes
    ----------
    name : str
    factory : callable
        ``factory(**params)`` returns the model.
    parameters : tuple of str
        The keyword parameters the factory accepts (all optional: the
        preset's values of ../shared/REFERENCE.md are the defaults).
    description : str
    """

    name: str
    factory: Callable
    parameters: tuple
    description: str


def _dcm(name):
    return lambda: DCM.preset(name)


def _sdbn(attractiveness="graded", satisfaction=None):
    return DBN(attractiveness, DBN().satisfaction if satisfaction is None else satisfaction, gamma=1.0)


_SPECS = (
    ClickModelSpec("pbm", lambda eta=1.0, attractiveness="graded": PBM(eta=eta, attractiveness=attractiveness),
                   ("eta", "attractiveness"), "position-based model, theta_r = (1/r)^eta"),
    ClickModelSpec("pbm_eye_tracking",
                   lambda eta=1.0, attractiveness="graded": PBM(eta=eta, theta=EYE_TRACKING_THETA,
                                                                attractiveness=attractiveness),
                   ("eta", "attractiveness"), "PBM with the eye-tracking curve of Joachims et al., raised to eta"),
    ClickModelSpec("trust_vardasbi", TrustBias.vardasbi, ("eta", "n_ranks", "relevance"),
                   "trust bias of Vardasbi et al. 2020"),
    ClickModelSpec("trust_oosterhuis2023", TrustBias.oosterhuis2023, ("n_ranks",),
                   "trust bias of Oosterhuis 2023"),
    ClickModelSpec("cascade", CascadeModel, ("attractiveness",), "cascade model: stop at the first click"),
    ClickModelSpec("dcm_navigational", _dcm("navigational"), (), "DCM of Hofmann et al., navigational"),
    ClickModelSpec("dcm_informational", _dcm("informational"), (), "DCM of Hofmann et al., informational"),
    ClickModelSpec("dcm_perfect", _dcm("perfect"), (), "DCM of Hofmann et al., perfect"),
    ClickModelSpec("dcm_almost_random", _dcm("almost_random"), (), "DCM of Hofmann et al., almost random"),
    ClickModelSpec("dbn", DBN, ("attractiveness", "satisfaction", "gamma"),
                   "dynamic Bayesian network, gamma 0.9, ERR satisfaction"),
    ClickModelSpec("sdbn", _sdbn, ("attractiveness", "satisfaction"), "simplified DBN (gamma 1)"),
    ClickModelSpec("ubm", UBM, ("gamma", "eta", "attractiveness"), "user browsing model, ULTRA's table"),
)

#: The click-model registry: name -> :class:`ClickModelSpec` (read-only).
CLICK_MODELS = MappingProxyType({spec.name: spec for spec in _SPECS})

#: Name -> factory of every registered model (the registry's factories).
CLICK_MODEL_PRESETS = MappingProxyType({spec.name: spec.factory for spec in _SPECS})


def click_model(name, **params):
    """Build a click model from a preset name of ../shared/REFERENCE.md.

    Parameters
    ----------
    name : str
        One of :data:`CLICK_MODELS`.
    **params
        Overrides passed to the preset (e.g. ``eta=2.0`` for ``pbm``).

    Examples
    --------
    >>> click_model("pbm", eta=0.5).eta
    0.5
    >>> sorted(CLICK_MODELS)[:3]
    ['cascade', 'dbn', 'dcm_almost_random']
    >>> click_model("cascade", eta=2.0)
    Traceback (most recent call last):
    ...
    ValueError: click model 'cascade' takes no parameter 'eta'; it accepts: attractiveness
    """
    try:
        spec = CLICK_MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown click model {name!r}; choose one of {sorted(CLICK_MODELS)}") from None
    for param in params:
        if param not in spec.parameters:
            accepted = ", ".join(spec.parameters) if spec.parameters else "nothing (a fixed preset)"
            raise ValueError(f"click model {name!r} takes no parameter {param!r}; it accepts: {accepted}")
    return spec.factory(**params)
