"""Argument types of the ``clickloop`` command and of the scripts in ``experiments/`` and ``benchmarks/``.

Each function is an ``argparse`` ``type=``: with ``OneLineParser`` a bad value
is one line on stderr (``prog: error: argument --seeds: expected a positive
integer, got 0``) and exit code 2, before any work starts.
"""

import argparse
import os
from pathlib import Path

__all__ = ["MAX_WORKERS", "OneLineParser", "choice_list", "existing_folder", "int_list", "nonnegative_int",
           "output_file", "output_folder", "positive_int", "seed_list", "worker_count"]

#: Most worker processes --jobs and --dask-local start (a typo, not a machine, beyond it).
MAX_WORKERS = 1024


class OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr naming what is wrong, exit code 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int(text, minimum, expected):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text):
    """A count: an integer >= 1 (seeds, jobs, sessions, repeats, ...)."""
    return _int(text, 1, "a positive integer")


def worker_count(text):
    """A number of worker processes (--jobs): an integer in 1..MAX_WORKERS."""
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_WORKERS} worker processes, got {value}")
    return value


def nonnegative_int(text):
    """An integer >= 0: a seed value, or a count where 0 switches something off."""
    return _int(text, 0, "an integer >= 0")


def _list(text, item):
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    try:
        return [item(part) for part in parts]
    except argparse.ArgumentTypeError as error:
        if len(parts) == 1:
            raise
        raise argparse.ArgumentTypeError(f"{error} (in {text!r})") from None


def int_list(text):
    """Comma-separated counts, each >= 1: ``"1000,10000"`` -> ``[1000, 10000]``."""
    return _list(text, positive_int)


def seed_list(text):
    """Comma-separated seed values, each >= 0: ``"0,1,2"`` -> ``[0, 1, 2]``."""
    return _list(text, nonnegative_int)


def choice_list(*choices):
    """A type for comma-separated names, each one of ``choices``: ``"a,b"`` -> ``["a", "b"]``."""
    def parse(text):
        def one(name):
            if name not in choices:
                raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(choices)}")
            return name
        return _list(text, one)
    return parse


def _writable_folder_error(path):
    """Why ``path`` cannot be (created as) a folder to write into, or None."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                return f"{folder} is not a folder"
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"cannot write in {folder}"
            return None
    return None


def output_folder(text):
    """A folder the script writes into: it exists, or can be made (no part of it is a file)."""
    path = Path(text)
    error = _writable_folder_error(path)
    if error:
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {error}")
    return path


def output_file(text):
    """A file the script writes: not a folder, and in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, expected a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: no folder {str(path.parent)!r}")
    error = _writable_folder_error(path.parent)
    if error:
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {error}")
    return path


def existing_folder(text):
    """A folder that must exist already (an earlier run, a checkout)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {text!r}")
    return path
