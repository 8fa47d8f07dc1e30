"""Deterministic address allocation.

Rules (documented in docs/topology.md, "Addressing"):
- Explicit subnets and addresses always win and are never handed out again.
- A segment without a subnet takes one from its addresses' prefix, else the next free
  /24 (switch) or /30 (node-to-node link) of the pool, switches first in file order,
  then links in file order. IPv6 likewise with /64s.
- On a switch, routers get the first free addresses, then hosts, each sorted by node
  name then interface in natural order (h2 before h10); on a node-to-node link the first
  endpoint gets the first address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx

from netlab.compile import kinds
from netlab.compile.pools import Net, Taken, free_blocks, hosts, reserved
from netlab.errors import Problems, toml_key
from netlab.topology.model import TopologyFile

Iface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass
class Member:
    node: str
    ifname: str
    kind: str  # a registered node kind (netlab/compile/kinds)
    path: str  # key path of this member's explicit addresses, for messages
    explicit: list[Iface] = field(default_factory=list)
    # No address from netlab: an empty entry in the link's addresses, or a switch with
    # addresses = false (the student configures it, or it is a bridge port in the node).
    bare: bool = False


@dataclass
class Segment:
    id: str  # switch name or "links[N]"
    switch: str | None  # the first of its switches (several: joined by switch links)
    path: str  # key path of the segment's subnet key
    switches: list[str] = field(default_factory=list)  # every switch of the segment
    members: list[Member] = field(default_factory=list)
    subnet: dict[int, Net] = field(default_factory=dict)  # family (4/6) -> subnet
    pooled: set[int] = field(default_factory=set)  # families whose subnet came from a pool

    def key(self, family: int) -> str:
        """Key path of this segment's subnet of that family ('...subnet' or '...subnet6')."""
        return self.path if family == 4 else self.path + "6"


