"""Packets as one-liners, as tcpdump -n prints them (absolute TCP sequence numbers, as
with -S): addresses, ports, TCP flags, ICMP and ICMPv6 types, DNS questions and answers,
ARP who-has/is-at. scapy dissects; this module only words what it found.

`netlab capture` prints these; tests/probes/test_capture_lines.py holds them line for line
against tcpdump's own reading of the same packets.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

_TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
              (0x40, "E"), (0x80, "W"))
_IP_PROTOS = {2: "igmp", 47: "GREv0", 89: "OSPFv2", 103: "PIMv2", 112: "VRRPv2"}
_DNS_RCODES = {0: "", 1: " FormErr", 2: " ServFail", 3: " NXDomain", 4: " NotImp",
               5: " Refused"}
_DNS_OPS = {0: "", 1: " inv_q", 2: " stat", 4: " notify", 5: " update"}
_UNREACH4 = {0: "net {dst} unreachable", 1: "host {dst} unreachable",
             2: "{dst} protocol {proto} unreachable", 3: "{dst} {l4} port {port} unreachable",
             4: "{dst} unreachable - need to frag (mtu {mtu})",
             5: "{dst} unreachable - source route failed",
             9: "net {dst} unreachable - admin prohibited",
             10: "host {dst} unreachable - admin prohibited",
             13: "host {dst} unreachable - admin prohibited filter"}
_UNREACH6 = {0: "unreachable route", 1: "unreachable prohibited", 2: "beyond scope",
             3: "unreachable address", 4: "unreachable port",
             5: "failed ingress/egress policy", 6: "reject route"}
_ICMP6 = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
          4: "parameter problem", 128: "echo request", 129: "echo reply",
          130: "multicast listener query", 131: "multicast listener report",
          132: "multicast listener done", 133: "router solicitation",
          134: "router advertisement", 135: "neighbor solicitation",
          136: "neighbor advertisement", 137: "redirect", 143: "multicast listener report v2"}
_V6_EXT = {0: "HBH", 43: "srcrt", 44: "frag", 60: "DSTOPT"}
_HTTP_STARTS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
                b"HTTP/1.")


def clock(stamp_ns: int) -> str:
    """Local time of day to the microsecond, as tcpdump prints it."""
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(sec)) + f".{nsec // 1000:06d}"


def load_dissectors() -> None:
    import scapy.layers.dns  # noqa: F401  (binds DNS under UDP port 53)
    import scapy.layers.inet  # noqa: F401  (binds IPv4 etc. under Ether)
    import scapy.layers.inet6  # noqa: F401
    import scapy.layers.l2  # noqa: F401


def describe(data: bytes) -> str:
    """An Ethernet frame in one line, like tcpdump -n: addresses, ports, TCP flags, ICMP
    and ICMPv6 types, DNS questions and answers, ARP who-has/is-at."""
    load_dissectors()
    from scapy.layers.l2 import ARP, Ether

    eth = Ether(data)
    try:
        if eth.type == 0x0806 and isinstance(eth.payload, ARP):
            return _arp(eth.payload, len(data) - 14)
        if eth.type == 0x0800:
            return _ip4(eth.payload)
        if eth.type == 0x86DD:
            return _ip6(eth.payload)
    except Exception:  # a malformed packet: scapy's own summary is still a fair line
        return f"{eth.summary()}, length {len(data)}"
    if eth.type < 0x0600:
        return f"802.3, length {eth.type}"
    return f"ethertype 0x{eth.type:04x}, length {len(data)}"


def _arp(arp: Any, length: int) -> str:
    if arp.op == 1:
        known = f" ({arp.hwdst})" if arp.hwdst not in ("00:00:00:00:00:00",
                                                        "ff:ff:ff:ff:ff:ff") else ""
        what = f"Request who-has {arp.pdst}{known} tell {arp.psrc}"
    elif arp.op == 2:
        what = f"Reply {arp.psrc} is-at {arp.hwsrc}"
    else:
        what = f"op {arp.op} {arp.psrc} > {arp.pdst}"
    return f"ARP, {what}, length {length}"


def _ip4(ip: Any) -> str:
    from scapy.layers.inet import ICMP, TCP, UDP

    head = f"IP {ip.src} > {ip.dst}: "
    if ip.frag:  # a later fragment: no transport header in it
        return head + f"ip-proto-{ip.proto}, fragment id {ip.id} offset {ip.frag * 8}"
    l4 = ip.payload
    if isinstance(l4, TCP | UDP):
        return f"IP {ip.src}.{l4.sport} > {ip.dst}.{l4.dport}: {_l4(l4)}"
    if isinstance(l4, ICMP):
        return head + _icmp4(l4)
    size = len(bytes(l4))
    name = _IP_PROTOS.get(ip.proto)
    return head + (f"{name}, length {size}" if name else f"ip-proto-{ip.proto} {size}")


def _ip6(ip: Any) -> str:
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import _ICMPv6

    layer, ext = ip.payload, []
    nh = ip.nh
    while nh in _V6_EXT and layer is not None and hasattr(layer, "nh"):
        ext.append(_V6_EXT[nh])
        nh = layer.nh
        layer = layer.payload
    prefix = "".join(f"{e} " for e in ext)
    if isinstance(layer, TCP | UDP):
        return f"IP6 {ip.src}.{layer.sport} > {ip.dst}.{layer.dport}: {prefix}{_l4(layer)}"
    head = f"IP6 {ip.src} > {ip.dst}: {prefix}"
    if isinstance(layer, _ICMPv6):
        return head + _icmp6(layer)
    return head + f"ip-proto-{nh} {len(bytes(layer))}"


def _l4(l4: Any) -> str:
    from scapy.layers.dns import DNS
    from scapy.layers.inet import TCP

    if isinstance(l4, TCP):
        return _tcp(l4)
    payload = l4.payload
    if isinstance(payload, DNS):
        return _dns(payload, len(bytes(payload)))
    return f"UDP, length {len(bytes(payload))}"


def _tcp(tcp: Any) -> str:
    flags = int(tcp.flags)
    text = "".join(ch for bit, ch in _TCP_FLAGS if flags & bit) or "none"
    size = len(bytes(tcp.payload))
    seq = f"{tcp.seq}:{tcp.seq + size}" if size else f"{tcp.seq}"
    parts = [f"Flags [{text}]"]
    if size or flags & 0x07:  # data, SYN, FIN or RST: the sequence number means something
        parts.append(f"seq {seq}")
    if flags & 0x10:
        parts.append(f"ack {tcp.ack}")
    parts.append(f"win {tcp.window}")
    if tcp.options:
        parts.append(f"options [{_tcp_options(tcp.options)}]")
    parts.append(f"length {size}")
    return ", ".join(parts) + _http(bytes(tcp.payload))


def _http(payload: bytes) -> str:
    """HTTP's first line, as tcpdump shows it after the TCP part."""
    if not payload.startswith(_HTTP_STARTS):
        return ""
    first = payload.split(b"\r\n", 1)[0].decode("ascii", errors="replace")
    return f": HTTP: {first}"


