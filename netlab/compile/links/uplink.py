"""Link kind "uplink": [uplink] joins one node to the host (a veth pair whose other end is
in the host's namespace; the backend's side is backends/kernel/uplink.py).

It is not a [[links]] entry: it gives its node one more interface, a default route via the
host (unless the node has one) and, with masquerade, NAT on that interface.
"""

from __future__ import annotations

import ipaddress
import zlib
from typing import TYPE_CHECKING

from netlab.compile.links.base import LinkKind
from netlab.errors import no_such_node
from netlab.names import IFNAME_MAX, ifname_problem
from netlab.plan.model import RoutePlan, UplinkPlan
from netlab.topology.model import (
    UPLINK_DEFAULT_RANGE,
    UPLINK_PREFIX_MAX,
    UPLINK_PREFIX_MIN,
    UPLINK_PRIVATE,
    TopologyFile,
)

if TYPE_CHECKING:
    from netlab.compile.context import Build


class Uplink(LinkKind):
    name = "uplink"
    description = "a node to the host: a veth pair, routed and optionally masqueraded"

    def node_ifnames(self, tf: TopologyFile, node: str) -> list[str]:
        return [tf.uplink.ifname] if tf.uplink is not None and tf.uplink.node == node else []

    def prepare(self, b: Build) -> None:
        b.uplink = _plan(b)

    def node_plan(self, b: Build, node: str, routes: list[RoutePlan],
                  masquerade: list[str]) -> None:
        up = b.uplink
        if up is None or up.node != node:
            return
        if not any(r.to == "default" for r in routes) and b.tf.nodes[node].gateway is not False:
            routes.append(RoutePlan(to="default", via=up.host_address.split("/")[0],
                                    dev=up.ifname, origin="uplink"))
        if up.masquerade and up.ifname not in masquerade:
            masquerade.append(up.ifname)


def _plan(b: Build) -> UplinkPlan | None:
    tf, p, up = b.tf, b.problems, b.tf.uplink
    if up is None:
        return None
    ok = True
    if up.node not in tf.nodes:
        p.error("uplink.node", no_such_node(up.node, tf.nodes), "name one of the lab's nodes")
        ok = False
    if (why := ifname_problem(up.ifname)) is not None:
        p.error("uplink.ifname", why, 'use a name such as "uplink"')
        ok = False
    elif (up.node, up.ifname) in b.addr.addresses:
        p.error("uplink.ifname", f"node {up.node!r} already has interface {up.ifname!r}",
                "pick another name for the uplink interface")
        ok = False
    subnet = up.subnet
    if subnet is None:
        # Stable per lab name, so two labs' uplinks rarely collide; checked again at deploy.
        index = zlib.crc32(tf.lab.name.encode()) % (1 << (30 - UPLINK_DEFAULT_RANGE.prefixlen))
        subnet = ipaddress.IPv4Network(
            (int(UPLINK_DEFAULT_RANGE.network_address) + 4 * index, 30))
    elif (why := uplink_subnet_problem(subnet)) is not None:
        p.error("uplink.subnet", why, f'use a /{UPLINK_PREFIX_MAX} such as "100.64.7.0/30"'
                " inside " + _ranges() + ", or leave uplink.subnet out")
        ok = False
        subnet = None  # no overlap to report: a fix replaces it anyway
    for seg in b.addr.segments.values() if subnet is not None else ():
        net = seg.subnet.get(4)
        if net is not None and net.overlaps(subnet):
            p.error("uplink.subnet", f"uplink subnet {subnet} overlaps {net} ({seg.path})",
                    "set uplink.subnet to a /30 the lab does not use")
            ok = False
    for name, xs in b.addr.loopback.items() if subnet is not None else ():
        for x in xs:
            if x.version == 4 and x.network.overlaps(subnet):
                p.error("uplink.subnet", f"uplink subnet {subnet} holds {x.ip}, a loopback"
                        f" address of {name!r}", "set uplink.subnet to a /30 the lab does not use")
                ok = False
    if not ok or subnet is None:
        return None
    # Arithmetic, not subnet.hosts(): a subnet is never enumerated.
    base, plen = int(subnet.network_address), subnet.prefixlen
    return UplinkPlan(
        node=up.node, netns=b.netns(up.node), ifname=up.ifname,
        host_ifname=f"nl-{tf.lab.name}"[:IFNAME_MAX],
        host_address=f"{ipaddress.IPv4Address(base + 1)}/{plen}",
        node_address=f"{ipaddress.IPv4Address(base + 2)}/{plen}", masquerade=up.masquerade,
        isolated=up.isolated,
    )


def _ranges() -> str:
    *first, last = [str(n) for n in UPLINK_PRIVATE]
    return ", ".join(first) + " or " + last


def uplink_subnet_problem(subnet: ipaddress.IPv4Network) -> str | None:
    """Why `subnet` cannot be an uplink subnet (too large, too small, or not private)."""
    why = []
    if subnet.prefixlen < UPLINK_PREFIX_MIN:
        why.append(f"too large for an uplink (a /{subnet.prefixlen}; the host routes it to the"
                   f" lab, so at most a /{UPLINK_PREFIX_MIN})")
    elif subnet.prefixlen > UPLINK_PREFIX_MAX:
        why.append(f"too small for the host's and the node's address (a /{subnet.prefixlen})")
    if not any(subnet.subnet_of(n) for n in UPLINK_PRIVATE):
        why.append("not private address space: the host would route it into the lab instead"
                   " of to its real owners")
    return f"{subnet} is " + " and ".join(why) if why else None


KIND = Uplink()
