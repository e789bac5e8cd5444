"""Counter-based random numbers for the numba kernels.

Every uniform draw of the simulator is a pure function of a 64-bit key (derived
from the user's seed), the global index of the session and a per-session counter
(the rank, and which decision at that rank).  No generator state is carried
between sessions, so the result does not depend on how sessions are split into
blocks, on the number of numba threads, or on whether the compiled kernel or its
``.py_func`` runs.

The mixing function is the finaliser of splitmix64 (Steele, Lea and Flood 2014),
a bijection on 64-bit integers with full avalanche; a Weyl sequence with the
golden-ratio increment feeds it.
"""

import numpy as np
from numba import njit

__all__ = ["derive_key", "mix64", "session_key", "uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def mix64(z):
    """Splitmix64 finaliser: a bijective 64-bit hash with full avalanche."""
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def session_key(key, session):
    """Key of one session: a hash of the run key and the global session index."""
    return mix64(key + (np.uint64(session) + _ONE) * _GOLDEN)


@njit(cache=True, inline="always")
def uniform(skey, counter):
    """Uniform draw in [0, 1) with 53 random bits, for draw ``counter`` of a session."""
    return (mix64(skey + (np.uint64(counter) + _ONE) * _GOLDEN) >> _S11) * _TO_UNIT


def derive_key(seed, *path):
    """Derive the 64-bit kernel key of a seed and an optional path of integers.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence
        The user's seed.  A ``SeedSequence`` is used as given (its own spawn key
        included); an int must be non-negative.
    *path : int
        Extra non-negative integers appended to the spawn key, so that, e.g.,
        ``derive_key(seed, round, variant)`` gives independent streams.

    Returns
    -------
    numpy.uint64

    Examples
    --------
    >>> bool(derive_key(0) == derive_key(0))
    True
    >>> bool(derive_key(0) != derive_key(0, 1))
    True
    """
    if isinstance(seed, np.random.SeedSequence):
        seq = np.random.SeedSequence(
            seed.entropy, spawn_key=tuple(seed.spawn_key) + tuple(path)
        )
    else:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be a non-negative int or a SeedSequence, got {seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        seq = np.random.SeedSequence(int(seed), spawn_key=tuple(int(p) for p in path))
    return seq.generate_state(1, dtype=np.uint64)[0]
