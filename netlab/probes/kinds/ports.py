"""What the tcp and udp kinds share: one probe to a port (netlab.probes.tcpudp), and
telling that probe apart from other packets by its ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlab.probes.kinds.base import Attempt, Outcome


def runner(proto: str) -> Callable[[Attempt], Outcome]:
    def run(a: Attempt) -> Outcome:
        from netlab.probes.tcpudp import probe

        e = a.expect
        assert e.target_address is not None and e.port is not None
        result = probe(a.plan, e.from_node, e.target_address, proto, e.port,
                       timeout=e.timeout, sport=a.key)
        return Outcome(result.ok, result.seen(), result.state)
    return run


def matcher(proto: str) -> Callable[[Any, int, int | None], bool]:
    def matches(pkt: Any, key: int, port: int | None) -> bool:
        """Our segment: source port `key` to `port`. The exact class: a TCP/UDP header
        quoted inside an ICMP error (TCPerror, UDPerror) is not our probe."""
        from scapy.layers.inet import TCP, UDP

        layer = pkt.getlayer(TCP if proto == "tcp" else UDP)
        return layer is not None and layer.dport == port and layer.sport == key
    return matches
