"""pingall: the full reachability matrix, every pair at once.

One raw ICMP socket per source node (opened inside its namespace), every echo request
sent up front with its own (id, seq) = (source, target), replies collected with poll()
over all sockets, unanswered pairs re-sent a few times before the deadline. Packets are
built by netlab.probes.packets and read with struct here: this is the hot path
(thousands of packets), where even a Packet per reply would cost more than needed.

Each pair's round trip is its own: the clock read just before its request was sent, to
the kernel's receive stamp of its reply (not when the batch was read).
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
import time
from typing import TYPE_CHECKING

from netlab import backends
from netlab.probes import limits, packets, sockets
from netlab.probes.results import PingallResult

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan, Plan

_PAYLOAD = b"netlab-pingall!!"  # 16 bytes


def pingall(plan: Plan, timeout: float = 1.0, attempts: int = 3) -> PingallResult:
    """Ping every node's primary address from every other node. A pair is unreached when
    no reply came within `timeout` of the requests' sending (sent `attempts` times, at
    even intervals); the run takes `timeout` plus the time the sends take."""
    nodes = [n for n in plan.nodes if n.primary]
    names = [n.name for n in nodes]
    addrs = [n.primary.get("4") or n.primary["6"] for n in nodes]
    reached = {s: {d: False for d in names if d != s} for s in names}
    rtt: dict[str, dict[str, float]] = {s: {} for s in names}
    base = random.randrange(0x10000)
    idents = [((base + i) % 0xFFFF) + 1 for i in range(len(nodes))]
    # Every pair may need a neighbour entry (all hosts on one switch): make room first.
    limits.ensure_neighbour_capacity(len(nodes) * (len(nodes) - 1), plan.lab)
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        socks = _open(stack, plan, nodes, {":" in a for a in addrs})
        sockets.await_stamps()
        poller = select.poll()
        owner: dict[int, tuple[int, bool]] = {}
        for i, per in enumerate(socks):
            for v6, s in per.items():
                poller.register(s.fileno(), select.POLLIN)
                owner[s.fileno()] = (i, v6)
        pending = {(i, j) for i in range(len(nodes)) for j in range(len(nodes)) if i != j}
        sent_at: dict[tuple[int, int], int] = {}  # time.time_ns() just before the send
        for _ in range(attempts):
            _send(socks, idents, addrs, pending, sent_at)
            # Each window opens when its requests are out, not before: on a large switch
            # the first requests are slow to send (the kernel floods each one's ARP
            # request to every port inside sendto: ~1.5 s for 100 hosts on 2 CPUs), and
            # a window that started with them would close before any reply was read.
            _collect(poller, owner, socks, idents, addrs, pending, sent_at, names, reached,
                     rtt, time.monotonic() + timeout / attempts)
            if not pending:
                break
    return PingallResult(plan.lab, names, dict(zip(names, addrs, strict=True)), reached, rtt,
                         round(time.monotonic() - start, 4))


def _open(stack: contextlib.ExitStack, plan: Plan, nodes: list[NodePlan],
          families: set[bool]) -> list[dict[bool, socket.socket]]:
    """socks[i][v6]: each source's raw ICMP socket per family in use (closed with `stack`)."""
    backend = backends.for_plan(plan)
    socks: list[dict[bool, socket.socket]] = []
    for n in nodes:
        per: dict[bool, socket.socket] = {}
        for v6 in sorted(families):
            s = stack.enter_context(sockets.raw_icmp(n.netns, v6, (129 if v6 else 0,), backend))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            per[v6] = s
        socks.append(per)
    return socks


def _send(socks: list[dict[bool, socket.socket]], idents: list[int], addrs: list[str],
          pending: set[tuple[int, int]], sent_at: dict[tuple[int, int], int]) -> None:
    """One echo request for every pair still pending; (id, seq) = (source, target)."""
    for i, j in sorted(pending):
        v6 = ":" in addrs[j]
        packet = packets.echo(v6, idents[i], j, _PAYLOAD)
        sent_at[(i, j)] = time.time_ns()
        try:
            socks[i][v6].sendto(packet, (addrs[j], 0))
        except OSError:
            # Refused at the source (no route, no address of that family): this pair
            # cannot be reached; re-sending would not change that.
            pending.discard((i, j))


def _collect(poller: select.poll, owner: dict[int, tuple[int, bool]],
             socks: list[dict[bool, socket.socket]], idents: list[int], addrs: list[str],
             pending: set[tuple[int, int]], sent_at: dict[tuple[int, int], int],
             names: list[str], reached: dict[str, dict[str, bool]],
             rtt: dict[str, dict[str, float]], until: float) -> None:
    while pending:
        left = until - time.monotonic()
        if left <= 0:
            return
        for fd, _ in poller.poll(left * 1000.0):
            i, v6 = owner[fd]
            for dg in sockets.receive(socks[i][v6]):
                data = dg.data
                off = 0 if v6 else (data[0] & 0x0F) * 4  # v4 raw sockets include the IP header
                if len(data) < off + 8:
                    continue
                ident, seq = struct.unpack_from("!HH", data, off + 4)
                if ident != idents[i] or seq >= len(addrs) or addrs[seq] != dg.addr:
                    continue
                if (i, seq) in pending:
                    pending.discard((i, seq))
                    reached[names[i]][names[seq]] = True
                    rtt[names[i]][names[seq]] = sockets.rtt_ms(sent_at[(i, seq)], dg.stamp_ns)
