"""Shared fixtures: the Numba kernels are compiled (or loaded from numba's cache) once per test session."""

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def warm_numba_cache():
    """Load every kernel family once, so no test's time includes a compilation.

    With ``cache=True`` the first session writes numba's cache and later ones
    load it; either way each kernel is prepared here, before the first test.
    """
    from policies import Deterministic, PlackettLuce
    from simulator import click_model, make_synthetic, simulate_sessions

    data = make_synthetic(n_queries=8, docs_per_query=6, n_features=3, seed=0)
    for policy in (Deterministic(lambda X: X[:, 0], 5), PlackettLuce(lambda X: X[:, 0], 5)):
        for name in ("pbm", "trust_vardasbi", "cascade", "dbn", "ubm"):
            simulate_sessions(data, policy, click_model(name), 64, seed=0)
            simulate_sessions(data, policy, click_model(name), 64, seed=0, keep_log=True)
    from analysis import ndcg

    ndcg(np.arange(data.n_docs, dtype=np.float64), data.labels, data.query_boundaries)
