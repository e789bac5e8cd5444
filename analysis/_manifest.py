"""The run manifest ``clickloop-run.json``: which run owns an output folder, and whether it finished.

A run (or sweep) writes the manifest into its output folder before anything
else, with the SHA-256 of its resolved configuration and the status
``running``; it lists every file and folder it writes as it goes, and marks
the manifest ``complete`` only after its last output is in place.  So a
folder never shows one configuration beside another run's results:

- a reader (``python -m analysis``) refuses a folder whose manifest is not
  ``complete``, or whose ``config.toml`` is not the manifest's or is missing;
- a fresh run removes exactly the outputs the previous manifest lists (and
  nothing it did not write) before it writes its own.

The file is JSON, written atomically::

    {"format": 1, "tool": "clickloop", "kind": "run", "status": "complete",
     "config_sha256": "...", "started": "...", "finished": "...",
     "outputs": ["config.toml", ".state", "metrics.csv", ...]}

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> manifest = Manifest.start(folder, kind="run", config_text="seeds = 1\\n")
>>> manifest.add("metrics.csv")
>>> read_manifest(folder).status
'running'
>>> manifest.complete()
>>> read_manifest(folder).status, read_manifest(folder).outputs
('complete', ('metrics.csv',))
"""

import datetime
import hashlib
import json
import pathlib
from dataclasses import dataclass, field, replace

from simulator.atomic import atomic_write_text

from ._results import ResultsError

__all__ = ["MANIFEST", "Manifest", "check_complete", "config_digest", "read_manifest"]

#: File name of the manifest in an output folder.
MANIFEST = "clickloop-run.json"
_FORMAT = 1
_STATUSES = ("running", "complete")


def config_digest(text):
    """SHA-256 hex digest of a resolved configuration's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Manifest:
    """The manifest of one output folder (see the module docs).

    Attributes
    ----------
    folder : pathlib.Path
    kind : {"run", "sweep"}
    status : {"running", "complete"}
    config_sha256 : str
    started, finished : str
        ISO times (UTC); ``finished`` is empty while running.
    outputs : tuple of str
        Paths relative to ``folder`` of everything the run wrote.
    """

    folder: pathlib.Path
    kind: str
    status: str
    config_sha256: str
    started: str
    finished: str = ""
    outputs: tuple = field(default=())

    @classmethod
    def start(cls, folder, kind, config_text):
        """Write a new ``running`` manifest for ``config_text`` and return it."""
        manifest = cls(pathlib.Path(folder), kind, "running", config_digest(config_text), _now())
        manifest._write()
        return manifest

    def _write(self):
        data = {"format": _FORMAT, "tool": "clickloop", "kind": self.kind, "status": self.status,
                "config_sha256": self.config_sha256, "started": self.started, "finished": self.finished,
                "outputs": list(self.outputs)}
        atomic_write_text(self.folder / MANIFEST, json.dumps(data, indent=1) + "\n")

    def add(self, *paths):
        """Record outputs and rewrite the manifest: absolute paths inside the (absolute) folder, or names
        relative to the folder (never to the working directory)."""
        names = list(self.outputs)
        for path in paths:
            path = pathlib.Path(path)
            name = str(path.relative_to(self.folder) if path.is_absolute() else path)
            if not _inside(name):
                raise ValueError(f"output {name!r} is not inside the folder {self.folder}")
            if name not in names:
                names.append(name)
        object.__setattr__(self, "outputs", tuple(names))
        self._write()

    def complete(self):
        """Mark the run complete: every output is in place."""
        object.__setattr__(self, "status", "complete")
        object.__setattr__(self, "finished", _now())
        self._write()

    def reopen(self):
        """The same manifest marked ``running`` again (a resumed run), written."""
        manifest = replace(self, status="running", finished="")
        manifest._write()
        return manifest


def _inside(name):
    """Whether a recorded output names something strictly inside the folder (not the folder, not above it)."""
    parts = pathlib.PurePath(name).parts
    return bool(parts) and not pathlib.PurePath(name).is_absolute() and ".." not in parts


def read_manifest(folder):
    """The :class:`Manifest` of an output folder, or None if it has none.

    Raises
    ------
    ResultsError
        If the manifest exists but is not one (damaged or foreign).
    """
    folder = pathlib.Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("tool") != "clickloop" or data.get("status") not in _STATUSES \
                or not isinstance(data.get("outputs"), list) or not all(isinstance(n, str) for n in data["outputs"]):
            raise ValueError("not a clickloop manifest")
        outputs = tuple(data["outputs"])
        for name in outputs:  # never the folder itself, never a path outside it
            if not _inside(name):
                raise ValueError(f"output {name!r} outside the folder")
        return Manifest(folder, str(data["kind"]), data["status"], str(data["config_sha256"]),
                        str(data["started"]), str(data.get("finished", "")), outputs)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not a readable clickloop manifest ({exc})") from None


def check_complete(folder):
    """Raise :class:`ResultsError` unless the folder's results are one finished run's.

    A folder without a manifest (written by hand, or by clickloop before
    manifests) is accepted as it is.
    """
    folder = pathlib.Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return
    if manifest.status != "complete":
        raise ResultsError(f"{folder} holds an unfinished run (status {manifest.status}, started "
                           f"{manifest.started}): its results are not complete; finish it with --resume "
                           "or run it again")
    config = folder / "config.toml"
    if not config.exists() and "config.toml" in manifest.outputs:
        raise ResultsError(f"{config} is missing: the results in {folder} are no longer with the configuration "
                           "they came from; run it again")
    if config.exists() and config_digest(config.read_text(encoding="utf-8")) != manifest.config_sha256:
        raise ResultsError(f"{config} is not the configuration of the results in {folder} (the manifest's "
                           "digest differs)")
