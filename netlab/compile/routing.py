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

from netlab.compile import kinds
from netlab.compile.addressing import Addressing, Iface, Member
from netlab.errors import Problems, did_you_mean, toml_key
from netlab.topology.model import TopologyFile


@dataclass(frozen=True)
class RouteEntry:
    to: str  # "default", "default6" or a subnet
    via: str | None
    dev: str | None
    origin: str  # default | static | auto | uplink


def _on_link(addr: Addressing, node: str, ip: ipaddress._BaseAddress) -> str | None:
    """The node's interface whose subnet contains ip."""
    for ifname, xs in addr.ifaces(node).items():
        if any(x.version == ip.version and ip in x.network for x in xs):
            return ifname
    return None


def _first_members(addr: Addressing) -> dict[str, dict[str, Member]]:
    """segment id -> node -> the node's first member there (indexed once, used often)."""
    out: dict[str, dict[str, Member]] = {}
    for seg in addr.segments.values():
        firsts = out[seg.id] = {}
        for m in seg.members:
            firsts.setdefault(m.node, m)
    return out


def _shared(
    addr: Addressing, firsts: dict[str, dict[str, Member]], a: str, b: str, family: int
) -> tuple[str, Iface] | None:
    """(a's ifname, b's address) on the first segment a and b share, in segment order."""
    for seg, _ in addr.memberships(a):
        theirs = firsts[seg.id].get(b)
        if theirs is None:
            continue
        mine = firsts[seg.id][a]
        for x in addr.addresses[(theirs.node, theirs.ifname)]:
            if x.version == family:
                return mine.ifname, x
    return None


def _default_name(family: int) -> str:
    return "default" if family == 4 else "default6"


def compute(
    tf: TopologyFile, g: nx.MultiGraph, addr: Addressing, problems: Problems
) -> dict[str, list[RouteEntry]]:
    routes: dict[str, list[RouteEntry]] = {n: [] for n in tf.nodes}
    # "Routers": nodes whose kind routes (gateways, transits of automatic routing).
    routers = [n for n, node in tf.nodes.items() if kinds.get(node.kind).routes]
    firsts = _first_members(addr)
    routers_on = {seg: sorted(n for n in members if kinds.get(tf.nodes[n].kind).routes)
                  for seg, members in firsts.items()}

    # Default routes from `gateway` (explicit, or the single router on the host's segments).
    for name, node in tf.nodes.items():
        path = f"nodes.{toml_key(name)}.gateway"
        gw = node.gateway
        if gw is None:
            if not kinds.get(node.kind).takes_default_gateway:
                continue
            near = sorted({r for seg, _ in addr.memberships(name) for r in routers_on[seg.id]})
            if len(near) > 1:
                problems.warning(
                    f"nodes.{toml_key(name)}",
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
            if any(x.ip == ip for xs in addr.ifaces(name).values() for x in xs):
                problems.error(path, f"gateway {ip} is an address of {name!r} itself",
                               "use the address of a router on the same subnet")
            elif dev is None:
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
        if gw == name:  # else: a default route via its own address (the kernel refuses v6)
            problems.error(path, f"gateway {gw!r} is the node itself",
                           "name another router on a segment this node shares")
            continue
        if not kinds.get(tf.nodes[gw].kind).routes:
            problems.error(
                path, f"gateway {gw!r} is a {tf.nodes[gw].kind}, not a router",
                f'set nodes.{gw}.kind = "router", or pick a router',
            )
            continue
        found = False
        for family in (4, 6):
            hit = _shared(addr, firsts, name, gw, family)
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
        if not node.routes:
            continue  # most nodes: no per-node dict built for nothing
        own = addr.ifaces(name)
        extra = {tf.uplink.ifname} if tf.uplink is not None and tf.uplink.node == name else set()
        for k, r in enumerate(node.routes):
            path = f"nodes.{toml_key(name)}.routes[{k}]"
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
        _auto(tf, addr, firsts, routers, routes)
    return routes


def _auto(
    tf: TopologyFile, addr: Addressing, firsts: dict[str, dict[str, Member]],
    routers: list[str], routes: dict[str, list[RouteEntry]],
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
                if kinds.get(tf.nodes[m.node].kind).routes and any(
                    x.version == family for x in addr.addresses[(m.node, m.ifname)]
                ):
                    rg.add_edge(("r", m.node), ("s", seg.id))
        up = tf.uplink.node if tf.uplink is not None else None
        nets = [(seg.id, str(seg.subnet[family])) for seg in addr.segments.values()
                if family in seg.subnet]
        for r in routers:
            paths = nx.single_source_shortest_path(rg, ("r", r))
            have = {x.to for x in routes[r]}
            hops: dict[tuple[str, str], tuple[str, str] | None] = {}  # first hop, memoised
            for seg_id, net in nets:
                target = paths.get(("s", seg_id))
                if target is None or len(target) < 4 or net in have:
                    continue
                hop = _next_hop(addr, firsts, hops, r, target, family)
                if hop is not None:
                    routes[r].append(RouteEntry(net, hop[1], hop[0], "auto"))
            default = _default_name(family)
            if up is not None and up != r and default not in have and ("r", up) in paths:
                target = paths[("r", up)]
                hop = _next_hop(addr, firsts, hops, r, target, family)
                if hop is not None:
                    routes[r].append(RouteEntry(default, hop[1], hop[0], "auto"))


def _next_hop(
    addr: Addressing, firsts: dict[str, dict[str, Member]],
    memo: dict[tuple[str, str], tuple[str, str] | None],
    router: str, path: list[tuple[str, str]], family: int,
) -> tuple[str, str] | None:
    """(dev, via) for the first hop of a router-segment-router... path."""
    first_seg, next_router = path[1][1], path[2][1]
    if (first_seg, next_router) not in memo:
        dev = firsts[first_seg][router].ifname
        peer = firsts[first_seg][next_router]
        via = next((str(x.ip) for x in addr.addresses[(peer.node, peer.ifname)]
                    if x.version == family), None)
        memo[(first_seg, next_router)] = None if via is None else (dev, via)
    return memo[(first_seg, next_router)]
