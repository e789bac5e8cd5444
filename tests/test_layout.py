"""The layout the packages promise: one dependency direction, no private imports across packages.

``clickloop`` (the application) imports ``simulator``, ``policies``, ``ltr``
and ``analysis``; none of those four imports ``clickloop``; no package imports
another package's private module or name (``_name``); scripts and tests import
the installed packages, never through ``sys.path``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "policies", "ltr", "analysis", "clickloop")


def _imports(path):
    """(module, names) of every import in a file; relative imports resolved to their package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(ROOT).parts[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = package + ("." + module if module else "")
            yield module, tuple(alias.name for alias in node.names)


def _files(package):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES[:4])
def test_the_lower_packages_never_import_clickloop(package):
    offenders = [(str(path.relative_to(ROOT)), module) for path in _files(package)
                 for module, _ in _imports(path) if module.split(".")[0] == "clickloop"]
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_imports_a_private_module_or_name_of_another(package):
    offenders = []
    for path in _files(package):
        for module, names in _imports(path):
            parts = module.split(".")
            if parts[0] not in PACKAGES or parts[0] == package:
                continue
            private = [p for p in parts[1:] if p.startswith("_")] + [n for n in names if n.startswith("_")]
            if private:
                offenders.append((str(path.relative_to(ROOT)), module, names))
    assert offenders == []


def test_run_simulation_is_a_shim_of_at_most_30_lines():
    assert len((ROOT / "run_simulation.py").read_text().splitlines()) <= 30


@pytest.mark.parametrize("folder", ["benchmarks", "experiments", "tests"])
def test_scripts_and_tests_import_installed_packages_not_sys_path(folder):
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / folder).rglob("*.py"))
                 if path.name != "test_layout.py" and "sys.path" in path.read_text()]
    assert offenders == []
