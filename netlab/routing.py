"""Routes: default gateways of hosts, hand-written routes, and auto routing.

Auto routing (`lab.routing = "auto"`) gives every router a route to every subnet it is not
attached to, via the first hop of a shortest path (networkx BFS) through routers only:
hosts never forward. With an uplink, every other router also gets a default route
towards the uplink node.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import networkx as nx

from netlab.addressing import Addressing, Iface
from netlab.errors import Problems, did_you_mean
from netlab.model import TopologyFile


@dataclass(frozen=True)
class RouteEntry:
    to: str  # "default", "default6" or a subnet
    via: str | None
    dev: str | None
    origin: str  # default | static | auto | uplink


def _ifaces(addr: Addressing, node: str) -> dict[str, list[Iface]]:
    return {ifn: xs for (n, ifn), xs in addr.addresses.items() if n == node}


def _on_link(addr: Addressing, node: str, ip: ipaddress._BaseAddress) -> str | None:
    """The node's interface whose subnet contains ip."""
    for ifname, xs in _ifaces(addr, node).items():
        if any(x.version == ip.version and ip in x.network for x in xs):
            return ifname
    return None


def _shared(addr: Addressing, a: str, b: str, family: int) -> tuple[str, Iface] | None:
    """(a's ifname, b's address) on the first segment a and b share, in a's link order."""
    for seg in addr.segments.values():
        mine = [m for m in seg.members if m.node == a]
        theirs = [m for m in seg.members if m.node == b]
        if not mine or not theirs:
            continue
        for x in addr.addresses[(theirs[0].node, theirs[0].ifname)]:
            if x.version == family:
                return mine[0].ifname, x
    return None


def _default_name(family: int) -> str:
    return "default" if family == 4 else "default6"


def compute(
    tf: TopologyFile, g: nx.MultiGraph, addr: Addressing, problems: Problems
) -> dict[str, list[RouteEntry]]:
    routes: dict[str, list[RouteEntry]] = {n: [] for n in tf.nodes}
    routers = [n for n, node in tf.nodes.items() if node.kind == "router"]

    # Default routes from `gateway` (explicit, or the single router on the host's segments).
    for name, node in tf.nodes.items():
        path = f"nodes.{name}.gateway"
        gw = node.gateway
        if gw is None:
            if node.kind == "router":
                continue
            near = sorted(
                {m.node for seg in addr.segments.values() if any(x.node == name for x in seg.members)
                 for m in seg.members if m.node != name and tf.nodes[m.node].kind == "router"}
            )
            if len(near) > 1:
                problems.warning(
                    f"nodes.{name}",
                    f"host {name!r} shares segments with several routers ({', '.join(near)});"
                    " it gets no default route",
                    f'set nodes.{name}.gateway to one of them, e.g. gateway = "{near[0]}"',
                )
            if len(near) != 1:
                continue
            gw = near[0]
        try:
            ip = ipaddress.ip_address(gw)
        except ValueError:
            ip = None
        if ip is not None:
            dev = _on_link(addr, name, ip)
            if dev is None:
                problems.error(
                    path, f"gateway {ip} is not on any subnet of {name!r}",
                    "use an address on one of the node's own subnets, or a router's name",
                )
            else:
                routes[name].append(RouteEntry(_default_name(ip.version), str(ip), dev, "default"))
            continue
        if gw not in tf.nodes:
            problems.error(
                path, f"no node named {gw!r}{did_you_mean(gw, tf.nodes)}",
                "name a router on a segment this node shares" + (
                    f": {', '.join(routers)}" if routers else ""),
            )
            continue
        if tf.nodes[gw].kind != "router":
            problems.error(
                path, f"gateway {gw!r} is a {tf.nodes[gw].kind}, not a router",
                f'set nodes.{gw}.kind = "router", or pick a router',
            )
            continue
        found = False
        for family in (4, 6):
            hit = _shared(addr, name, gw, family)
            if hit is not None and any(x.version == family for x in addr.addresses[(name, hit[0])]):
                found = True
                routes[name].append(RouteEntry(_default_name(family), str(hit[1].ip), hit[0],
                                               "default"))
        if not found:
            problems.error(
                path, f"gateway {gw!r} shares no segment with {name!r}",
                f"link {name} and {gw} to the same switch, or pick a router next to {name}",
            )

    # Hand-written routes.
    for name, node in tf.nodes.items():
        own = _ifaces(addr, name)
        extra = {tf.uplink.ifname} if tf.uplink is not None and tf.uplink.node == name else set()
        for k, r in enumerate(node.routes):
            path = f"nodes.{name}.routes[{k}]"
            if r.via is None and r.dev is None:
                problems.error(path, "a route needs via, dev or both", 'add via = "ADDRESS"')
                continue
            if r.dev is not None and r.dev not in own and r.dev not in extra:
                problems.error(
                    path + ".dev", f"node {name!r} has no interface {r.dev!r}"
                    f"{did_you_mean(r.dev, own)}", "use one of: " + ", ".join(own))
                continue
            family = r.via.version if r.via is not None else (
                4 if r.to == "default" else r.to.version)  # type: ignore[union-attr]
            if r.to != "default" and r.to.version != family:  # type: ignore[union-attr]
                problems.error(path, f"{r.to} and {r.via} are of different IP versions",
                               "use a next hop of the destination's family")
                continue
            dev = r.dev
            if r.via is not None:
                on = _on_link(addr, name, r.via)
                if on is None and r.dev is None:
                    problems.error(
                        path + ".via", f"next hop {r.via} is not on any subnet of {name!r}",
                        "use an address on one of the node's own subnets",
                    )
                    continue
                dev = dev or on
            to = _default_name(family) if r.to == "default" else str(r.to)
            routes[name] = [x for x in routes[name] if x.to != to]  # static wins over gateway
            routes[name].append(RouteEntry(to, None if r.via is None else str(r.via), dev,
                                           "static"))

    if tf.lab.routing == "auto":
        _auto(tf, addr, routers, routes)
    return routes


