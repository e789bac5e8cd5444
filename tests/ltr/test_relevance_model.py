"""The relevance model: fits on binned features equal fits on raw features; training scores equal predictions."""

import numpy as np
import pytest

from ltr import RelevanceModel


class _Squared:
    """A likelihood object (as the position tower passes): squared error to a fixed target."""

    def __init__(self, target):
        self.target = target

    def gradients(self, f):
        return f - self.target, np.ones_like(f)

    def value(self, f):
        return 0.5 * float(np.sum((f - self.target) ** 2))


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    offset = rng.normal(size=3000)
    return X, np.sin(X[:, 0]) + X[:, 1] + offset, offset


@pytest.mark.parametrize("loss", ["logistic", "likelihood"])
def test_binned_fit_equals_raw_fit(rows, loss):
    """Binning once and refitting with new offsets gives the very same trees as binning every time."""
    X, target, offset = rows
    make = lambda: RelevanceModel(loss=_Squared(target) if loss == "likelihood" else "logistic", n_estimators=15)
    y = (target > 0).astype(float)
    binned = make().bin_features(X)
    for shift in (0.0, 0.5):  # the second fit reuses the bins with another offset
        raw = make().fit(X, y, offset=offset + shift)
        fast = make().fit(X, y, offset=offset + shift, binned=binned)
        assert raw.booster_.model_to_string() == fast.booster_.model_to_string()


@pytest.mark.parametrize("backend", ["lightgbm", "linear"])
def test_train_scores_are_predictions_without_offset(rows, backend):
    X, target, offset = rows
    model = RelevanceModel(backend=backend, loss=_Squared(target), n_estimators=15).fit(
        X, np.zeros(X.shape[0]), offset=offset)
    # Same trees summed in double precision in another order: equal to rounding.
    np.testing.assert_allclose(model.train_scores_, model.predict(X), rtol=0, atol=1e-9)


def test_binned_features_must_match(rows):
    X, target, _ = rows
    binned = RelevanceModel().bin_features(X)
    with pytest.raises(ValueError, match="binned features were made for shape"):
        RelevanceModel().fit(X[:100], target[:100] > 0, binned=binned)
    with pytest.raises(ValueError, match="binned features were made for shape"):
        RelevanceModel(num_leaves=7).fit(X, target > 0, binned=binned)
    with pytest.raises(ValueError, match="binned features serve the LightGBM backend"):
        RelevanceModel(backend="linear").fit(X, target > 0, binned=binned)
    assert RelevanceModel(backend="linear").bin_features(X) is None


@pytest.mark.parametrize("walk", [True, False])
def test_prediction_runs_on_the_tasks_cores(rows, monkeypatch, walk):
    """LightGBM's predict ignores the training num_threads (it takes every OpenMP thread, which
    oversubscribes parallel sweep workers): the model passes the cores its task owns (Numba's
    thread budget, never fewer than its own num_threads), to the Numba walk of its trees or, for an
    ensemble the walk does not handle, to LightGBM; the scores do not depend on it."""
    import lightgbm as lgb
    import numba

    import ltr._tree_predict as tree_predict

    X, target, _ = rows
    y = (target > 0).astype(float)
    seen = []
    if walk:
        predict = tree_predict.TreeArrays.predict

        def recording(self, data, num_threads=None):
            seen.append(num_threads)
            return predict(self, data, num_threads)

        monkeypatch.setattr(tree_predict.TreeArrays, "predict", recording)
    else:
        predict = lgb.Booster.predict

        def recording(self, data, *args, **kwargs):
            seen.append(kwargs.get("num_threads"))
            return predict(self, data, *args, **kwargs)

        monkeypatch.setattr(lgb.Booster, "predict", recording)
        monkeypatch.setattr(tree_predict, "compile_trees", lambda booster: None)
    budget = numba.get_num_threads()
    one = RelevanceModel(loss="logistic", n_estimators=15, num_threads=1).fit(X, y)
    two = RelevanceModel(loss="logistic", n_estimators=15, num_threads=2).fit(X, y)
    try:
        numba.set_num_threads(1)
        alone = one.predict(X)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        scores = one.predict(X), two.predict(X)
    finally:
        numba.set_num_threads(budget)
    cores = numba.config.NUMBA_NUM_THREADS
    assert seen == [1, cores, max(2, cores)]
    np.testing.assert_array_equal(alone, scores[0])
    np.testing.assert_array_equal(*scores)


