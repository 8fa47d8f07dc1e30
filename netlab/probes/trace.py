"""Traceroute with TTL-limited ICMP echo requests, sent a few TTLs at a time.

Every router on the path answers its TTL with "time exceeded"; the target answers with
an echo reply. TTLs go out in waves of WAVE (one round trip per wave, not per hop); not
all at once, because the hop where the path ends would get every higher TTL, and
routers answer only a handful of errors per second per source (kernel rate limits).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from netlab.probes import sockets, targets
from netlab.probes.icmp import EchoSession
from netlab.probes.results import Hop, IcmpError, Reply, TraceResult

if TYPE_CHECKING:
    from netlab.plan.model import Plan

_TIME_EXCEEDED = {False: 11, True: 3}
WAVE = 3


def trace(plan: Plan, source: str, target: str, max_hops: int = 16, timeout: float = 1.0,
          family: int | None = None) -> TraceResult:
    node = targets.source_node(plan, source)
    tgt = targets.resolve(plan, target, family)
    result = TraceResult(source, target, tgt.address)
    try:
        session = EchoSession(plan, node.netns, tgt.address)
    except sockets.NoRoute as e:
        result.hops.append(Hop(1, None, None, None, str(e)))
        return result
    with session:
        try:
            seen = _waves(session, max_hops, timeout)
        except sockets.NoRoute as e:
            result.hops.append(Hop(1, None, None, None, str(e)))
            return result
    end = _end(seen, session.v6) or min(max_hops, max(seen, default=0) + 3)
    result.hops = _hops(seen, end, session.v6, session.names)
    result.reached = isinstance(seen.get(end), Reply)
    return result


def _waves(session: EchoSession, max_hops: int, timeout: float) -> dict[int, Reply | IcmpError]:
    """Send TTLs a wave at a time until the path ends or a wave goes unanswered; what
    answered each TTL (seq = ttl)."""
    seen: dict[int, Reply | IcmpError] = {}
    for first in range(1, max_hops + 1, WAVE):
        wave = range(first, min(first + WAVE, max_hops + 1))
        for ttl in wave:
            session.send(ttl, ttl=ttl)
        for ev in session.receive(time.monotonic() + timeout):
            seen.setdefault(ev.seq, ev)
            if all(t in seen for t in wave) or _complete(seen, session.v6):
                break
        if _end(seen, session.v6) is not None or not any(t in seen for t in wave):
            break  # path ended, or a whole wave went unanswered (a black hole)
    return seen


def _hops(seen: dict[int, Reply | IcmpError], end: int, v6: bool,
          names: dict[str, str]) -> list[Hop]:
    """One line per TTL up to `end`: who answered it, or nobody."""
    hops = []
    for ttl in range(1, end + 1):
        ev = seen.get(ttl)
        if ev is None:
            hops.append(Hop(ttl, None, None, None))
            continue
        note = ""
        if isinstance(ev, IcmpError) and ev.type != _TIME_EXCEEDED[v6]:
            note = ev.text
        hops.append(Hop(ttl, ev.address, names.get(ev.address), ev.rtt_ms, note))
    return hops


def _end(seen: dict[int, Reply | IcmpError], v6: bool) -> int | None:
    """The lowest TTL at which the path ended: echo reply or a non-TTL error."""
    ends = [ttl for ttl, ev in seen.items()
            if isinstance(ev, Reply) or ev.type != _TIME_EXCEEDED[v6]]
    return min(ends) if ends else None


def _complete(seen: dict[int, Reply | IcmpError], v6: bool) -> bool:
    end = _end(seen, v6)
    return end is not None and all(t in seen for t in range(1, end))