def _tcp_options(options: list[tuple[str, Any]]) -> str:
    out = []
    for name, value in options:
        if name == "MSS":
            out.append(f"mss {value}")
        elif name == "NOP":
            out.append("nop")
        elif name == "EOL":
            out.append("eol")
        elif name == "WScale":
            out.append(f"wscale {value}")
        elif name == "SAckOK":
            out.append("sackOK")
        elif name == "SAck":
            out.append("sack " + " ".join(f"{{{a}:{b}}}" for a, b in zip(value[::2],
                                                                    value[1::2], strict=False)))
        elif name == "Timestamp":
            out.append(f"TS val {value[0]} ecr {value[1]}")
        else:
            out.append(str(name).lower())
    return ",".join(out)


def _dns(dns: Any, length: int) -> str:
    """tcpdump's DNS line: `1234+ A? web.lab.test. (30)`, `1234* 1/0/0 A 10.0.0.10 (46)`."""
    from scapy.layers.dns import dnstypes

    def qtype(t: int) -> str:
        return str(dnstypes.get(t, f"Type{t}"))

    questions = list(dns.qd or [])
    qtext = "".join(f" {qtype(q.qtype)}? {_name(q.qname)}" for q in questions)
    many = f" [{dns.qdcount}q]" if dns.qdcount != 1 else ""
    if not dns.qr:
        head = f"{dns.id}{_DNS_OPS.get(dns.opcode, '')}{'+' if dns.rd else ''}"
        extra = f" [{dns.arcount}au]" if dns.arcount else ""
        return f"{head}{extra}{many}{qtext} ({length})"
    head = (f"{dns.id}{_DNS_OPS.get(dns.opcode, '')}{_DNS_RCODES.get(dns.rcode, '')}"
            f"{'*' if dns.aa else ''}{'' if dns.ra else '-'}{'|' if dns.tc else ''}")
    answers = ", ".join(f"{qtype(rr.type)} {_rdata(rr)}".rstrip() for rr in (dns.an or []))
    counts = f" {dns.ancount}/{dns.nscount}/{dns.arcount}"
    return f"{head}{many}{counts}{' ' + answers if answers else ''} ({length})"


