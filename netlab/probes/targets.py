"""Turning what people type (node, node:ifname, IP) into addresses, and addresses back
into node names, using the lab's saved plan (through its one resolver, netlab.plan.lookup)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlab.plan.lookup import lookup

if TYPE_CHECKING:
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
    return lookup(plan).node(name)


def resolve(plan: Plan, text: str, family: int | None = None) -> Target:
    """`text` as an address: literal IP, `node` (its primary) or `node:ifname`.

    family 4 or 6 picks that family for node names; None prefers v4.
    """
    resolver = lookup(plan)
    ref = resolver.resolve(text)
    address = resolver.addresses(ref, family)[0]
    return Target(text, address, ref.name if ref.address is None else resolver.owner(address))


def address_map(plan: Plan) -> dict[str, str]:
    """Every lab address -> the name of the node that has it ("host": the uplink's host end)."""
    return dict(lookup(plan).address_map)


def owner(plan: Plan, address: str) -> str | None:
    return lookup(plan).owner(address)


def label(plan_map: dict[str, str], address: str | None) -> str:
    """'gw (10.0.0.1)' for lab addresses, the bare address otherwise."""
    if address is None:
        return "?"
    name = plan_map.get(address)
    return f"{name} ({address})" if name else address
