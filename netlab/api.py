"""The Python API: load a topology file (model, graph, plan, and the machine's warnings
about it), and the verbs that act on labs by name (list, destroy, check). Running labs
are `netlab.lab.Lab`. Both reach the machine only through a backend (netlab.backends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from netlab.compile.compiler import compile_topology
from netlab.errors import NetlabError, Problem, TopologyError
from netlab.plan.model import Plan
from netlab.topology.loader import merge, parse_lenient, read_text
from netlab.topology.model import TopologyFile

if TYPE_CHECKING:
    from netlab.backends.base import Backend
    from netlab.probes.results import CheckReport


@dataclass
class Topology:
    """A validated topology: its typed model, its graph and its compiled plan."""

    path: str
    model: TopologyFile
    graph: nx.MultiGraph
    plan: Plan
    warnings: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.lab.name


def _backend(backend: Backend | None) -> Backend:
    from netlab import backends

    return backend if backend is not None else backends.get()


def load(path: str | Path, backend: Backend | None = None) -> Topology:
    """Read, validate and compile a topology file; raise TopologyError with every problem
    (the file's, and those the backend's preflight finds with this machine)."""
    source = str(path)
    model, early = parse_lenient(read_text(path), source)
    if model is None:
        raise TopologyError(source, early, more_checks_pending=True)
    b = _backend(backend)  # compile itself never asks the machine: the backend does
    try:
        compiled = compile_topology(model, source)
    except TopologyError as e:
        # Problems of the structure (unknown keys) and of the meaning, reported together.
        problems = e.problems + b.preflight(model)
        raise TopologyError(source, merge(early, problems), bool(early)) from None
    machine = b.preflight(model, compiled.plan)
    problems = sorted(compiled.warnings + machine)
    if early:
        raise TopologyError(source, merge(early, problems), more_checks_pending=True)
    if any(p.severity == "error" for p in machine):  # e.g. a sysctl value the kernel refuses
        raise TopologyError(source, problems)
    return Topology(source, model, compiled.graph, compiled.plan, problems)


# --- labs by name ----------------------------------------------------------------------

def labs(half_built: bool = False, backend: Backend | None = None) -> list[str]:
    """Deployed labs (with half_built, also interrupted deploys that left state)."""
    return _backend(backend).labs(half_built)


def deployed(backend: Backend | None = None) -> list[tuple[str, Plan | NetlabError]]:
    """Every lab with state, and its plan or why it cannot be read (for `netlab list`)."""
    b = _backend(backend)
    out: list[tuple[str, Plan | NetlabError]] = []
    for name in b.labs(half_built=True):
        try:
            out.append((name, b.plan(name)))
        except NetlabError as e:
            out.append((name, e))
    return out


def destroy(name: str, backend: Backend | None = None) -> Any:
    """Remove a lab by name, even one whose plan is lost or damaged: the backend's report,
    or None when it was not deployed (idempotent). The name must be valid already."""
    return _backend(backend).destroy(name)


def check(target: str | Path | None = None, lab: str | None = None, retry: float = 0.0,
          backend: Backend | None = None) -> CheckReport:
    """Run expectations against a deployed lab, as `netlab check TARGET --lab LAB` does.

    target: a deployed lab's name (its saved expectations), a topology file or bundled
    lab's name (that file's expectations, against the lab it names or `lab`), or None
    (the saved expectations of `lab`, or of the only deployed lab). retry: seconds to
    re-run failed reach expectations (services started by `exec` may still be starting).
    """
    from netlab.lab import Lab

    b = _backend(backend)
    expectations = None
    name = _deployed_name(str(target), lab, b) if target is not None else None
    if name is None and target is not None:
        from netlab.topology.library import resolve

        topo = load(resolve(str(target)), b)  # a path, or a bundled lab's name
        name = lab or topo.name
        expectations = topo.plan.expect
    return Lab.attach(name if name is not None else lab, b).check(expectations, retry=retry)


def _deployed_name(text: str, lab: str | None, b: Backend) -> str | None:
    """`text` when it names a deployed lab and no bundled lab (a bundled lab's name comes
    first, as in deploy); None otherwise (a path, a bundled lab, or nothing deployed)."""
    from netlab.topology.library import bundled, is_path

    if is_path(text) or lab not in (None, text) or any(x.name == text for x in bundled()):
        return None
    return text if text in b.labs() else None
