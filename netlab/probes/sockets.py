"""Sockets opened inside a node's network namespace.

A socket belongs to the namespace it was created in, for its whole life, so the backend
opens it there (Backend.open_socket: the kernel backend steps a thread into the lab
namespace and back) and it keeps sending and receiving inside the lab. This avoids forking
a process per node, and probes never touch namespaces themselves.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlab.errors import NetlabError

if TYPE_CHECKING:
    from netlab.backends.base import Backend

# linux/icmp.h: on a raw ICMPv4 socket, a bitmask of ICMP types to *drop*.
ICMP_FILTER = 1
SOL_RAW = 255
# linux/in6.h
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
ETH_P_ALL = 0x0003

# Kernel timestamps (asm-generic/socket.h, linux/net_tstamp.h, linux/errqueue.h). Probes time
# a reply by when the kernel received it, not by when this process got round to reading it:
# a busy machine delays the reader, never the stamp.
SO_TIMESTAMPNS = 35
SO_TIMESTAMPING = 37
SCM_TS_OPT_ID = 81  # Linux 6.13+: the timestamp key of one sendmsg, given by the sender
_SOF_SOFTWARE = 1 << 4
_SOF_OPT_ID = 1 << 7
_SOF_TX_SCHED = 1 << 8
_SOF_OPT_TSONLY = 1 << 11
_SO_EE_ORIGIN_TIMESTAMPING = 4
_SCM_TSTAMP_SCHED = 1
_TIMESPEC = struct.Struct("@qq")
_EXT_ERR = struct.Struct("@IBBBBII")  # struct sock_extended_err
_RECVERR = {(socket.IPPROTO_IP, 11), (socket.IPPROTO_IPV6, 25)}  # IP_RECVERR, IPV6_RECVERR
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(4) + 64
_ERRQUEUE_ANC = socket.CMSG_SPACE(3 * _TIMESPEC.size) + socket.CMSG_SPACE(_EXT_ERR.size + 32)


def open_in(netns: str, family: int, type_: int, proto: int = 0,
            backend: Backend | None = None) -> socket.socket:
    """A socket created inside `netns` by `backend` (default: the default backend; pass
    `backends.for_plan(plan)` when a plan is at hand); NamespaceGone if there is none."""
    if backend is None:
        from netlab import backends

        backend = backends.get()
    return backend.open_socket(netns, family, type_, proto)


def raw_icmp(netns: str, v6: bool, accept: tuple[int, ...] | None = None,
             backend: Backend | None = None) -> socket.socket:
    """A raw ICMP (or ICMPv6) socket in `netns`, optionally receiving only `accept` types;
    what it receives carries the kernel's arrival time (read with `receive`)."""
    if v6:
        s = open_in(netns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, backend)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        if accept is not None:
            s.setsockopt(socket.IPPROTO_ICMPV6, 1, _icmp6_filter(accept))  # ICMP6_FILTER
    else:
        s = open_in(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, backend)
        if accept is not None:
            drop = 0xFFFFFFFF
            for t in accept:
                drop &= ~(1 << t)
            s.setsockopt(SOL_RAW, ICMP_FILTER, drop.to_bytes(4, "little"))
    stamp_arrivals(s)
    s.setblocking(False)
    return s


def _icmp6_filter(accept: tuple[int, ...]) -> bytes:
    # struct icmp6_filter: 256 bits, a set bit *blocks* that type.
    words = [0xFFFFFFFF] * 8
    for t in accept:
        words[t >> 5] &= ~(1 << (t & 31))
    return b"".join(w.to_bytes(4, "little") for w in words)


def raw_l4(netns: str, v6: bool, proto: int, backend: Backend | None = None) -> socket.socket:
    """A raw TCP/UDP socket: sends a crafted L4 segment, receives copies of incoming ones."""
    family = socket.AF_INET6 if v6 else socket.AF_INET
    s = open_in(netns, family, socket.SOCK_RAW, proto, backend)
    stamp_arrivals(s)
    s.setblocking(False)
    return s


def packet_sniffer(netns: str, backend: Backend | None = None) -> socket.socket:
    """An AF_PACKET socket seeing every L3 packet on every interface of `netns`."""
    s = open_in(netns, socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL), backend)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    return s


@dataclass(frozen=True)
class Route:
    """What the kernel of a namespace would do with a packet to one address."""

    source: str  # the source address it picks
    broadcast: bool  # `dst` is a broadcast address there (a broadcast route)


