"""Argument types of the benchmark scripts: ``experiments/_arguments.py``, loaded from its file.

The benchmarks import this module from their own folder (``python benchmarks/NAME.py``
puts that folder first on the import path); the code itself lives once, in
``experiments/_arguments.py``.
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_experiments_arguments", Path(__file__).resolve().parents[1] / "experiments" / "_arguments.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

__all__ = _module.__all__
OneLineParser = _module.OneLineParser
choice_list = _module.choice_list
existing_folder = _module.existing_folder
int_list = _module.int_list
nonnegative_int = _module.nonnegative_int
output_file = _module.output_file
output_folder = _module.output_folder
positive_int = _module.positive_int
seed_list = _module.seed_list
