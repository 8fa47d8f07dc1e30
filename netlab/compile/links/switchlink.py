"""Link kind "switch-link": a [[links]] entry between two switches.

A veth pair whose two ends are ports of the two switches' bridges: the switches then form
one L2 segment (one subnet; compile/graph.py joins them). Switches that form a loop need
the spanning tree protocol (`stp = true`) on every one of them, or frames circle forever:
validate warns. Each end is named after the other switch when that fits, else 'portN'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from netlab.compile.links.base import End, LinkKind, edges, switch_end
from netlab.errors import Problems, toml_key
from netlab.names import IFNAME_MAX
from netlab.plan.model import SwitchPort, VethPlan

if TYPE_CHECKING:
    from netlab.compile.context import Build


class SwitchLink(LinkKind):
    name = "switch-link"
    description = "switch to switch: a veth pair, each end a port of its switch's bridge"

    def claims(self, a: End, b: End) -> bool:
        return a.is_switch and b.is_switch

    def check_ends(self, path: str, a: End, b: End, problems: Problems) -> bool:
        if a.name == b.name:
            problems.error(path, f"link joins switch {a.name!r} to itself",
                           f"connect {a.name} to another switch or to a node")
            return False
        return True

    def prepare(self, b: Build) -> None:
        """Port names (after the switch-port kind's, which they avoid), and the loop
        warning."""
        links = edges(b.g, self.name)
        if not links:
            return
        taken: dict[str, set[str]] = {}
        count: dict[str, int] = {}
        for i, ends in edges(b.g, "switch-port"):
            sw = ends[0] if ends[0].is_switch else ends[1]
            taken.setdefault(sw.name, {"br0"}).add(b.ports[i])
            count[sw.name] = count.get(sw.name, 0) + 1
        for i, ends in links:
            for j, (own, other) in enumerate((ends, ends[::-1])):
                names = taken.setdefault(own.name, {"br0"})
                name = other.name
                if len(name) > IFNAME_MAX or name in names:
                    k = count.get(own.name, 0)
                    while f"port{k}" in names:
                        k += 1
                    name = f"port{k}"
                count[own.name] = count.get(own.name, 0) + 1
                names.add(name)
                b.ports[(i, j)] = name
        _warn_loops(b, links)

    def wire(self, b: Build) -> list[tuple[int, VethPlan]]:
        veths = []
        ports: dict[str, list[SwitchPort]] = {}
        for i, (x, y) in edges(b.g, self.name):
            px, py = b.ports[(i, 0)], b.ports[(i, 1)]
            ports.setdefault(x.name, []).append(SwitchPort(ifname=px, node=y.name,
                                                           node_ifname=py))
            ports.setdefault(y.name, []).append(SwitchPort(ifname=py, node=x.name,
                                                           node_ifname=px))
            veths.append((i, VethPlan(a=switch_end(b, i, 0, x, px),
                                      b=switch_end(b, i, 1, y, py))))
        # The switch-port kind made the switch plans (registered first): add these ports.
        b.switches = [sw.model_copy(update={"ports": sw.ports + ports[sw.name]})
                      if sw.name in ports else sw for sw in b.switches]
        return veths


def _warn_loops(b: Build, links: list[tuple[int, tuple[End, End]]]) -> None:
    """A warning for each group of switches whose links form a loop while some of them
    run no spanning tree: such a loop floods every broadcast frame forever."""
    g: nx.MultiGraph = nx.MultiGraph()
    for i, (x, y) in links:
        g.add_edge(x.name, y.name, key=i)
    order = {name: k for k, name in enumerate(b.tf.switches)}
    for group in nx.connected_components(g):
        sub = g.subgraph(group)
        if sub.number_of_edges() < sub.number_of_nodes():
            continue  # a tree: no loop
        names = sorted(group, key=order.__getitem__)
        without = [n for n in names if not b.tf.switches[n].stp]
        if without:
            b.problems.warning(
                f"switches.{toml_key(without[0])}",
                f"switches {', '.join(names)} form a loop and {', '.join(without)} run no"
                " spanning tree: broadcast frames would circle forever",
                "set stp = true on " + ", ".join(f"switches.{toml_key(n)}" for n in without)
                + ", or remove a link of the loop")


KIND = SwitchLink()
