"""loss = {min, max, count}: of `count` echo requests from A to B (10 ms apart), the share
left without a reply lies within the bounds (percent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.icmp import matches
from netlab.probes.kinds.rtt import bounds, pings, within

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan


def run(a: Attempt) -> Outcome:
    b = a.expect.loss
    assert b is not None
    result = pings(a, b.count)
    if not result.sent:
        return Outcome(False, result.seen())
    lost = 100.0 * (result.sent - result.received) / result.sent
    errors = f"; {result.errors[0].describe()}" if result.errors else ""
    return Outcome(within(lost, b), f"{lost:g}% lost ({result.received}/{result.sent} "
                   f"replies){errors}")


def label(e: ExpectPlan) -> str:
    assert e.loss is not None
    return f"loss {bounds(e.loss, '%')} over {e.loss.count}"


KIND = ExpectKind(
    name="loss",
    description="the share of N echo requests left unanswered, within bounds",
    port=False,
    target=True,
    run=run,
    matches=matches,
    selects=lambda e: e.loss is not None and e.target_address is not None,
    names=label,
    verdicts=("within", "not within"),
)
