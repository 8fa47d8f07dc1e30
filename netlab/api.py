"""The Python API's pure half: load a topology file into model, graph and plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from netlab.compiler import compile_topology
from netlab.errors import Problem
from netlab.loader import read
from netlab.model import TopologyFile
from netlab.plan import Plan


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
    model = read(path)
    compiled = compile_topology(model, source)
    return Topology(source, model, compiled.graph, compiled.plan, compiled.warnings)
