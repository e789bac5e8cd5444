"""Where independent tasks run: in this process, in local worker processes, or on a Dask cluster.

A task is a tuple of positional arguments for one task function; the
function is passed in (this module imports nothing of the experiment), and
is called as ``function(*args, numba_threads=n)``, where ``n`` is the thread
budget of one task: the machine's cores divided by the tasks that run on it
at once (None in-process, where nothing else runs).  Numba's threads follow
it; LightGBM's come from the task's own configuration.

A task that raises does not stop the others: :func:`execute` returns one
:class:`TaskOutcome` per task, in task order, each holding either the
function's value or the error as one line (``"ValueError: message"``).

Backends:

:class:`SerialBackend`
    One task after another in this process.
:class:`ProcessBackend`
    ``jobs`` worker processes (:class:`concurrent.futures.ProcessPoolExecutor`,
    spawn context: numba and LightGBM threads do not survive ``fork``).
:class:`DaskBackend`
    ``dask.distributed``: a running scheduler (``scheduler="tcp://HOST:PORT"``;
    its workers must be able to import the task function and share the
    output folder's filesystem), or a :class:`distributed.LocalCluster` of
    ``n_workers`` single-threaded worker processes on 127.0.0.1 started for
    the call and closed after it.

Examples
--------
>>> def square(x, numba_threads=None):
...     if x < 0:
...         raise ValueError(f"x must be >= 0, got {x}")
...     return x * x
>>> [(o.value, o.error) for o in execute(square, [(2,), (-1,), (3,)])]
[(4, None), (None, 'ValueError: x must be >= 0, got -1'), (9, None)]
"""

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from simulator.validation import check_int

from ._errors import ExecutorError  # defined there: a module no doctest re-executes
from ._lifeline import sigint_blocked, stop_children, worker_init

__all__ = ["DaskBackend", "ExecutorError", "ProcessBackend", "SerialBackend", "TaskOutcome", "execute"]


@dataclass(frozen=True)
class TaskOutcome:
    """What one task gave: its value, or its error as one line.

    Attributes
    ----------
    index : int
        Position of the task in the list given to :func:`execute`.
    value : object
        The task function's return value (None if it failed).
    error : str or None
        ``"ErrorType: message"`` on one line, None on success.
    """

    index: int
    value: Any = None
    error: str | None = None

    @property
    def ok(self):
        """Whether the task returned."""
        return self.error is None


def _error_text(exc):
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _outcome(index, future):
    """The outcome of a finished future (concurrent.futures or dask.distributed) of task ``index``."""
    try:
        return TaskOutcome(index, future.result())
    except Exception as exc:  # the task's error, raised again by result()
        return TaskOutcome(index, error=_error_text(exc))


def _cores():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class SerialBackend:
    """Every task in this process, one after another (numba keeps its own thread count)."""

    def check(self):
        """Nothing to check: this process runs the tasks."""

    def run(self, function, tasks, report):
        for index, args in enumerate(tasks):
            try:
                outcome = TaskOutcome(index, function(*args, numba_threads=None))
            except Exception as exc:  # a failed task is reported; KeyboardInterrupt still stops the run
                outcome = TaskOutcome(index, error=_error_text(exc))
            report(outcome)


@dataclass(frozen=True)
class ProcessBackend:
    """``jobs`` local worker processes (spawned), each task with cores // jobs threads.

    Parameters
    ----------
    jobs : int
        Worker processes, >= 1.
    threads : int, optional
        Numba threads per task; default cores // jobs (the benchmark sets 1 to
        measure the scaling of the workers alone).
    """

    jobs: int
    threads: int | None = None

    def __post_init__(self):
        check_int(self.jobs, "jobs", 1)
        if self.threads is not None:
            check_int(self.threads, "threads", 1)

    def check(self):
        """Nothing to check: the worker processes start with the run."""

    def run(self, function, tasks, report):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = self.threads or max(1, _cores() // self.jobs)
        # Workers ignore Ctrl-C and die with this process (kill -9 or SIGTERM included): on an
        # interrupt or an error here, this process stops them itself, at once.
        pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                   initializer=worker_init)
        futures = {}
        try:
            with sigint_blocked():  # spawned workers inherit the blocked Ctrl-C
                for index, args in enumerate(tasks):
                    futures[pool.submit(function, *args, numba_threads=threads)] = index
            for future in as_completed(futures):
                report(_outcome(futures[future], future))
        except BaseException:
            # Kill the workers first: the pool then fails its pending work itself (cancelling futures
            # here races with its manager thread), and shutting down returns at once.
            stop_children()
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)


