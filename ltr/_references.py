"""The references of a study: full-information rankers (skyline, logger) and LightGBM's position debiasing."""

import numpy as np
from sklearn.base import BaseEstimator

from ._learners import _ClickLearner
from ._relevance_model import task_threads

__all__ = ["FullInformation", "LGBMPosition"]


class FullInformation(_ClickLearner):
    """Trained on the true labels: the skyline (all queries) or the initial logger (a fraction).

    Parameters
    ----------
    query_fraction : float, default=1.0
        Share of the training queries whose labels are used (0.01: the
        "production ranker trained on 1 % of the queries" of ULTRA and
        Oosterhuis 2020).
    min_queries : int, default=20
        At least this many queries are used (Hager 2023 trains on 20).
    backend : {"lightgbm", "linear"}, default="lightgbm"
        LightGBM fits LambdaMART on the grades; linear fits the listwise
        softmax on the gains 2^y - 1.
    n_estimators, num_threads, seed
    """

    name = "skyline"

    def __init__(self, query_fraction=1.0, min_queries=20, backend="lightgbm", n_estimators=100,
                 num_threads=1, seed=0):
        self.query_fraction = query_fraction
        self.min_queries = min_queries
        self.backend = backend
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    @property
    def loss(self):
        return "lambdarank" if self.backend == "lightgbm" else "softmax"

    def fit(self, dataset, statistics=None, log=None):
        if not 0.0 < self.query_fraction <= 1.0:
            raise ValueError(f"query_fraction must be in (0, 1], got {self.query_fraction!r}")
        n = max(int(round(self.query_fraction * dataset.n_queries)), min(self.min_queries, dataset.n_queries))
        data = dataset if n >= dataset.n_queries else dataset.sample_queries(n_queries=n, seed=self.seed)
        labels = data.labels.astype(np.float64)
        targets = labels if self.backend == "lightgbm" else 2.0**labels - 1.0
        self.n_queries_ = data.n_queries
        self.model_ = self._model().fit(data.features, targets, None, data.query_sizes)
        return self


class LGBMPosition(BaseEstimator):
    """LightGBM's position-debiased LambdaMART (``lgb.Dataset(position=...)``, LightGBM >= 4.1).

    LightGBM learns f(x) + g(position) inside its lambdarank objective and
    keeps only f.  The objective is defined on sessions (a group is a
    displayed list, labels are clicks), so this learner takes the session log;
    sessions without a click give no pairs and are skipped, and at most
    ``max_sessions`` of the most recent sessions are used.

    Parameters
    ----------
    position_bias_regularization : float, default=0.0
        ``lambdarank_position_bias_regularization``; keep it in 0..1e-3
        (0.01 and above erase the gain, REFERENCE §4).
    max_sessions : int, default=50_000
    n_estimators, num_threads, seed
    """

    name = "lgbm_position"

    def __init__(self, position_bias_regularization=0.0, max_sessions=50_000, n_estimators=100,
                 num_threads=1, seed=0):
        self.position_bias_regularization = position_bias_regularization
        self.max_sessions = max_sessions
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def fit(self, dataset, statistics=None, log=None):
        import lightgbm as lgb

        if log is None:
            raise ValueError("lgbm_position fits on sessions: pass the click log (simulate with keep_log=True)")
        clicked = np.flatnonzero(log.clicks.any(axis=1))[-int(self.max_sessions):]
        if clicked.size == 0:
            raise ValueError("the click log has no session with a click: nothing to learn from")
        displayed = log.displayed[clicked]
        shown = displayed >= 0
        rows = displayed[shown]
        labels = log.clicks[clicked][shown].astype(np.int32)
        positions = np.broadcast_to(np.arange(displayed.shape[1]), displayed.shape)[shown].astype(np.int32)
        sizes = shown.sum(axis=1)
        params = {
            "objective": "lambdarank", "lambdarank_position_bias_regularization": self.position_bias_regularization,
            "num_threads": task_threads(self.num_threads), "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }
        data = lgb.Dataset(dataset.features[rows], labels, group=sizes, position=positions)
        self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators))
        return self

    def predict(self, features):
        if not hasattr(self, "booster_"):
            raise ValueError("this LGBMPosition is not fitted yet; call fit first")
        # LightGBM's predict does not take the training num_threads (see RelevanceModel.predict).
        return self.booster_.predict(np.asarray(features, dtype=np.float32),
                                     num_threads=task_threads(self.num_threads))
