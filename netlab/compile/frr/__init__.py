"""Dynamic routing with FRR, generated from the lab (docs/routing.md).

The protocol registry: `routing = "..."` names one of PROTOCOLS besides "auto"/"none".
Adding a protocol: a module beside ospf.py defining `PROTOCOL = Protocol(...)`
(netlab/compile/frr/base.py says what each part does), and one line below. The compile
pass that turns routers into FRR routers is netlab/compile/frr/plans.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.compile import kinds
from netlab.compile.frr import bgp, ospf, rip
from netlab.compile.frr.base import Protocol

if TYPE_CHECKING:
    from netlab.topology.model import TopologyFile

# Registration: one line per protocol.
PROTOCOLS: dict[str, Protocol] = {
    ospf.PROTOCOL.name: ospf.PROTOCOL,
    rip.PROTOCOL.name: rip.PROTOCOL,
    bgp.PROTOCOL.name: bgp.PROTOCOL,
}


def routing_of(tf: TopologyFile, name: str) -> str:
    """A node's effective `routing`: its own, else the lab's."""
    own = tf.nodes[name].routing
    return tf.lab.routing if own is None else own


def protocols(tf: TopologyFile) -> dict[str, str]:
    """node -> protocol, for every router that runs one (hosts never do)."""
    out = {}
    for name, node in tf.nodes.items():
        proto = routing_of(tf, name)
        if proto in PROTOCOLS and kinds.get(node.kind).routes:
            out[name] = proto
    return out


__all__ = ["PROTOCOLS", "Protocol", "protocols", "routing_of"]