def test_softmax_gradient_under_affine_clicks_is_the_full_information_gradient():
    """Exact enumeration of the 2^3 click vectors of one query shown in a fixed order under
    trust bias (click at rank r with probability alpha_r R + beta_r): the expected
    softmax gradient with the signed targets (c - beta_r) / alpha_r equals the gradient
    with the true R.  Clipping the targets at 0 (the old rule) is biased."""
    import itertools

    from ltr._relevance_model import _gradients

    relevance = np.array([0.9, 0.2, 0.5])
    alpha, beta = np.array([0.8, 0.5, 0.3]), np.array([0.15, 0.1, 0.05])
    f = np.array([0.3, -0.2, 0.1])
    w = np.full(3, 7.0)
    starts, sizes = np.array([0]), np.array([3])
    p_click = alpha * relevance + beta
    expected, expected_clipped = np.zeros(3), np.zeros(3)
    for clicks in itertools.product((0, 1), repeat=3):
        c = np.array(clicks, dtype=float)
        prob = np.prod(np.where(c == 1, p_click, 1 - p_click))
        y = (c - beta) / alpha
        expected += prob * _gradients("softmax", f, y, w, starts, sizes)[0]
        expected_clipped += prob * _gradients("softmax", f, np.maximum(y, 0), w, starts, sizes)[0]
    truth = _gradients("softmax", f, relevance, w, starts, sizes)[0]
    np.testing.assert_allclose(expected, truth, rtol=0, atol=1e-12)
    assert np.max(np.abs(expected_clipped - truth)) > 0.1


@pytest.mark.parametrize("backend", ["lightgbm", "linear"])
def test_softmax_fits_signed_targets(backend):
    """Negative targets are accepted (not clipped) and the fit stays bounded: on noisy signed
    targets (mean sigmoid(2x) in (0, 1), noise sd 0.3, as affine-corrected clicks are) the
    scores follow the mean.  Measured on this seed: LightGBM correlation 0.84, score range
    5.6 with the floored curvature (0.47 and 45 with the plain one); linear 1.0."""
    from ltr._relevance_model import _gradients

    rng = np.random.default_rng(1)
    n_groups, size = 400, 5
    X = rng.normal(size=(n_groups * size, 1))
    y = 1.0 / (1.0 + np.exp(-2.0 * X[:, 0])) + 0.3 * rng.normal(size=X.shape[0])
    assert np.mean(y < 0) > 0.05
    sizes = np.full(n_groups, size)
    _, hessian = _gradients("softmax", np.zeros(y.size), y, np.ones(y.size), np.arange(n_groups) * size, sizes)
    assert hessian.min() > 1e-6
    model = RelevanceModel(backend=backend, loss="softmax", l2=1e-2).fit(X, y, group_sizes=sizes)
    scores = model.predict(X)
    assert np.ptp(scores) < 10
    assert np.corrcoef(scores, X[:, 0])[0, 1] > 0.75


def test_lambdarank_still_rejects_negative_labels():
    X = np.zeros((4, 1))
    with pytest.raises(ValueError, match="loss='lambdarank' needs targets y >= 0"):
        RelevanceModel(loss="lambdarank").fit(X, np.array([1.0, -1.0, 0.0, 2.0]), group_sizes=[4])


def test_too_few_rows_to_bin_is_a_clear_error():
    """With fewer rows than two leaves of min_child_samples (20) LightGBM pre-filters every feature and fails
    an internal check; that becomes a ValueError that says what is missing (a loop with
    loop.sessions_per_round = 2 hit it).  60 rows fit."""
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="cannot fit on 2 rows: LightGBM keeps no feature it could split with "
                                         "min_child_samples = 20 rows on each side"):
        RelevanceModel(n_estimators=3).fit(X, np.array([1.0, 0.0]), group_sizes=[2])
    model = RelevanceModel(n_estimators=3).fit(np.arange(60.0)[:, None], np.arange(60.0) % 2, group_sizes=[60])
    assert model.predict(np.arange(60.0)[:, None]).shape == (60,)


def test_the_softmax_kernel_is_bitwise_its_numpy_form():
    """ltr._softmax_kernels computes the listwise softmax gradient and Hessian per group, one group per thread:
    the same floats as the array expressions it replaced, with signed targets (the curvature floor) and
    without, on one thread and on every core."""
    import numba

    from ltr._relevance_model import _gradients

    def numpy_form(f, y, w, starts, sizes):
        group = np.repeat(np.arange(sizes.size), sizes)
        e = np.exp(f - np.maximum.reduceat(f, starts)[group])
        p = e / np.add.reduceat(e, starts)[group]
        wy = w * y
        total, scale = np.add.reduceat(wy, starts)[group], np.add.reduceat(np.abs(wy), starts)[group]
        curvature = p * (1.0 - p)
        if np.any(y < 0):
            n = sizes[group].astype(np.float64)
            signed = (np.minimum.reduceat(y, starts) < 0)[group]
            curvature = np.where(signed, np.maximum(curvature, (1.0 - 1.0 / n) / n), curvature)
        return total * p - wy, np.maximum(scale * curvature, 1e-12)

    rng = np.random.default_rng(0)
    before = numba.get_num_threads()
    try:
        for signed in (False, True):
            sizes = rng.integers(1, 40, size=2000)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            f = 5 * rng.standard_normal(sizes.sum())
            y = (rng.random(f.size) < 0.2) * rng.random(f.size) - signed * 0.3 * (rng.random(f.size) < 0.1)
            w = np.repeat(rng.integers(0, 30, sizes.size).astype(float), sizes)
            expected = numpy_form(f, y, w, starts, sizes)
            for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
                numba.set_num_threads(threads)
                got = _gradients("softmax", f, y, w, starts, sizes)
                assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    finally:
        numba.set_num_threads(before)
