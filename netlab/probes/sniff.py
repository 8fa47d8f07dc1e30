"""Watching a probe arrive somewhere: an AF_PACKET socket inside another node's namespace.

Opened before the probe is sent and read after it has been answered (or timed out), so
no capture thread is needed: the kernel queues every packet the namespace saw meanwhile.
Used for `source_nat` (what source did the target see?) and `via` (did the path cross
that node?).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlab.probes import packets, sockets

if TYPE_CHECKING:
    from netlab.backends.base import Backend

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
PACKET_OUTGOING = 4


@dataclass(frozen=True)
class Mark:
    """What identifies our probe: its expectation kind (netlab.probes.kinds, which knows
    its packets), and source port (tcp/udp) or echo id (icmp)."""

    proto: str
    key: int  # source port, or ICMP echo identifier
    dport: int | None = None


@dataclass(frozen=True)
class Sighting:
    ifname: str
    outgoing: bool
    src: str
    dst: str


class Sniffer:
    def __init__(self, netns: str, backend: Backend | None = None):
        self.netns = netns
        self.sock = sockets.packet_sniffer(netns, backend)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Sniffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sightings(self, mark: Mark) -> list[Sighting]:
        """Every queued packet that is our probe (not its answer)."""
        out = []
        for data, addr in sockets.drain(self.sock):
            ifname, ethertype, pkttype = addr[0], addr[1], addr[2]
            found = _match(data, ethertype, mark)
            if found is not None:
                out.append(Sighting(ifname, pkttype == PACKET_OUTGOING, *found))
        return out


def _match(data: bytes, ethertype: int, mark: Mark) -> tuple[str, str] | None:
    """(source, destination) if this L3 packet is the probe `mark` names."""
    from netlab.probes import kinds

    matches = kinds.get(mark.proto).matches
    if matches is None or ethertype not in (ETH_P_IP, ETH_P_IPV6):
        return None
    pkt = packets.parse(data, ethertype == ETH_P_IPV6)
    if pkt is None or not matches(pkt, mark.key, mark.dport):
        return None
    return pkt.src, pkt.dst
