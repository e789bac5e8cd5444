"""Sweep files: a base configuration, fixed overrides and a grid of config values.

A sweep file is TOML::

    preset = "smoke"              # the base: preset = "NAME" or config = "PATH", exactly one
    seeds = 3                     # optional: seeds 0..N-1 of every grid point (default: the base's)

    [set]                         # optional: overrides applied to every grid point
    "loop.rounds" = 2

    [grid]                        # config key paths -> lists of values; the runs are the product
    "click_model.eta" = [0.5, 1.0, 2.0]
    "policy.kind" = ["deterministic", "plackett_luce"]

Keys of ``[set]`` and ``[grid]`` are key paths of :class:`ExperimentConfig`,
quoted (``"click_model.eta"``) or as TOML dotted keys (``click_model.eta``),
including the parameters of user-named variants (``"variants.ips_clip.clip"``).
A ``config`` path is read relative to the sweep file's folder.

:func:`expand` turns a :class:`SweepSpec` into its grid points (the Cartesian
product, the first grid key varying slowest), each validated into an
:class:`ExperimentConfig` up front, so a bad key or value anywhere in the grid
raises :class:`ConfigError` before anything runs.  This module is pure
configuration logic: it knows nothing of learners or of how tasks are run.

Examples
--------
>>> spec = sweep_from_dict({"preset": "smoke", "seeds": 2,
...                         "grid": {"click_model.eta": [0.5, 1.0], "policy.kind": ["deterministic"]}})
>>> [point.id for point in expand(spec)]
['eta=0.5,kind=deterministic', 'eta=1.0,kind=deterministic']
>>> expand(spec)[1].config.click_model.eta, expand(spec)[1].config.seeds
(1.0, 2)
>>> sweep_from_dict({"preset": "smoke", "grid": {"click_model.eta": [0.5, -1.0]}})
Traceback (most recent call last):
...
clickloop._errors.ConfigError: sweep: grid.click_model.eta = -1.0: click_model.eta must be >= 0.0 and <= 10.0, got -1.0
"""

import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ._config import (ConfigError, ExperimentConfig, _merge, _nested, config_from_dict, config_to_dict, config_value,
                      load_config, read_toml_file)

__all__ = ["GridPoint", "SweepSpec", "expand", "format_value", "read_sweep", "sweep_from_dict"]

_SWEEP_KEYS = ("preset", "config", "seeds", "set", "grid")
#: Grid points a sweep may have (each is validated before anything runs).
MAX_POINTS = 10_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]")
_MAX_ID = 120


def format_value(value):
    """Text of a config value in ids, CSV columns and tables.

    Floats as ``repr`` (round-trips), booleans as TOML's ``true``/``false``,
    lists joined by ``+``.

    Examples
    --------
    >>> format_value(0.5), format_value(True), format_value(["naive", "ips"]), format_value("pbm")
    ('0.5', 'true', 'naive+ips', 'pbm')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "+".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: the base configuration, fixed overrides, the grid and the seeds.

    Parameters
    ----------
    preset : str or None
        Name of the base preset (exactly one of ``preset`` and ``config``).
    config : str or None
        Path of the base configuration file (TOML).
    seeds : int or None, default=None
        Seeds 0..seeds-1 of every grid point; None keeps the base's.
    fixed : tuple of (str, value), default=()
        ``[set]``: key path and value applied to every point.
    grid : tuple of (str, tuple of values), default=()
        ``[grid]``: key path and its values, in file order (the first varies slowest).
    source : str, default="sweep"
        Where the spec came from (the file name), at the start of every error message.
    """

    preset: str | None
    config: str | None
    seeds: int | None = None
    fixed: tuple = ()
    grid: tuple = ()
    source: str = "sweep"

    def __post_init__(self):
        where = self.source
        if self.preset is not None and self.config is not None:
            raise ConfigError(f'{where}: give one base, preset = "NAME" or config = "PATH", not both')
        if self.preset is None and self.config is None:
            raise ConfigError(f'{where}: no base; give preset = "NAME" or config = "PATH"')
        for name in ("preset", "config"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{where}: {name} must be a non-empty string, got {value!r}")
        if self.seeds is not None and (isinstance(self.seeds, bool) or not isinstance(self.seeds, int)
                                       or self.seeds < 1):
            raise ConfigError(f"{where}: seeds must be an integer >= 1, got {self.seeds!r}")
        if not self.grid:
            raise ConfigError(f"{where}: [grid] must map at least one config key path to a list of values")
        fixed = {key for key, _ in self.fixed}
        for key, values in self.grid:
            if key == "seeds":
                raise ConfigError(f"{where}: grid.seeds: the seeds are the task axis, not a grid key; "
                                  "use seeds = N")
            if key in fixed:
                raise ConfigError(f"{where}: grid.{key} is also in [set]; give it in one of them")
            if not isinstance(values, tuple) or not values:
                raise ConfigError(f"{where}: grid.{key} must be a non-empty list of values, got "
                                  f"{list(values) if isinstance(values, tuple) else values!r}")


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep's grid.

    Attributes
    ----------
    index : int
        Position in the product (the first grid key varies slowest).
    id : str
        Filesystem-safe name from the swept values (``eta=0.5,kind=deterministic``),
        stable as long as the values are; the point's output folder.
    values : tuple of (str, value)
        Key path and validated value of every swept key, in grid order.
    config : ExperimentConfig
        The point's validated configuration.
    """

    index: int
    id: str
    values: tuple
    config: ExperimentConfig

    @property
    def label(self):
        """``click_model.eta=0.5, policy.kind=deterministic``: the swept values for messages."""
        return ", ".join(f"{key}={format_value(value)}" for key, value in self.values)


def _flatten(table, prefix, where, section):
    """``{"a": {"b": [1]}}`` -> ``[("a.b", [1])]``; a dotted key quoted or not gives the same path."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{section}] must be a table of key paths, got {table!r}")
    out = []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.extend(_flatten(value, path, where, section))
        else:
            out.append((path, value))
    return out


