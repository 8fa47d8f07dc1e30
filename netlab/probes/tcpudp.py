"""TCP SYN and UDP probes: scapy crafts the segment, a raw L4 socket in the source node's
namespace sends it, and replies (SYN-ACK, RST, UDP) and ICMP errors are matched by port.

TCP: open (SYN-ACK) / closed (RST) / filtered (nothing) / unreachable (ICMP error).
UDP: reply / closed (ICMP port unreachable from the target) / unreachable (other ICMP
error) / no-answer (silence: open but quiet, or filtered).
"""

from __future__ import annotations

import contextlib
import random
import socket
import time

from netlab.plan.model import Plan
from netlab.probes import sockets, targets
from netlab.probes.results import PortResult, icmp_text

PAYLOAD = b"netlab probe\n"


def new_port() -> int:
    return random.randrange(33000, 60999)


def probe(plan: Plan, source: str, target: str, proto: str, port: int,
          timeout: float = 1.0, family: int | None = None,
          sport: int | None = None) -> PortResult:
    """Send one TCP SYN or UDP datagram from node `source` to `target`:`port`."""
    node = targets.source_node(plan, source)
    tgt = targets.resolve(plan, target, family)
    result = PortResult(source, target, tgt.address, proto, port, "", "")
    sport = sport or new_port()
    try:
        src = sockets.source_address(node.netns, tgt.address)
    except sockets.NoRoute as e:
        result.state, result.detail = "unreachable", str(e)
        return result
    with contextlib.ExitStack() as stack:
        l4 = socket.IPPROTO_TCP if proto == "tcp" else socket.IPPROTO_UDP
        raw = stack.enter_context(sockets.raw_l4(node.netns, tgt.v6, l4))
        raw.bind((src, 0))
        errs = stack.enter_context(sockets.raw_icmp(
            node.netns, tgt.v6, (1, 2, 3, 4) if tgt.v6 else (3, 11, 12)))
        if proto == "udp":
            # Own the source port so the reply is consumed instead of bouncing an ICMP back.
            sink = stack.enter_context(sockets.open_in(
                node.netns, socket.AF_INET6 if tgt.v6 else socket.AF_INET, socket.SOCK_DGRAM))
            with contextlib.suppress(OSError):
                sink.bind((src, sport))
        segment = _craft(proto, src, tgt.address, sport, port)
        clock = sockets.SendClock(raw)
        sockets.await_stamps()
        try:
            clock.sendto(segment, (tgt.address, 0), 0)
        except OSError as e:
            result.state, result.detail = "unreachable", f"cannot send: {e.strerror}"
            return result
        names = targets.address_map(plan)
        deadline = time.monotonic() + timeout
        while True:
            # Read what is queued before looking at the clock: an answer that arrived in
            # time counts even if this process was slow to get here.
            clock.collect()
            sent = clock.sent_ns(0)
            for sock in (raw, errs):
                for dg in sockets.receive(sock):
                    if dg.stamp_ns - sent > timeout * 1e9:
                        continue  # arrived after the wait
                    if _classify(result, sock is errs, dg.data, dg.addr, src, sport, names):
                        result.rtt_ms = sockets.rtt_ms(sent, dg.stamp_ns)
                        return result
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sockets.wait_readable([raw, errs], left)
    result.state = "filtered" if proto == "tcp" else "no-answer"
    result.detail = f"timeout: no answer within {timeout:g} s"
    return result


def _craft(proto: str, src: str, dst: str, sport: int, dport: int) -> bytes:
    """The L4 bytes (checksum over the pseudo-header included); the kernel adds IP."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6

    l3 = IPv6(src=src, dst=dst) if ":" in dst else IP(src=src, dst=dst)
    if proto == "tcp":
        l4 = TCP(sport=sport, dport=dport, flags="S", seq=random.getrandbits(32),
                 window=64240, options=[("MSS", 1460)])
    else:
        l4 = UDP(sport=sport, dport=dport) / PAYLOAD
    wire = bytes(l3 / l4)
    return wire[40 if ":" in dst else 20:]  # no IP options, so fixed header lengths


def _classify(result: PortResult, is_icmp: bool, data: bytes, addr: str, src: str,
              sport: int, names: dict[str, str]) -> bool:
    """Fill `result` if this packet answers our probe; True when it did."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, TCPerror, UDPerror
    from scapy.layers.inet6 import IPv6

    v6 = ":" in result.address
    if v6:
        nh = 58 if is_icmp else (6 if result.proto == "tcp" else 17)
        pkt = IPv6(bytes(IPv6(src=addr, dst=src, nh=nh, plen=len(data))) + data)
    else:
        pkt = IP(data)
    who = targets.label(names, addr)
    if is_icmp:
        inner_cls = TCPerror if result.proto == "tcp" else UDPerror
        inner = pkt.getlayer(inner_cls) if not v6 else _inner6(pkt, result.proto)
        if inner is None or inner.sport != sport or inner.dport != result.port:
            return False
        type_, code = (data[0], data[1]) if v6 else (pkt[ICMP].type, pkt[ICMP].code)
        text = icmp_text(v6, type_, code)
        port_unreach = (type_, code) == ((1, 4) if v6 else (3, 3))
        result.hop = addr
        if port_unreach and addr == result.address:
            result.state = "closed"
        else:
            result.state = "unreachable"
        result.detail = f"ICMP {text} from {who}"
        return True
    if addr != result.address:
        return False
    if result.proto == "tcp":
        tcp = pkt.getlayer(TCP)
        if tcp is None or tcp.sport != result.port or tcp.dport != sport:
            return False
        flags = str(tcp.flags)
        if "S" in flags and "A" in flags:
            result.state, result.detail = "open", f"SYN-ACK from {who}"
        elif "R" in flags:
            result.state, result.detail = "closed", f"RST from {who}"
        else:
            return False
    else:
        udp = pkt.getlayer(UDP)
        if udp is None or udp.sport != result.port or udp.dport != sport:
            return False
        result.state = "reply"
        result.detail = f"UDP reply ({len(udp.payload)} bytes) from {who}"
    result.hop = addr
    return True


def _inner6(pkt, proto: str):  # type: ignore[no-untyped-def]
    """The quoted TCP/UDP header inside an ICMPv6 error."""
    from scapy.layers.inet import TCPerror, UDPerror
    from scapy.layers.inet6 import IPerror6

    quoted = pkt.getlayer(IPerror6)
    if quoted is None:
        return None
    return quoted.getlayer(TCPerror if proto == "tcp" else UDPerror)