def route(netns: str, dst: str, backend: Backend | None = None) -> Route:
    """The kernel's route lookup in `netns` for `dst` (a connect(), no packet sent).

    A broadcast address is refused with EACCES ("Permission denied") unless the socket may
    broadcast (SO_BROADCAST, what `ping -b` sets): that is not "no route", so ask again
    with it and say which it was."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with contextlib.closing(open_in(netns, family, socket.SOCK_DGRAM, 0, backend)) as s:
        broadcast = False
        try:
            s.connect((dst, 9))
        except PermissionError as e:
            if family != socket.AF_INET:
                raise NoRoute(f"no route to {dst} in {netns} ({e.strerror})") from None
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            broadcast = True
            try:
                s.connect((dst, 9))
            except OSError as e2:
                raise NoRoute(f"no route to {dst} in {netns} ({e2.strerror})") from None
        except OSError as e:
            raise NoRoute(f"no route to {dst} in {netns} ({e.strerror})") from None
        return Route(str(s.getsockname()[0]), broadcast)


def source_address(netns: str, dst: str, backend: Backend | None = None) -> str:
    """The source address the kernel of `netns` picks for `dst` (route lookup, no packet)."""
    return route(netns, dst, backend).source


class NoRoute(NetlabError):
    """The source node has no route to the target: nothing can be sent."""


def drain(sock: socket.socket, size: int = 65535) -> Iterator[tuple[bytes, object]]:
    """Every datagram already queued on a non-blocking socket."""
    while True:
        try:
            yield sock.recvfrom(size)
        except BlockingIOError:
            return


def stamp_arrivals(sock: socket.socket) -> None:
    """Have the kernel attach its receive time to every packet (SO_TIMESTAMPNS)."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def await_stamps(seconds: float = 1.0) -> None:
    """Return once the kernel stamps packets as they arrive; call it after opening the
    sockets that asked for stamps.

    Stamping is switched on for the whole kernel by the first socket that wants it, a few
    milliseconds later (a deferred static-key flip; longer on a busy machine). A packet
    arriving before that gets no stamp and is stamped when it is read, late. A datagram
    to ourselves over loopback shows which: stamped before we read it, or when we did.
    """
    deadline = time.monotonic() + seconds
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        stamp_arrivals(s)
        s.setblocking(False)
        try:
            s.bind(("127.0.0.1", 0))
        except OSError:
            return  # no loopback here: nothing to learn from
        while True:
            s.sendto(b"", s.getsockname())  # delivered before sendto returns
            before_read = time.time_ns()
            stamped = [dg.stamp_ns < before_read for dg in receive(s, 16)]
            if any(stamped) or time.monotonic() >= deadline:
                return
            time.sleep(0.001)


@dataclass(frozen=True)
class Datagram:
    """One packet read from a socket, with the kernel's receive time."""

    data: bytes
    addr: str
    stamp_ns: int  # CLOCK_REALTIME nanoseconds, as time.time_ns()
    hoplimit: int | None = None  # IPv6 raw sockets with IPV6_RECVHOPLIMIT


def receive(sock: socket.socket, size: int = 65535) -> Iterator[Datagram]:
    """Every packet already queued on a non-blocking socket, with its arrival time."""
    while True:
        try:
            data, anc, _, addr = sock.recvmsg(size, _ANCILLARY)
        except BlockingIOError:
            return
        stamp, hlim = None, None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(value)
                stamp = sec * 1_000_000_000 + nsec
            elif level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT:
                hlim = int.from_bytes(value[:4], "little")
        # No stamp only if the socket was not set up for it: then now is the best we have.
        yield Datagram(data, str(addr[0]), stamp if stamp is not None else time.time_ns(), hlim)


def wait_readable(socks: list[socket.socket], seconds: float) -> None:
    """Block until one of `socks` has something queued (data or a transmit timestamp)."""
    if seconds > 0:
        select.select(socks, [], [], seconds)


class SendClock:
    """When each packet sent through one socket really left.

    The kernel stamps a packet when it is handed to the interface's queue (a transmit
    timestamp, SOF_TIMESTAMPING_TX_SCHED, read back from the socket's error queue, keyed by
    SCM_TS_OPT_ID). That stamp is used when it falls between the clock readings taken just
    before and just after the send call; otherwise (the packet waited for ARP/NDP and left
    later, or the kernel has no SCM_TS_OPT_ID) the reading just before the send is, as ping
    does. Either way a pause of this process around the send cannot stretch a round trip.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.kernel = True
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING,
                            _SOF_TX_SCHED | _SOF_SOFTWARE | _SOF_OPT_ID | _SOF_OPT_TSONLY)
        except OSError:
            self.kernel = False
        self._around: dict[int, tuple[int, int]] = {}  # key -> (before, after) the send
        self._left: dict[int, int] = {}  # key -> kernel transmit stamp

    def sendto(self, data: bytes, addr: tuple[str, int], key: int) -> None:
        """Send `data`, remembering when it left under `key` (0 .. 2**32-1)."""
        before = time.time_ns()
        if self.kernel:
            try:
                self.sock.sendmsg([data], [(socket.SOL_SOCKET, SCM_TS_OPT_ID,
                                            struct.pack("@I", key))], 0, addr)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                # A kernel before 6.13 refuses the key: user-space times from here on, and
                # no more stamps queued that nobody would read.
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, 0)
                self.kernel = False
                self.sock.sendto(data, addr)
        else:
            self.sock.sendto(data, addr)
        self._around[key] = (before, time.time_ns())

    def collect(self) -> None:
        """Read the transmit stamps queued so far."""
        if not self.kernel:
            return
        while True:
            try:
                _, anc, _, _ = self.sock.recvmsg(1, _ERRQUEUE_ANC,
                                                 socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            stamp = key = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                    sec, nsec = _TIMESPEC.unpack_from(value)  # [0]: the software stamp
                    stamp = sec * 1_000_000_000 + nsec
                elif (level, kind) in _RECVERR and len(value) >= _EXT_ERR.size:
                    _, origin, _, _, _, info, data = _EXT_ERR.unpack_from(value)
                    if origin == _SO_EE_ORIGIN_TIMESTAMPING and info == _SCM_TSTAMP_SCHED:
                        key = data
            if stamp and key is not None:
                self._left[key] = stamp

    def sent_ns(self, key: int) -> int:
        """When packet `key` left (CLOCK_REALTIME ns, like Datagram.stamp_ns)."""
        before, after = self._around[key]
        left = self._left.get(key)
        return left if left is not None and before <= left <= after else before

    def __contains__(self, key: int) -> bool:
        return key in self._around


def rtt_ms(sent_ns: int, received_ns: int) -> float:
    """A round trip in ms, to the microsecond, never negative (clocks are read apart)."""
    return round(max(0, received_ns - sent_ns) / 1e6, 3)
