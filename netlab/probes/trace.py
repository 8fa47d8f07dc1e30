"""Traceroute with TTL-limited ICMP echo requests, sent a few TTLs at a time.

Every router on the path answers its TTL with "time exceeded"; the target answers with
an echo reply. TTLs go out in waves of WAVE (one round trip per wave, not per hop); not
all at once, because the hop where the path ends would get every higher TTL, and
routers answer only a handful of errors per second per source (kernel rate limits).
"""

from __future__ import annotations

import time

from netlab.plan.model import Plan
from netlab.probes import sockets, targets
from netlab.probes.icmp import EchoSession
from netlab.probes.results import Hop, IcmpError, Reply, TraceResult

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
    seen: dict[int, Reply | IcmpError] = {}
    with session:
        for first in range(1, max_hops + 1, WAVE):
            wave = range(first, min(first + WAVE, max_hops + 1))
            try:
                for ttl in wave:
                    session.send(ttl, ttl=ttl)  # seq = ttl
            except sockets.NoRoute as e:
                result.hops.append(Hop(1, None, None, None, str(e)))
                return result
            for ev in session.receive(time.monotonic() + timeout):
                seen.setdefault(ev.seq, ev)
                if all(t in seen for t in wave) or _complete(seen, session.v6):
                    break
            if _end(seen, session.v6) is not None or not any(t in seen for t in wave):
                break  # path ended, or a whole wave went unanswered (a black hole)
    end = _end(seen, session.v6) or min(max_hops, max(seen, default=0) + 3)
    names = session.names
    for ttl in range(1, end + 1):
        ev = seen.get(ttl)
        if ev is None:
            result.hops.append(Hop(ttl, None, None, None))
            continue
        note = ""
        if isinstance(ev, IcmpError) and ev.type != _TIME_EXCEEDED[session.v6]:
            note = ev.text
        result.hops.append(Hop(ttl, ev.address, names.get(ev.address), ev.rtt_ms, note))
    last = seen.get(end)
    result.reached = isinstance(last, Reply)
    return result


def _end(seen: dict[int, Reply | IcmpError], v6: bool) -> int | None:
    """The lowest TTL at which the path ended: echo reply or a non-TTL error."""
    ends = [ttl for ttl, ev in seen.items()
            if isinstance(ev, Reply) or ev.type != _TIME_EXCEEDED[v6]]
    return min(ends) if ends else None


def _complete(seen: dict[int, Reply | IcmpError], v6: bool) -> bool:
    end = _end(seen, v6)
    return end is not None and all(t in seen for t in range(1, end))
