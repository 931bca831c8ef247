"""Import a script of ``benchmarks/`` as a module (they are scripts, not a package), for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str | None = None) -> ModuleType:
    """``benchmarks/<relative>`` as a module named ``name`` (default: the file's stem).

    The module is registered in ``sys.modules`` before it runs: dataclasses look their
    module up while a class is being built.
    """
    path = REPO / "benchmarks" / relative
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