def _on_dask_worker(function, args, slots):
    """Run one task on a Dask worker with cores // (task slots on this host) threads."""
    from distributed import get_worker

    host = get_worker().address.rsplit(":", 1)[0]
    threads = max(1, _cores() // max(1, slots.get(host, 1)))
    return function(*args, numba_threads=threads)


@dataclass(frozen=True)
class DaskBackend:
    """Tasks on a ``dask.distributed`` cluster: a running scheduler, or a LocalCluster on loopback.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, ``tcp://HOST:PORT``.
    n_workers : int, optional
        Without ``scheduler``: start a :class:`distributed.LocalCluster` of
        ``n_workers`` single-threaded worker processes on 127.0.0.1 for the call.
    timeout : float, default=10.0
        Seconds to wait for the connection to ``scheduler`` before
        :class:`ExecutorError`.
    """

    scheduler: str | None = None
    n_workers: int | None = None
    timeout: float = 10.0

    def __post_init__(self):
        if (self.scheduler is None) == (self.n_workers is None):
            raise ValueError("give exactly one of scheduler (an address) and n_workers (a LocalCluster)")
        if self.n_workers is not None:
            check_int(self.n_workers, "n_workers", 1)
        if self.scheduler is not None and (not isinstance(self.scheduler, str) or "://" not in self.scheduler):
            raise ValueError(f"scheduler must be an address like tcp://HOST:PORT, got {self.scheduler!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {self.timeout!r}")

    def _client(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the Dask backends need dask.distributed: pip install 'clickloop[dask]'") from None
        if self.scheduler is not None:
            try:
                return Client(self.scheduler, timeout=f"{self.timeout}s"), None
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an address Dask cannot parse
                raise ExecutorError(f"cannot connect to the Dask scheduler at {self.scheduler}: "
                                    f"{_error_text(exc)}") from None
        import dask

        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers, which switches off
        # glibc's dynamic mmap threshold: every large array is then mmapped and page-faulted
        # afresh, and a loop task ran 1.55x slower (6.0 s against 3.9 s). Keep the thread caps.
        # The worker's statistical profiler samples every thread's stack each 10 ms, holding the
        # GIL: no use for batch tasks.
        # Workers log at "error" only: on Ctrl-C a worker's state machine warned on stderr about its
        # cancelled task (a CI run), beside the one line the user is promised.
        environ = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1,
                   "DASK_LOGGING__DISTRIBUTED": "error"}
        # Nannies and workers die with this process (the lifeline preload) and inherit a blocked
        # Ctrl-C, which this process handles alone.
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ, "logging.distributed": "error",
                              "distributed.worker.profile.enabled": False}), sigint_blocked():
            cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   preload=["clickloop._lifeline"], preload_nanny=["clickloop._lifeline"])
        return Client(cluster), cluster

    def check(self):
        """Raise :class:`ExecutorError` now if dask is missing or the scheduler cannot be reached."""
        if self.scheduler is None:
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise ExecutorError("the Dask backends need dask.distributed: pip install 'clickloop[dask]'") \
                    from None
            return
        client, _ = self._client()
        client.close()

    def run(self, function, tasks, report):
        from distributed import as_completed

        client, cluster = self._client()
        try:
            slots = {}  # task slots (worker threads) per host
            for address, info in client.scheduler_info()["workers"].items():
                host = address.rsplit(":", 1)[0]
                slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
            futures = {client.submit(_on_dask_worker, function, args, slots, pure=False): index
                       for index, args in enumerate(tasks)}
            for future in as_completed(futures):
                report(_outcome(futures[future], future))
                future.release()
        except BaseException:  # Ctrl-C or an error here: stop at once and quietly
            _quiet_dask_logs()
            if cluster is not None:
                # The LocalCluster's nannies live in this process and restart a worker that dies,
                # unless they are closing: mark them so, kill the workers, then close.
                for nanny in list(cluster.workers.values()):
                    with contextlib.suppress(Exception):
                        nanny.close_gracefully(reason="clickloop-stopped")
                stop_children()
            with contextlib.suppress(Exception):
                client.close(timeout=1)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=2)
            raise
        client.close()
        if cluster is not None:
            cluster.close()


def _quiet_dask_logs():
    """Dask logs the loss of every worker it is being shut down with: nothing a user can act on."""
    import logging

    for name in ("distributed", "distributed.nanny", "distributed.worker", "distributed.scheduler",
                 "distributed.core", "distributed.client", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def execute(function, tasks, backend=None, *, on_done=None):
    """Run every task and collect one outcome per task, whatever fails.

    Parameters
    ----------
    function : callable
        ``function(*args, numba_threads=n)``; picklable by reference (a
        module-level function) for the process and Dask backends.
    tasks : sequence of tuple
        Positional arguments of every task.
    backend : SerialBackend, ProcessBackend or DaskBackend, optional
        Default :class:`SerialBackend`.
    on_done : callable, optional
        ``on_done(outcome)`` as each task finishes (in completion order).

    Returns
    -------
    tuple of TaskOutcome
        In task order.

    Raises
    ------
    ExecutorError
        If the backend cannot start.

    Examples
    --------
    >>> def add(a, b, numba_threads=None):
    ...     return a + b
    >>> [o.value for o in execute(add, [(1, 2), (3, 4)], SerialBackend())]
    [3, 7]
    """
    backend = SerialBackend() if backend is None else backend
    if not hasattr(backend, "run"):
        raise ValueError(f"backend must be SerialBackend, ProcessBackend or DaskBackend, got {backend!r}")
    tasks = [tuple(args) for args in tasks]
    outcomes = [None] * len(tasks)

    def report(outcome):
        outcomes[outcome.index] = outcome
        if on_done is not None:
            on_done(outcome)

    if tasks:
        backend.run(function, tasks, report)
    return tuple(outcomes)