def _auto(
    tf: TopologyFile, addr: Addressing, routers: list[str], routes: dict[str, list[RouteEntry]]
) -> None:
    for family in (4, 6):
        rg = nx.Graph()
        for r in routers:
            rg.add_node(("r", r))
        for seg in addr.segments.values():
            if family not in seg.subnet:
                continue
            rg.add_node(("s", seg.id))
            for m in seg.members:
                if tf.nodes[m.node].kind == "router" and any(
                    x.version == family for x in addr.addresses[(m.node, m.ifname)]
                ):
                    rg.add_edge(("r", m.node), ("s", seg.id))
        up = tf.uplink.node if tf.uplink is not None else None
        for r in routers:
            paths = nx.single_source_shortest_path(rg, ("r", r))
            have = {x.to for x in routes[r]}
            for seg in addr.segments.values():
                net = seg.subnet.get(family)
                target = paths.get(("s", seg.id))
                if net is None or target is None or len(target) < 4 or str(net) in have:
                    continue
                hop = _next_hop(addr, r, target, family)
                if hop is not None:
                    routes[r].append(RouteEntry(str(net), hop[1], hop[0], "auto"))
            default = _default_name(family)
            if up is not None and up != r and default not in have and ("r", up) in paths:
                target = paths[("r", up)]
                hop = _next_hop(addr, r, target, family)
                if hop is not None:
                    routes[r].append(RouteEntry(default, hop[1], hop[0], "auto"))


def _next_hop(
    addr: Addressing, router: str, path: list[tuple[str, str]], family: int
) -> tuple[str, str] | None:
    """(dev, via) for the first hop of a router-segment-router... path."""
    first_seg, next_router = path[1][1], path[2][1]
    seg = addr.segments[first_seg]
    dev = next(m.ifname for m in seg.members if m.node == router)
    for m in seg.members:
        if m.node == next_router:
            for x in addr.addresses[(m.node, m.ifname)]:
                if x.version == family:
                    return dev, str(x.ip)
    return None
