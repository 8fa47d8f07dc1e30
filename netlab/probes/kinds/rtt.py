"""rtt = {min, max, count}: `count` echo requests from A to B, 10 ms apart; their average
round trip (kernel receive time minus kernel send time, as `netlab ping` measures) lies
within the bounds. Requests left unanswered do not count (loss = {...} bounds those)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.icmp import matches

if TYPE_CHECKING:
    from netlab.plan.model import BoundsCheck, ExpectPlan
    from netlab.probes.results import PingResult

INTERVAL = 0.01  # seconds between requests: 100 requests take one second


def pings(a: Attempt, count: int) -> PingResult:
    """The echo requests both rtt and loss are measured over."""
    from netlab.probes.icmp import ping

    e = a.expect
    assert e.target_address is not None
    return ping(a.plan, e.from_node, e.target_address, count=count, interval=INTERVAL,
                timeout=e.timeout, ident=a.key)


def within(value: float, b: BoundsCheck) -> bool:
    return (b.min is None or value >= b.min) and (b.max is None or value <= b.max)


def bounds(b: BoundsCheck, unit: str) -> str:
    """'max 5ms', 'min 1ms max 5ms' (as the file says them, in the plan's units)."""
    return " ".join(f"{k} {v:g}{unit}" for k, v in (("min", b.min), ("max", b.max))
                    if v is not None)


def run(a: Attempt) -> Outcome:
    b = a.expect.rtt
    assert b is not None
    result = pings(a, b.count)
    if not result.rtts:
        return Outcome(False, f"no echo reply to {result.sent} requests: {result.seen()}")
    import statistics  # here: the registry imports this module for every check

    r = result.rtts
    avg = statistics.fmean(r)
    return Outcome(within(avg, b), f"rtt avg {avg:.3f} ms (min {min(r):.3f}, max "
                   f"{max(r):.3f}) over {len(r)}/{result.sent} replies")


def label(e: ExpectPlan) -> str:
    assert e.rtt is not None
    return f"rtt {bounds(e.rtt, 'ms')} over {e.rtt.count}"


KIND = ExpectKind(
    name="rtt",
    description="the average round trip of N echo requests, within bounds",
    port=False,
    target=True,
    run=run,
    matches=matches,
    selects=lambda e: e.rtt is not None and e.target_address is not None,
    names=label,
    verdicts=("within", "not within"),
)
