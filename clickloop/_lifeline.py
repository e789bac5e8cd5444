"""Worker processes end with the process that started them, and leave Ctrl-C to it.

- :func:`watch_parent` starts a daemon thread that exits the process (``os._exit``)
  as soon as its parent is gone (the parent id changes when the parent dies,
  by kill -9 or SIGTERM alike); every worker process runs it, and so does each
  Dask nanny, so a chain main -> nanny -> worker unwinds within a fraction of a
  second.
- :func:`sigint_blocked` blocks SIGINT in the calling thread while worker
  processes are spawned: a spawned process inherits the blocked mask, so a
  Ctrl-C in the terminal reaches only the main process, which stops the
  workers itself (no tracebacks from workers).
- :func:`stop_children` terminates this process's multiprocessing children
  (SIGTERM, then SIGKILL after a grace period).
- ``dask_setup``: the Dask preload hook that does the same in nannies and
  workers of a LocalCluster (``preload=["clickloop._lifeline"]``).
"""

import contextlib
import multiprocessing
import os
import signal
import threading
import time

from ._errors import one_line_warnings

__all__ = ["dask_setup", "sigint_blocked", "stop_children", "watch_parent", "worker_init"]

_INTERVAL = 0.2
_started = False


def watch_parent(interval=_INTERVAL):
    """Exit this process when its parent dies (a daemon thread polling the parent id)."""
    global _started
    if _started:
        return
    _started = True
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="clickloop-lifeline", daemon=True).start()


def worker_init():
    """Initializer of a local worker process: ignore Ctrl-C (the main process handles it), die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    one_line_warnings()
    watch_parent()


def dask_setup(service):
    """Dask preload hook (nanny and worker of a LocalCluster): die with the parent process."""
    one_line_warnings()
    watch_parent()


@contextlib.contextmanager
def sigint_blocked():
    """Block SIGINT in this thread while worker processes are spawned (they inherit the mask)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_children(grace=0.5):
    """Terminate every multiprocessing child of this process: SIGTERM, then SIGKILL after ``grace`` seconds."""
    children = multiprocessing.active_children()
    for child in children:
        with contextlib.suppress(Exception):
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            with contextlib.suppress(Exception):
                child.kill()
            child.join(1.0)
