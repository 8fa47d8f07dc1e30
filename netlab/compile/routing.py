"""Routes: default gateways of hosts, hand-written routes, and auto routing.

Auto routing (`lab.routing = "auto"`) gives every router a route to every subnet it is not
attached to, and to every other node's loopback addresses, via the first hop of a shortest
path (networkx BFS) through routers only: hosts never forward. With an uplink, every other
router also gets a default route towards the uplink node. Interfaces without an address
are nobody's gateway and no hop; `gateway = false` means no default route at all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import networkx as nx

from netlab.compile import kinds
from netlab.compile.addressing import Addressing, Iface, Member, has_address, natural
from netlab.errors import Problems, no_such_interface, no_such_node, one_of, toml_key
from netlab.topology.model import Route, TopologyFile


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
    # Routers with an address on each segment (an address-less interface is no gateway).
    routers_on = {seg: sorted((n for n, m in members.items()
                               if kinds.get(tf.nodes[n].kind).routes and has_address(m)),
                              key=natural) for seg, members in firsts.items()}
    for name in tf.nodes:
        routes[name].extend(_default_routes(tf, addr, firsts, routers, routers_on, name,
                                            problems))
    for name, node in tf.nodes.items():
        if node.routes:  # most nodes have none: no per-node work for nothing
            _static_routes(tf, addr, name, routes[name], problems)
    if tf.lab.routing == "auto":
        _auto(tf, addr, firsts, routers, routes)
    return routes


# -- default routes from `gateway` ---------------------------------------------------------

def _default_routes(
    tf: TopologyFile, addr: Addressing, firsts: dict[str, dict[str, Member]],
    routers: list[str], routers_on: dict[str, list[str]], name: str, problems: Problems,
) -> list[RouteEntry]:
    """The node's default routes: via its `gateway` (a router's name or an address), else
    via the single router on its segments, if there is exactly one."""
    node = tf.nodes[name]
    path = f"nodes.{toml_key(name)}.gateway"
    gw = node.gateway
    if gw is False:  # no default route, on purpose (a lab where students add it)
        return []
    if gw is None:
        if not kinds.get(node.kind).takes_default_gateway:
            return []
        near = sorted({r for seg, m in addr.memberships(name) if has_address(m)
                       for r in routers_on[seg.id]}, key=natural)
        if len(near) > 1:
            problems.warning(
                f"nodes.{toml_key(name)}",
                f"host {name!r} shares segments with several routers ({', '.join(near)});"
                " it gets no default route",
                f'set nodes.{name}.gateway to one of them, e.g. gateway = "{near[0]}"',
            )
        if len(near) != 1:
            return []
        gw = near[0]
    try:
        ip = ipaddress.ip_address(gw)
    except ValueError:
        return _via_router(tf, addr, firsts, routers, name, gw, path, problems)
    dev = _on_link(addr, name, ip)
    if any(x.ip == ip for xs in addr.ifaces(name).values() for x in xs):
        problems.error(path, f"gateway {ip} is an address of {name!r} itself",
                       "use the address of a router on the same subnet")
    elif dev is None:
        if not addr.starved(name):  # else its subnet is missing: already an error
            problems.error(
                path, f"gateway {ip} is not on any subnet of {name!r}",
                "use an address on one of the node's own subnets, or a router's name",
            )
    else:
        return [RouteEntry(_default_name(ip.version), str(ip), dev, "default")]
    return []


def _via_router(
    tf: TopologyFile, addr: Addressing, firsts: dict[str, dict[str, Member]],
    routers: list[str], name: str, gw: str, path: str, problems: Problems,
) -> list[RouteEntry]:
    """Default routes (v4, v6) via the address of router `gw` on a segment both share."""
    if gw not in tf.nodes:
        problems.error(
            path, no_such_node(gw, tf.nodes),
            "name a router on a segment this node shares" + (
                f": {', '.join(routers)}" if routers else ""),
        )
        return []
    if gw == name:  # else: a default route via its own address (the kernel refuses v6)
        problems.error(path, f"gateway {gw!r} is the node itself",
                       "name another router on a segment this node shares")
        return []
    if not kinds.get(tf.nodes[gw].kind).routes:
        problems.error(
            path, f"gateway {gw!r} is a {tf.nodes[gw].kind}, not a router",
            f'set nodes.{gw}.kind = "router", or pick a router',
        )
        return []
    out = []
    for family in (4, 6):
        hit = _shared(addr, firsts, name, gw, family)
        if hit is not None and any(x.version == family for x in addr.addresses[(name, hit[0])]):
            out.append(RouteEntry(_default_name(family), str(hit[1].ip), hit[0], "default"))
    if not out and not addr.starved(name, gw):  # a missing subnet is already an error
        problems.error(
            path, f"gateway {gw!r} shares no segment with {name!r}",
            f"link {name} and {gw} to the same switch, or pick a router next to {name}",
        )
    return out


# -- hand-written routes -------------------------------------------------------------------

def _static_routes(tf: TopologyFile, addr: Addressing, name: str, routes: list[RouteEntry],
                   problems: Problems) -> None:
    """The node's `routes`, checked, added to `routes` (a static default replaces the
    gateway's). Two routes to one destination are an error naming both: the kernel keeps
    one route per destination, and netlab makes no multipath (ECMP) routes."""
    own = addr.ifaces(name)
    extra = {tf.uplink.ifname} if tf.uplink is not None and tf.uplink.node == name else set()
    first: dict[str, str] = {}  # destination -> key path of the route that names it first
    for k, r in enumerate(tf.nodes[name].routes):
        path = f"nodes.{toml_key(name)}.routes[{k}]"
        dest = _destination(r)
        if dest in first:
            problems.error(
                path, f"a second route to {_shown(dest)} on {name!r}; {first[dest]} is the"
                " first (one route per destination: netlab makes no multipath routes)",
                f"keep one of {first[dest]} and {path}",
            )
            continue
        first[dest] = path
        entry = _static_route(addr, name, r, path, own, extra, problems)
        if entry is not None:
            routes[:] = [x for x in routes if x.to != entry.to]  # static wins over gateway
            routes.append(entry)


def _destination(r: Route) -> str:
    """A route's destination as the kernel sees it: 0.0.0.0/0 is "default"."""
    family = r.via.version if r.via is not None else (
        4 if r.to == "default" else r.to.version)  # type: ignore[union-attr]
    if r.to == "default" or r.to.prefixlen == 0:  # type: ignore[union-attr]
        return _default_name(family)
    return str(r.to)


