"""The one atomic writer of clickloop: a file appears whole or not at all.

Every file the packages write (click logs, LETOR files, checkpoints,
``metrics.csv``, summaries, plots) goes through :func:`atomic_path`: the
content is written to a hidden temporary name in the target's folder
(``.NAME.PID.RANDOM.tmp``) and moved into place with :func:`os.replace`, so a
reader never sees half a file, a crash leaves at most a ``.tmp`` file (which
:func:`remove_stale_temporaries` clears), and a failed write removes its
temporary file.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(folder / "a.txt", "hello\\n").read_text()
'hello\\n'
>>> with atomic_path(folder / "b.bin") as temporary:
...     _ = temporary.write_bytes(b"\\x00\\x01")
>>> sorted(p.name for p in folder.iterdir())
['a.txt', 'b.bin']
"""

import contextlib
import os
import pathlib
import re
import secrets

__all__ = ["TEMPORARY_SUFFIX", "atomic_path", "atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries",
           "temporary_name"]

#: Suffix of every temporary file the atomic writer makes.
TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{8}\.tmp")


def temporary_name(path):
    """A hidden, unique name beside ``path`` for writing it before :func:`os.replace`."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success move it into place, on failure remove it.

    Parameters
    ----------
    path : str or pathlib.Path
        The destination; its parent folders are created.

    Yields
    ------
    pathlib.Path
        Where to write the content.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data):
    """Write bytes to ``path`` atomically; returns the path."""
    with atomic_path(path) as temporary, open(temporary, "xb") as out:
        out.write(data)
    return pathlib.Path(path)


def atomic_write_text(path, text):
    """Write UTF-8 text to ``path`` atomically; returns the path."""
    with atomic_path(path) as temporary, open(temporary, "x", encoding="utf-8") as out:
        out.write(text)
    return pathlib.Path(path)


def remove_stale_temporaries(folder):
    """Remove the temporary files a crashed writer left in ``folder`` and below; returns how many.

    Only names of this writer's exact form (``.NAME.PID.HEX8.tmp``) are
    removed, never another program's files.  Call it only while no writer of
    the same run is active (a run does, under its folder's lock).
    """
    removed = 0
    for stale in pathlib.Path(folder).rglob(f".*{TEMPORARY_SUFFIX}"):
        if stale.is_file() and _TEMPORARY.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed
