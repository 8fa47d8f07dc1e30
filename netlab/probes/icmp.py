"""ICMP echo over a raw socket inside the source node's namespace: `netlab ping`, and the
engine `trace` reuses (same session, TTL-limited sends).

Requests are built and answers read (including the packet an ICMP error quotes) with
netlab.probes.packets; the socket is ours, so there is no per-call socket or ARP cost.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlab import backends
from netlab.probes import packets, sockets, targets
from netlab.probes.results import IcmpError, PingResult, Reply, icmp_text

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan, Plan

PAYLOAD = bytes(range(56))  # like ping: 56 data bytes, 64 with the ICMP header


@dataclass
class Heard:
    """Something received about one of our requests, and when the kernel received it."""

    event: Reply | IcmpError
    stamp_ns: int


class EchoSession:
    """One raw ICMP socket in `netns`, sending echo requests to one address.

    Round trips are kernel time to kernel time (sockets.SendClock, sockets.receive): how
    late this process reads a reply changes nothing.
    """

    payload = PAYLOAD  # the data of each request (the size kind sends more)

    def __init__(self, plan: Plan, netns: str, dst: str, ident: int | None = None,
                 few_in_kernel: bool = False):
        """`few_in_kernel`: let only a handful of requests wait inside the kernel (for
        ARP/NDP, or in a full queue); `send` then returns False until they have left,
        as the kernel's ping is held back by its small send buffer."""
        self.v6 = ":" in dst
        self.dst = dst
        backend = backends.for_plan(plan)
        route = sockets.route(netns, dst, backend)
        self.src = route.source
        # A broadcast address (the kernel said so): sent as `ping -b` sends, and answered
        # by whichever hosts answer broadcast echo, each from its own address.
        self.broadcast = route.broadcast
        self.ident = random.randrange(1, 0xFFFF) if ident is None else ident
        self.names = targets.address_map(plan)
        accept = (packets.ECHO_REPLY[self.v6], *packets.ERRORS[self.v6])
        self.sock = sockets.raw_icmp(netns, self.v6, accept, backend)
        if self.broadcast:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        # Room for a long backlog of replies while the caller is busy (printing, say).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if few_in_kernel:
            # The kernel's minimum send buffer (what ping asks for): a few requests.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
        self.clock = sockets.SendClock(self.sock)
        sockets.await_stamps()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> EchoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, seq: int, ttl: int | None = None) -> bool:
        """Send request `seq`; False if the send buffer is full (nothing sent: try again
        once `wait(..., to_send=True)` returns)."""
        if ttl is not None:
            if self.v6:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            else:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        data = self._craft(seq)
        try:
            self.clock.sendto(data, (self.dst, 0), seq)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOBUFS):
                # The send buffer is full (a raw socket says ENOBUFS): nothing was sent.
                return False
            # The kernel refused at once (no route, neighbour failed): report like an error.
            raise sockets.NoRoute(f"cannot send to {self.dst}: {e.strerror}") from None
        return True

    def _craft(self, seq: int) -> bytes:
        return packets.echo(self.v6, self.ident, seq, self.payload)

    def wait(self, seconds: float, to_send: bool = False) -> None:
        """Sleep until something arrives (or, with `to_send`, the socket can send again)
        or `seconds` pass."""
        if seconds > 0:
            select.select([self.sock], [self.sock] if to_send else [], [], seconds)

    def heard(self) -> Iterator[Heard]:
        """Everything about our requests queued so far (never blocks)."""
        self.clock.collect()  # transmit stamps first: they are queued before the answers
        for dg in sockets.receive(self.sock):
            ev = self._parse(dg.data, dg.addr, dg.hoplimit, dg.stamp_ns)
            if ev is not None:
                yield Heard(ev, dg.stamp_ns)

    def receive(self, deadline: float) -> Iterator[Reply | IcmpError]:
        """Events about our requests until `deadline` (monotonic); stops early if the
        caller stops iterating. What is queued is read even when the caller comes late."""
        while True:
            for h in self.heard():
                yield h.event
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.wait(left)

    def _parse(self, data: bytes, addr: str, hlim: int | None,
               rx_ns: int) -> Reply | IcmpError | None:
        # v4: the raw socket gives the whole IP packet; v6: the ICMPv6 message alone.
        pkt = (packets.upper(data, addr, self.src, packets.ICMP6, hlim) if self.v6
               else packets.parse(data, False))
        kind = pkt.icmp() if pkt is not None else None
        if pkt is None or kind is None:
            return None
        if kind[0] == packets.ECHO_REPLY[self.v6]:
            ids = pkt.echo_id_seq()
            if ids is None or ids[0] != self.ident or ids[1] not in self.clock or (
                    pkt.src != self.dst and not self.broadcast):
                return None
            return Reply(ids[1], pkt.src, pkt.ttl if not self.v6 else hlim,
                         self._rtt(ids[1], rx_ns), len(pkt.l4))
        inner = pkt.quoted()  # an error: about our request?
        asked = inner.icmp() if inner is not None else None
        ids = inner.echo_id_seq() if inner is not None else None
        if asked is None or asked[0] != packets.ECHO_REQUEST[self.v6] or ids is None \
                or ids[0] != self.ident or ids[1] not in self.clock:
            return None
        return self._error(ids[1], pkt.src, kind[0], kind[1], rx_ns)

    def _error(self, seq: int, addr: str, type_: int, code: int, rx_ns: int) -> IcmpError:
        return IcmpError(seq, addr, self.names.get(addr), type_, code,
                         icmp_text(self.v6, type_, code), self._rtt(seq, rx_ns))

    def _rtt(self, seq: int, received_ns: int) -> float:
        return sockets.rtt_ms(self.clock.sent_ns(seq), received_ns)