@dataclass
class Addressing:
    segments: dict[str, Segment]
    addresses: dict[tuple[str, str], list[Iface]]  # (node, ifname) -> v4 first, then v6
    # Segments the pools had no subnet for (already an error): checks that would only
    # repeat it (a gateway "sharing no segment", ...) stay quiet about their members.
    unaddressed: set[str] = field(default_factory=set)
    # node -> the addresses of its lo (`loopback`), checked; v4 first
    loopback: dict[str, list[Iface]] = field(default_factory=dict)
    # node -> its (segment, member) pairs in segment order; an index, so that lookups by
    # node stay linear in the node's own interfaces (a 1000-host switch is common).
    _by_node: dict[str, list[tuple[Segment, Member]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        for seg in self.segments.values():
            for m in seg.members:
                self._by_node.setdefault(m.node, []).append((seg, m))

    def memberships(self, node: str) -> list[tuple[Segment, Member]]:
        """(segment, member) for each interface of `node`, in segment order."""
        return self._by_node.get(node, [])

    def ifaces(self, node: str) -> dict[str, list[Iface]]:
        """ifname -> addresses of `node`, in segment order."""
        return {m.ifname: self.addresses[(node, m.ifname)] for _, m in self.memberships(node)}

    def starved(self, *nodes: str) -> bool:
        """Whether any of these nodes is on a segment the pools had no subnet for."""
        return any(seg.id in self.unaddressed for n in nodes for seg, _ in self.memberships(n))


def _family(x: Net | Iface) -> int:
    return x.version


def node_v6(tf: TopologyFile, node: str) -> bool:
    """Whether a node takes IPv6 addresses from the pools (its own setting, else the default)."""
    n = tf.nodes[node]
    return tf.defaults.ipv6 if n.ipv6 is None else n.ipv6


def _has_prefix(iface: Iface) -> bool:
    # A bare address parses as /32 (/128): it then takes its segment's prefix length.
    return iface.network.prefixlen != iface.max_prefixlen


def _segments(tf: TopologyFile, g: nx.MultiGraph, problems: Problems) -> dict[str, Segment]:
    joined: dict[str, str] = g.graph.get("joined", {})
    segs: dict[str, Segment] = {
        name: Segment(name, name, f"switches.{toml_key(name)}.subnet", [name])
        for name in tf.switches if name not in joined
    }
    for name, first in joined.items():
        segs[first].switches.append(name)
    for _, _, data in sorted(g.edges(data=True), key=lambda e: e[2]["link"]):
        i = data["link"]
        link = tf.links[i]
        a, b = data["ends"]
        seg_id = data["segment"]
        if seg_id not in segs:
            segs[seg_id] = Segment(seg_id, None, f"links[{i}].subnet")
        seg = segs[seg_id]
        node_ends = [e for e in (a, b) if not e.is_switch]
        given = link.addresses
        if given is not None and len(given) != len(node_ends):
            problems.error(
                f"links[{i}].addresses",
                f"addresses has {_count(len(given), 'entry', 'entries')} but this link has"
                f" {_count(len(node_ends), 'node endpoint', 'node endpoints')}",
                "give one entry per node endpoint, in the order of endpoints"
                " (a switch endpoint takes none)",
            )
            given = None
        if seg.switch is not None:
            for key in ("subnet", "subnet6"):
                if getattr(link, key) is not None:
                    problems.error(
                        f"links[{i}].{key}",
                        f"this link ends on switch {seg.switch!r};"
                        " its subnet belongs to the switch",
                        f"set switches.{seg.switch}.{key} instead",
                    )
        bare_switch = seg.switch is not None and not all(
            tf.switches[sw].addresses for sw in seg.switches)
        for k, end in enumerate(node_ends):
            entry = given[k] if given is not None else None
            explicit = [] if entry is None else entry if isinstance(entry, list) else [entry]
            # [] (or a switch with addresses = false): no address from netlab at all.
            bare = entry == [] or (entry is None and bare_switch)
            seg.members.append(
                Member(end.name, end.ifname, tf.nodes[end.name].kind,
                       f"links[{i}].addresses[{k}]", list(explicit), bare)
            )
    for seg in segs.values():
        if len(seg.switches) > 1:
            _check_joined_subnets(tf, seg, problems)
    return segs


def _check_joined_subnets(tf: TopologyFile, seg: Segment, problems: Problems) -> None:
    """Switches joined by switch-to-switch links are one segment: one subnet per family."""
    for key in ("subnet", "subnet6"):
        given = [(sw, getattr(tf.switches[sw], key)) for sw in seg.switches
                 if getattr(tf.switches[sw], key) is not None]
        for sw, net in given[1:]:
            if net != given[0][1]:
                problems.error(
                    f"switches.{toml_key(sw)}.{key}",
                    f"switch {sw!r} is joined to {given[0][0]!r} by a switch-to-switch link"
                    f" (one L2 segment), whose {key} is {given[0][1]}",
                    f"set {key} on one of the joined switches only",
                )


def has_address(m: Member, family: int | None = None) -> bool:
    """Whether netlab gives the member an address (of `family`, if given)."""
    return not m.bare or any(family is None or _family(x) == family for x in m.explicit)


def _explicit_subnet(tf: TopologyFile, seg: Segment, family: int) -> Net | None:
    key = "subnet" if family == 4 else "subnet6"
    if seg.switch is not None:
        return next((getattr(tf.switches[sw], key) for sw in seg.switches
                     if getattr(tf.switches[sw], key) is not None), None)
    link = tf.links[int(seg.id[len("links["):-1])]
    return getattr(link, key)


def _pool(tf: TopologyFile, seg: Segment, family: int) -> tuple[str, Net, int]:
    lan = seg.switch is not None
    if family == 4:
        return ("pools.lan", tf.pools.lan, 24) if lan else ("pools.p2p", tf.pools.p2p, 30)
    return ("pools.lan6", tf.pools.lan6, 64) if lan else ("pools.p2p6", tf.pools.p2p6, 64)


def _wants(tf: TopologyFile, seg: Segment, family: int) -> bool:
    if _explicit_subnet(tf, seg, family) is not None:
        return True
    if seg.members and all(m.bare and not m.explicit for m in seg.members):
        return False  # nobody on it takes an address from netlab
    if family == 4:
        return True
    return any(
        (node_v6(tf, m.node) and not m.bare) or any(_family(x) == 6 for x in m.explicit)
        for m in seg.members
    )


def assign(tf: TopologyFile, g: nx.MultiGraph, problems: Problems) -> Addressing:
    """Subnets, then addresses, of every segment (the rules in the module docstring)."""
    segs = _segments(tf, g, problems)
    taken = Taken()  # subnets in use, with the key path that holds each
    _explicit_subnets(tf, segs, taken, problems)
    loopback = _loopbacks(tf, taken, problems)
    unaddressed = _pool_subnets(tf, segs, taken, problems)
    owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}  # ip -> node:ifname
    result: dict[tuple[str, str], list[Iface]] = {
        (m.node, m.ifname): [] for seg in segs.values() for m in seg.members}
    _explicit_addresses(segs, owner, result, problems)
    _free_addresses(tf, segs, owner, result, problems)
    for addrs in result.values():
        addrs.sort(key=lambda x: x.version)
    return Addressing(segs, result, unaddressed, loopback)


def _loopbacks(tf: TopologyFile, taken: Taken, problems: Problems) -> dict[str, list[Iface]]:
    """Each node's `loopback` addresses (a bare one is a /32 or /128: the model parses it
    so), checked against the subnets given in the file and each other; taken, so that no
    pool hands out a subnet holding one."""
    out: dict[str, list[Iface]] = {}
    for name, node in tf.nodes.items():
        mine: list[Iface] = []
        for k, x in enumerate(node.loopback):
            path = f"nodes.{toml_key(name)}.loopback[{k}]"
            clash = taken.clash(x.network)
            if clash is not None:
                what = f"address {x.ip} is already used" if clash[0] == x.network \
                    else f"loopback {x} overlaps {clash[0]}"
                problems.error(
                    path, f"{what} ({clash[1]})",
                    "give every loopback its own address, outside every subnet of the lab")
                continue
            taken.add(x.network, path)
            mine.append(x)
        if mine:
            out[name] = sorted(mine, key=lambda x: x.version)
    return out


def _explicit_subnets(tf: TopologyFile, segs: dict[str, Segment], taken: Taken,
                      problems: Problems) -> None:
    """Subnets given (subnet keys) or implied (addresses with a prefix), checked for overlaps."""
    for family in (4, 6):
        for seg in segs.values():
            if not _wants(tf, seg, family):
                continue
            net = _explicit_subnet(tf, seg, family)
            where = seg.key(family)
            if net is None:
                net, where = _inferred_subnet(seg, family, where, problems)
            if net is None:
                continue
            clash = taken.clash(net)
            if clash is not None:
                problems.error(
                    where, f"subnet {net} overlaps {clash[0]} ({clash[1]})",
                    "give every segment its own subnet",
                )
            taken.add(net, where)
            seg.subnet[family] = net


def _inferred_subnet(seg: Segment, family: int, where: str,
                     problems: Problems) -> tuple[Net | None, str]:
    """The subnet the segment's explicit addresses with a prefix imply, and its key path."""
    inferred = {
        (x.network, m.path) for m in seg.members for x in m.explicit
        if _family(x) == family and _has_prefix(x)
    }
    nets = sorted({n for n, _ in inferred})
    if len(nets) > 1:
        problems.error(
            sorted((p for _, p in inferred), key=natural)[-1],
            f"addresses on segment {seg.id} are in different subnets: "
            + ", ".join(str(n) for n in nets),
            "put every address of one segment in one subnet",
        )
    if not nets:
        return None, where
    return nets[0], sorted((p for _, p in inferred), key=natural)[0]


def _pool_subnets(tf: TopologyFile, segs: dict[str, Segment], taken: Taken,
                  problems: Problems) -> set[str]:
    """Subnets from the pools, switches first (file order), then links (file order); the
    ids of the segments left without one (one error per pool names them all, and the
    subnet that fills the pool when one does, so that its cause is what people read)."""
    unaddressed: set[str] = set()
    for family in (4, 6):
        cursors: dict[str, Iterator[Net]] = {}
        starved: dict[str, list[Segment]] = {}  # pool key -> segments it had no room for
        for seg in segs.values():
            if family in seg.subnet or not _wants(tf, seg, family):
                continue
            key, pool, prefix = _pool(tf, seg, family)
            cursor = cursors.setdefault(key, free_blocks(pool, prefix, taken))
            net = next(cursor, None)
            if net is None:
                starved.setdefault(key, []).append(seg)
                unaddressed.add(seg.id)
                continue
            taken.add(net, key)
            seg.subnet[family] = net
            seg.pooled.add(family)
        for key, lacking in starved.items():
            _pool_error(tf, key, lacking, family, taken, problems)
    return unaddressed


def _pool_error(tf: TopologyFile, key: str, lacking: list[Segment], family: int,
                taken: Taken, problems: Problems) -> None:
    _, pool, prefix = _pool(tf, lacking[0], family)
    what = _and([_describe(seg) for seg in lacking])
    sets = _or([seg.key(family) for seg in lacking])
    head = f"pool {pool} has no free /{prefix} left for {what}"
    # Subnets given in the file that take room in the pool: the usual cause.
    given = [(net, where) for net, where in taken.added()
             if not where.startswith("pools.") and net.overlaps(pool)]
    cover = next(((net, where) for net, where in given if net.supernet_of(pool)), None)
    if cover is not None:
        net, where = cover
        problems.error(
            key, f"{head}: the whole pool lies inside {net} ({where})",
            f"give {where} a subnet outside {pool}, or set {key} to a range that does not"
            f" overlap {net}; or set {sets}",
        )
    elif given:
        shown = ", ".join(f"{net} ({where})" for net, where in given[:3])
        more = f" and {len(given) - 3} more" if len(given) > 3 else ""
        problems.error(
            key, f"{head}; subnets given in the file take room in it: {shown}{more}",
            f"use a larger {key}, or move those subnets out of {pool}; or set {sets}",
        )
    else:
        problems.error(key, head, f"use a larger {key}, or set {sets}")


def _explicit_addresses(
    segs: dict[str, Segment], owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str],
    result: dict[tuple[str, str], list[Iface]], problems: Problems,
) -> None:
    """Addresses written in the file, checked against their segment's subnet and each other."""
    for seg in segs.values():
        for m in seg.members:
            for x in m.explicit:
                net = seg.subnet.get(_family(x))
                if net is None:
                    continue
                why = _explicit_problem(seg, x, net, owner)
                if why is not None:
                    problems.error(m.path, *why)
                    continue
                owner[x.ip] = f"{m.node}:{m.ifname}"
                result[(m.node, m.ifname)].append(
                    ipaddress.ip_interface(f"{x.ip}/{net.prefixlen}"))