def _shown(dest: str) -> str:
    return {"default": "default (IPv4)", "default6": "default (IPv6)"}.get(dest, dest)


def _static_route(
    addr: Addressing, name: str, r: Route, path: str, own: dict[str, list[Iface]],
    extra: set[str], problems: Problems,
) -> RouteEntry | None:
    if r.via is None and r.dev is None:
        problems.error(path, "a route needs via, dev or both", 'add via = "ADDRESS"')
        return None
    if r.dev is not None and r.dev not in own and r.dev not in extra:
        problems.error(
            path + ".dev", no_such_interface(name, r.dev, own), one_of(own))
        return None
    family = r.via.version if r.via is not None else (
        4 if r.to == "default" else r.to.version)  # type: ignore[union-attr]
    if r.to != "default" and r.to.version != family:  # type: ignore[union-attr]
        problems.error(path, f"{r.to} and {r.via} are of different IP versions",
                       "use a next hop of the destination's family")
        return None
    dev = r.dev
    if r.via is not None:
        on = _on_link(addr, name, r.via)
        if on is None and r.dev is None:
            if not addr.starved(name):  # its subnet is missing: already an error
                problems.error(
                    path + ".via", f"next hop {r.via} is not on any subnet of {name!r}",
                    "use an address on one of the node's own subnets",
                )
            return None
        dev = dev or on
    to = _default_name(family) if r.to == "default" else str(r.to)
    return RouteEntry(to, None if r.via is None else str(r.via), dev, "static")


# -- automatic routes ----------------------------------------------------------------------

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
            _loopback_routes(tf, addr, firsts, hops, paths, r, have, routes, family)
            default = _default_name(family)
            if up is not None and up != r and default not in have and ("r", up) in paths \
                    and tf.nodes[r].gateway is not False:
                target = paths[("r", up)]
                hop = _next_hop(addr, firsts, hops, r, target, family)
                if hop is not None:
                    routes[r].append(RouteEntry(default, hop[1], hop[0], "auto"))


def _loopback_routes(
    tf: TopologyFile, addr: Addressing, firsts: dict[str, dict[str, Member]],
    hops: dict[tuple[str, str], tuple[str, str] | None], paths: dict[object, list[object]],
    r: str, have: set[str], routes: dict[str, list[RouteEntry]], family: int,
) -> None:
    """Router r's routes to the other nodes' loopback addresses: a router's via the first
    hop towards it; a host's via its address on its first segment r reaches (hosts never
    forward, so the host itself is the last hop)."""
    for other, xs in addr.loopback.items():
        if other == r:
            continue
        target = paths.get(("r", other))
        if target is None and not kinds.get(tf.nodes[other].kind).routes:
            target = _host_target(addr, paths, r, other, family)
        if target is None:
            continue
        for x in xs:
            net = str(x.network)
            if x.version != family or net in have:
                continue
            hop = _next_hop(addr, firsts, hops, r, target, family)  # type: ignore[arg-type]
            if hop is not None:
                routes[r].append(RouteEntry(net, hop[1], hop[0], "auto"))
                have.add(net)


def _host_target(addr: Addressing, paths: dict[object, list[object]], r: str, host: str,
                 family: int) -> list[object] | None:
    """A path from router r to host: r's path to the host's first segment (in segment
    order) where the host has an address of `family`, then the host."""
    for seg, m in addr.memberships(host):
        mine = [x for x in addr.addresses[(m.node, m.ifname)] if x.version == family]
        to_seg = paths.get(("s", seg.id))
        if mine and to_seg is not None:
            return [*to_seg, ("h", host, m.ifname, str(mine[0].ip))]
    return None


def _next_hop(
    addr: Addressing, firsts: dict[str, dict[str, Member]],
    memo: dict[tuple[str, str], tuple[str, str] | None],
    router: str, path: list[tuple[str, str]], family: int,
) -> tuple[str, str] | None:
    """(dev, via) for the first hop of a router-segment-router... path (which may end in a
    host: ("h", host, ifname, address), see _host_target)."""
    first_seg, next_router = path[1][1], path[2][1]
    if path[2][0] == "h":  # the host is on r's own segment: straight to it
        return firsts[first_seg][router].ifname, path[2][3]  # type: ignore[misc]
    if (first_seg, next_router) not in memo:
        dev = firsts[first_seg][router].ifname
        peer = firsts[first_seg][next_router]
        via = next((str(x.ip) for x in addr.addresses[(peer.node, peer.ifname)]
                    if x.version == family), None)
        memo[(first_seg, next_router)] = None if via is None else (dev, via)
    return memo[(first_seg, next_router)]
