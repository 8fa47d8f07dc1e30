"""What the tcp and udp kinds share: one probe to a port (netlab.probes.tcpudp), and
telling that probe apart from other packets by its ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, Outcome

if TYPE_CHECKING:
    from netlab.probes.packets import Packet


def runner(proto: str) -> Callable[[Attempt], Outcome]:
    def run(a: Attempt) -> Outcome:
        from netlab.probes.tcpudp import probe

        e = a.expect
        assert e.target_address is not None and e.port is not None
        result = probe(a.plan, e.from_node, e.target_address, proto, e.port,
                       timeout=e.timeout, sport=a.key)
        return Outcome(result.ok, result.seen(), result.state)
    return run


def matcher(proto: str) -> Callable[[Packet, int, int | None], bool]:
    def matches(pkt: Packet, key: int, port: int | None) -> bool:
        """Our segment: source port `key` to `port`. A TCP/UDP header quoted inside an
        ICMP error is not our probe (that packet's protocol is ICMP)."""
        from netlab.probes import packets

        want = packets.TCP if proto == "tcp" else packets.UDP
        return pkt.proto == want and pkt.ports() == (key, port)
    return matches