def _explicit_problem(
    seg: Segment, x: Iface, net: Net,
    owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str],
) -> tuple[str, str] | None:
    """(message, fix) when an explicit address cannot be used on its segment."""
    if x.ip not in net:
        pooled = net.version in seg.pooled
        key = seg.key(net.version)
        return (f"{x.ip} is outside the segment's subnet {net}"
                + (" (taken from the pool, as no subnet was given)" if pooled else ""),
                f"pick an address inside {net}" + (
                    f", or set {key} (or write the address with its prefix)" if pooled else ""))
    if _has_prefix(x) and x.network.prefixlen != net.prefixlen:
        return (f"{x} has prefix /{x.network.prefixlen} but the subnet is {net}",
                f"write {x.ip}/{net.prefixlen} (or just {x.ip})")
    if reserved(x.ip, net):
        return f"{x.ip} is the network or broadcast address of {net}", "pick a host address"
    if x.ip in owner:
        return (f"address {x.ip} is already used by {owner[x.ip]}",
                "give every interface its own address")
    return None


def _free_addresses(
    tf: TopologyFile, segs: dict[str, Segment],
    owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str],
    result: dict[tuple[str, str], list[Iface]], problems: Problems,
) -> None:
    """The next free address of each segment to every member without one of that family:
    on a switch by kind (routers first), then node and interface name in natural order
    (h2 before h10); on a node-to-node link in the order of its endpoints."""
    for seg in segs.values():
        members = list(seg.members)
        if seg.switch is not None:
            members.sort(key=lambda m: (kinds.get(m.kind).address_rank, natural(m.node),
                                        natural(m.ifname)))
        for family, net in sorted(seg.subnet.items()):
            free = hosts(net)
            for m in members:
                if m.bare or any(_family(x) == family for x in m.explicit):
                    continue
                if family == 6 and not node_v6(tf, m.node):
                    continue
                ip = next((h for h in free if h not in owner), None)
                if ip is None:
                    problems.error(
                        seg.key(family),
                        f"subnet {net} has no address left for {m.node}:{m.ifname}",
                        "use a larger subnet",
                    )
                    break
                owner[ip] = f"{m.node}:{m.ifname}"
                result[(m.node, m.ifname)].append(ipaddress.ip_interface(f"{ip}/{net.prefixlen}"))


_DIGITS = re.compile(r"(\d+)")


def natural(name: str) -> tuple[object, ...]:
    """Sort key of a name in natural order: 'h2' < 'h10' (digit runs compare as numbers;
    'h01' and 'h1' tie on that and then compare as text)."""
    parts = _DIGITS.split(name)  # text, digits, text, ...: the same type at each position
    return (tuple(int(p) if k % 2 else p for k, p in enumerate(parts)), name)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _and(items: list[str], word: str = "and", limit: int = 4) -> str:
    """'a', 'a and b', 'a, b and c'; past `limit`, 'a, b, c, d and 6 more'."""
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" {word} {len(items) - limit} more"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def _or(items: list[str]) -> str:
    return _and(items, "or")


def _describe(seg: Segment) -> str:
    if seg.switch is not None:
        return f"switch {seg.switch!r}"
    ends = " and ".join(m.node for m in seg.members)
    return f"the link {seg.id} ({ends})"
