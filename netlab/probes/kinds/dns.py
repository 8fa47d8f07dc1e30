"""dns = {name, answer}: the source node's own resolver answers the name (with `answer`
among the addresses, if given; `answer` a list: exactly those addresses, in any order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan


def run(a: Attempt) -> Outcome:
    from netlab.probes import dns

    e = a.expect
    assert e.dns_name is not None
    r = dns.resolve(a.plan, e.from_node, e.dns_name, e.timeout)
    text = r.seen()
    if r.ok and e.dns_answer is not None and e.dns_answer not in r.addresses:
        return Outcome(False, text + f" (not {e.dns_answer})")
    if r.ok and e.dns_answers is not None and set(e.dns_answers) != set(r.addresses):
        return Outcome(False, text + f" (not exactly {', '.join(e.dns_answers)})")
    return Outcome(r.ok, text)


def label(e: ExpectPlan) -> str:
    answer = e.dns_answer or (",".join(e.dns_answers) if e.dns_answers is not None else None)
    return f"dns {e.dns_name}" + (f"={answer}" if answer else "")


KIND = ExpectKind(
    name="dns",
    description="name resolution with the node's own resolver",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.dns_name is not None,
    names=label,
)
