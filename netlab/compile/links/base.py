"""What a link kind is: how its endpoints are checked and what it adds to the plan.

A [[links]] entry is claimed by the first registered kind whose `claims` says yes (a node
and a node: "veth"; a switch at either end: "switch-port"); a kind may also come from
elsewhere in the file (the uplink, from [uplink]). The compile passes call each hook of
every registered kind in registration order; the defaults do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from netlab.compile import mtu
from netlab.compile.macs import link_mac
from netlab.errors import Problems
from netlab.plan.model import RoutePlan, VethEnd, VethPlan

if TYPE_CHECKING:
    from netlab.compile.context import Build
    from netlab.topology.model import TopologyFile


@dataclass(frozen=True)
class End:
    """One end of a [[links]] entry, as the graph holds it (ifname resolved by the graph)."""

    name: str  # node or switch
    ifname: str | None  # None on the switch side
    is_switch: bool


class LinkKind:
    name: str = ""
    description: str = ""

    def claims(self, a: End, b: End) -> bool:
        """Whether a [[links]] entry with these ends is of this kind."""
        return False

    def check_ends(self, path: str, a: End, b: End, problems: Problems) -> bool:
        """Report what is wrong with a claimed link's ends; False: leave it out of the graph."""
        return True

    def node_ifnames(self, tf: TopologyFile, node: str) -> list[str]:
        """Interfaces this kind gives a node outside [[links]] (checked like its own)."""
        return []

    def prepare(self, b: Build) -> None:
        """After addressing: checks that need addresses, and what node plans need of it."""

    def node_plan(self, b: Build, node: str, routes: list[RoutePlan],
                  masquerade: list[str]) -> None:
        """What this kind adds to a node's routes and masqueraded interfaces."""

    def wire(self, b: Build) -> list[tuple[int, VethPlan]]:
        """The plan's wires for its links, each with its [[links]] index (the plan keeps
        file order across kinds); may add lab-level objects to `b` (switches)."""
        return []


def edges(g: nx.MultiGraph, kind: str) -> list[tuple[int, tuple[End, End]]]:
    """(link index, ends) of the graph's links of one kind, in file order; the ends are in
    the order of the link's endpoints. Indexed by graph.build (walking networkx's edge
    views is slow at 1000s of links)."""
    return list(g.graph["links"].get(kind, ()))


def node_end(b: Build, i: int, j: int, end: End) -> VethEnd:
    """The plan's veth end in a node, for endpoint j of links[i]."""
    return VethEnd(netns=b.netns(end.name), ifname=end.ifname,  # type: ignore[arg-type]
                   mtu=mtu.mtu(b.tf, i, end.name, None), shaping=b.shaping.get((i, j)),
                   mac=link_mac(b.tf, i, j))


def switch_end(b: Build, i: int, j: int, end: End, port: str) -> VethEnd:
    """The plan's veth end in a switch (its bridge's port `port`), for endpoint j of
    links[i]."""
    return VethEnd(netns=b.netns(end.name), ifname=port,
                   mtu=mtu.mtu(b.tf, i, None, end.name), shaping=b.shaping.get((i, j)),
                   mac=link_mac(b.tf, i, j))
