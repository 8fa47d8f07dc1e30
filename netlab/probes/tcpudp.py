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
from typing import TYPE_CHECKING, Any

from netlab import backends
from netlab.plan.model import Plan
from netlab.probes import sockets, targets
from netlab.probes.results import PortResult, icmp_text

if TYPE_CHECKING:
    from netlab.backends.base import Backend

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
    backend = backends.for_plan(plan)
    try:
        route = sockets.route(node.netns, tgt.address, backend)
    except sockets.NoRoute as e:
        result.state, result.detail = "unreachable", str(e)
        return result
    if route.broadcast:
        result.state = "unreachable"
        result.detail = (f"not sent: {tgt.address} is a broadcast address in {source}, and a "
                         f"port probe asks one host")
        return result
    with contextlib.ExitStack() as stack:
        raw, errs = _open(stack, node.netns, tgt.v6, proto, route.source, sport, backend)
        clock = sockets.SendClock(raw)
        sockets.await_stamps()
        try:
            clock.sendto(_craft(proto, route.source, tgt.address, sport, port),
                         (tgt.address, 0), 0)
        except OSError as e:
            result.state, result.detail = "unreachable", f"cannot send: {e.strerror}"
            return result
        if _await_answer(result, clock, raw, errs, route.source, sport,
                         targets.address_map(plan), timeout):
            return result
    result.state = "filtered" if proto == "tcp" else "no-answer"
    result.detail = f"timeout: no answer within {timeout:g} s"
    return result


def _open(stack: contextlib.ExitStack, netns: str, v6: bool, proto: str, src: str,
          sport: int, backend: Backend) -> tuple[socket.socket, socket.socket]:
    """The raw L4 socket that sends the probe and sees answers, and a raw ICMP one for
    errors about it (both closed with `stack`)."""
    l4 = socket.IPPROTO_TCP if proto == "tcp" else socket.IPPROTO_UDP
    raw = stack.enter_context(sockets.raw_l4(netns, v6, l4, backend))
    raw.bind((src, 0))
    errs = stack.enter_context(sockets.raw_icmp(
        netns, v6, (1, 2, 3, 4) if v6 else (3, 11, 12), backend))
    if proto == "udp":
        # Own the source port so the reply is consumed instead of bouncing an ICMP back.
        sink = stack.enter_context(sockets.open_in(
            netns, socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM, 0, backend))
        with contextlib.suppress(OSError):
            sink.bind((src, sport))
    return raw, errs


def _await_answer(result: PortResult, clock: sockets.SendClock, raw: socket.socket,
                  errs: socket.socket, src: str, sport: int, names: dict[str, str],
                  timeout: float) -> bool:
    """Fill `result` from the first answer the kernel received within `timeout` of the
    send; False if none came."""
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
                    return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sockets.wait_readable([raw, errs], left)


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
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    v6 = ":" in result.address
    if v6:  # the socket gives the payload only: dissect it under a made-up header
        nh = 58 if is_icmp else (6 if result.proto == "tcp" else 17)
        pkt = IPv6(bytes(IPv6(src=addr, dst=src, nh=nh, plen=len(data))) + data)
    else:
        pkt = IP(data)
    who = targets.label(names, addr)
    if is_icmp:
        found = _icmp_error(result, pkt, v6, data, addr, sport, who)
    elif addr != result.address:
        return False
    else:
        found = _answer(result, pkt, sport, who)
    if found:
        result.hop = addr
    return found


def _icmp_error(result: PortResult, pkt: Any, v6: bool, data: bytes, addr: str,
                sport: int, who: str) -> bool:
    """An ICMP error quoting our probe: closed (port unreachable from the target itself)
    or unreachable (anything else, from anyone on the path)."""
    from scapy.layers.inet import ICMP, TCPerror, UDPerror

    inner_cls = TCPerror if result.proto == "tcp" else UDPerror
    inner = pkt.getlayer(inner_cls) if not v6 else _inner6(pkt, result.proto)
    if inner is None or inner.sport != sport or inner.dport != result.port:
        return False
    type_, code = (data[0], data[1]) if v6 else (pkt[ICMP].type, pkt[ICMP].code)
    port_unreach = (type_, code) == ((1, 4) if v6 else (3, 3))
    result.state = "closed" if port_unreach and addr == result.address else "unreachable"
    result.detail = f"ICMP {icmp_text(v6, type_, code)} from {who}"
    return True


def _answer(result: PortResult, pkt: Any, sport: int, who: str) -> bool:
    """The target's own answer: SYN-ACK (open) or RST (closed); a UDP reply."""
    from scapy.layers.inet import TCP, UDP

    layer = pkt.getlayer(TCP if result.proto == "tcp" else UDP)
    if layer is None or layer.sport != result.port or layer.dport != sport:
        return False
    if result.proto == "udp":
        result.state = "reply"
        result.detail = f"UDP reply ({len(layer.payload)} bytes) from {who}"
        return True
    flags = str(layer.flags)
    if "S" in flags and "A" in flags:
        result.state, result.detail = "open", f"SYN-ACK from {who}"
    elif "R" in flags:
        result.state, result.detail = "closed", f"RST from {who}"
    else:
        return False
    return True


def _inner6(pkt, proto: str):  # type: ignore[no-untyped-def]
    """The quoted TCP/UDP header inside an ICMPv6 error."""
    from scapy.layers.inet import TCPerror, UDPerror
    from scapy.layers.inet6 import IPerror6

    quoted = pkt.getlayer(IPerror6)
    if quoted is None:
        return None
    return quoted.getlayer(TCPerror if proto == "tcp" else UDPerror)
