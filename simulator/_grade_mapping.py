"""Relevance-to-click mappings: a probability for every relevance grade."""

from dataclasses import dataclass

import numpy as np

from .validation import check_real_array

__all__ = ["GradeMapping", "RELEVANCE_MAPPINGS", "relevance_mapping"]


def _probability_array(values, name):
    """Validate a 1-D array of probabilities and return it as a read-only float64 copy."""
    arr = check_real_array(values, name, "a non-empty 1-D sequence of probabilities in [0, 1]")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {float(arr[i])} at index {i}")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class GradeMapping:
    """A probability for each relevance grade 0..max_grade.

    Used for P(click | examined, y) (the attractiveness of a document of grade
    y), for the stop probability of DCM, the satisfaction of DBN and P(relevant
    | y) of the trust-bias model.

    Parameters
    ----------
    probabilities : array-like of shape (max_grade + 1,)
        ``probabilities[y]`` for grade y; every value in [0, 1].
    name : str, default="custom"
        Label used in reprs and configs.

    Examples
    --------
    >>> m = GradeMapping.graded()
    >>> m.probabilities.round(2).tolist()
    [0.1, 0.16, 0.28, 0.52, 1.0]
    >>> m(np.array([0, 4, 2])).round(2).tolist()
    [0.1, 1.0, 0.28]
    """

    probabilities: np.ndarray
    name: str = "custom"

    def __post_init__(self):
        object.__setattr__(self, "probabilities", _probability_array(self.probabilities, f"the {self.name!r} grade mapping"))

    @property
    def max_grade(self):
        """Largest grade the mapping defines."""
        return self.probabilities.size - 1

    def __call__(self, labels):
        """Probability of each label.

        Parameters
        ----------
        labels : array-like of int, shape (n_docs,)
            Relevance grades in 0..max_grade.

        Returns
        -------
        ndarray of shape (n_docs,), float64
        """
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() > self.max_grade):
            raise ValueError(
                f"labels must lie in 0..{self.max_grade} for the {self.name!r} mapping, "
                f"got range {labels.min()}..{labels.max()}"
            )
        return self.probabilities[labels]

    def __eq__(self, other):
        return (
            isinstance(other, GradeMapping)
            and self.name == other.name
            and np.array_equal(self.probabilities, other.probabilities)
        )

    def __hash__(self):
        return hash((self.name, self.probabilities.tobytes()))

    def __repr__(self):
        return f"GradeMapping({self.probabilities.tolist()}, name={self.name!r})"

    @classmethod
    def graded(cls, eps_minus=0.1, eps_plus=1.0, max_grade=4):
        """ERR-style mapping eps_minus + (eps_plus - eps_minus) (2^y - 1) / (2^max_grade - 1).

        The default (0.1, 1.0, 4) gives [0.10, 0.16, 0.28, 0.52, 1.00] (ULTRA,
        Ai et al. 2018); ``eps_minus`` is the noise-click probability of an
        irrelevant document.
        """
        if not 0.0 <= eps_minus <= eps_plus <= 1.0:
            raise ValueError(
                f"graded mapping needs 0 <= eps_minus <= eps_plus <= 1, got eps_minus={eps_minus}, "
                f"eps_plus={eps_plus}"
            )
        if int(max_grade) != max_grade or max_grade < 1:
            raise ValueError(f"max_grade must be an integer >= 1, got {max_grade}")
        y = np.arange(int(max_grade) + 1)
        gain = (2.0**y - 1.0) / (2.0**max_grade - 1.0)
        return cls(eps_minus + (eps_plus - eps_minus) * gain, name="graded")

    @classmethod
    def binarized(cls):
        """0.1 for y <= 2, 1.0 for y >= 3 (Joachims et al. 2017)."""
        return cls([0.1, 0.1, 0.1, 1.0, 1.0], name="binarized")

    @classmethod
    def linear(cls):
        """0.1 + 0.225 y (Oosterhuis and de Rijke 2020)."""
        return cls(0.1 + 0.225 * np.arange(5), name="linear")

    @classmethod
    def perfect(cls):
        """[0.0, 0.2, 0.4, 0.8, 1.0] (Hofmann et al. 2013)."""
        return cls([0.0, 0.2, 0.4, 0.8, 1.0], name="perfect")

    @classmethod
    def near_random(cls):
        """[0.40, 0.45, 0.50, 0.55, 0.60] (Hofmann et al. 2013)."""
        return cls([0.40, 0.45, 0.50, 0.55, 0.60], name="near_random")


RELEVANCE_MAPPINGS = {
    "graded": GradeMapping.graded,
    "binarized": GradeMapping.binarized,
    "linear": GradeMapping.linear,
    "perfect": GradeMapping.perfect,
    "near_random": GradeMapping.near_random,
}


def relevance_mapping(spec):
    """Build a mapping from a preset name, a probability table, or a mapping.

    Parameters
    ----------
    spec : str, GradeMapping or array-like
        One of ``graded``, ``binarized``, ``linear``, ``perfect``,
        ``near_random``; or a custom table of probabilities per grade.

    Examples
    --------
    >>> relevance_mapping("perfect").probabilities.tolist()
    [0.0, 0.2, 0.4, 0.8, 1.0]
    >>> relevance_mapping([0.2, 0.9]).name
    'custom'
    """
    if isinstance(spec, GradeMapping):
        return spec
    if isinstance(spec, str):
        try:
            return RELEVANCE_MAPPINGS[spec]()
        except KeyError:
            raise ValueError(
                f"unknown relevance mapping {spec!r}; choose one of {sorted(RELEVANCE_MAPPINGS)} "
                "or give a table of probabilities"
            ) from None
    return GradeMapping(spec)
