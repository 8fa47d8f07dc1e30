"""The Python API's pure half: load a topology file into model, graph and plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from netlab.compile.compiler import compile_topology
from netlab.errors import Problem, TopologyError
from netlab.plan.model import Plan
from netlab.topology.loader import merge, parse_lenient, read_text
from netlab.topology.model import TopologyFile


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


def load(path: str | Path) -> Topology:
    """Read, validate and compile a topology file; raise TopologyError with every problem."""
    source = str(path)
    model, early = parse_lenient(read_text(path), source)
    if model is None:
        raise TopologyError(source, early, more_checks_pending=True)
    from netlab.backends.kernel.shaping import netem_warnings

    kernel = netem_warnings(model)  # the backend's preflight asks the kernel; compile never
    try:
        compiled = compile_topology(model, source)
    except TopologyError as e:
        # Problems of the structure (unknown keys) and of the meaning, reported together.
        raise TopologyError(source, merge(early, e.problems + kernel), bool(early)) from None
    warnings = sorted(compiled.warnings + kernel)
    if early:
        raise TopologyError(source, merge(early, warnings), more_checks_pending=True)
    return Topology(source, model, compiled.graph, compiled.plan, warnings)
