"""Packet capture on a lab interface, in this process: a packet socket opened inside the
node's namespace, an optional BPF filter (compiled by libpcap through scapy), and a pcap
file written packet by packet, so that Ctrl-C leaves a complete file Wireshark opens.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from netlab.errors import NetlabError, UsageError
from netlab.netns import entered

ETH_P_ALL = 0x0003
DLT_EN10MB = 1
SNAPLEN = 262144
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps


class CaptureError(NetlabError):
    pass


def open_socket(netns: str, ifname: str, bpf: str | None = None) -> socket.socket:
    """A packet socket bound to `ifname` in `netns` (it stays there after we step out)."""
    with entered(netns):
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise CaptureError("capturing needs root (a packet socket)") from None
        try:
            if bpf:
                _attach_filter(sock, bpf)
            sock.bind((ifname, ETH_P_ALL))
            # Promiscuous, as tcpdump: a bridge hands its own device the frames it
            # forwards between ports only when that device is promiscuous.
            mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), PACKET_MR_PROMISC, 0,
                               b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as e:
            sock.close()
            raise CaptureError(f"cannot capture on {ifname!r} in {netns}: {e.strerror}") from None
    return sock


def _attach_filter(sock: socket.socket, expr: str) -> None:
    from scapy.arch.common import compile_filter, free_filter
    from scapy.error import Scapy_Exception
    from scapy.libs.structures import sock_fprog

    try:
        bp = compile_filter(expr, linktype=DLT_EN10MB)
    except (Scapy_Exception, ImportError) as e:
        raise UsageError(f"bad capture filter {expr!r}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                        bytes(sock_fprog(bp.bf_len, bp.bf_insns)))  # type: ignore[arg-type]
    finally:
        free_filter(bp)
    # Packets queued before the filter was attached would slip through: drain them.
    sock.setblocking(False)
    try:
        while True:
            sock.recv(SNAPLEN)
    except BlockingIOError:
        pass
    sock.setblocking(True)


class PcapWriter:
    """Classic pcap (what tcpdump -w writes), flushed after every packet."""

    def __init__(self, f: BinaryIO):
        self.f = f
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, DLT_EN10MB))
        f.flush()

    def write(self, ts: float, data: bytes) -> None:
        sec = int(ts)
        usec = int((ts - sec) * 1_000_000)
        self.f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
        self.f.flush()


def summary(ts: float, data: bytes, outgoing: bool) -> str:
    """One line per packet: time, direction, scapy's summary."""
    import scapy.layers.inet  # noqa: F401  (binds IPv4 etc. under Ether)
    import scapy.layers.inet6  # noqa: F401
    from scapy.layers.l2 import Ether

    clock = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1e6):06d}"
    return f"{clock} {'>' if outgoing else '<'} {Ether(data).summary()}"


def capture(
    netns: str, ifname: str, write: Path | None = None, count: int | None = None,
    bpf: str | None = None, echo: Callable[[str], None] = print,
    timeout: float | None = None, ready: Callable[[], None] | None = None,
) -> int:
    """Capture until `count` packets, `timeout` seconds or Ctrl-C; return packets seen.

    With `write`, packets go to that pcap file; without, one summary line each to `echo`.
    `ready` is called once the socket listens.
    """
    sock = open_socket(netns, ifname, bpf)
    if ready is not None:
        ready()  # from here on no packet is missed
    seen = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    out = open(write, "wb") if write is not None else None  # noqa: SIM115 (closed below)
    try:
        writer = PcapWriter(out) if out is not None else None
        while count is None or seen < count:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                break
            ready, _, _ = select.select([sock], [], [], wait)
            if not ready:
                continue
            data, addr = sock.recvfrom(SNAPLEN)
            ts = time.time()
            seen += 1
            if writer is not None:
                writer.write(ts, data)
            else:
                echo(summary(ts, data, addr[2] == PACKET_OUTGOING))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a capture normally ends
    finally:
        sock.close()
        if out is not None:
            out.close()
            os.chmod(write, 0o644)  # type: ignore[arg-type]
    return seen
