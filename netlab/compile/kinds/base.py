"""What a node kind is: the answers the compile passes ask of a node's kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.plan.model import Interface
    from netlab.topology.model import Node


@dataclass(frozen=True)
class NodeView:
    """What a kind's `files` and `processes` hooks see of one node: its settings and what
    the compile passes gave it (interfaces with their addresses, primary addresses)."""

    name: str
    node: Node
    interfaces: list[Interface]
    primary: Mapping[str, str]  # {"4": address, "6": address}, as in the plan


def _no_files(view: NodeView) -> Mapping[str, str]:
    return {}


def _no_processes(view: NodeView) -> list[str]:
    return []


@dataclass(frozen=True)
class NodeKind:
    """One kind of node (`kind = "..."` in a topology file).

    Every compile pass that treats nodes differently asks the node's kind, never its name,
    so a new kind is one module with one of these and one registration line."""

    name: str
    description: str
    # IPv4 and (when the node has IPv6) IPv6 forwarding; a kind that does not forward
    # gets ip_forward = 0 explicitly, since a new netns inherits it from the host.
    forwards: bool
    # Where its interfaces come in address allocation on a switch (lower: first, so they
    # get the subnet's first addresses); nodes of one rank are ordered by name.
    address_rank: int
    # May be named as a gateway, is chosen as the automatic gateway of its segments'
    # nodes, and is a transit (gets automatic routes) in `routing = "auto"`.
    routes: bool
    # Without `gateway`, gets a default route via the single routing node on its
    # segments (a routing node gets its default route from automatic routing instead).
    takes_default_gateway: bool
    # Further sysctls of every node of this kind (a node's own `sysctl` overrides them).
    sysctls: Mapping[str, str] = field(default_factory=dict)
    # Files the kind writes in the node's machine, path -> text (e.g. a daemon's config):
    # NodePlan.files, under the node's own `files` and lab directory (which win).
    files: Callable[[NodeView], Mapping[str, str]] = _no_files
    # Long-running commands the kind starts in the node (e.g. a routing daemon), before
    # the node's own `exec` commands: they go into the plan's `exec` list.
    processes: Callable[[NodeView], list[str]] = _no_processes

    def kernel_sysctls(self, has_v6: bool) -> dict[str, str]:
        """Forwarding and this kind's sysctls, in the plan's order."""
        out = {"net.ipv4.ip_forward": "1" if self.forwards else "0"}
        if self.forwards and has_v6:
            out["net.ipv6.conf.all.forwarding"] = "1"
        out.update(self.sysctls)
        return out
