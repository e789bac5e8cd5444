"""The relevance model f(x) that every learner fits: LightGBM or linear, with a choice of proxy loss.

Losses (targets are reals, one per row, of either sign; integers for ``lambdarank``):

- ``"logistic"``: pointwise cross-entropy -y log s(f) - (1 - y) log(1 - s(f)),
  s the sigmoid.  Its second derivative is s(1 - s) whatever y, so IPS
  targets above 1 (or affine-corrected ones below 0) keep it convex.
- ``"squared"``: pointwise squared error (Gaussian likelihood) (f - y)^2.
- ``"softmax"``: listwise softmax cross-entropy within each group,
  -sum_i y_i log softmax(f)_i: documents of a query compete for probability
  mass (the multinomial likelihood of Liang et al. 2018).  Its gradient
  Y p_i - y_i (Y the group's sum of targets) is linear in the targets, so
  unbiased signed targets (affine trust-bias corrections, doubly robust
  estimates) give an unbiased gradient: they are used as they are, never
  clipped at 0.  A negative target makes the loss unbounded below (its
  document is pushed to -inf), so the curvature used for the Newton steps of
  LightGBM is that of the absolute targets, sum_j |w_j y_j| p_i (1 - p_i),
  with p_i (1 - p_i) floored at its value under the uniform softmax in
  groups that hold a negative target, which bounds every step (on noisy
  signed targets without the floor the scores drifted apart by ~45 in 100
  rounds; ``tests/ltr/test_relevance_model.py``); for non-negative targets
  the curvature is the exact one.  The linear backend is kept bounded by its
  L2 penalty (the loss grows at most linearly in the coefficients).
- ``"lambdarank"`` (LightGBM only, integer labels): LambdaMART, for the
  full-information references.
- an object with ``gradients(f) -> (gradient, hessian)`` and
  ``value(f) -> float`` of the row scores f (offset included): any other
  likelihood, e.g. the position tower's.

Every row can carry a weight (impressions, or a query weight).
"""

import numpy as np
from sklearn.base import BaseEstimator

from ._stacked import StackedFeatures

__all__ = ["LOSSES", "BinnedFeatures", "RelevanceModel"]

LOSSES = ("logistic", "squared", "softmax", "lambdarank")


def task_threads(num_threads):
    """Threads of a LightGBM fit or prediction: the cores this task owns, at least ``num_threads``.

    A task's core budget is Numba's thread count in its process (the
    executors set it: every core for a task alone, one each for two workers
    on two cores).  The results do not depend on it: prediction is
    row-independent, and LightGBM's deterministic histograms give the same
    trees for any thread count (tested for every learner kind:
    tests/clickloop/test_cli.py runs the smoke preset on one and on every
    core and compares the metrics).
    """
    import numba

    return max(int(num_threads), int(numba.get_num_threads()))


def _segment_softmax(f, starts, sizes):
    """Softmax of f within each group (groups are contiguous rows)."""
    group = np.repeat(np.arange(sizes.size), sizes)
    shifted = f - np.maximum.reduceat(f, starts)[group]
    e = np.exp(shifted)
    return e / np.add.reduceat(e, starts)[group], group


def _gradients(loss, f, y, w, starts, sizes):
    """Gradient and (diagonal) Hessian of the weighted loss at scores f."""
    if not isinstance(loss, str):
        return loss.gradients(f)
    if loss == "logistic":
        p = 1.0 / (1.0 + np.exp(-f))
        return w * (p - y), np.maximum(w * p * (1.0 - p), 1e-12)
    if loss == "squared":
        return w * (f - y), w.copy()
    # softmax: with Y = sum of targets of the group, grad_i = Y p_i - y_i (linear in y); the
    # curvature of the absolute targets keeps the Newton steps bounded for signed targets.
    from ._softmax_kernels import softmax_gradients

    e = np.exp(f - np.repeat(np.maximum.reduceat(f, starts), sizes))
    wy = w * y
    # Groups with a negative target: floor the curvature at that of the uniform softmax (> 0 only there),
    # or a row pushed towards -inf (p -> 0, gradient -> |y|) takes ever larger steps.
    floor = np.where(np.minimum.reduceat(y, starts) < 0, (1.0 - 1.0 / sizes) / sizes, 0.0)
    grad, hess = np.empty_like(f), np.empty_like(f)
    softmax_gradients(e, np.add.reduceat(e, starts), wy, np.add.reduceat(wy, starts),
                      np.add.reduceat(np.abs(wy), starts), floor, starts, sizes, grad, hess)
    return grad, hess


