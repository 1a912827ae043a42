"""Lazy package faces (PEP 562): a domain lists what other layers may use and loads each name on first use.

A domain's ``__init__`` names its public functions and classes once; importing the package costs nothing, so a
worker that needs one inner module does not pay for the domain's heavy libraries (Splink, Spark, FastAPI).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_face(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that loads ``name`` from ``package.<names[name]>`` when it is first asked for.

    Parameters
    ----------
    package
        The package's ``__name__``.
    names
        Each public name and the submodule (relative to ``package``) that defines it.

    Returns
    -------
    Callable[[str], Any]
        To assign to the package's ``__getattr__``. A loaded name is bound on the package, so the next access is
        a plain attribute. A name that is also a submodule's name must be imported eagerly instead: once that
        submodule is imported, Python binds the submodule on the package and never asks ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