def sweep_from_dict(data, *, base_dir=".", source="sweep"):
    """Read a sweep from a dict (as parsed from TOML) and validate every grid value.

    Parameters
    ----------
    data : dict
        Top-level keys ``preset`` or ``config``, optional ``seeds``, ``set`` and ``grid``.
    base_dir : str or pathlib.Path, default="."
        Folder a relative ``config`` path is read from.
    source : str, default="sweep"
        Name for error messages (the file).

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        For an unknown key, no base or two, a grid entry that is not a
        non-empty list, or a grid or ``[set]`` value that the configuration
        rejects; the one-line message names the key path and the value.

    Examples
    --------
    >>> sweep_from_dict({"preset": "smoke", "grid": {"click_model.etaa": [1.0]}})
    Traceback (most recent call last):
    ...
    clickloop._errors.ConfigError: sweep: grid.click_model.etaa = 1.0: unknown key 'click_model.etaa'; allowed keys of [click_model]: name, eta, relevance, noise
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a sweep file must be a table, got {data!r}")
    unknown = [key for key in data if key not in _SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed keys of a sweep file: "
                          f"{', '.join(_SWEEP_KEYS)}")
    config = data.get("config")
    if isinstance(config, str) and config:
        config = str(Path(base_dir) / config)
    fixed = tuple(_flatten(data.get("set", {}), "", source, "set"))
    grid = []
    for key, values in _flatten(data.get("grid", {}), "", source, "grid"):
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid.{key} must be a non-empty list of values, got {values!r}")
        grid.append((key, tuple(values)))
    spec = SweepSpec(preset=data.get("preset"), config=config, seeds=data.get("seeds"), fixed=fixed,
                     grid=tuple(grid), source=source)
    _check_values(spec)
    return spec


def read_sweep(path):
    """Read and validate a sweep file (see the module docstring for its format).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or holds a bad key or value.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "eta.toml"
    >>> _ = path.write_text('preset = "smoke"\\n[grid]\\n"click_model.eta" = [0.0, 2.0]\\n')
    >>> read_sweep(path).grid
    (('click_model.eta', (0.0, 2.0)),)
    """
    path = Path(path)
    data = read_toml_file(path, "sweep file")
    return sweep_from_dict(data, base_dir=path.parent, source=str(path))


def _base_dict(spec):
    """The base configuration with the fixed overrides and seeds, as a dict (not yet validated).

    Returns
    -------
    data : dict
    set_error : ConfigError or None
        Why the base with ``[set]`` is not a valid configuration by itself
        (naming the key of ``[set]`` that is wrong alone, if one is); a grid
        may still complete it (``data.source = "letor"`` in ``[set]``,
        ``data.path`` in the grid).
    """
    try:
        base = load_config(spec.config, preset_name=spec.preset)
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: {'preset' if spec.preset else 'config'}: {exc}") from None
    preset_data = config_to_dict(base)
    data = preset_data
    for key, value in spec.fixed:
        data = _merge(data, _nested(key, value))
    if spec.seeds is not None:
        data["seeds"] = spec.seeds
    try:  # [set] as one merged configuration: the order of its keys never matters
        config_from_dict(data)
    except (ConfigError, TypeError) as exc:
        if spec.seeds is not None:  # the top-level seeds, by itself
            try:
                config_from_dict({**preset_data, "seeds": spec.seeds})
            except (ConfigError, TypeError) as alone:
                return data, ConfigError(f"{spec.source}: seeds = {_show(spec.seeds)}: {alone}")
        for key, value in spec.fixed:  # name the key if one is wrong by itself
            try:
                config_from_dict(_merge(preset_data, _nested(key, value)))
            except (ConfigError, TypeError) as alone:
                return data, ConfigError(f"{spec.source}: set.{key} = {_show(value)}: {alone}")
        return data, ConfigError(f"{spec.source}: [set]: {exc}")
    return data, None


def _show(value):
    """A value as given in the file, for messages: strings and lists quoted as Python shows them."""
    return repr(value) if isinstance(value, (str, list, dict)) else format_value(value)


def _validate(data, where):
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:  # a section given as a scalar
        raise ConfigError(f"{where}: {exc}") from None


def _leaf(config, path, where):
    try:
        return config_value(config, path)
    except ConfigError:
        raise ConfigError(f"{where}: a grid key must name a value, not the section [{path}]") from None


def _check_values(spec):
    """Every grid point validated as one merged configuration (base, [set], its grid values).

    A value that no point can use (wrong by itself on the base, and in every
    point it is part of) is named alone, ``grid.KEY = VALUE: ...``; a point
    whose values do not go together is named as a point.  Values that read
    as the same configuration value (1 and 1.0) are rejected as repeats.
    """
    base, set_error = _base_dict(spec)
    n_points = math.prod(len(values) for _, values in spec.grid)
    if n_points > MAX_POINTS:
        raise ConfigError(f"{spec.source}: the grid has {n_points:,} points; at most {MAX_POINTS:,} "
                          "(split the study into several sweeps)")
    alone = {}  # (key, index) -> error of the value by itself on the base
    for key, values in spec.grid:
        seen = {}
        for index, value in enumerate(values):
            where = f"{spec.source}: grid.{key} = {_show(value)}"
            try:
                config = _validate(_merge(base, _nested(key, value)), where)
            except ConfigError as exc:
                alone[(key, index)] = exc
                continue
            text = format_value(_leaf(config, key, where))
            if text in seen:
                raise ConfigError(f"{spec.source}: grid.{key} repeats the value {text} "
                                  f"({_show(seen[text])} and {_show(value)})")
            seen[text] = value
    for combination in itertools.product(*(range(len(values)) for _, values in spec.grid)):
        data = base
        for (key, values), index in zip(spec.grid, combination):
            data = _merge(data, _nested(key, values[index]))
        try:
            config_from_dict(data)
        except (ConfigError, TypeError) as exc:
            if set_error is not None and str(set_error).endswith(str(exc)):
                raise set_error from None  # the grid does not complete what [set] lacks
            for (key, _), index in zip(spec.grid, combination):
                if (key, index) in alone:
                    raise alone[(key, index)] from None
            shown = ", ".join(f"{key} = {_show(values[index])}" for (key, values), index in zip(spec.grid, combination))
            _validate(data, f"{spec.source}: grid point {shown}")


def _labels(keys):
    """Short names of the swept keys in ids: the last part of the path, unless two keys share it."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return [name if last.count(name) == 1 else key for name, key in zip(last, keys)]