def _name(raw: Any) -> str:
    name = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return name if name.endswith(".") else name + "."


def _rdata(rr: Any) -> str:
    value = rr.rdata
    if rr.type in (2, 5, 12):  # NS, CNAME, PTR: a name
        return _name(value)
    if rr.type == 15:  # MX
        return f"{_name(rr.exchange)} {rr.preference}"
    if rr.type == 16:  # TXT
        return " ".join(f'"{v.decode(errors="replace") if isinstance(v, bytes) else v}"'
                        for v in value)
    if isinstance(value, bytes):
        return "" if rr.type not in (1, 28) else value.hex()
    return str(value)


def _icmp4(icmp: Any) -> str:
    from scapy.layers.inet import IPerror

    size = len(bytes(icmp))
    t, code = icmp.type, icmp.code
    if t in (0, 8):
        return (f"ICMP echo {'reply' if t == 0 else 'request'}, id {icmp.id}, seq {icmp.seq}, "
                f"length {size}")
    quoted = icmp.getlayer(IPerror)
    if t == 3 and quoted is not None and code in _UNREACH4:
        inner = quoted.payload
        l4 = {6: "tcp", 17: "udp"}.get(quoted.proto, f"ip-proto-{quoted.proto}")
        text = _UNREACH4[code].format(dst=quoted.dst, proto=quoted.proto, l4=l4,
                                      port=getattr(inner, "dport", "?"),
                                      mtu=icmp.nexthopmtu)
        return f"ICMP {text}, length {size}"
    if t == 11:
        return f"ICMP {'ip reassembly time exceeded' if code else 'time exceeded in-transit'}, " \
               f"length {size}"
    if t == 5 and quoted is not None:
        return f"ICMP redirect {quoted.dst} to host {icmp.gw}, length {size}"
    names = {3: "unreachable", 4: "source quench", 12: "parameter problem", 13: "time stamp",
             14: "time stamp reply"}
    return f"ICMP {names.get(t, f'type-#{t}')}, code {code}, length {size}"


def _icmp6(icmp: Any) -> str:
    from scapy.layers.inet6 import IPerror6

    raw = bytes(icmp)
    t, code = raw[0], raw[1]
    text = _ICMP6.get(t, f"unknown icmp6 type ({t})")
    if t in (128, 129):
        ident, seq = struct.unpack_from("!HH", raw, 4)
        text += f", id {ident}, seq {seq}"
    elif t in (135, 136) and len(raw) >= 24:
        target = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        text += f", who has {target}" if t == 135 else f", tgt is {target}"
    elif t == 137 and len(raw) >= 40:
        text += (f" {socket.inet_ntop(socket.AF_INET6, raw[24:40])} to "
                 f"{socket.inet_ntop(socket.AF_INET6, raw[8:24])}")
    elif t == 143 and len(raw) >= 8:
        text += f", {struct.unpack_from('!H', raw, 6)[0]} group record(s)"
    elif t == 2 and len(raw) >= 8:
        text += f", mtu {struct.unpack_from('!I', raw, 4)[0]}"
    elif t in (1, 3):
        quoted = icmp.getlayer(IPerror6)
        if t == 1:
            text += f", {_UNREACH6.get(code, f'unknown unreach code ({code})')}"
        if quoted is not None:
            inner = quoted.payload
            if t == 1 and code == 4 and hasattr(inner, "dport"):
                l4 = {6: "tcp", 17: "udp"}.get(quoted.nh, f"ip-proto-{quoted.nh}")
                text += f", {quoted.dst} {l4} port {inner.dport}"
            elif t == 3:
                text += f" for {quoted.dst}" if code == 0 else " (reassembly)"
            else:
                text += f" {quoted.dst}"
    return f"ICMP6, {text}, length {len(raw)}"
