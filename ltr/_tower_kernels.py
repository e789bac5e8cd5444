"""Numba kernel of the position tower's likelihood gradients (ltr._tower).

The sigmoid of the cells' logits is computed by the caller with NumPy (its
``exp`` is NumPy's, so the floats are those of the NumPy expressions this
kernel replaces); the rest is one pass over the cells, in cell order, with
the same operations in the same order as the array expressions, so gradient
and Hessian are bitwise those of the NumPy form (tested).
"""

from numba import njit


@njit(cache=True)
def tower_cell_sums(s, theta, row, imp, clk, n_rows, grad, hess):
    """grad[d], hess[d] += each cell's gradient and expected Hessian in z, for the cells of row d.

    ``s`` = sigmoid(z[row]) per cell, ``theta`` the examination per cell;
    ``grad`` and ``hess`` are zeroed here.
    """
    for d in range(n_rows):
        grad[d] = 0.0
        hess[d] = 0.0
    for c in range(s.size):
        ts = theta[c] * s[c]
        if ts < 1e-12:
            ts = 1e-12
        elif ts > 1 - 1e-12:
            ts = 1 - 1e-12
        ratio = (1.0 - s[c]) / (1.0 - ts)
        grad[row[c]] += (imp[c] - clk[c]) * ts * ratio - clk[c] * (1.0 - s[c])
        hess[row[c]] += imp[c] * ts * (1.0 - s[c]) * ratio
    for d in range(n_rows):
        if not hess[d] >= 1e-12:  # np.maximum(hess, 1e-12), NaN kept
            if hess[d] == hess[d]:
                hess[d] = 1e-12
