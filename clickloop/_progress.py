"""Progress over the rounds of many tasks, whatever runs them.

Every finished round of a task is a checkpoint file (``round_T.npz``), written
by whichever process or Dask worker runs the task into the shared output
folder.  :class:`RoundProgress` counts those files from a thread of the main
process and advances a tqdm bar, so the bar moves per round under the serial,
process and Dask backends alike, with nothing sent back from the workers.
"""

import sys
import threading

from tqdm import tqdm

__all__ = ["RoundProgress"]


class RoundProgress:
    """A tqdm bar of finished rounds over a set of task folders (a context manager).

    Parameters
    ----------
    folders : sequence of pathlib.Path
        The checkpoint folder of every task.
    rounds : int or sequence of int
        Rounds (checkpoints) per task: one number for all, or one per folder.
    enabled : bool
        Draw the bar (only on a terminal: nothing is written to a pipe or file).
    interval : float, default=0.5
        Seconds between counts.
    """

    def __init__(self, folders, rounds, enabled, interval=0.5):
        self.folders = list(folders)
        self.rounds = [rounds] * len(self.folders) if isinstance(rounds, int) else list(rounds)
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._bar = None

    def _count(self):
        done = 0
        for folder, rounds in zip(self.folders, self.rounds):
            if (folder / "rows.csv").exists():
                done += rounds
            elif folder.exists():
                done += min(rounds, sum(1 for _ in folder.glob("round_*.npz")))
        return done

    def _poll(self):
        while not self._stop.wait(self.interval):
            self._refresh()

    def _refresh(self):
        done = self._count()
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)

    def __enter__(self):
        if self.enabled:
            self._bar = tqdm(total=sum(self.rounds), unit="round", desc="clickloop", dynamic_ncols=True,
                             initial=self._count(), file=sys.stderr)
            self._thread = threading.Thread(target=self._poll, name="clickloop-progress", daemon=True)
            self._thread.start()
        return self

    def write(self, line):
        """Print a line on stderr without breaking the bar."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._refresh()
            self._bar.close()
        return False
