"""Numba kernel of the position tower's likelihood gradients (ltr._tower).

The sigmoid of the rows' logits is computed by the caller with NumPy (its
``exp`` is NumPy's, so the floats are those of the NumPy expressions this
kernel replaces); the rest is one parallel pass over the rows, each row's
cells summed in cell order with the same operations in the same order as the
array expressions, so gradient and Hessian are bitwise those of the NumPy
form for any number of threads (tested).
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def tower_row_sums(s, theta, row_ptr, imp, clk, grad, hess):
    """grad[d], hess[d] = the sums of the gradient and expected Hessian in z over the cells of row d.

    ``s`` = sigmoid(z) per row, ``theta`` the examination per cell, the cells
    of row d are ``row_ptr[d]:row_ptr[d + 1]``; the Hessian is floored at
    1e-12 (NaN kept), a row without cells gets gradient 0.
    """
    for d in prange(grad.size):
        g = 0.0
        h = 0.0
        sd = s[d]
        for c in range(row_ptr[d], row_ptr[d + 1]):
            ts = theta[c] * sd
            if ts < 1e-12:
                ts = 1e-12
            elif ts > 1 - 1e-12:
                ts = 1 - 1e-12
            ratio = (1.0 - sd) / (1.0 - ts)
            g += (imp[c] - clk[c]) * ts * ratio - clk[c] * (1.0 - sd)
            h += imp[c] * ts * (1.0 - sd) * ratio
        grad[d] = g
        if not h >= 1e-12:  # np.maximum(hess, 1e-12), NaN kept
            if h == h:
                h = 1e-12
        hess[d] = h
