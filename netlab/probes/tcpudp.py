"""TCP SYN and UDP probes: netlab.probes.packets builds the segment, a raw L4 socket in the
source node's namespace sends it, and replies (SYN-ACK, RST, UDP) and ICMP errors are
matched by port.

TCP: open (SYN-ACK) / closed (RST) / filtered (nothing) / unreachable (ICMP error).
UDP: reply / closed (ICMP port unreachable from the target) / unreachable (other ICMP
error) / no-answer (silence: open but quiet, or filtered).
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from typing import TYPE_CHECKING

from netlab import backends
from netlab.probes import packets, sockets, targets
from netlab.probes.results import PortResult, icmp_text

if TYPE_CHECKING:
    from netlab.backends.base import Backend
    from netlab.plan.model import Plan

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
    if proto == "tcp":
        return packets.tcp_syn(src, dst, sport, dport, random.getrandbits(32))
    return packets.udp(src, dst, sport, dport, PAYLOAD)


def _classify(result: PortResult, is_icmp: bool, data: bytes, addr: str, src: str,
              sport: int, names: dict[str, str]) -> bool:
    """Fill `result` if this packet answers our probe; True when it did."""
    v6 = ":" in result.address
    l4 = packets.TCP if result.proto == "tcp" else packets.UDP
    if v6:  # the socket gives the upper layer only
        pkt = packets.upper(data, addr, src, packets.ICMP6 if is_icmp else l4)
    else:
        parsed = packets.parse(data, False)
        if parsed is None:
            return False
        pkt = parsed
    who = targets.label(names, addr)
    if is_icmp:
        found = _icmp_error(result, pkt, addr, sport, who)
    elif addr != result.address or pkt.proto != l4:
        return False
    else:
        found = _answer(result, pkt, sport, who)
    if found:
        result.hop = addr
    return found


def _icmp_error(result: PortResult, pkt: packets.Packet, addr: str, sport: int,
                who: str) -> bool:
    """An ICMP error quoting our probe: closed (port unreachable from the target itself)
    or unreachable (anything else, from anyone on the path)."""
    inner, kind = pkt.quoted(), pkt.icmp()
    l4 = packets.TCP if result.proto == "tcp" else packets.UDP
    if inner is None or kind is None or inner.proto != l4 \
            or inner.ports() != (sport, result.port):
        return False
    type_, code = kind
    port_unreach = kind == ((1, 4) if pkt.v6 else (3, 3))
    result.state = "closed" if port_unreach and addr == result.address else "unreachable"
    result.detail = f"ICMP {icmp_text(pkt.v6, type_, code)} from {who}"
    return True


def _answer(result: PortResult, pkt: packets.Packet, sport: int, who: str) -> bool:
    """The target's own answer: SYN-ACK (open) or RST (closed); a UDP reply."""
    if pkt.ports() != (result.port, sport):
        return False
    if result.proto == "udp":
        result.state = "reply"
        result.detail = f"UDP reply ({max(0, len(pkt.l4) - 8)} bytes) from {who}"
        return True
    flags = pkt.l4[13] if len(pkt.l4) >= 14 else 0
    if flags & packets.SYN and flags & packets.ACK:
        result.state, result.detail = "open", f"SYN-ACK from {who}"
    elif flags & packets.RST:
        result.state, result.detail = "closed", f"RST from {who}"
    else:
        return False
    return True
