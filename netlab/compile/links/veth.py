"""Link kind "veth": a [[links]] entry between two nodes, one veth pair and its own segment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.compile.links.base import End, LinkKind, edges, node_end
from netlab.errors import Problems
from netlab.plan.model import VethPlan

if TYPE_CHECKING:
    from netlab.compile.context import Build


class Veth(LinkKind):
    name = "veth"
    description = "node to node: a veth pair, the link is its own subnet"

    def claims(self, a: End, b: End) -> bool:
        return not a.is_switch and not b.is_switch

    def check_ends(self, path: str, a: End, b: End, problems: Problems) -> bool:
        if a.name == b.name:
            problems.error(path, f"link joins node {a.name!r} to itself",
                           f"connect {a.name} to another node or to a switch")
            return False
        return True

    def wire(self, b: Build) -> list[tuple[int, VethPlan]]:
        return [(i, VethPlan(a=node_end(b, i, 0, x), b=node_end(b, i, 1, y)))
                for i, (x, y) in edges(b.g, self.name)]


KIND = Veth()
