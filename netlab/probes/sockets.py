"""Sockets opened inside a node's network namespace.

A socket belongs to the namespace it was created in, for its whole life, so a thread can
step into a lab namespace (setns), open a socket, and step back; the socket keeps sending
and receiving inside the lab. This avoids forking a process per node.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from netlab.errors import NetlabError
from netlab.netns import entered

# linux/icmp.h: on a raw ICMPv4 socket, a bitmask of ICMP types to *drop*.
ICMP_FILTER = 1
SOL_RAW = 255
# linux/in6.h
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
ETH_P_ALL = 0x0003


def open_in(netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket created inside `netns`; raises NamespaceGone if it does not exist."""
    with entered(netns):
        return socket.socket(family, type_, proto)


def raw_icmp(netns: str, v6: bool, accept: tuple[int, ...] | None = None) -> socket.socket:
    """A raw ICMP (or ICMPv6) socket in `netns`, optionally receiving only `accept` types."""
    if v6:
        s = open_in(netns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        if accept is not None:
            s.setsockopt(socket.IPPROTO_ICMPV6, 1, _icmp6_filter(accept))  # ICMP6_FILTER
    else:
        s = open_in(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        if accept is not None:
            drop = 0xFFFFFFFF
            for t in accept:
                drop &= ~(1 << t)
            s.setsockopt(SOL_RAW, ICMP_FILTER, drop.to_bytes(4, "little"))
    s.setblocking(False)
    return s


def _icmp6_filter(accept: tuple[int, ...]) -> bytes:
    # struct icmp6_filter: 256 bits, a set bit *blocks* that type.
    words = [0xFFFFFFFF] * 8
    for t in accept:
        words[t >> 5] &= ~(1 << (t & 31))
    return b"".join(w.to_bytes(4, "little") for w in words)


def raw_l4(netns: str, v6: bool, proto: int) -> socket.socket:
    """A raw TCP/UDP socket: sends a crafted L4 segment, receives copies of incoming ones."""
    family = socket.AF_INET6 if v6 else socket.AF_INET
    s = open_in(netns, family, socket.SOCK_RAW, proto)
    s.setblocking(False)
    return s


def packet_sniffer(netns: str) -> socket.socket:
    """An AF_PACKET socket seeing every L3 packet on every interface of `netns`."""
    s = open_in(netns, socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    return s


def source_address(netns: str, dst: str) -> str:
    """The source address the kernel of `netns` picks for `dst` (route lookup, no packet)."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with contextlib.closing(open_in(netns, family, socket.SOCK_DGRAM)) as s:
        try:
            s.connect((dst, 9))
        except OSError as e:
            raise NoRoute(f"no route to {dst} in {netns} ({e.strerror})") from None
        return str(s.getsockname()[0])


class NoRoute(NetlabError):
    """The source node has no route to the target: nothing can be sent."""


def drain(sock: socket.socket, size: int = 65535) -> Iterator[tuple[bytes, object]]:
    """Every datagram already queued on a non-blocking socket."""
    while True:
        try:
            yield sock.recvfrom(size)
        except BlockingIOError:
            return
