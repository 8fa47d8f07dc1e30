"""size + df: one ICMP echo request of `size` bytes (the whole IP packet, header included)
from A to B, with the don't-fragment bit (df = true, the default) or without. It gets
through (an echo reply), or is refused: "fragmentation needed" / "packet too big" from the
hop whose next link is narrower (named, with the MTU it announced), or by the source's own
interface before it leaves.

df = true sends with IP_PMTUDISC_PROBE: the kernel sets DF and sends the packet whatever
path MTU it has learnt from earlier probes, so every check asks the path again rather than
the source's cache. df = false lets the source fragment (IP_PMTUDISC_DONT)."""

from __future__ import annotations

import errno
import socket
import time
from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.icmp import matches

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

# Linux <linux/in.h>, <linux/in6.h>: the Python socket module lacks some of them.
_IP_MTU_DISCOVER, _IP_PMTUDISC_DONT, _IP_PMTUDISC_PROBE = 10, 0, 3
_IPV6_MTU_DISCOVER, _IPV6_PMTUDISC_DONT, _IPV6_PMTUDISC_PROBE = 23, 0, 3
_IPV6_DONTFRAG = 62
HEADERS = {False: 20 + 8, True: 40 + 8}  # IP + ICMP echo headers


def run(a: Attempt) -> Outcome:
    from netlab.probes import sockets
    from netlab.probes.icmp import EchoSession
    from netlab.probes.results import IcmpError, Reply

    e = a.expect
    assert e.target_address is not None and e.size is not None
    v6 = ":" in e.target_address
    node = a.plan.node(e.from_node)

    class SizedSession(EchoSession):
        """An echo session that keeps the MTU an error announces (the parent's IcmpError
        has no field for it); its requests fill `size` bytes (`payload`, set below)."""

        mtu: dict[int, int]

        def _parse(self, data: bytes, addr: str, hlim: int | None,
                   rx_ns: int) -> Reply | IcmpError | None:
            ev = super()._parse(data, addr, hlim, rx_ns)
            if isinstance(ev, IcmpError):
                # v4: the raw socket gives the IP packet, the MTU is ICMP bytes 6-7;
                # v6: the ICMPv6 message alone, the MTU is bytes 4-7.
                at = 0 if v6 else (data[0] & 0x0F) * 4
                body = data[at:at + 8]
                if len(body) == 8:
                    self.mtu[ev.seq] = int.from_bytes(body[6:8] if not v6 else body[4:8],
                                                      "big")
            return ev

    try:
        s = SizedSession(a.plan, node.netns, e.target_address, ident=a.key)
    except sockets.NoRoute as ex:
        return Outcome(False, str(ex))
    s.mtu = {}
    with s:
        s.payload = bytes(k & 0xFF for k in range(max(0, e.size - HEADERS[v6])))
        if v6:
            s.sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MTU_DISCOVER,
                              _IPV6_PMTUDISC_PROBE if e.df else _IPV6_PMTUDISC_DONT)
            s.sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_DONTFRAG, 1 if e.df else 0)
        else:
            s.sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER,
                              _IP_PMTUDISC_PROBE if e.df else _IP_PMTUDISC_DONT)
        try:
            s.clock.sendto(s._craft(1), (e.target_address, 0), 1)
        except OSError as ex:
            if ex.errno == errno.EMSGSIZE:
                return Outcome(False, f"refused by {e.from_node} itself: {e.size} bytes "
                               f"with DF do not fit its interface MTU{_own_mtu(s.sock)}")
            return Outcome(False, f"cannot send to {e.target_address}: {ex.strerror}")
        for ev in s.receive(time.monotonic() + e.timeout):
            if isinstance(ev, Reply):
                return Outcome(True, f"echo reply from {_who(s, ev.address)}, "
                               f"{e.size} bytes{' with DF' if e.df else ''} got through")
            mtu = s.mtu.get(ev.seq)
            return Outcome(False, ev.describe() + (f", mtu {mtu}" if mtu else ""))
    return Outcome(False, "timeout (no reply, no ICMP error: dropped silently, "
                   "an MTU mismatch or a filter)")


def _who(s: object, address: str) -> str:
    name = getattr(s, "names", {}).get(address)
    return f"{name} ({address})" if name else address


def _own_mtu(sock: socket.socket) -> str:
    """" (1400)": the path MTU the socket's kernel route has (IP_MTU), when it says."""
    try:
        level, opt = ((socket.IPPROTO_IPV6, 24) if sock.family == socket.AF_INET6
                      else (socket.IPPROTO_IP, 14))  # IPV6_MTU, IP_MTU
        return f" ({sock.getsockopt(level, opt)})"
    except OSError:
        return ""


def label(e: ExpectPlan) -> str:
    return f"icmp size {e.size}" + (" df" if e.df else " no-df")


KIND = ExpectKind(
    name="size",
    description="an ICMP echo of that size, with or without DF: through, or refused naming "
                "the hop and its MTU",
    port=False,
    target=True,
    run=run,
    matches=matches,
    selects=lambda e: e.proto == "icmp" and e.size is not None
    and e.target_address is not None,
    names=label,
)