def _loss_value(loss, f, y, w, starts, sizes):
    if not isinstance(loss, str):
        return float(loss.value(f))
    if loss == "logistic":
        return float(np.sum(w * (y * np.logaddexp(0, -f) + (1 - y) * np.logaddexp(0, f))))
    if loss == "squared":
        return float(0.5 * np.sum(w * (f - y) ** 2))
    p, _ = _segment_softmax(f, starts, sizes)
    return float(-np.sum(w * y * np.log(np.maximum(p, 1e-300))))


class BinnedFeatures:
    """Features binned once by LightGBM, for several fits on the same rows.

    Made by :meth:`RelevanceModel.bin_features`; pass it as ``binned`` to
    :meth:`RelevanceModel.fit` of a model with the same settings.  Binning
    (quantile sketch and bin assignment of every row) costs about as much as
    50 trees on 10^5 rows, so learners that refit f many times on the same
    rows (the position tower) bin once.  The fits are identical to fits on
    the raw features.

    Attributes
    ----------
    shape : tuple of int
        (n_rows, n_features) of the binned features.
    """

    def __init__(self, dataset, shape, params):
        self.dataset, self.shape, self.params = dataset, shape, params


class RelevanceModel(BaseEstimator):
    """A relevance model fitted to per-row targets under a chosen proxy loss.

    Parameters
    ----------
    backend : {"lightgbm", "linear"}, default="lightgbm"
    loss : {"logistic", "squared", "softmax", "lambdarank"}, default="logistic"
    n_estimators : int, default=100
        Boosting rounds (LightGBM).
    learning_rate : float, default=0.1
    num_leaves : int, default=31
    min_child_samples : int, default=20
    l2 : float, default=1e-3
        L2 penalty of the linear model (on standardised features, per unit of weight).
    num_threads : int, default=1
        LightGBM threads; set it explicitly on small machines (parallel fits oversubscribe).
    seed : int, default=0

    Attributes
    ----------
    train_scores_ : ndarray of shape (n_rows,) or None
        f(x) of the training rows at the end of the fit, offset excluded (none
        for ``lambdarank``): what ``predict`` would return on them, without a
        second pass over the trees.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> y = (X[:, 0] > 0).astype(float)
    >>> model = RelevanceModel(backend="linear", loss="logistic").fit(X, y)
    >>> float(np.corrcoef(model.predict(X), X[:, 0])[0, 1]) > 0.99
    True
    """

    def __init__(self, backend="lightgbm", loss="logistic", n_estimators=100, learning_rate=0.1,
                 num_leaves=31, min_child_samples=20, l2=1e-3, num_threads=1, seed=0):
        self.backend = backend
        self.loss = loss
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.l2 = l2
        self.num_threads = num_threads
        self.seed = seed

    def _validate(self):
        if self.backend not in ("lightgbm", "linear"):
            raise ValueError(f"backend must be 'lightgbm' or 'linear', got {self.backend!r}")
        if hasattr(self.loss, "gradients") and hasattr(self.loss, "value"):
            pass
        elif self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "lambdarank" and self.backend != "lightgbm":
            raise ValueError("loss='lambdarank' needs backend='lightgbm'")
        for name in ("n_estimators", "num_leaves", "min_child_samples", "num_threads"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2!r}")

    def _lightgbm_params(self):
        return {
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "num_threads": task_threads(self.num_threads),
            "seed": self.seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }

    def bin_features(self, X):
        """Bin the features once for several :meth:`fit` calls on the same rows (LightGBM backend).

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)

        Returns
        -------
        BinnedFeatures or None
            None for the linear backend (nothing to bin).
        """
        self._validate()
        if self.backend != "lightgbm":
            return None
        import lightgbm as lgb

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be (n_rows, n_features) with n_rows >= 1, got {X.shape}")
        params = self._lightgbm_params()
        dataset = lgb.Dataset(X, np.zeros(X.shape[0]), params=params).construct()
        return BinnedFeatures(dataset, X.shape, params)

    def fit(self, X, y, sample_weight=None, group_sizes=None, offset=None, binned=None):
        """Fit to targets ``y`` with optional row weights and groups.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
        y : ndarray of shape (n_rows,)
            Targets; need not lie in [0, 1] for ``logistic``; of either sign for
            ``softmax``, ``logistic`` and ``squared``; integers >= 0 for ``lambdarank``.
        sample_weight : ndarray of shape (n_rows,), optional
        group_sizes : ndarray of int, optional
            Sizes of consecutive groups (queries); required by ``softmax`` and ``lambdarank``.
        offset : ndarray of shape (n_rows,), optional
            Fixed per-row addition to the score during training only (e.g.
            per-query intercepts); :meth:`predict` returns f(x) without it.
        binned : BinnedFeatures, optional
            ``X`` binned by :meth:`bin_features` of a model with the same
            settings; skips the binning (not for ``lambdarank``).

        Returns
        -------
        self
        """
        self._validate()
        X = np.asarray(X, dtype=np.float64 if self.backend == "linear" else np.float32)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"X must be (n_rows, n_features) and y (n_rows,), got {X.shape} and {y.shape}")
        if X.shape[0] == 0:
            raise ValueError("cannot fit a relevance model on zero rows (no document was shown?)")
        if not np.all(np.isfinite(y)):
            raise ValueError("targets y must be finite")
        if self.loss == "lambdarank" and y.min() < 0:
            raise ValueError(f"loss={self.loss!r} needs targets y >= 0, got {y.min()}")
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or w.min() < 0:
            raise ValueError("sample_weight must be finite, >= 0 and of the shape of y")
        if self.loss in ("softmax", "lambdarank"):
            if group_sizes is None:
                raise ValueError(f"loss={self.loss!r} needs group_sizes")
            sizes = np.asarray(group_sizes, dtype=np.int64)
            if sizes.min() < 1 or sizes.sum() != y.size:
                raise ValueError("group_sizes must be positive and sum to the number of rows")
        else:
            sizes = np.array([y.size], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        offset = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)
        if offset.shape != y.shape or not np.all(np.isfinite(offset)):
            raise ValueError("offset must be finite and of the shape of y")
        if self.loss == "lambdarank" and np.any(offset != 0):
            raise ValueError("loss='lambdarank' takes no offset")
        if binned is not None:
            if self.backend != "lightgbm" or self.loss == "lambdarank":
                raise ValueError("binned features serve the LightGBM backend with a loss other than lambdarank")
            if binned.shape != X.shape or binned.params != self._lightgbm_params():
                raise ValueError(f"binned features were made for shape {binned.shape} and other settings "
                                 f"than this fit on {X.shape}")
        self.n_features_in_ = X.shape[1]
        if self.backend == "lightgbm":
            self._fit_lightgbm(X, y, w, sizes, starts, offset, binned)
        else:
            self._fit_linear(X, y, w, sizes, starts, offset)
        return self

    def _fit_lightgbm(self, X, y, w, sizes, starts, offset, binned):
        import lightgbm as lgb

        params = self._lightgbm_params()
        callbacks = []
        self.train_scores_ = None
        self.trees_ = None  # compiled from the new booster at the first predict
        if self.loss == "lambdarank":
            if not np.all(y == np.round(y)) or y.max() > 30:
                raise ValueError("lambdarank needs integer labels in 0..30")
            params["objective"] = "lambdarank"
            data = lgb.Dataset(X, y.astype(np.int32), weight=w, group=sizes)
            self.init_score_ = 0.0
        else:
            loss = self.loss

            def objective(preds, _data):
                return _gradients(loss, preds, y, w, starts, sizes)

            params["objective"] = objective
            # Start from the best constant so that early trees model differences, not the mean.
            self.init_score_ = self._constant(y, w)
            if binned is None:
                data = lgb.Dataset(X, y, init_score=self.init_score_ + offset)
            else:
                data = binned.dataset
                data.set_init_score(self.init_score_ + offset)
            callbacks.append(self._record_train_scores(offset))
        try:
            self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators), callbacks=callbacks)
        except lgb.basic.LightGBMError as exc:
            if "num_features()" not in str(exc):
                raise
            raise ValueError(f"cannot fit on {len(X)} rows: LightGBM keeps no feature it could split with "
                             f"min_child_samples = {self.min_child_samples} rows on each side; too few sessions "
                             f"or shown documents to learn from") from None
        if binned is None:  # the booster would keep its binned training rows alive as long as the model
            self.booster_.free_dataset()
        self.coef_ = None

    def _record_train_scores(self, offset):
        """Callback: after the last round, keep the booster's own training scores minus the offset."""

        def keep(scores, _data):
            self.train_scores_ = scores - offset
            return "train_scores", 0.0, False

        def callback(env):
            if env.iteration == env.end_iteration - 1:
                env.model.eval_train(feval=keep)

        return callback

    def _constant(self, y, w):
        if not isinstance(self.loss, str):
            return 0.0
        mean = float(np.sum(w * y) / max(np.sum(w), 1e-300))
        if self.loss == "logistic":
            m = min(max(mean, 1e-6), 1 - 1e-6)
            return float(np.log(m / (1 - m)))
        return mean if self.loss == "squared" else 0.0

    def _fit_linear(self, X, y, w, sizes, starts, offset):
        from scipy.optimize import minimize

        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        Z = (X - self.mean_) / self.scale_
        Z1 = np.hstack([Z, np.ones((Z.shape[0], 1))])
        penalty = self.l2 * float(np.sum(w))
        loss = self.loss

        # einsum, not ``@``: BLAS splits long sums across its threads, so fits would
        # depend on the BLAS thread count in the last bits (Dask workers run one).
        def objective(beta):
            f = np.einsum("ij,j->i", Z1, beta) + offset
            grad_f, _ = _gradients(loss, f, y, w, starts, sizes)
            value = _loss_value(loss, f, y, w, starts, sizes) + 0.5 * penalty * np.sum(beta[:-1] ** 2)
            grad = np.einsum("ij,i->j", Z1, grad_f)
            grad[:-1] += penalty * beta[:-1]
            return value, grad

        beta0 = np.zeros(Z1.shape[1])
        beta0[-1] = self._constant(y, w)
        result = minimize(objective, beta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.coef_ = result.x[:-1] / self.scale_
        self.intercept_ = float(result.x[-1] - np.sum(self.coef_ * self.mean_))
        self.train_scores_ = np.einsum("ij,j->i", Z1, result.x)
        self.booster_ = None
        self.init_score_ = 0.0

    def predict(self, X):
        """Relevance scores f(x), ndarray of shape (n_rows,) (logits for ``logistic``)."""
        if not hasattr(self, "n_features_in_"):
            raise ValueError("this RelevanceModel is not fitted yet; call fit first")
        stacked = isinstance(X, StackedFeatures)
        if not stacked:
            X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_rows, {self.n_features_in_}), got {X.shape}")
        if self.booster_ is not None:
            trees = getattr(self, "trees_", None)
            if trees is None:  # the booster's trees as arrays, for a Numba walk bitwise equal to LightGBM's
                from ._tree_predict import compile_trees

                trees = self.trees_ = compile_trees(self.booster_) or False
            if trees:  # on the task's cores, never fewer than the model's num_threads (as LightGBM's below)
                # (a StackedFeatures: both blocks read in place, never stacked)
                return (trees.predict(X.astype(np.float32, copy=False), num_threads=task_threads(self.num_threads))
                        + self.init_score_)
            X = np.asarray(X)
            # Threads told explicitly: LightGBM's predict runs on every OpenMP thread unless told (it does
            # not take the training parameter), which oversubscribes the cores of parallel workers.
            return (self.booster_.predict(X.astype(np.float32, copy=False),
                                          num_threads=task_threads(self.num_threads)) + self.init_score_)
        return np.einsum("ij,j->i", np.asarray(X, dtype=np.float64), self.coef_) + self.intercept_
