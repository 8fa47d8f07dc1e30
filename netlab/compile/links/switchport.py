"""Link kind "switch-port": a [[links]] entry between a node and a switch.

The switch is a bridge in its own namespace; each such link is a veth pair whose switch
end is a port of that bridge, named '<node>-<ifname>' when that fits, else 'portN'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.compile.links.base import End, LinkKind, edges, node_end, switch_end
from netlab.names import IFNAME_MAX
from netlab.plan.model import SwitchPlan, SwitchPort, VethPlan

if TYPE_CHECKING:
    from netlab.compile.context import Build


class SwitchPortKind(LinkKind):
    name = "switch-port"
    description = "node to switch: a veth pair, one end a port of the switch's bridge"

    def claims(self, a: End, b: End) -> bool:
        return a.is_switch != b.is_switch  # two switches: links/switchlink.py

    def prepare(self, b: Build) -> None:
        """Port names, which node plans show as their interfaces' peers."""
        by_switch: dict[str, list[tuple[int, End]]] = {}
        for i, ends in edges(b.g, self.name):
            sw, node = _split(ends)
            by_switch.setdefault(sw.name, []).append((i, node))
        for sw in b.tf.switches:
            taken: set[str] = set()
            for k, (i, node) in enumerate(by_switch.get(sw, ())):
                name = f"{node.name}-{node.ifname}"
                if len(name) > IFNAME_MAX or name in taken:
                    name = f"port{k}"
                taken.add(name)
                b.ports[i] = name

    def wire(self, b: Build) -> list[tuple[int, VethPlan]]:
        veths = []
        ports: dict[str, list[SwitchPort]] = {}
        for i, ends in edges(b.g, self.name):
            sw, node = _split(ends)
            ports.setdefault(sw.name, []).append(
                SwitchPort(ifname=b.ports[i], node=node.name, node_ifname=node.ifname))  # type: ignore[arg-type]
            veth_ends = [node_end(b, i, j, e) if not e.is_switch
                         else switch_end(b, i, j, e, b.ports[i]) for j, e in enumerate(ends)]
            veths.append((i, VethPlan(a=veth_ends[0], b=veth_ends[1])))
        for sw, model in b.tf.switches.items():
            subnets = b.addr.segments[b.g.graph["joined"].get(sw, sw)].subnet
            b.switches.append(SwitchPlan(
                name=sw, netns=b.netns(sw), bridge="br0", mtu=model.mtu or b.tf.defaults.mtu,
                subnet=_str_or_none(subnets.get(4)), subnet6=_str_or_none(subnets.get(6)),
                ports=ports.get(sw, []), stp=model.stp, ageing=model.ageing,
            ))
        return veths


def _split(ends: tuple[End, End]) -> tuple[End, End]:
    """(switch end, node end)."""
    return (ends[0], ends[1]) if ends[0].is_switch else (ends[1], ends[0])


def _str_or_none(x: object) -> str | None:
    return None if x is None else str(x)


KIND = SwitchPortKind()
