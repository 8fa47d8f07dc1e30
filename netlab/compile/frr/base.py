"""What the routing protocol modules share: the routers of a lab as the protocols see them.

A `Router` is one node that runs a protocol (its effective `routing` names one and its
kind routes); its `Port`s are its interfaces with IPv4 addresses, each knowing the other
routers of the same protocol on its segment. A `Protocol` (ospf.py, rip.py, bgp.py) checks
the lab and writes its part of each router's frr.conf.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netlab.compile.context import Build
    from netlab.topology.model import Node


@dataclass(frozen=True)
class Neighbour:
    node: str
    address: str  # its IPv4 address on the shared segment


@dataclass(frozen=True)
class Port:
    """One interface of a router that the protocol runs on."""

    ifname: str
    link: int  # index of the [[links]] entry the interface belongs to
    segment: str  # switch name or "links[N]"
    switch: str | None
    v4: list[ipaddress.IPv4Interface]
    peer: str  # the node or switch at the other end of the wire
    neighbours: list[Neighbour]  # other routers of the same protocol on the segment

    @property
    def label(self) -> str:
        """What the interface faces, for its description in frr.conf."""
        return self.segment if self.switch else f"{self.segment} to {self.peer}"

    @property
    def p2p(self) -> bool:
        """A wire between two nodes (not a switch)."""
        return self.switch is None


@dataclass
class Router:
    name: str
    node: Node
    protocol: str
    ports: list[Port]
    loopback4: list[ipaddress.IPv4Interface]
    router_id: str | None
    default_route: bool = False  # it has a default route to hand on (the uplink's node)
    handwritten: bool = False  # /etc/frr/frr.conf comes from the node's `files`


@dataclass
class Lab:
    """The routers of a lab, and what the protocols' checks found (per protocol)."""

    b: Build
    routers: dict[str, Router]
    state: dict[str, Any] = field(default_factory=dict)

    def of(self, protocol: str) -> list[Router]:
        return [r for r in self.routers.values() if r.protocol == protocol]


@dataclass(frozen=True)
class Protocol:
    """One routing protocol: its FRR daemon, its checks and its part of frr.conf."""

    name: str
    daemon: str  # the FRR daemon that runs it (/usr/lib/frr/<daemon>)
    description: str
    # Checks of the lab for this protocol (errors and warnings into lab.b.problems); runs
    # once per lab, before any config is written, and may leave results in lab.state.
    check: Callable[[Lab], None]
    # The lines of one router's frr.conf for this protocol (interfaces and router block).
    config: Callable[[Lab, Router], list[str]]
