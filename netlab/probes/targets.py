"""Turning what people type (node, node:ifname, IP) into addresses, and addresses back
into node names, using the lab's saved plan."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netlab.errors import UsageError, did_you_mean
from netlab.plan.model import NodePlan, Plan


@dataclass(frozen=True)
class Target:
    text: str  # as given
    address: str
    node: str | None  # the node owning the address, if it is in the lab

    @property
    def v6(self) -> bool:
        return ":" in self.address


def source_node(plan: Plan, name: str) -> NodePlan:
    """The node a probe is sent from (must be a node of the lab, not an address)."""
    for n in plan.nodes:
        if n.name == name:
            return n
    names = [n.name for n in plan.nodes]
    raise UsageError(f"lab {plan.lab!r} has no node named {name!r}{did_you_mean(name, names)}")


def resolve(plan: Plan, text: str, family: int | None = None) -> Target:
    """`text` as an address: literal IP, `node` (its primary) or `node:ifname`.

    family 4 or 6 picks that family for node names; None prefers v4.
    """
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return Target(text, str(addr), owner(plan, str(addr)))
    name, sep, ifname = text.partition(":")
    node = source_node(plan, name)
    if sep:
        iface = next((i for i in node.interfaces if i.name == ifname), None)
        if iface is None:
            raise UsageError(f"node {name!r} has no interface {ifname!r} (it has: "
                             + ", ".join(i.name for i in node.interfaces) + ")")
        addrs = [a.split("/")[0] for a in iface.addresses]
    else:
        addrs = [node.primary[k] for k in ("4", "6") if k in node.primary]
    if family is not None:
        addrs = [a for a in addrs if (":" in a) == (family == 6)]
    if not addrs:
        fam = f"IPv{family} " if family else ""
        raise UsageError(f"{text!r} has no {fam}address to probe")
    return Target(text, addrs[0], name)


def address_map(plan: Plan) -> dict[str, str]:
    """Every lab address -> the name of the node that has it."""
    out: dict[str, str] = {}
    for n in plan.nodes:
        for i in n.interfaces:
            for a in i.addresses:
                out[str(ipaddress.ip_interface(a).ip)] = n.name
    if plan.uplink is not None:
        out.setdefault(plan.uplink.host_address.split("/")[0], "host")
    return out


def owner(plan: Plan, address: str) -> str | None:
    return address_map(plan).get(str(ipaddress.ip_address(address)))


def label(plan_map: dict[str, str], address: str | None) -> str:
    """'gw (10.0.0.1)' for lab addresses, the bare address otherwise."""
    if address is None:
        return "?"
    name = plan_map.get(address)
    return f"{name} ({address})" if name else address
