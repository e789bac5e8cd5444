"""How the benchmarks here time a call: ``repeats`` runs, the wall clock and process CPU time of each.

Each script reports the smallest or the median of these (its docstring and
table say which) and times its baseline in the same process.  The scripts
import this module from their own folder (``python benchmarks/NAME.py`` puts
that folder first on the import path).
"""

import time

__all__ = ["best_time", "run_times"]


def run_times(fn, repeats, before=None):
    """Wall-clock and CPU seconds of ``repeats`` calls of ``fn``, sorted by wall time.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is discarded.
    repeats : int
        Number of calls (at least 1).
    before : callable, optional
        Called before each call, outside the timing (for example to remove
        the file the call writes).

    Returns
    -------
    list of (float, float)
        (wall seconds, process CPU seconds of all threads) per call, the
        fastest first: ``runs[0][0]`` is the best wall time and
        ``runs[len(runs) // 2]`` the median run.
    """
    runs = []
    for _ in range(max(int(repeats), 1)):
        if before is not None:
            before()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return sorted(runs)


def best_time(fn, repeats, before=None):
    """Smallest wall-clock seconds of ``repeats`` calls of ``fn`` (see :func:`run_times`)."""
    return run_times(fn, repeats, before)[0][0]
