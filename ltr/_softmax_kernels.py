"""Numba kernel of the listwise softmax loss's gradients (ltr._relevance_model).

The caller computes, with NumPy, everything whose float result depends on
the implementation: the exponentials (NumPy's ``exp``) and the per-group sums
(``np.add.reduceat``'s summation order).  What is left is elementwise, one
group per parallel task, with the operations of the NumPy expressions it
replaces in their order (IEEE addition, multiplication and division round
the same in both), so gradient and Hessian are bitwise those of the NumPy
form for any number of threads (tested).
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def softmax_gradients(e, e_sum, wy, wy_sum, wy_abs_sum, floor, starts, sizes, grad, hess):
    """Gradient ``Y p - w y`` and Hessian ``max(|Y| p (1 - p), 1e-12)`` of each row, written to grad and hess.

    Per group g (rows ``starts[g]`` to ``starts[g] + sizes[g]``): ``p = e /
    e_sum[g]``, ``Y = wy_sum[g]``, ``|Y| = wy_abs_sum[g]``; the curvature
    ``p (1 - p)`` is raised to ``floor[g]`` where that is > 0 (groups with a
    negative target).
    """
    for g in prange(starts.size):
        for i in range(starts[g], starts[g] + sizes[g]):
            p = e[i] / e_sum[g]
            grad[i] = wy_sum[g] * p - wy[i]
            curvature = p * (1.0 - p)
            if floor[g] > 0 and not curvature >= floor[g]:  # np.maximum: a NaN curvature stays NaN
                if curvature == curvature:
                    curvature = floor[g]
            h = wy_abs_sum[g] * curvature
            hess[i] = h if (h >= 1e-12 or h != h) else 1e-12
