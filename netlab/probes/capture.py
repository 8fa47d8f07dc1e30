"""Packet capture on a lab interface, in this process: a packet socket opened inside the
node's namespace, an optional BPF filter (compiled by libpcap through scapy), and a pcap
file written packet by packet, so that Ctrl-C leaves a complete file Wireshark opens.

Every packet carries the time the kernel saw it (SO_TIMESTAMPNS: the same stamp tcpdump
reads from the same packet), never the time this process got round to reading it. Without
a file, each packet prints as a tcpdump-style one-liner (`describe`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from netlab.errors import NetlabError, UsageError
from netlab.probes import sockets
from netlab.probes.oneliners import clock, describe, load_dissectors

__all__ = ["CaptureError", "Frame", "PcapWriter", "capture", "clock", "describe", "frames",
           "ifindex", "line", "open_output", "open_socket"]

if TYPE_CHECKING:
    from netlab.backends.base import Backend

ETH_P_ALL = 0x0003
DLT_EN10MB = 1
SNAPLEN = 262144
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
SIOCGIFINDEX = 0x8933  # linux/sockios.h
_IFNAMSIZ, _IFREQ_SIZE = 16, 40  # struct ifreq on 64-bit Linux
PCAP_MAGIC_NS = 0xA1B23C4D  # pcap with nanosecond timestamps (libpcap, Wireshark read it)
# sockaddr_ll.sll_pkttype, named as `tcpdump -i any` names them.
DIRECTIONS = {0: "In", 1: "B", 2: "M", 3: "P", PACKET_OUTGOING: "Out"}


class CaptureError(NetlabError):
    pass


def open_socket(netns: str, ifname: str, bpf: str | None = None,
                backend: Backend | None = None) -> socket.socket:
    """A packet socket bound to `ifname` in `netns` (opened there by the backend, it stays
    there), stamping every packet with the kernel's time."""
    try:
        sock = sockets.open_in(netns, socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(ETH_P_ALL), backend)
    except PermissionError:
        raise CaptureError("capturing needs root (a packet socket)") from None
    try:
        sockets.stamp_arrivals(sock)
        if bpf:
            _attach_filter(sock, bpf)
        index = ifindex(sock, ifname)
        sock.bind((ifname, ETH_P_ALL))  # CPython resolves the name with the same ioctl
        # Promiscuous, as tcpdump: a bridge hands its own device the frames it
        # forwards between ports only when that device is promiscuous.
        mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    except OSError as e:
        sock.close()
        raise CaptureError(f"cannot capture on {ifname!r} in {netns}: {e.strerror}") from None
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def ifindex(sock: socket.socket, ifname: str) -> int:
    """The index of `ifname` in the namespace `sock` lives in: SIOCGIFINDEX on the socket,
    which the kernel answers there (if_nametoindex would ask the caller's namespace)."""
    name = ifname.encode()
    if not name or len(name) >= _IFNAMSIZ or b"\0" in name:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
    ifreq = struct.pack(f"{_IFNAMSIZ}si", name, 0) + bytes(_IFREQ_SIZE - _IFNAMSIZ - 4)
    out = fcntl.ioctl(sock.fileno(), SIOCGIFINDEX, ifreq)
    return int(struct.unpack_from("i", out, _IFNAMSIZ)[0])


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
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(SNAPLEN)


@dataclass(frozen=True)
class Frame:
    """One captured frame: its bytes, the kernel's time for it, and its direction."""

    data: bytes
    stamp_ns: int  # CLOCK_REALTIME nanoseconds
    pkttype: int  # PACKET_HOST, ..., PACKET_OUTGOING

    @property
    def outgoing(self) -> bool:
        return self.pkttype == PACKET_OUTGOING


def frames(sock: socket.socket) -> Iterator[Frame]:
    """Every frame queued on the (non-blocking) capture socket."""
    while True:
        try:
            data, anc, _, addr = sock.recvmsg(SNAPLEN, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        except OSError as e:
            # The interface went down (`netlab link A B down` while capturing): the
            # kernel reports it once; frames flow again when it comes back up.
            if e.errno == errno.ENETDOWN:
                return
            raise
        stamp = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == sockets.SO_TIMESTAMPNS:
                sec, nsec = struct.unpack_from("@qq", value)
                stamp = sec * 1_000_000_000 + nsec
        yield Frame(data, stamp if stamp is not None else time.time_ns(), addr[2])


class PcapWriter:
    """Classic pcap (what tcpdump -w writes) with nanosecond stamps, flushed per packet."""

    def __init__(self, f: BinaryIO):
        self.f = f
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, SNAPLEN, DLT_EN10MB))
        f.flush()

    def write(self, stamp_ns: int, data: bytes) -> None:
        sec, nsec = divmod(stamp_ns, 1_000_000_000)
        self.f.write(struct.pack("<IIII", sec, nsec, len(data), len(data)) + data)
        self.f.flush()


