"""What the compile passes share: the input, the problems found so far, and each pass's result.

Every pass (see PASSES in compiler.py) reads the fields earlier passes filled and fills its
own; a field read before its pass ran raises AttributeError, which a test would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from netlab.compile import addressing, routing
from netlab.errors import Problems
from netlab.plan.model import (
    ExpectPlan,
    NodePlan,
    Plan,
    ShapingPlan,
    SwitchPlan,
    UplinkPlan,
    VethPlan,
)
from netlab.topology.model import TopologyFile


def netns_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}" if prefix else name


@dataclass
class Build:
    tf: TopologyFile
    source: str
    problems: Problems = field(default_factory=Problems)
    # graph pass
    g: nx.MultiGraph = field(init=False)
    # addressing and routing passes
    addr: addressing.Addressing = field(init=False)
    routes: dict[str, list[routing.RouteEntry]] = field(init=False)
    # link properties pass: egress shaping per (link index, endpoint index)
    shaping: dict[tuple[int, int], ShapingPlan | None] = field(init=False)
    # link kinds' prepare pass: switch-side port name per link index (a switch-to-switch
    # link: per (link index, endpoint index)), the uplink
    ports: dict[int | tuple[int, int], str] = field(default_factory=dict)
    uplink: UplinkPlan | None = None
    # node plans pass: nodes, and the lab's hosts file
    nodes: list[NodePlan] = field(init=False)
    hosts: str = field(init=False)
    # expectations pass
    expect: list[ExpectPlan] = field(init=False)
    # wiring pass (link kinds' wire)
    switches: list[SwitchPlan] = field(default_factory=list)
    veths: list[VethPlan] = field(default_factory=list)
    # the last pass
    plan: Plan = field(init=False)
    # Namespace name prefix: the lab's name unless lab.prefix says otherwise.
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = self.tf.lab.name if self.tf.lab.prefix is None else self.tf.lab.prefix

    def netns(self, name: str) -> str:
        """The namespace of a node or switch (called for every interface: kept short)."""
        return f"{self.prefix}-{name}" if self.prefix else name
