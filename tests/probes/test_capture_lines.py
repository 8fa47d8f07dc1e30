"""`netlab capture`'s one-liners, checked line for line against tcpdump's own reading of
the same packets (no root needed: tcpdump -r reads a file)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.probes.capture import describe


def packets() -> list[object]:
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
    from scapy.layers.inet6 import (
        ICMPv6DestUnreach,
        ICMPv6EchoReply,
        ICMPv6EchoRequest,
        ICMPv6MLDMultAddrRec,
        ICMPv6MLReport2,
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        ICMPv6ND_RA,
        ICMPv6ND_RS,
        ICMPv6NDOptPrefixInfo,
        ICMPv6NDOptSrcLLAddr,
        ICMPv6PacketTooBig,
        ICMPv6TimeExceeded,
        IPerror6,
        IPv6,
        IPv6ExtHdrHopByHop,
        RouterAlert,
    )
    from scapy.layers.l2 import ARP, Ether

    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    back = IP(src="10.0.0.2", dst="10.0.0.1")
    quoted = IPerror(src="10.0.0.2", dst="198.51.100.2", proto=1) / ICMP()
    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                ("WScale", 7)]
    v6 = IPv6(src="fd00::1", dst="fd00::2")
    q6 = IPerror6(src="fd00::2", dst="fd00::9") / ICMPv6EchoRequest()
    dns = IP(src="10.0.0.2", dst="10.0.0.53") / UDP(sport=4000, dport=53)
    ans = IP(src="10.0.0.53", dst="10.0.0.2") / UDP(sport=53, dport=4000)
    return [
        e / ip / ICMP(type=8, id=1234, seq=1) / (b"x" * 56),
        e / back / ICMP(type=0, id=1234, seq=1) / (b"x" * 56),
        e / ip / ICMP(type=3, code=3) / IPerror(src="10.0.0.2", dst="10.0.0.3", proto=17)
        / UDPerror(sport=40000, dport=33434),
        e / ip / ICMP(type=3, code=0) / quoted,
        e / ip / ICMP(type=3, code=1) / quoted,
        e / ip / ICMP(type=3, code=13) / IPerror(dst="198.51.100.2", proto=6) / TCPerror(),
        e / ip / ICMP(type=3, code=4, nexthopmtu=1400) / IPerror(proto=6) / TCPerror(),
        e / ip / ICMP(type=11, code=0) / quoted,
        e / ip / TCP(sport=40000, dport=80, flags="S", seq=1000, window=64240,
                     options=syn_opts),
        e / back / TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001, window=65160,
                       options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]),
        e / back / TCP(sport=80, dport=40000, flags="RA", seq=0, ack=1001, window=0),
        e / ip / TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=5001, window=502)
        / b"GET / HTTP/1.0\r\n\r\n",
        e / ip / TCP(sport=40000, dport=80, flags="FA", seq=1019, ack=5001, window=502),
        e / ip / UDP(sport=4000, dport=9999) / b"hello",
        e / dns / DNS(id=7, rd=1, qd=DNSQR(qname="web.lab.test", qtype="A")),
        e / dns / DNS(id=8, rd=1, qd=DNSQR(qname="web.lab.test", qtype="AAAA")),
        e / ans / DNS(id=7, qr=1, aa=1, ra=1, rd=1, qd=DNSQR(qname="www.lab.test"),
                      an=[DNSRR(rrname="www.lab.test", type="CNAME", rdata="web.lab.test"),
                          DNSRR(rrname="web.lab.test", type="A", rdata="10.0.0.10")]),
        e / ans / DNS(id=9, qr=1, rd=1, rcode=3, qd=DNSQR(qname="nope.lab.test")),
        e / ans / DNS(id=10, qr=1, ra=1, rd=1, qd=DNSQR(qname="2.0.0.10.in-addr.arpa",
                                                         qtype="PTR"),
                      an=[DNSRR(rrname="2.0.0.10.in-addr.arpa", type="PTR",
                                rdata="pc1.lab.test")]),
        e / ans / DNS(id=11, qr=1, ra=1, rd=1, qd=DNSQR(qname="web.lab.test", qtype="AAAA"),
                      an=[DNSRR(rrname="web.lab.test", type="AAAA", rdata="fd00::10")]),
        Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc="02:00:00:00:00:01"),
        e / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc="02:00:00:00:00:01",
                hwdst="02:00:00:00:00:02"),  # the kernel's unicast re-check
        e / ARP(op=2, psrc="10.0.0.2", pdst="10.0.0.1", hwsrc="02:00:00:00:00:02",
                hwdst="02:00:00:00:00:01"),
        e / v6 / ICMPv6EchoRequest(id=5, seq=1, data=b"x" * 56),
        e / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6EchoReply(id=5, seq=1, data=b"x" * 56),
        e / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fd00::2")
        / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"),
        e / IPv6(src="fd00::2", dst="fe80::1") / ICMPv6ND_NA(tgt="fd00::2", R=0, S=1, O=1),
        e / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA()
        / ICMPv6NDOptPrefixInfo(prefix="fd00::", prefixlen=64),
        e / IPv6(src="fe80::2", dst="ff02::2") / ICMPv6ND_RS(),
        e / v6 / ICMPv6DestUnreach(code=4) / IPerror6(src="fd00::2", dst="fd00::1")
        / UDPerror(sport=4000, dport=33434),
        e / v6 / ICMPv6DestUnreach(code=0) / IPerror6(src="fd00::2", dst="fd00::9")
        / UDPerror(sport=4000, dport=33434),
        e / v6 / ICMPv6DestUnreach(code=3) / q6,  # (code 1: tcpdump prints two spaces)
        e / v6 / ICMPv6TimeExceeded(code=0) / q6,
        e / v6 / ICMPv6PacketTooBig(mtu=1280) / q6,
        e / IPv6(src="fe80::1", dst="ff02::16") / IPv6ExtHdrHopByHop(options=[RouterAlert()])
        / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst="ff02::1:ff00:1")]),
        e / v6 / TCP(sport=40000, dport=22, flags="S", seq=77, window=64800,
                     options=[("MSS", 1440)]),
        e / IPv6(src="fd00::1", dst="fd00::53") / UDP(sport=4001, dport=53)
        / DNS(id=12, rd=1, qd=DNSQR(qname="web.lab.test", qtype="AAAA")),
    ]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_each_line_is_the_one_tcpdump_prints(tmp_path: Path) -> None:
    from scapy.utils import wrpcap

    pkts = packets()
    path = tmp_path / "mix.pcap"
    wrpcap(str(path), pkts)
    # -S: absolute TCP sequence numbers (netlab keeps no per-connection state).
    theirs = subprocess.run(["tcpdump", "-n", "-S", "-t", "-r", str(path)],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    ours = [describe(bytes(p)) for p in pkts]  # type: ignore[call-overload]
    assert len(theirs) == len(ours)
    assert [(o, t) for o, t in zip(ours, theirs, strict=True) if o != t] == []


def test_odd_frames_still_get_a_line() -> None:
    assert describe(bytes.fromhex("ffffffffffff0200000000010800") + b"\x45") != ""
    assert describe(bytes(14)).startswith("802.3")
    assert describe(bytes.fromhex("ffffffffffff020000000001" + "88cc") + bytes(40)) == \
        "ethertype 0x88cc, length 54"


def test_ctrl_c_keeps_the_frames_already_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the capture waits: the frames the kernel queued before it (the reply
    to a ping that has already returned, on a busy machine) are still taken, up to
    `count`."""
    from netlab.probes import capture

    queue = [[capture.Frame(b"a", 1, 0), capture.Frame(b"b", 2, 4)],
             [capture.Frame(b"c", 3, 0), capture.Frame(b"d", 4, 4), capture.Frame(b"e", 5, 0)]]

    def frames(sock: object) -> Iterator[capture.Frame]:
        yield from queue.pop(0) if queue else []

    def interrupted(socks: object, wait: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(capture, "frames", frames)
    monkeypatch.setattr(capture.sockets, "wait_readable", interrupted)
    taken: list[bytes] = []
    assert capture._take_frames(None, lambda f: taken.append(f.data), None, None) == 5  # type: ignore[arg-type]
    assert taken == [b"a", b"b", b"c", b"d", b"e"]
    queue[:] = [[capture.Frame(b"a", 1, 0)], [capture.Frame(b"c", 3, 0), capture.Frame(b"d", 4, 4)]]
    taken.clear()
    assert capture._take_frames(None, lambda f: taken.append(f.data), 2, None) == 2  # type: ignore[arg-type]
    assert taken == [b"a", b"c"]
