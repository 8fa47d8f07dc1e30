"""Backends: apply a plan to a machine, observe it, undo it (the protocol is base.Backend).

A backend is one package plus one line in BACKENDS; it is imported only when used, so
`netlab --help` stays light. Everything outside netlab/backends reaches the machine through
`get()` or `for_plan(plan)`, never by importing a backend's modules (a test checks).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.backends.base import Backend
    from netlab.plan.model import Plan

# name -> "module:attribute" of a class whose instances implement base.Backend
BACKENDS: dict[str, str] = {
    "kernel": "netlab.backends.kernel.backend:KernelBackend",
    "userns": "netlab.backends.userns.backend:UsernsBackend",  # rootless (join.py sets DEFAULT)
}
DEFAULT = "kernel"

# One instance per registered class, made on first use. Keyed by the registration, not the
# name: a test that registers another class under a name gets that class's instance.
_made: dict[str, Backend] = {}


def get(name: str | None = None) -> Backend:
    """The backend registered as `name` (default: DEFAULT, read at call time)."""
    name = DEFAULT if name is None else name
    if name not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise KeyError(f"no backend {name!r} (known: {known})")
    spec = BACKENDS[name]
    if spec not in _made:
        module, _, attr = spec.partition(":")
        _made[spec] = getattr(importlib.import_module(module), attr)()
    return _made[spec]


def for_plan(plan: Plan) -> Backend:
    """The backend that runs this plan's lab (the default one, until a plan says otherwise)."""
    return get()


def preload(name: str | None = None) -> None:
    """Import every module of backend `name` (and of the backends it builds on) now: for a
    process about to fork into a namespace whose user may not read the interpreter's
    files (classroom/students.py), and so that each child does not import them again."""
    import pkgutil

    packages = {k.__module__.rpartition(".")[0] for k in type(get(name)).__mro__
                if k.__module__.startswith(__name__ + ".")}
    for package in sorted(packages):
        path = importlib.import_module(package).__path__
        for info in pkgutil.iter_modules(path):
            importlib.import_module(f"{package}.{info.name}")
