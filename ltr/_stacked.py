"""Features of documents as two column blocks, stacked only where they are read.

The feedback loop serves its rankers the data set's features plus a few
engagement columns computed from the history (CTR and the like).  Stacking
them into one array copies every document's features once per prediction;
:class:`StackedFeatures` keeps the blocks apart: a learner reads the rows it
trains on (``stacked[rows]``), and the tree walk of
:class:`ltr.RelevanceModel` reads both blocks in place.
"""

import numpy as np

__all__ = ["StackedFeatures"]


class StackedFeatures:
    """``np.hstack([base, extra])``, read-only, whose rows are stacked when they are read.

    Parameters
    ----------
    base : ndarray of shape (n_rows, n_base)
        The documents' own features (float32 or float64).
    extra : ndarray of shape (n_rows, n_extra) or (n_extra,)
        The added columns, stored as float32; a 1-D row is the same for
        every document (the engagement row of documents never shown).

    Attributes
    ----------
    shape : tuple of int
        (n_rows, n_base + n_extra).
    dtype : numpy.dtype
        float32 (what ``np.hstack`` of float32 blocks gives; float64 if
        ``base`` is float64).

    Notes
    -----
    ``stacked[rows]`` and ``np.asarray(stacked)`` equal the same rows of
    ``np.hstack([base, extra])`` (the same values); anything that needs an
    array may convert it so.

    Examples
    --------
    >>> import numpy as np
    >>> from ltr import StackedFeatures
    >>> stacked = StackedFeatures(np.arange(6, dtype=np.float32).reshape(3, 2), np.array([9.0]))
    >>> stacked.shape, stacked[[0, 2]].tolist()
    ((3, 3), [[0.0, 1.0, 9.0], [4.0, 5.0, 9.0]])
    """

    ndim = 2

    def __init__(self, base, extra):
        base = np.asarray(base)
        extra = np.asarray(extra, dtype=np.float32)
        if base.ndim != 2 or extra.ndim not in (1, 2) or (extra.ndim == 2 and extra.shape[0] != base.shape[0]):
            raise ValueError(f"base must be (n_rows, n_base) and extra (n_rows, n_extra) or (n_extra,), "
                             f"got {base.shape} and {extra.shape}")
        self.base, self.shared_row = base, extra.ndim == 1
        self.extra = extra[None, :] if self.shared_row else extra
        self.shape = (base.shape[0], base.shape[1] + self.extra.shape[1])
        self.dtype = np.result_type(base.dtype, np.float32)

    def astype(self, dtype, copy=True):
        """The same blocks with ``base`` as ``dtype`` (``extra`` stays float32); ``copy`` as ``ndarray.astype``."""
        return StackedFeatures(self.base.astype(dtype, copy=copy), self.extra[0] if self.shared_row else self.extra)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, tuple):  # rows first, then the rest of the index on them
            return self[index[0]][(slice(None),) + index[1:]]
        base = self.base[index]
        if not self.shared_row:
            return np.hstack([base, self.extra[index]])
        if base.ndim == 1:  # one row
            return np.hstack([base, self.extra[0]])
        return np.hstack([base, np.broadcast_to(self.extra, (base.shape[0], self.extra.shape[1]))])

    def __array__(self, dtype=None, copy=None):
        stacked = self[:]
        return stacked if dtype is None else stacked.astype(dtype, copy=False)
