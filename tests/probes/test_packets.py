"""netlab.probes.packets (struct) against scapy, the independent witness: what probes send
is what scapy would build, and what they read is what scapy dissects."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6PacketTooBig,
    IPerror6,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
)

from netlab.probes import packets
from netlab.probes.kinds import icmp, ports
from netlab.probes.sniff import ETH_P_IPV6, Mark, _match

V4 = ("10.0.0.2", "10.0.0.3")
V6 = ("2001:db8::2", "2001:db8::3")


def test_tcp_syn_and_udp_checksums_are_what_scapy_computes() -> None:
    for src, dst in (V4, V6):
        l3 = IPv6(src=src, dst=dst) if ":" in dst else IP(src=src, dst=dst)
        seg = packets.tcp_syn(src, dst, 40000, 80, 12345)
        tcp = TCP(seg)
        assert (tcp.sport, tcp.dport, tcp.seq, str(tcp.flags)) == (40000, 80, 12345, "S")
        assert tcp.options == [("MSS", 1460)]
        rebuilt = TCP(sport=40000, dport=80, seq=12345, flags="S", window=64240,
                      options=[("MSS", 1460)])
        assert bytes(l3 / rebuilt)[-len(seg):] == seg  # the same bytes, checksum included
        dgram = packets.udp(src, dst, 40000, 53, b"hello")
        assert bytes(l3 / UDP(sport=40000, dport=53) / b"hello")[-len(dgram):] == dgram


def test_echo_request_v6_and_v4() -> None:
    assert ICMP(packets.echo(False, 7, 9, b"x" * 10)).chksum == ICMP(
        bytes(ICMP(type=8, id=7, seq=9) / (b"x" * 10))).chksum
    req = ICMPv6EchoRequest(packets.echo(True, 7, 9, b"abc"))
    assert (req.type, req.id, req.seq, req.data) == (128, 7, 9, b"abc")


def test_parse_answers_and_quoted_packets() -> None:
    reply = packets.parse(bytes(IP(src=V4[1], dst=V4[0], ttl=61) / ICMP(type=0, id=5, seq=2)
                                / b"pad"), False)
    assert reply is not None
    assert (reply.src, reply.ttl, reply.icmp(), reply.echo_id_seq()) == (V4[1], 61, (0, 0),
                                                                         (5, 2))
    assert reply.quoted() is None  # a reply quotes nothing
    err = packets.parse(bytes(IP(src="10.0.0.1", dst=V4[0]) / ICMP(type=3, code=3)
                              / IPerror(src=V4[0], dst=V4[1]) / UDPerror(sport=1, dport=2)),
                        False)
    assert err is not None and err.icmp() == (3, 3)
    inner = err.quoted()
    assert inner is not None and (inner.proto, inner.ports()) == (packets.UDP, (1, 2))
    # IPv6, with extension headers before TCP (a sniffer sees the whole packet)
    wire = bytes(IPv6(src=V6[0], dst=V6[1]) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
                 / TCP(sport=40000, dport=80, flags="S"))
    seg = packets.parse(wire, True)
    assert seg is not None and (seg.proto, seg.ports()) == (packets.TCP, (40000, 80))
    big = bytes(ICMPv6PacketTooBig(mtu=1280) / IPerror6(src=V6[0], dst=V6[1])
                / ICMPv6EchoRequest(id=3, seq=4))
    quoted = packets.upper(big, "2001:db8::1", V6[0], packets.ICMP6).quoted()
    assert quoted is not None and quoted.echo_id_seq() == (3, 4)
    port = bytes(ICMPv6DestUnreach(code=4) / IPerror6(src=V6[0], dst=V6[1])
                 / TCPerror(sport=40000, dport=22))
    p6 = packets.upper(port, V6[1], V6[0], packets.ICMP6)
    assert p6.icmp() == (1, 4) and p6.quoted().ports() == (40000, 22)  # type: ignore[union-attr]
    assert packets.parse(b"\x45" + b"\0" * 10, False) is None  # too short: not a packet


def test_kind_matchers_take_our_probe_not_its_answer_or_an_error_quoting_it() -> None:
    request = packets.parse(bytes(IPv6(src=V6[0], dst=V6[1]) / ICMPv6EchoRequest(id=9)), True)
    answer = packets.parse(bytes(IPv6(src=V6[1], dst=V6[0]) / ICMPv6EchoReply(id=9)), True)
    assert request is not None and answer is not None
    assert icmp.matches(request, 9, None) and not icmp.matches(request, 8, None)
    assert not icmp.matches(answer, 9, None)
    syn = bytes(IP(src=V4[0], dst=V4[1]) / TCP(sport=40000, dport=80))
    quoted = bytes(IP(src=V4[1], dst=V4[0]) / ICMP(type=3, code=3) / IPerror(
        src=V4[0], dst=V4[1]) / TCPerror(sport=40000, dport=80))
    tcp = ports.matcher("tcp")
    assert tcp(packets.parse(syn, False), 40000, 80)  # type: ignore[arg-type]
    assert not tcp(packets.parse(quoted, False), 40000, 80)  # type: ignore[arg-type]
    assert not ports.matcher("udp")(packets.parse(syn, False), 40000, 80)  # type: ignore[arg-type]
    wire6 = bytes(IPv6(src=V6[0], dst=V6[1]) / UDP(sport=40000, dport=53))
    assert _match(wire6, ETH_P_IPV6, Mark("udp", 40000, 53)) == V6
