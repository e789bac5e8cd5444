"""An output folder has one owner and one coherent state.

:class:`OutputFolder` is what a run or a sweep holds while it writes into
``--out``:

- **a lock** (``OUT/.clickloop.lock``, an exclusive ``flock`` held for the
  run's lifetime and released by the kernel if the process dies): a second
  run on the same folder exits 2 naming the holder;
- **a manifest** (``OUT/clickloop-run.json``, :mod:`analysis._manifest`):
  the configuration's digest, ``running`` or ``complete``, and every output
  the run wrote.  A fresh run removes exactly the outputs the previous
  manifest lists, never a file it did not write, before it writes its own
  ``config.toml``; a folder that is not empty and holds no clickloop run is
  refused unless the user says ``--force``.

Bad folders (an empty ``--out``, a file, a folder below a file, one that
cannot be written) are :class:`UsageError` lines before anything is written.
"""

import datetime
import errno
import fcntl
import os
import re
import shutil
import socket
from dataclasses import replace
from pathlib import Path

from analysis import Manifest, ResultsError, config_digest, read_manifest
from simulator.atomic import remove_stale_temporaries

from ._errors import UsageError

__all__ = ["LOCK", "LOGS", "STATE", "OutputFolder"]

#: Lock file of an output folder.
LOCK = ".clickloop.lock"
#: Folder of the checkpoints inside an output folder.
STATE = ".state"
#: Folder of the click logs a user asked for (``output.save_logs``).
LOGS = "logs"


def _check_path(out):
    """The output folder as a Path, created; bad paths are UsageError lines."""
    if str(out).strip() == "":
        raise UsageError("--out must name a folder, got an empty path")
    out = Path(out)
    missing = []  # the folders this call creates, outermost last
    try:
        for parent in [out, *out.parents]:
            if parent.exists() and not parent.is_dir():
                what = "is a file" if parent == out else f"is below {parent}, which is a file"
                raise UsageError(f"--out {out} {what}; give a folder")
            if not parent.exists():
                missing.append(parent)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a name too long, a read-only parent, ...: remove what was created on the way
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder is not writable")
    return out


class OutputFolder:
    """Own an output folder for a run's lifetime (a context manager; see the module docs).

    Parameters
    ----------
    out : str or pathlib.Path
    kind : {"run", "sweep"}
    config_text : str
        The resolved configuration (its digest identifies the run).
    resume : bool, default=False
        Continue the run in the folder: its manifest must be of the same
        configuration (checked by the caller for its own rules too).
    force : bool, default=False
        Write into a non-empty folder that holds no clickloop run.
    writes : tuple of str, default=()
        The names the run writes at the top of the folder.  In a folder that
        holds no clickloop run, any of them that exists is a user's file, and
        the run is refused (``--force`` and ``--resume`` included): clickloop
        never overwrites a file it did not write.
    """

    def __init__(self, out, kind, config_text, *, resume=False, force=False, writes=()):
        self.shown = _check_path(out)  # as given, for messages
        # every path the run writes or records is below this absolute one (symlinks kept: remote workers see them)
        self.out = Path(os.path.abspath(self.shown))
        self.kind, self.config_text = kind, config_text
        self.resume, self.force = resume, force
        self.writes = tuple(writes)
        self._lock = None
        self.manifest = None

    # ------------------------------------------------------------------ lock
    def _acquire(self):
        path = self.out / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"--out {self.shown}: cannot create the lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise UsageError(f"--out {self.shown} is in use by another clickloop run ({holder}); wait for it "
                                 "or give another --out") from None
            raise
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        self._lock = fd

    def _release(self):
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    # ------------------------------------------------------------------ state
    def _foreign_entries(self):
        return sorted(p.name for p in self.out.iterdir() if p.name != LOCK)

    def _remove_previous(self, previous):
        """Remove exactly what the previous run listed as its outputs."""
        for name in previous.outputs:
            path = self.out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        (self.out / "clickloop-run.json").unlink(missing_ok=True)

    def _remove_legacy(self):
        """A folder of clickloop before manifests: its checkpoints and its per-seed log folders only."""
        shutil.rmtree(self.out / STATE)
        logs = self.out / LOGS
        if logs.is_dir():
            for folder in logs.iterdir():
                if folder.is_dir() and re.fullmatch(r"seed_[0-9]+", folder.name):
                    shutil.rmtree(folder)

    def _legacy(self):
        """A folder of clickloop before manifests: its config.toml, and checkpoints in .state/seed_N only."""
        state = self.out / STATE
        if not (state.is_dir() and (self.out / "config.toml").is_file()):
            return False
        entries = list(state.iterdir())
        return bool(entries) and all(e.is_dir() and re.fullmatch(r"seed_[0-9]+", e.name) for e in entries)

    def _previous(self):
        try:
            return read_manifest(self.out)
        except ResultsError as exc:
            raise UsageError(str(exc)) from None

    def _check(self, previous):
        """Refusals, before anything is written into the folder (and again under the lock)."""
        if previous is not None and previous.kind != self.kind:
            raise UsageError(f"--out {self.shown} holds a clickloop {previous.kind}, not a {self.kind}; "
                             "give another --out")
        legacy = previous is None and self._legacy()
        if self.resume and self.kind == "run" and previous is not None \
                and previous.config_sha256 != config_digest(self.config_text):
            raise UsageError(f"--resume: {self.shown} holds a run of another configuration; use the same "
                             "configuration or another --out")
        if previous is None and not legacy and self._foreign_entries():
            taken = [name for name in self.writes if (self.out / name).exists() or (self.out / name).is_symlink()]
            if taken:
                raise UsageError(f"--out {self.shown} holds no clickloop run, and its {', '.join(taken)} would be "
                                 "overwritten (clickloop never overwrites files it did not write); move them or "
                                 "give another --out")
            if not self.force:
                shown = ", ".join(self._foreign_entries()[:3])
                what = "holds no clickloop run to continue" if self.resume else "holds no clickloop run"
                raise UsageError(f"--out {self.shown} is not empty ({shown}...) and {what}; give an empty or new "
                                 "folder, or --force to write beside its files (clickloop never deletes files it "
                                 "did not write)")
        return legacy

    def __enter__(self):
        self._check(self._previous())  # refuse without touching the folder
        self._acquire()
        try:
            previous = self._previous()
            legacy = self._check(previous)
            digest = config_digest(self.config_text)
            if self.kind == "sweep" and previous is not None:
                # a sweep re-run continues: each grid point checks its own configuration
                self.manifest = replace(previous, config_sha256=digest).reopen()
            elif self.resume:
                self.manifest = previous.reopen() if previous is not None else \
                    Manifest.start(self.out, self.kind, self.config_text)
            else:
                if previous is not None:
                    self._remove_previous(previous)
                elif legacy:
                    self._remove_legacy()
                self.manifest = Manifest.start(self.out, self.kind, self.config_text)
            remove_stale_temporaries(self.out)  # a crashed writer's leftovers (ours only: .NAME.PID.HEX.tmp)
        except BaseException:
            self._release()
            raise
        return self

    def add(self, *paths):
        """Record outputs of the run (so a later fresh run can remove them, and only them)."""
        self.manifest.add(*paths)

    def complete(self):
        """Every output is in place: mark the manifest complete."""
        self.manifest.complete()

    def __exit__(self, *exc):
        self._release()
        return False
