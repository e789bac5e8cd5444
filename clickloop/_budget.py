"""The work and memory of a run or sweep, estimated before anything starts.

A run that cannot fit in memory is refused; one that would simulate for more
than a day asks for ``--allow-long``.  The estimates are coarse (factors of
two), on purpose: they exist to stop a typo (``sessions_per_round = 10**12``,
``--seeds 10**12``) from hanging silently, not to predict run times.

Rates (measured by ``benchmarks/bench_sessions.py`` and
``benchmarks/bench_click_models.py`` on the project's 2-core machine, rounded
down): PBM clicks under deterministic serving about 5 x 10^7 sessions/s,
everything else about 5 x 10^6.
"""

import os

from ._errors import UsageError

__all__ = ["LONG_SECONDS", "check_budget", "estimate"]

#: Simulation longer than this (seconds) needs ``--allow-long``.
LONG_SECONDS = 24 * 3600
_FAST_RATE, _SLOW_RATE = 5e7, 5e6
_BLOCK_SESSIONS = 1_000_000
_DENSE_STATISTICS = 4 * 8 * 3  # impressions, clicks, examination, 1/examination; round, history, window sum
# A round's session log kept for output.save_logs, per displayed slot: the log and its Parquet copy on the way out
# (measured: the smoke preset with 2 x 10^6 sessions per round, max RSS 1.15 GB with the logs and 0.33 GB without,
# 41 bytes per slot; rounded up).
_SAVED_LOG_SLOT = 48
# A session log a learner keeps across rounds (lgbm_position, cascade-model IPS, gated variants), per displayed
# slot, with what the learner builds from it (measured: the smoke preset, rounds = 2, 600,000 sessions per round,
# lgbm_position with max_sessions = 10^9: max RSS 1.26 GB against 0.32 GB for naive, 0.94 GB for at most
# 1.8 x 10^6 kept sessions of 10 slots: 52 to 78 bytes per slot; rounded up).
_KEPT_LOG_SLOT = 80


def _n_docs(config, n_docs=None):
    if n_docs is not None:
        return n_docs
    if config.data.source != "synthetic":
        return 0  # known once the file is read
    lo, hi = config.data.docs_per_query
    return int(config.data.n_queries * (lo + hi) / 2)


def estimate(config, n_docs=None):
    """(sessions, seconds, bytes per task) of one configuration.

    Parameters
    ----------
    config : ExperimentConfig
    n_docs : int, optional
        Documents of the data set (default: from the synthetic settings).
    """
    sessions = config.seeds * len(config.loop.variants) * (config.loop.rounds + 1) * config.loop.sessions_per_round
    fast = config.click_model.name.startswith("pbm") and config.policy.kind == "deterministic"
    seconds = sessions / (_FAST_RATE if fast else _SLOW_RATE)
    docs = _n_docs(config, n_docs)
    k = config.policy.k
    per_task = docs * (4 * (config.data.n_features + 2) + k * _DENSE_STATISTICS)
    per_task += min(config.loop.sessions_per_round, _BLOCK_SESSIONS) * k * 14  # one block of sessions
    if config.output.save_logs:
        per_task += config.loop.sessions_per_round * k * _SAVED_LOG_SLOT
    per_task += _kept_log_sessions(config) * k * _KEPT_LOG_SLOT
    return sessions, seconds, per_task


def _kept_log_sessions(config):
    """Most sessions of log one task keeps in memory: a learner's up to ``max_log_sessions`` (at most every
    round's); a gate with a holdout keeps its own sessions (one round's if they are reused, else every round's)."""
    from ._compose import build_variant

    s = config.loop.sessions_per_round
    every_round = (config.loop.rounds + 1) * s
    d = config.deployment
    kept = [0]
    for variant in (build_variant(config, name, 0) for name in config.loop.variants):
        if variant.needs_log:
            kept.append(min(variant.max_log_sessions, every_round))
        if variant.gate is not None and d.holdout > 0:
            kept.append(min(round(d.holdout * s) * (1 if d.reuse else config.loop.rounds + 1), every_round))
    return max(kept)


def _available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_budget(configs, workers=1, allow_long=False, n_docs=None):
    """Refuse what cannot fit in memory, and what would run for days without ``allow_long``.

    Parameters
    ----------
    configs : sequence of ExperimentConfig
        The run's configuration, or every grid point of a sweep.
    workers : int, default=1
        Tasks that run at once.
    allow_long : bool, default=False
    n_docs : int, optional
        Documents of the data set when known (LETOR files).

    Raises
    ------
    UsageError
        One line with the estimate and what to change.
    """
    sessions = seconds = 0.0
    per_task = 0
    for config in configs:
        s, t, m = estimate(config, n_docs)
        sessions, seconds, per_task = sessions + s, seconds + t, max(per_task, m)
    need, have = per_task * max(1, workers), _available_bytes()
    if need > 0.8 * have:
        raise UsageError(f"the run needs about {need / 2**30:.1f} GiB ({max(1, workers)} task(s) at once of "
                         f"{per_task / 2**30:.1f} GiB each) and {have / 2**30:.1f} GiB are available; use fewer "
                         "documents, sessions per round or --jobs")
    if seconds / max(1, workers) > LONG_SECONDS and not allow_long:
        raise UsageError(f"the run would simulate {sessions:.3g} sessions, about {seconds / 3600 / max(1, workers):,.0f} "
                         "hours; check loop.sessions_per_round, loop.rounds and the seeds, or pass --allow-long")
