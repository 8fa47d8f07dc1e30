"""Finding a lab's wires (veth pairs) by the names people use: "r1 r2", "r1:eth1 lan".

Pure: works on a plan, so `netlab link` and `netlab capture` resolve names the same way
before touching the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.errors import UsageError, did_you_mean
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


def _split(text: str) -> tuple[str, str | None]:
    name, sep, ifname = text.partition(":")
    return name, (ifname if sep else None)


def _matches(side: Side, name: str, ifname: str | None) -> bool:
    return side.owner == name and (ifname is None or side.end.ifname == ifname)


def _check_name(plan: Plan, text: str) -> None:
    name, _ = _split(text)
    known = [n.name for n in plan.nodes] + [s.name for s in plan.switches]
    if name not in known:
        raise UsageError(f"lab {plan.lab!r} has no node or switch {name!r}"
                         f"{did_you_mean(name, known)}; it has: {', '.join(known)}")


def find(plan: Plan, first: str, second: str) -> Wire:
    """The one wire between `first` and `second` ("node", "node:ifname" or a switch)."""
    _check_name(plan, first)
    _check_name(plan, second)
    (n1, i1), (n2, i2) = _split(first), _split(second)
    found = []
    for w in all_wires(plan):
        if _matches(w.a, n1, i1) and _matches(w.b, n2, i2):
            found.append(w)
        elif _matches(w.b, n1, i1) and _matches(w.a, n2, i2):
            found.append(Wire(w.index, w.b, w.a))
    if not found:
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
    name, ifname = _split(text)
    _check_name(plan, text)
    if ifname is None:
        raise UsageError(f"name the interface too, as {name}:IFNAME")
    for n in plan.nodes:
        if n.name == name:
            names = [i.name for i in n.interfaces]
            if plan.uplink is not None and plan.uplink.node == name:
                names.append(plan.uplink.ifname)
            if ifname not in names:
                raise UsageError(f"node {name!r} has no interface {ifname!r}; it has: "
                                 + ", ".join(names))
            return n.netns, ifname
    sw = next(s for s in plan.switches if s.name == name)
    names = [sw.bridge] + [p.ifname for p in sw.ports]
    if ifname not in names:
        raise UsageError(f"switch {name!r} has no interface {ifname!r}; it has: "
                         + ", ".join(names))
    return sw.netns, ifname
