"""ICMP echo over a raw socket inside the source node's namespace: `netlab ping`, and the
engine `trace` reuses (same session, TTL-limited sends).

scapy crafts the requests and dissects what comes back (including the quoted packet in
ICMP errors); the socket is ours, so there is no per-call socket or ARP cost.
"""

from __future__ import annotations

import os
import random
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from netlab.plan import Plan
from netlab.probes import sockets, targets
from netlab.probes.results import IcmpError, PingResult, Reply, icmp_text

PAYLOAD = bytes(range(56))  # like ping: 56 data bytes, 64 with the ICMP header
_ECHO_REPLY = {False: 0, True: 129}
_ERRORS = {False: (3, 11, 12), True: (1, 2, 3, 4)}


@dataclass
class Echo:
    """Something received about request `seq`: a Reply or an IcmpError."""

    event: Reply | IcmpError


class EchoSession:
    """One raw ICMP socket in `netns`, sending echo requests to one address."""

    def __init__(self, plan: Plan, netns: str, dst: str, ident: int | None = None):
        self.v6 = ":" in dst
        self.dst = dst
        self.src = sockets.source_address(netns, dst)
        self.ident = random.randrange(1, 0xFFFF) if ident is None else ident
        self.names = targets.address_map(plan)
        accept = (_ECHO_REPLY[self.v6], *_ERRORS[self.v6])
        self.sock = sockets.raw_icmp(netns, self.v6, accept)
        self.sent_at: dict[int, float] = {}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> EchoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, seq: int, ttl: int | None = None) -> None:
        if ttl is not None:
            if self.v6:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            else:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        data = self._craft(seq)
        self.sent_at[seq] = time.monotonic()
        try:
            self.sock.sendto(data, (self.dst, 0))
        except OSError as e:
            # The kernel refused at once (no route, neighbour failed): report like an error.
            raise sockets.NoRoute(f"cannot send to {self.dst}: {e.strerror}") from None

    def _craft(self, seq: int) -> bytes:
        if self.v6:
            from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

            pkt = IPv6(src=self.src, dst=self.dst) / ICMPv6EchoRequest(
                id=self.ident, seq=seq, data=PAYLOAD)
            return bytes(pkt)[40:]  # the kernel adds the IPv6 header (and checksum)
        from scapy.layers.inet import ICMP

        return bytes(ICMP(type=8, id=self.ident, seq=seq) / PAYLOAD)

    def receive(self, deadline: float) -> Iterator[Reply | IcmpError]:
        """Events about our requests until `deadline` (monotonic); stops early if the
        caller stops iterating."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return
            now = time.monotonic()
            for data, addr, hlim in self._drain():
                ev = self._parse(data, addr, hlim, now)
                if ev is not None:
                    yield ev

    def _drain(self) -> Iterator[tuple[bytes, str, int | None]]:
        while True:
            try:
                data, anc, _, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(4))
            except BlockingIOError:
                return
            hlim = None
            for level, kind, value in anc:
                if level == socket.IPPROTO_IPV6 and kind == sockets.IPV6_HOPLIMIT:
                    hlim = int.from_bytes(value[:4], "little")
            yield data, addr[0], hlim

    def _parse(self, data: bytes, addr: str, hlim: int | None,
               now: float) -> Reply | IcmpError | None:
        if self.v6:
            return self._parse6(data, addr, hlim, now)
        from scapy.layers.inet import ICMP, IP, ICMPerror

        pkt = IP(data)
        icmp = pkt.getlayer(ICMP)
        if icmp is None:
            return None
        if icmp.type == 0:
            if icmp.id != self.ident or pkt.src != self.dst or icmp.seq not in self.sent_at:
                return None
            return Reply(icmp.seq, pkt.src, pkt.ttl, self._rtt(icmp.seq, now), len(icmp))
        inner = pkt.getlayer(ICMPerror)
        if inner is None or inner.id != self.ident or inner.seq not in self.sent_at:
            return None
        return self._error(inner.seq, pkt.src, icmp.type, icmp.code, now)

    def _parse6(self, data: bytes, addr: str, hlim: int | None,
                now: float) -> Reply | IcmpError | None:
        from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

        # The socket gives the ICMPv6 message only; dissect it under a made-up header.
        pkt = IPv6(bytes(IPv6(src=addr, dst=self.src, nh=58, plen=len(data))) + data)
        if pkt.haslayer(ICMPv6EchoReply) and data[0] == 129:
            rep = pkt[ICMPv6EchoReply]
            if rep.id != self.ident or addr != self.dst or rep.seq not in self.sent_at:
                return None
            return Reply(rep.seq, addr, hlim, self._rtt(rep.seq, now), len(data))
        req = pkt.getlayer(ICMPv6EchoRequest, 1) if data[0] < 128 else None
        if req is None or req.id != self.ident or req.seq not in self.sent_at:
            return None
        return self._error(req.seq, addr, data[0], data[1], now)

    def _error(self, seq: int, addr: str, type_: int, code: int, now: float) -> IcmpError:
        return IcmpError(seq, addr, self.names.get(addr), type_, code,
                         icmp_text(self.v6, type_, code), self._rtt(seq, now))

    def _rtt(self, seq: int, now: float) -> float:
        return round((now - self.sent_at[seq]) * 1000.0, 3)


def ping(plan: Plan, source: str, target: str, count: int = 3, interval: float = 0.2,
         timeout: float = 1.0, family: int | None = None,
         on_event: Callable[[Reply | IcmpError], None] | None = None,
         ident: int | None = None) -> PingResult:
    """Send `count` echo requests from node `source` to `target` (node, node:if, IP).

    Waits up to `timeout` seconds after the last request for outstanding replies.
    """
    node = targets.source_node(plan, source)
    tgt = targets.resolve(plan, target, family)
    result = PingResult(source, target, tgt.address)
    try:
        session = EchoSession(plan, node.netns, tgt.address, ident=ident or _ident())
    except sockets.NoRoute as e:
        result.errors.append(IcmpError(0, "", source, -1, -1, str(e), 0.0))
        return result
    with session:
        for seq in range(1, count + 1):
            try:
                session.send(seq)
            except sockets.NoRoute as e:
                result.errors.append(IcmpError(seq, "", source, -1, -1, str(e), 0.0))
            result.sent += 1
            last = seq == count
            until = time.monotonic() + (timeout if last else interval)
            for ev in session.receive(until):
                (result.replies if isinstance(ev, Reply) else result.errors).append(ev)
                if on_event:
                    on_event(ev)
                if last and result.received + _errored(result) >= count:
                    break
    return result


def _errored(result: PingResult) -> int:
    return len({e.seq for e in result.errors} - {r.seq for r in result.replies})


def _ident() -> int:
    # Distinct per process and call, so concurrent pings in one netns don't mix replies.
    return (os.getpid() * 7919 + random.randrange(0xFFFF)) % 0xFFFE + 1