def line(frame: Frame, ifname: str) -> str:
    """`12:00:01.000123 eth0 Out IP 10.0.0.1 > 10.0.0.2: ICMP echo request, ...`"""
    return (f"{clock(frame.stamp_ns)} {ifname} {DIRECTIONS.get(frame.pkttype, '?')} "
            f"{describe(frame.data)}")


def capture(
    netns: str, ifname: str, write: Path | BinaryIO | None = None, count: int | None = None,
    bpf: str | None = None, echo: Callable[[str], None] = print,
    timeout: float | None = None, ready: Callable[[], None] | None = None,
    backend: Backend | None = None,
) -> int:
    """Capture until `count` packets, `timeout` seconds or Ctrl-C; return packets seen.

    With `write`, packets go to that pcap file (a path, opened first so that a bad one is
    a UsageError before anything else happens; or a file the caller opened with
    `open_output`, closed here); without, one line each to `echo`. `ready` is called once
    the socket listens: announce the capture there, not before.
    """
    out = open_output(write) if isinstance(write, str | os.PathLike) else write
    with _closed_after(out):
        if out is not None:
            take = _pcap_sink(out)  # the header now: a full disk says so before we start
        else:
            load_dissectors()  # now, not on the first packet: nothing waits for it

            def take(frame: Frame) -> None:
                echo(line(frame, ifname))
        with contextlib.closing(open_socket(netns, ifname, bpf, backend)) as sock:
            sockets.await_stamps()  # before `ready`: no packet read later is stamped late
            if ready is not None:
                ready()  # from here on no packet is missed
            return _take_frames(sock, take, count, timeout)


@contextlib.contextmanager
def _closed_after(out: BinaryIO | None) -> Iterator[None]:
    """Close the pcap file at the end; a close that fails (its last flush on a full disk,
    already reported by the write that failed first) is no second error."""
    try:
        yield
    finally:
        if out is not None:
            with contextlib.suppress(OSError):
                out.close()


def _take_frames(sock: socket.socket, take: Callable[[Frame], None], count: int | None,
                 timeout: float | None) -> int:
    """Hand every frame to `take` until `count`, `timeout` or Ctrl-C; how many were taken."""
    seen = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while count is None or seen < count:
            for frame in frames(sock):
                take(frame)
                seen += 1
                if count is not None and seen >= count:
                    break
            else:
                wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if wait <= 0:
                    break
                sockets.wait_readable([sock], wait)
    except KeyboardInterrupt:
        # Ctrl-C is how a capture normally ends. Frames the kernel queued before it
        # (the last reply of a ping that has already returned) belong to the capture:
        # a busy machine may not have read them yet.
        for frame in frames(sock):
            if count is not None and seen >= count:
                break
            take(frame)
            seen += 1
    return seen


def _pcap_sink(out: BinaryIO) -> Callable[[Frame], None]:
    """Each frame into the pcap file; a write that fails (disk full) ends the capture
    with a message, not a traceback."""
    name = getattr(out, "name", "the pcap file")
    try:
        writer = PcapWriter(out)
    except OSError as e:
        raise CaptureError(f"cannot write {name}: {e.strerror}") from None

    def take(frame: Frame) -> None:
        try:
            writer.write(frame.stamp_ns, frame.data)
        except OSError as e:
            raise CaptureError(f"cannot write {name}: {e.strerror}") from None
    return take


def open_output(path: str | os.PathLike[str]) -> BinaryIO:
    """The pcap file, to be opened before anything is announced: a bad path (a missing
    directory, a directory, no permission) is a UsageError now, not a traceback later."""
    try:
        f = open(path, "wb")  # noqa: SIM115 (closed by capture)
    except OSError as e:  # a bad -w argument, like a bad --junit path elsewhere
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    with contextlib.suppress(OSError):
        os.chmod(f.fileno(), 0o644)  # readable by the user's Wireshark, whatever the umask
    return f