def ping(plan: Plan, source: str, target: str, count: int = 3, interval: float = 0.2,
         timeout: float = 1.0, family: int | None = None,
         on_event: Callable[[Reply | IcmpError], None] | None = None,
         ident: int | None = None) -> PingResult:
    """Send `count` echo requests from node `source` to `target` (node, node:if, IP).

    Requests go out on a fixed schedule (request k at start + (k-1) * interval), whatever
    reading and printing replies costs; after a hold-up of more than one interval the
    schedule goes on from then, without a burst. Replies count if the kernel received them
    within `timeout` seconds after the last request, however late this process reads them.
    """
    node = targets.source_node(plan, source)
    tgt = targets.resolve(plan, target, family)
    result = PingResult(source, target, tgt.address)
    try:
        session = EchoSession(plan, node.netns, tgt.address, ident=ident or _ident(),
                              few_in_kernel=True)
    except sockets.NoRoute as e:
        result.errors.append(IcmpError(0, "", source, -1, -1, str(e), 0.0))
        return result
    with session:
        if session.broadcast:
            result.note = broadcast_note(plan, node, tgt.address)
        _Pinger(session, result, count, interval, timeout, on_event).run()
    return result


def broadcast_note(plan: Plan, node: NodePlan, address: str) -> str:
    """What pinging a broadcast address from `node` does, in words (the kernel's ping
    refuses it without -b: "Do you want to ping broadcast?")."""
    what = "a broadcast address"
    for iface in node.interfaces:
        for a in iface.addresses:
            net = ipaddress.ip_interface(a).network
            if net.version == 4 and str(net.broadcast_address) == address:
                what = f"the broadcast address of {net} ({node.name}:{iface.name})"
    if address == "255.255.255.255":
        what = "the limited broadcast address"
    return (f"{address} is {what}: sent with SO_BROADCAST, as `ping -b` does; a Linux host "
            "answers only with net.ipv4.icmp_echo_ignore_broadcasts = 0")


HELD_TOO_LONG = 5.0  # s; a neighbour the kernel cannot resolve is given up after 3 s


class _Pinger:
    """ping's loop: send on schedule, and between sends take in what has arrived.

    Like the kernel's ping, only a few requests may wait inside the kernel: over a link
    that loses ARP, the rest are sent once the neighbour is found (or given up, after
    which the kernel answers "host unreachable" for those that waited), instead of
    piling up behind an ARP exchange that fails and taking all of them with it.
    """

    def __init__(self, session: EchoSession, result: PingResult, count: int,
                 interval: float, timeout: float,
                 on_event: Callable[[Reply | IcmpError], None] | None):
        self.session, self.result, self.count = session, result, count
        self.interval, self.timeout, self.on_event = interval, timeout, on_event
        self.start = time.monotonic()
        self.held_since: float | None = None  # the kernel would take no more requests
        self.end: float | None = None  # monotonic: last request + timeout
        self.end_ns = 0  # the same instant on the kernel's clock (CLOCK_REALTIME)

    def run(self) -> None:
        while True:
            self._send_due()
            for h in self.session.heard():
                self._take(h)
                self._send_due()  # a long backlog must not hold the next request back
            if self.end is None:
                if self.held_since is not None:  # until the kernel takes requests again
                    self.session.wait(0.05, to_send=True)
                else:
                    self.session.wait(self.start + self.result.sent * self.interval
                                      - time.monotonic())
                continue
            if (self.result.received + _errored(self.result) >= self.result.sent
                    and not self.session.broadcast):  # a broadcast has no last answer
                return
            left = self.end - time.monotonic()
            if left <= 0:
                for h in self.session.heard():  # what arrived while we looked away
                    self._take(h)
                return
            self.session.wait(left)

    def _send_due(self) -> None:
        result = self.result
        if result.sent >= self.count:
            return
        now = time.monotonic()
        due = self.start + result.sent * self.interval
        if now < due:
            return
        seq = result.sent + 1
        try:
            if not self.session.send(seq):
                self.held_since = self.held_since or now
                if now - self.held_since > HELD_TOO_LONG:
                    result.errors.append(IcmpError(
                        0, "", result.source, -1, -1,
                        f"stopped after {result.sent} requests: the kernel has held the "
                        f"earlier ones for {HELD_TOO_LONG:g} s (no ARP/NDP answer, or a "
                        f"full queue)", 0.0))
                    self.count = result.sent
                    self._last_sent()
                return
        except sockets.NoRoute as e:
            result.errors.append(IcmpError(seq, "", result.source, -1, -1, str(e), 0.0))
        self.held_since = None
        if now - due > self.interval > 0:
            # This process (or the kernel, see above) held the request up: go on from now
            # rather than send the missed ones in a burst, as ping does.
            self.start += now - due
        result.sent += 1
        if result.sent == self.count:
            self._last_sent()

    def _last_sent(self) -> None:
        self.end = time.monotonic() + self.timeout
        self.end_ns = time.time_ns() + int(self.timeout * 1e9)

    def _take(self, h: Heard) -> None:
        if self.end is not None and h.stamp_ns > self.end_ns:
            return  # arrived after the wait was over: late, as for ping
        ev = h.event
        (self.result.replies if isinstance(ev, Reply) else self.result.errors).append(ev)
        if self.on_event:
            self.on_event(ev)


def _errored(result: PingResult) -> int:
    """Requests answered by an error only (seq 0: a note about no request in particular)."""
    return len({e.seq for e in result.errors if e.seq} - {r.seq for r in result.replies})


def _ident() -> int:
    # Distinct per process and call, so concurrent pings in one netns don't mix replies.
    return (os.getpid() * 7919 + random.randrange(0xFFFF)) % 0xFFFE + 1
