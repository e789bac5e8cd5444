"""Public low-level building blocks for the Numba kernels of other packages.

The logging policies fuse ranking, clicks and counting in one kernel per
block (``policies``); they draw from the simulator's counter-based random
numbers and click with its affine click draw, so that a fused path gives the
same clicks as the simulator's own kernels.  These are the only internals
shared across packages, and this module is their one public door:

- :func:`derive_key`: a 64-bit key from a seed (``SeedSequence`` entropy);
- :func:`mix64`: the splitmix64 finaliser;
- :func:`session_key`, :func:`uniform`: draw ``c`` of global session ``s`` is
  ``uniform(session_key(key, s), c)``, the same for any thread count or
  block split;
- :func:`affine_click`: one impression of the affine click model
  P(click) = theta_r (eps_minus_r + slope_r R_d) (PBM and trust bias).

Examples
--------
>>> from simulator.kernels import derive_key, session_key, uniform
>>> key = derive_key(7)
>>> 0.0 <= uniform(session_key(key, 0), 0) < 1.0
True
"""

from ._click_kernels import affine_click
from ._rng import derive_key, mix64, session_key, uniform

__all__ = ["affine_click", "derive_key", "mix64", "session_key", "uniform"]
