"""Model -> plan: the compile passes, in order, collecting every problem on the way.

Each pass is one step with one job, in a module named for it; they share a Build
(compile/context.py). Nothing here reads the running machine. Errors stop compiling
only at the "stop on errors" step: every check before it runs, so a student sees every
problem of a file at once.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import networkx as nx

from netlab.compile import (
    addressing,
    checks,
    expectations,
    graph,
    linkprops,
    links,
    machines,
    mtu,
    nodeplans,
    routing,
)
from netlab.compile.context import Build, netns_name
from netlab.compile.frr import plans as frr_plans
from netlab.errors import Problem, TopologyError
from netlab.plan.model import Plan
from netlab.topology.model import TopologyFile


@dataclass
class Compiled:
    model: TopologyFile
    graph: nx.MultiGraph
    plan: Plan
    warnings: list[Problem] = field(default_factory=list)


def _graph(b: Build) -> None:
    b.g = graph.build(b.tf, b.problems)


def _addressing(b: Build) -> None:
    b.addr = addressing.assign(b.tf, b.g, b.problems)


def _routing(b: Build) -> None:
    b.routes = routing.compute(b.tf, b.g, b.addr, b.problems)


def _link_properties(b: Build) -> None:
    b.shaping = linkprops.link_shaping(b.tf, b.problems)


def _link_kinds(b: Build) -> None:
    """Each link kind's checks that need addresses, and what node plans need of it (the
    uplink's plan, switch port names)."""
    for kind in links.KINDS.values():
        kind.prepare(b)


def _stop_on_errors(b: Build) -> None:
    if b.problems.errors:
        raise TopologyError(b.source, sorted(b.problems.items))


def _wiring(b: Build) -> None:
    """Switches and veth pairs: each link kind's wires, in [[links]] order."""
    veths = [v for kind in links.KINDS.values() for v in kind.wire(b)]
    b.veths = [v for _, v in sorted(veths, key=lambda x: x[0])]


def _annotate(b: Build) -> None:
    graph.annotate(b.g, b.addr, b.nodes)


def _plan(b: Build) -> None:
    tf = b.tf
    b.plan = Plan(
        lab=tf.lab.name, description=tf.lab.description, prefix=b.prefix, source=b.source,
        hosts=b.hosts, nodes=b.nodes, switches=b.switches, veths=b.veths, uplink=b.uplink,
        expect=b.expect,
    )


# The compile pipeline, in order: (name, step). A new pass goes here, in its own module.
PASSES: list[tuple[str, Callable[[Build], None]]] = [
    ("lab", checks.check_lab),                  # lab name, prefix, search domains
    ("graph", _graph),                          # nodes, switches, links; endpoint checks
    ("addressing", _addressing),                # addresses from pools and the file
    ("routing", _routing),                      # static, default and automatic routes
    ("nodes", checks.check_nodes),              # sysctls, firewall, NAT, disconnected
    ("mtu", mtu.check_ipv6),                    # IPv6 needs 1280
    ("link properties", _link_properties),      # rate, delay, loss: shaping per end
    ("link kinds", _link_kinds),                # uplink plan, switch port names
    ("node plans", nodeplans.build),            # every node's plan; the hosts file
    ("machines", machines.build),               # files, startup, PID namespace
    ("routing protocols", frr_plans.build),     # FRR files and daemons of routers
    ("expectations", expectations.build),       # [[expect]] targets resolved
    ("stop on errors", _stop_on_errors),
    ("wiring", _wiring),                        # switches and veth pairs
    ("annotate", _annotate),                    # addresses on the graph, for rendering
    ("plan", _plan),
]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Compiling allocates ~10 objects per node and frees almost none before the end; the
    cyclic collector would walk them all over and over (40% of a 4000-node compile)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_topology(tf: TopologyFile, source: str) -> Compiled:
    """Compile a validated model; raise TopologyError listing every problem found."""
    b = Build(tf, source)
    with _gc_paused():
        for _, step in PASSES:
            step(b)
    return Compiled(tf, b.g, b.plan, sorted(b.problems.warnings))


__all__ = ["PASSES", "Compiled", "compile_topology", "netns_name"]
