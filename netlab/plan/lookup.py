"""THE target resolver: what people type (node, node:ifname, switch, switch:port, an IP
address) -> one Ref, against a lab's plan. Built once per plan (`lookup(plan)`), used by
probe targets (netlab.probes.targets), wires and link control (netlab.plan.wires); the
compiler can build one from its node plans before the Plan exists (Resolver(...)).

Every failure is a NotFound (a UsageError: one line for the CLI) worded by the builders
in netlab.errors, with `reason` and `fix` apart for a topology Problem.
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from netlab.errors import (
    UsageError,
    no_address,
    no_such_interface,
    no_such_node,
    no_such_target,
    one_of,
)
from netlab.topology.endpoints import parse_endpoint

if TYPE_CHECKING:  # no pydantic at run time: `netlab check NAME` reads plans without it
    from netlab.plan.model import NodePlan, Plan, SwitchPlan, UplinkPlan


class NotFound(UsageError):
    """A name, interface or address the lab does not have. str(): the one-line message
    (it lists what exists); `reason` and `fix`: the same, apart, for a Problem."""

    def __init__(self, message: str, reason: str, fix: str) -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(message)


@dataclass(frozen=True)
class Ref:
    """What a text names. Exactly one of: a node (node set), a switch (switch set), or an
    address no lab node has (both None; address set)."""

    text: str  # as given
    node: NodePlan | None = None
    switch: SwitchPlan | None = None
    ifname: str | None = None  # the interface named, or the one that has `address`
    address: str | None = None  # the address given, normalised (str(ip_address(...)))

    @property
    def name(self) -> str | None:
        """The node or switch named (or owning the address); None outside the lab."""
        owner = self.node or self.switch
        return owner.name if owner is not None else None

    @property
    def netns(self) -> str | None:
        owner = self.node or self.switch
        return owner.netns if owner is not None else None

    @property
    def is_switch(self) -> bool:
        return self.switch is not None


class Resolver:
    """Indexes of one lab, by name and by address. Holds the plan's node and switch plans,
    never the Plan itself (the per-plan cache must not keep a plan alive)."""

    def __init__(self, lab: str, nodes: Iterable[NodePlan], switches: Iterable[SwitchPlan] = (),
                 uplink: UplinkPlan | None = None) -> None:
        self.lab = lab
        self.nodes: dict[str, NodePlan] = {n.name: n for n in nodes}
        self.switches: dict[str, SwitchPlan] = {s.name: s for s in switches}
        self.uplink = uplink

    @classmethod
    def from_plan(cls, plan: Plan) -> Resolver:
        return cls(plan.lab, plan.nodes, plan.switches, plan.uplink)

    # --- by name ----------------------------------------------------------------------

    def node(self, name: str) -> NodePlan:
        """The node called `name` (not a switch, not an address)."""
        found = self.nodes.get(name)
        if found is None:
            raise NotFound(no_such_node(name, self.nodes, self.lab, listed=True),
                           no_such_node(name, self.nodes), one_of(self.nodes))
        return found

    def interfaces(self, name: str) -> list[str]:
        """Interface names of a node (with its uplink, and lo when it has `loopback`
        addresses) or a switch (its bridge, then ports)."""
        if name in self.nodes:
            names = [i.name for i in self.nodes[name].interfaces]
            if self.uplink is not None and self.uplink.node == name:
                names.append(self.uplink.ifname)
            if self.nodes[name].loopback:
                names.append("lo")
            return names
        sw = self.switches[name]
        return [sw.bridge] + [p.ifname for p in sw.ports]

    def resolve(self, text: str, *, switches: bool = False, addresses: bool = True) -> Ref:
        """`text` as a Ref: an IP address (if `addresses`; tried first, as IPv6 has ':'),
        `node`, `node:ifname`, and (if `switches`) `switch` or `switch:port`.

        Raises EndpointError (malformed text) or NotFound."""
        if addresses:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                pass
            else:
                address = str(ip)
                owner = self.owners.get(address)
                if owner is None:
                    return Ref(text, address=address)
                return Ref(text, node=self.nodes[owner[0]], ifname=owner[1], address=address)
        end = parse_endpoint(text)
        node = self.nodes.get(end.name)
        switch = self.switches.get(end.name) if switches and node is None else None
        if node is None and switch is None:
            raise self._unknown(text, end.name, switches, addresses)
        if end.ifname is not None:
            known = self.interfaces(end.name)
            if end.ifname not in known:
                what = "switch" if switch is not None else "node"
                raise NotFound(no_such_interface(end.name, end.ifname, known, what, listed=True),
                               no_such_interface(end.name, end.ifname, known, what),
                               one_of(known))
        return Ref(text, node=node, switch=switch, ifname=end.ifname)

    def _unknown(self, text: str, name: str, switches: bool, addresses: bool) -> NotFound:
        if addresses:  # a probe's target
            return NotFound(no_such_target(text, name, self.nodes, self.lab, listed=True),
                            no_such_target(text, name, self.nodes),
                            "name a node, node:ifname, or an address")
        known = list(self.nodes) + (list(self.switches) if switches else [])
        what = "node or switch" if switches else "node"
        return NotFound(no_such_node(name, known, self.lab, what, listed=True),
                        no_such_node(name, known, what=what), one_of(known))

    # --- by address -------------------------------------------------------------------

    @cached_property
    def owners(self) -> dict[str, tuple[str, str]]:
        """Every lab node's address (normalised) -> (node, ifname); the uplink's too.
        Built on first use: resolving a wire needs no addresses."""
        out: dict[str, tuple[str, str]] = {}
        for n in self.nodes.values():
            for i in n.interfaces:
                for a in i.addresses:
                    out.setdefault(str(ipaddress.ip_interface(a).ip), (n.name, i.name))
            for a in n.loopback:
                out.setdefault(str(ipaddress.ip_interface(a).ip), (n.name, "lo"))
        if self.uplink is not None:
            up = self.uplink
            out.setdefault(str(ipaddress.ip_interface(up.node_address).ip), (up.node, up.ifname))
        return out

    @cached_property
    def address_map(self) -> dict[str, str]:
        """Every lab address -> the name of who has it ("host": the host's uplink end).
        Shared: read it, do not change it."""
        out = {a: owner[0] for a, owner in self.owners.items()}
        if self.uplink is not None:
            out.setdefault(str(ipaddress.ip_interface(self.uplink.host_address).ip), "host")
        return out

    def owner(self, address: str) -> str | None:
        """The name of who has `address` in the lab, or None."""
        return self.address_map.get(str(ipaddress.ip_address(address)))

    def addresses(self, ref: Ref, family: int | None = None) -> list[str]:
        """The addresses a probe to `ref` may use, best first: the address given; an
        interface's (v4 first); a node's primaries (v4 first). `family` 4 or 6 keeps that
        family only (not for an address given as such). Raises NotFound when none is left
        (e.g. no IPv6 on that node)."""
        if ref.address is not None:
            return [ref.address]  # named by the user: whatever its family
        if ref.node is None:
            addrs = []  # a switch: not a probe target
        elif ref.ifname is None:
            addrs = [ref.node.primary[k] for k in ("4", "6") if k in ref.node.primary]
        elif self.uplink is not None and (ref.node.name, ref.ifname) == (self.uplink.node,
                                                                          self.uplink.ifname):
            addrs = [self.uplink.node_address.split("/")[0]]
        elif ref.ifname == "lo":
            addrs = [a.split("/")[0] for a in ref.node.loopback]
        else:
            iface = next(i for i in ref.node.interfaces if i.name == ref.ifname)
            addrs = [a.split("/")[0] for a in iface.addresses]
        if family is not None:
            addrs = [a for a in addrs if (":" in a) == (family == 6)]
        if not addrs:
            why = no_address(ref.name or ref.text, ref.ifname, family)
            raise NotFound(why, why, "link it to a segment" if ref.ifname is None
                           else "pick an interface with an address")
        return addrs


_cache: dict[int, tuple[weakref.ref[Plan], Resolver]] = {}


def lookup(plan: Plan) -> Resolver:
    """The Resolver of `plan`, built on first use and kept while the plan lives (a plan is
    immutable, so its indexes never go stale)."""
    key = id(plan)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is plan:
        return hit[1]
    resolver = Resolver.from_plan(plan)
    _cache[key] = (weakref.ref(plan, lambda _r, key=key: _drop(key)), resolver)
    return resolver


def _drop(key: int) -> None:
    # Only the entry of the plan that died: its id may already name a newer plan's entry.
    hit = _cache.get(key)
    if hit is not None and hit[0]() is None:
        del _cache[key]
