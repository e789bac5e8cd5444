"""Results must not depend on the BLAS thread count.

Dask workers run with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), a plain
process with one per core; a BLAS dot product or matrix-vector product splits
long sums across its threads, so ``@`` on long vectors can change the last
bits of a result.  A sweep on Dask must equal the serial run byte for byte,
so the code paths below avoid BLAS; this checks them under 1 and 2 threads.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from analysis import rich_get_richer_slope
from ltr import RelevanceModel
from clickloop import engagement_features
from simulator import ClickStatistics


def under_threads(fn):
    with threadpool_limits(limits=1, user_api="blas"):
        one = fn()
    with threadpool_limits(limits=2, user_api="blas"):
        two = fn()
    return one, two


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_rich_get_richer_slope(rng):
    exposure, clicks = rng.random(200_000) * 50, rng.poisson(3.0, 200_000).astype(float)
    one, two = under_threads(lambda: rich_get_richer_slope(exposure, clicks))
    assert one == two


def test_debiased_engagement_features(rng):
    stats = ClickStatistics.empty(100_000, 10)
    stats.impressions[:] = rng.integers(1, 40, size=(100_000, 10))
    stats.clicks[:] = rng.binomial(stats.impressions, 0.3)
    theta = 1.0 / np.arange(1, 11)
    one, two = under_threads(lambda: engagement_features(stats, "ctr_count", debiased=True, theta=theta))
    np.testing.assert_array_equal(one, two)


def test_linear_relevance_model(rng):
    X = rng.standard_normal((50_000, 20))
    y = (X[:, 0] + rng.standard_normal(50_000) > 0).astype(float)

    def fit():
        return RelevanceModel(backend="linear", loss="logistic").fit(X, y).predict(X)

    one, two = under_threads(fit)
    np.testing.assert_array_equal(one, two)
