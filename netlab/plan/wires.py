"""Finding a lab's wires (veth pairs) by the names people use: "r1 r2", "r1:eth1 lan".

Pure: works on a plan, so `netlab link` and `netlab capture` resolve names the same way
before touching the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.errors import UsageError
from netlab.plan.lookup import Ref, lookup
from netlab.plan.model import Plan, VethEnd


@dataclass(frozen=True)
class Side:
    owner: str  # node or switch name
    end: VethEnd

    @property
    def label(self) -> str:
        return f"{self.owner}:{self.end.ifname}"


@dataclass(frozen=True)
class Wire:
    index: int  # position in plan.veths
    a: Side  # the side named first
    b: Side

    @property
    def label(self) -> str:
        return f"{self.a.label} <-> {self.b.label}"


def owners(plan: Plan) -> dict[str, str]:
    """netns -> node or switch name."""
    out = {n.netns: n.name for n in plan.nodes}
    out.update({s.netns: s.name for s in plan.switches})
    return out


def all_wires(plan: Plan) -> list[Wire]:
    by_ns = owners(plan)
    return [Wire(i, Side(by_ns.get(v.a.netns, v.a.netns), v.a),
                 Side(by_ns.get(v.b.netns, v.b.netns), v.b)) for i, v in enumerate(plan.veths)]


def _matches(side: Side, ref: Ref) -> bool:
    return side.owner == ref.name and (ref.ifname is None or side.end.ifname == ref.ifname)


def _end(plan: Plan, text: str) -> Ref:
    """A node or switch, with or without an interface (the one resolver's messages)."""
    return lookup(plan).resolve(text, switches=True, addresses=False)


def find(plan: Plan, first: str, second: str) -> Wire:
    """The one wire between `first` and `second` ("node", "node:ifname" or a switch)."""
    r1, r2 = _end(plan, first), _end(plan, second)
    found = []
    for w in all_wires(plan):
        if _matches(w.a, r1) and _matches(w.b, r2):
            found.append(w)
        elif _matches(w.b, r1) and _matches(w.a, r2):
            found.append(Wire(w.index, w.b, w.a))
    if not found:
        n1 = r1.name
        links = [w.label for w in all_wires(plan) if n1 in (w.a.owner, w.b.owner)]
        raise UsageError(f"no link between {first} and {second} in lab {plan.lab!r}; "
                         + (f"{n1}'s links: {', '.join(links)}" if links else
                            f"{n1} has no links"))
    if len(found) > 1:
        raise UsageError(f"{first} and {second} are joined by {len(found)} links; pick one "
                         "with NODE:IFNAME: " + ", ".join(w.label for w in found))
    return found[0]


def interface(plan: Plan, text: str) -> tuple[str, str]:
    """(netns, ifname) of "node:ifname" or "switch:port" (also "switch:br0", the bridge)."""
    ref = _end(plan, text)
    if ref.ifname is None:
        raise UsageError(f"name the interface too, as {ref.name}:IFNAME")
    assert ref.netns is not None  # a node or a switch: resolve(addresses=False)
    return ref.netns, ref.ifname