def _point_id(labels, values):
    text = ",".join(f"{label}={format_value(value)}" for label, value in zip(labels, values))
    safe = _UNSAFE.sub("_", text)
    if safe == text and len(text) <= _MAX_ID:
        return text
    # Characters replaced or cut: a digest of the full text keeps different points apart.
    return f"{safe[:_MAX_ID]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def expand(spec):
    """The grid points of a sweep: the Cartesian product of the grid, each validated.

    Parameters
    ----------
    spec : SweepSpec

    Returns
    -------
    tuple of GridPoint
        In product order (the first grid key varies slowest).

    Raises
    ------
    ConfigError
        If a combination of values is rejected (for example ``click_model.eta``
        with a click model that has no eta); the message names the point.

    Examples
    --------
    >>> spec = sweep_from_dict({"preset": "smoke", "set": {"loop.rounds": 1},
    ...                         "grid": {"loop.variants": [["naive"], ["naive", "ips"]]}})
    >>> [(p.index, p.id, p.config.loop.rounds) for p in expand(spec)]
    [(0, 'variants=naive', 1), (1, 'variants=naive+ips', 1)]
    """
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec (from read_sweep), got {type(spec).__name__}")
    base, _ = _base_dict(spec)
    keys = [key for key, _ in spec.grid]
    labels = _labels(keys)
    points = []
    for index, combination in enumerate(itertools.product(*(values for _, values in spec.grid))):
        data = base
        for key, value in zip(keys, combination):
            data = _merge(data, _nested(key, value))
        shown = ", ".join(f"{key} = {_show(value)}" for key, value in zip(keys, combination))
        where = f"{spec.source}: grid point {shown}"
        config = _validate(data, where)
        values = tuple((key, _leaf(config, key, where)) for key in keys)
        points.append(GridPoint(index, _point_id(labels, [v for _, v in values]), values, config))
    return tuple(points)

