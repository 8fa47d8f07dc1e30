"""The link kind registry: how each kind of link is checked and what it adds to the plan.

Adding a kind: a module beside veth.py defining `KIND` (a netlab/compile/links/base.py
LinkKind subclass, each hook explained there) and one line in KINDS below. A [[links]]
entry is of the first kind that claims its ends; the compile passes call every kind's
hooks in this order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.compile.links import switchlink, switchport, uplink, veth
from netlab.compile.links.base import End, LinkKind

if TYPE_CHECKING:
    from netlab.topology.model import TopologyFile

# Registration: one line per kind.
KINDS: dict[str, LinkKind] = {
    veth.KIND.name: veth.KIND,
    switchport.KIND.name: switchport.KIND,
    switchlink.KIND.name: switchlink.KIND,
    uplink.KIND.name: uplink.KIND,
}


def of(a: End, b: End) -> LinkKind:
    """The kind of a [[links]] entry with these ends."""
    for kind in KINDS.values():
        if kind.claims(a, b):
            return kind
    raise LookupError(f"no link kind claims a link between {a.name!r} and {b.name!r}")


def node_ifnames(tf: TopologyFile, node: str) -> list[str]:
    """Interfaces a node gets from link kinds outside [[links]] (the uplink's)."""
    return [x for kind in KINDS.values() for x in kind.node_ifnames(tf, node)]


__all__ = ["KINDS", "End", "LinkKind", "node_ifnames", "of"]
