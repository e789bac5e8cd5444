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


def test_prediction_runs_on_the_models_threads(rows, monkeypatch):
    """LightGBM's predict ignores the training num_threads (it takes every OpenMP thread, which
    oversubscribes parallel sweep workers): the model passes its own, and the scores do not depend on it."""
    import lightgbm as lgb

    X, target, _ = rows
    y = (target > 0).astype(float)
    seen, predict = [], lgb.Booster.predict

    def recording(self, data, *args, **kwargs):
        seen.append(kwargs.get("num_threads"))
        return predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", recording)
    one = RelevanceModel(loss="logistic", n_estimators=15, num_threads=1).fit(X, y)
    two = RelevanceModel(loss="logistic", n_estimators=15, num_threads=2).fit(X, y)
    scores = one.predict(X), two.predict(X)
    assert seen == [1, 2]
    np.testing.assert_array_equal(*scores)
