"""Subnets in use, the free blocks of a pool and the host addresses of a subnet, without
ever enumerating a range."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterator

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class Taken:
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

    def added(self) -> list[tuple[Net, str]]:
        """Every subnet in use with its key path, in the order added."""
        return list(self._added)


def free_blocks(pool: Net, prefix: int, taken: Taken) -> Iterator[Net]:
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


def reserved(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, net: Net) -> bool:
    """Whether `ip` is the network (or IPv4 broadcast) address of `net`: no host's."""
    if net.version == 4 and net.prefixlen < 31:
        return ip in (net.network_address, net.broadcast_address)
    return net.version == 6 and ip == net.network_address and net.prefixlen < 127


def hosts(net: Net) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    # hosts() of a /64 is lazy; never materialise it.
    if net.version == 4:
        yield from net.hosts()
        return
    start = int(net.network_address) + 1
    for k in range(min(net.num_addresses - 1, 1 << 20)):
        yield ipaddress.IPv6Address(start + k)
