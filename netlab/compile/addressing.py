"""Deterministic address allocation.

Rules (documented in docs/topology.md, "Addressing"):
- Explicit subnets and addresses always win and are never handed out again.
- A segment without a subnet takes one from its addresses' prefix, else the next free
  /24 (switch) or /30 (node-to-node link) of the pool, switches first in file order,
  then links in file order. IPv6 likewise with /64s.
- On a switch, routers get the first free addresses, then hosts, each sorted by node
  name then interface; on a node-to-node link the first endpoint gets the first address.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx

from netlab.compile import kinds
from netlab.errors import Problems, toml_key
from netlab.topology.model import TopologyFile

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Iface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass
class Member:
    node: str
    ifname: str
    kind: str  # a registered node kind (netlab/compile/kinds)
    path: str  # key path of this member's explicit addresses, for messages
    explicit: list[Iface] = field(default_factory=list)


@dataclass
class Segment:
    id: str  # switch name or "links[N]"
    switch: str | None
    path: str  # key path of the segment's subnet key
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
    segs: dict[str, Segment] = {
        name: Segment(name, name, f"switches.{toml_key(name)}.subnet") for name in tf.switches
    }
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
        for k, end in enumerate(node_ends):
            entry = given[k] if given is not None else []
            explicit = entry if isinstance(entry, list) else [entry]
            seg.members.append(
                Member(end.name, end.ifname, tf.nodes[end.name].kind,
                       f"links[{i}].addresses[{k}]", list(explicit))
            )
    return segs


def _explicit_subnet(tf: TopologyFile, seg: Segment, family: int) -> Net | None:
    key = "subnet" if family == 4 else "subnet6"
    if seg.switch is not None:
        return getattr(tf.switches[seg.switch], key)
    link = tf.links[int(seg.id[len("links["):-1])]
    return getattr(link, key)


def _pool(tf: TopologyFile, seg: Segment, family: int) -> tuple[str, Net, int]:
    lan = seg.switch is not None
    if family == 4:
        return ("pools.lan", tf.pools.lan, 24) if lan else ("pools.p2p", tf.pools.p2p, 30)
    return ("pools.lan6", tf.pools.lan6, 64) if lan else ("pools.p2p6", tf.pools.p2p6, 64)


class _Taken:
    """Subnets in use, with fast overlap queries: a lab of 1000 links asks 1000s of times.

    CIDR blocks overlap only when one contains the other, so a query looks up the block's
    supernets (one dict lookup per prefix length) and the blocks starting inside it
    (bisect on their start addresses).
    """

    def __init__(self) -> None:
        # (version, first address, prefix length) -> order added (the first one wins)
        self._blocks: dict[tuple[int, int, int], int] = {}
        self._starts: dict[int, list[tuple[int, int]]] = {4: [], 6: []}  # (first, order)
        self._added: list[tuple[Net, str]] = []  # by order: (subnet, key path)

    def add(self, net: Net, where: str) -> None:
        order = len(self._added)
        self._added.append((net, where))
        self._blocks.setdefault((net.version, int(net.network_address), net.prefixlen), order)
        bisect.insort(self._starts[net.version], (int(net.network_address), order))

    def clash(self, net: Net) -> tuple[Net, str] | None:
        """The first-added subnet that overlaps `net`, with its key path, or None."""
        bits, first = net.max_prefixlen, int(net.network_address)
        hits = []
        for plen in range(net.prefixlen + 1):
            start = first & ~((1 << (bits - plen)) - 1)
            order = self._blocks.get((net.version, start, plen))
            if order is not None:
                hits.append(order)
        starts = self._starts[net.version]
        last = int(net.broadcast_address)
        k = bisect.bisect_left(starts, (first, -1))
        while k < len(starts) and starts[k][0] <= last:
            hits.append(starts[k][1])
            k += 1
        return self._added[min(hits)] if hits else None


def _free(pool: Net, prefix: int, taken: _Taken) -> Iterator[Net]:
    """Free /prefix blocks of the pool, in order. A candidate that clashes jumps past the
    block it clashes with, so a /8 pool half covered by one subnet costs one step, not
    millions (pool.subnets() would visit every candidate)."""
    if prefix < pool.prefixlen:
        return
    cls = type(pool)
    size = 1 << (pool.max_prefixlen - prefix)
    start, end = int(pool.network_address), int(pool.broadcast_address)
    while start + size - 1 <= end:
        cand = cls((start, prefix))
        clash = taken.clash(cand)
        if clash is None:
            yield cand
            start += size
            continue
        after = int(clash[0].broadcast_address) + 1  # first address past the clash
        start = max(start + size, (after + size - 1) // size * size)


def _wants(tf: TopologyFile, seg: Segment, family: int) -> bool:
    if family == 4:
        return True
    if _explicit_subnet(tf, seg, 6) is not None:
        return True
    return any(
        node_v6(tf, m.node) or any(_family(x) == 6 for x in m.explicit) for m in seg.members
    )


def assign(tf: TopologyFile, g: nx.MultiGraph, problems: Problems) -> Addressing:
    segs = _segments(tf, g, problems)
    taken = _Taken()  # subnets in use, with the key path that holds each

    # 1. Explicit and inferred subnets, checked for overlaps.
    for family in (4, 6):
        for seg in segs.values():
            if not _wants(tf, seg, family):
                continue
            net = _explicit_subnet(tf, seg, family)
            where = seg.key(family)
            if net is None:
                inferred = {
                    (x.network, m.path) for m in seg.members for x in m.explicit
                    if _family(x) == family and _has_prefix(x)
                }
                nets = sorted({n for n, _ in inferred})
                if len(nets) > 1:
                    problems.error(
                        sorted(p for _, p in inferred)[-1],
                        f"addresses on segment {seg.id} are in different subnets: "
                        + ", ".join(str(n) for n in nets),
                        "put every address of one segment in one subnet",
                    )
                if nets:
                    net = nets[0]
                    where = sorted(p for _, p in inferred)[0]
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

    # 2. Pool allocation, switches first (file order), then links (file order).
    for family in (4, 6):
        cursors: dict[str, Iterator[Net]] = {}
        for seg in segs.values():
            if family in seg.subnet or not _wants(tf, seg, family):
                continue
            key, pool, prefix = _pool(tf, seg, family)
            cursor = cursors.setdefault(key, _free(pool, prefix, taken))
            net = next(cursor, None)
            if net is None:
                problems.error(
                    key,
                    f"pool {pool} has no free /{prefix} left for {_describe(seg)}",
                    f"use a larger {key}, or set {seg.key(family)}",
                )
                continue
            taken.add(net, key)
            seg.subnet[family] = net
            seg.pooled.add(family)

    # 3. Addresses: explicit ones first, then the next free address in a stable order.
    result: dict[tuple[str, str], list[Iface]] = {}
    owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for seg in segs.values():
        for m in seg.members:
            result[(m.node, m.ifname)] = []
    for seg in segs.values():
        for m in seg.members:
            for x in m.explicit:
                net = seg.subnet.get(_family(x))
                if net is None:
                    continue
                iface = ipaddress.ip_interface(f"{x.ip}/{net.prefixlen}")
                if x.ip not in net:
                    pooled = net.version in seg.pooled
                    key = seg.key(net.version)
                    problems.error(
                        m.path, f"{x.ip} is outside the segment's subnet {net}"
                        + (" (taken from the pool, as no subnet was given)" if pooled else ""),
                        f"pick an address inside {net}" + (
                            f", or set {key} (or write the address with its prefix)"
                            if pooled else ""),
                    )
                elif _has_prefix(x) and x.network.prefixlen != net.prefixlen:
                    problems.error(
                        m.path, f"{x} has prefix /{x.network.prefixlen} but the subnet is {net}",
                        f"write {x.ip}/{net.prefixlen} (or just {x.ip})",
                    )
                elif family_reserved(x.ip, net):
                    problems.error(
                        m.path, f"{x.ip} is the network or broadcast address of {net}",
                        "pick a host address",
                    )
                elif x.ip in owner:
                    problems.error(
                        m.path, f"address {x.ip} is already used by {owner[x.ip]}",
                        "give every interface its own address",
                    )
                else:
                    owner[x.ip] = f"{m.node}:{m.ifname}"
                    result[(m.node, m.ifname)].append(iface)

    for seg in segs.values():
        members = list(seg.members)
        if seg.switch is not None:
            members.sort(key=lambda m: (kinds.get(m.kind).address_rank, m.node, m.ifname))
        for family, net in sorted(seg.subnet.items()):
            hosts = _hosts(net)
            for m in members:
                if family == 6 and not node_v6(tf, m.node) and not any(
                    _family(x) == 6 for x in m.explicit
                ):
                    continue
                if any(_family(x) == family for x in m.explicit):
                    continue
                ip = next((h for h in hosts if h not in owner), None)
                if ip is None:
                    problems.error(
                        seg.key(family),
                        f"subnet {net} has no address left for {m.node}:{m.ifname}",
                        "use a larger subnet",
                    )
                    break
                owner[ip] = f"{m.node}:{m.ifname}"
                result[(m.node, m.ifname)].append(ipaddress.ip_interface(f"{ip}/{net.prefixlen}"))
    for addrs in result.values():
        addrs.sort(key=lambda x: x.version)
    return Addressing(segs, result)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _describe(seg: Segment) -> str:
    if seg.switch is not None:
        return f"switch {seg.switch!r}"
    ends = " and ".join(m.node for m in seg.members)
    return f"the link {seg.id} ({ends})"


def family_reserved(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, net: Net) -> bool:
    if net.version == 4 and net.prefixlen < 31:
        return ip in (net.network_address, net.broadcast_address)
    return net.version == 6 and ip == net.network_address and net.prefixlen < 127


def _hosts(net: Net) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    # hosts() of a /64 is lazy; never materialise it.
    if net.version == 4:
        yield from net.hosts()
        return
    start = int(net.network_address) + 1
    for k in range(min(net.num_addresses - 1, 1 << 20)):
        yield ipaddress.IPv6Address(start + k)
