"""The expectation kind registry: what `check` can verify, one module per kind.

Adding a kind: a module beside icmp.py defining `KIND = ExpectKind(...)` (base.py says what
each field does), and one line in KINDS below; docs/probes.md walks through an example.
`check` asks `applying(e)` which kinds an expectation has and runs them; it has no
branch per kind. Kind modules import their probes only when they run, so the
registry is cheap to import (the topology model and compile ask it about ports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds import (
    address,
    bgp,
    command,
    dns,
    http,
    icmp,
    loss,
    neighbor,
    ospf,
    path,
    rate,
    route,
    rtt,
    size,
    tcp,
    udp,
)
from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

# Registration: one line per kind. A target kind's name is a `proto` value.
KINDS: dict[str, ExpectKind] = {
    icmp.KIND.name: icmp.KIND,
    tcp.KIND.name: tcp.KIND,
    udp.KIND.name: udp.KIND,
    http.KIND.name: http.KIND,
    dns.KIND.name: dns.KIND,
    route.KIND.name: route.KIND,
    address.KIND.name: address.KIND,
    neighbor.KIND.name: neighbor.KIND,
    path.KIND.name: path.KIND,
    command.KIND.name: command.KIND,
    size.KIND.name: size.KIND,
    rtt.KIND.name: rtt.KIND,
    loss.KIND.name: loss.KIND,
    rate.KIND.name: rate.KIND,
    ospf.KIND.name: ospf.KIND,
    bgp.KIND.name: bgp.KIND,
}


# Target kinds selected by a key of their own (size, rtt, loss, rate) on an expectation
# whose proto is icmp (the default), not `proto` values themselves.
VARIANTS: dict[str, str] = {k.KIND.name: icmp.KIND.name for k in (size, rtt, loss, rate)}


def get(name: str) -> ExpectKind:
    """The kind of that name; KeyError if none is registered."""
    return KINDS[name]


def protos() -> list[str]:
    """The values `proto` may take: the kinds that probe a target."""
    return [k.name for k in KINDS.values() if k.target and k.name not in VARIANTS]


def applying(e: ExpectPlan) -> list[ExpectKind]:
    """The kinds that check `e`, target kinds first, in registration order."""
    found = [k for k in KINDS.values() if k.applies(e)]
    return sorted(found, key=lambda k: not k.target)


def title(e: ExpectPlan) -> str:
    """`[2] pc1 -> pc2 (10.0.0.3) tcp/22: closed, via gw`: each kind words its part
    (the check table and `netlab plan` both say it so)."""
    parts = [f"[{e.index}] {e.from_node}"]
    found = applying(e) or _unknown(e)
    for kind in found:
        if kind.target:
            addr = f" ({e.target_address})" if e.target_address and e.target_address != e.to \
                else ""
            parts.append(f" -> {e.to}{addr} {kind.label(e)}")
        else:
            parts.append(f" {kind.label(e)}")
    words = found[0].verdicts
    parts.append(": " + (e.state or (words[0] if e.reach else words[1])))
    if e.via:
        parts.append(f", via {e.via}")
    if e.source_nat:
        parts.append(f", source-nat {e.source_nat}")
    return "".join(parts)


def _unknown(e: ExpectPlan) -> list[ExpectKind]:
    """For the title of an expectation no registered kind checks: its proto as given."""
    return [ExpectKind(e.proto, "", e.port is not None, e.to is not None,
                       lambda a: Outcome(False, ""))]


def answered(proto: str, state: str | None, reach: bool) -> bool:
    """Whether an expectation needs an answer to pass (reach, or a state such as open or
    closed): those settle for a few seconds by default (compile) and with `settle`
    (check); silence is final at once."""
    kind = KINDS.get(proto)
    return reach if state is None or kind is None else state in kind.answered


def port_problem(proto: str, port: int | None) -> tuple[str, str] | None:
    """(message, fix) when an expectation's port does not suit its kind, else None
    (the wording `validate` uses)."""
    kind = KINDS.get(proto)
    if kind is None or not kind.target:
        return None
    if kind.port and port is None:
        return f"a {proto} expectation needs a port", "add port = 80"
    if not kind.port and port is not None:
        return f"{proto} has no ports", 'remove port, or set proto = "tcp"'
    return None


__all__ = ["KINDS", "Attempt", "ExpectKind", "Outcome", "answered", "applying", "get",
           "port_problem", "protos", "title"]
