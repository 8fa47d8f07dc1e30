"""The few packets probes send and read, built and parsed with struct.

ICMP echo, a TCP SYN, a UDP datagram, and the IP packets that answer them (including the
packet an ICMP error quotes). scapy stays for what needs a dissector of everything
(capture's one-liners): importing it costs more than a whole `netlab check` of a small
lab, and these formats are fixed.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

ICMP, TCP, UDP, ICMP6 = 1, 6, 17, 58
ECHO_REQUEST = {False: 8, True: 128}
ECHO_REPLY = {False: 0, True: 129}
ERRORS = {False: (3, 11, 12), True: (1, 2, 3, 4)}
# TCP flags
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
# IPv6 extension headers that may stand between the fixed header and ICMPv6/TCP/UDP:
# hop-by-hop, routing, destination options ((length + 1) * 8 bytes), fragment (8).
_EXTENSIONS = {0, 43, 60}
_FRAGMENT = 44


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo(v6: bool, ident: int, seq: int, payload: bytes) -> bytes:
    """An ICMP(v6) echo request; for ICMPv6 the kernel fills in the checksum (it needs the
    pseudo-header, and a raw ICMPv6 socket always computes it)."""
    head = struct.pack("!BBHHH", ECHO_REQUEST[v6], 0, 0, ident, seq)
    if v6:
        return head + payload
    return struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    if ":" in dst:
        return (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
                + struct.pack("!IxxxB", length, proto))
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", proto, length)


def tcp_syn(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """A TCP SYN with an MSS option (1460), checksum over the pseudo-header included: the
    kernel adds only the IP header."""
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 6 << 4, SYN, 64240, 0, 0)
    seg = head + struct.pack("!BBH", 2, 4, 1460)
    csum = checksum(_pseudo(src, dst, TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram, checksum included (0 is sent as 0xFFFF: 0 means none)."""
    length = 8 + len(payload)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(_pseudo(src, dst, UDP, length) + head + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, csum) + payload


@dataclass(frozen=True)
class Packet:
    """An IP packet: addresses, the upper-layer protocol and its bytes."""

    src: str
    dst: str
    proto: int  # 1/58 ICMP(v6), 6 TCP, 17 UDP, ...
    ttl: int
    l4: bytes  # the upper-layer header and data (for an ICMP error: all of it)

    @property
    def v6(self) -> bool:
        return ":" in self.src

    def ports(self) -> tuple[int, int] | None:
        """(source, destination) of a TCP/UDP header; None for other protocols."""
        if self.proto not in (TCP, UDP) or len(self.l4) < 4:
            return None
        return struct.unpack_from("!HH", self.l4)  # type: ignore[return-value]

    def icmp(self) -> tuple[int, int] | None:
        """(type, code) of an ICMP(v6) message; None for other protocols."""
        if self.proto != (ICMP6 if self.v6 else ICMP) or len(self.l4) < 4:
            return None
        return self.l4[0], self.l4[1]

    def echo_id_seq(self) -> tuple[int, int] | None:
        """(identifier, sequence) of an echo request or reply."""
        t = self.icmp()
        if t is None or t[0] not in (ECHO_REQUEST[self.v6], ECHO_REPLY[self.v6]) \
                or len(self.l4) < 8:
            return None
        return struct.unpack_from("!HH", self.l4, 4)  # type: ignore[return-value]

    def quoted(self) -> Packet | None:
        """The packet an ICMP error quotes (its header and first bytes), if this is one."""
        t = self.icmp()
        if t is None or t[0] not in ERRORS[self.v6] or len(self.l4) < 8:
            return None
        return parse(self.l4[8:], self.v6, quoted=True)


def parse(data: bytes, v6: bool, quoted: bool = False) -> Packet | None:
    """The IPv4 or IPv6 packet in `data`; None if it is too short to be one. `quoted`: a
    packet inside an ICMP error, whose length fields may exceed what was quoted."""
    if v6:
        return _parse6(data, quoted)
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    total, ttl, proto = struct.unpack_from("!H", data, 2)[0], data[8], data[9]
    if ihl < 20 or len(data) < ihl:
        return None
    end = len(data) if quoted or total < ihl else min(total, len(data))
    return Packet(socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]), proto, ttl,
                  bytes(data[ihl:end]))


def _parse6(data: bytes, quoted: bool) -> Packet | None:
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    plen, nh, hlim = struct.unpack_from("!HBB", data, 4)
    end = len(data) if quoted else min(40 + plen, len(data))
    at = 40
    while nh in _EXTENSIONS or nh == _FRAGMENT:
        if len(data) < at + 8:
            return None
        size = 8 if nh == _FRAGMENT else (data[at + 1] + 1) * 8
        nh, at = data[at], at + size
    return Packet(socket.inet_ntop(socket.AF_INET6, data[8:24]),
                  socket.inet_ntop(socket.AF_INET6, data[24:40]), nh, hlim,
                  bytes(data[at:end]))


def upper(data: bytes, src: str, dst: str, proto: int, hlim: int | None = None) -> Packet:
    """What a raw IPv6 socket delivers (the upper layer only), as a Packet."""
    return Packet(src, dst, proto, hlim or 0, bytes(data))
