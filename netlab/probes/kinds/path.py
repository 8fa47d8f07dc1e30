"""path = {nodes, exact, hops}: the packets from `from` to `to` cross these nodes in this
order (exactly these, or at least these), in that many hops, as a traceroute sees them
(TTL-limited echo requests, netlab.probes.trace)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan


def run(a: Attempt) -> Outcome:
    from netlab.errors import plural
    from netlab.probes.trace import trace

    e = a.expect
    want = e.path
    assert want is not None and e.target_address is not None
    r = trace(a.plan, e.from_node, e.target_address, timeout=e.timeout)
    names = [h.node or h.address or "*" for h in r.hops]
    crossed = names[:-1] if r.reached else names
    seen = "path " + (" > ".join(names) or "none") + f" ({plural(len(r.hops), 'hop')})"
    if not r.reached:
        end = r.hops[-1].note if r.hops and r.hops[-1].note else "no answer"
        return Outcome(False, f"{seen}: {e.to} not reached ({end})")
    ok = True
    if want.nodes is not None:
        ok = crossed == want.nodes if want.exact else _in_order(want.nodes, crossed)
    if want.hops is not None:
        ok &= len(r.hops) == want.hops
    return Outcome(ok, seen)


def _in_order(want: list[str], crossed: list[str]) -> bool:
    """`want` is a subsequence of `crossed` (others may come between)."""
    it = iter(crossed)
    return all(any(c == w for c in it) for w in want)


def label(e: ExpectPlan) -> str:
    w = e.path
    assert w is not None
    parts = []
    if w.nodes is not None:
        parts.append(("through " if w.exact else "through at least ") + " > ".join(w.nodes))
    if w.hops is not None:
        parts.append(f"{w.hops} hop" + ("s" if w.hops != 1 else ""))
    return "path " + ", ".join(parts)


KIND = ExpectKind(
    name="path",
    description="the nodes a traceroute from the node to the target crosses",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.path is not None,
    names=label,
    verdicts=("taken", "not taken"),
)
