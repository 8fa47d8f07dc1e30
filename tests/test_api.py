"""The Python API: netlab.load(path) -> Topology (model + graph + plan)."""

from __future__ import annotations

import networkx as nx
import pytest

import netlab
from netlab.errors import TopologyError
from netlab.plan.model import Plan
from netlab.topology.model import TopologyFile
from tests.support import REPO


def test_load_gives_model_graph_and_plan() -> None:
    topo = netlab.load(REPO / "topologies" / "natgw.toml")
    assert isinstance(topo, netlab.Topology)
    assert topo.name == "natgw"
    assert isinstance(topo.model, TopologyFile)
    assert topo.model.nodes["gw"].kind == "router"
    assert isinstance(topo.graph, nx.MultiGraph)
    assert set(topo.graph.nodes) == {"pc1", "pc2", "gw", "web", "lan"}
    assert topo.graph.nodes["lan"]["kind"] == "switch"
    assert topo.graph.number_of_edges() == 4
    assert isinstance(topo.plan, Plan)
    assert topo.plan.node("web").primary == {"4": "203.0.113.2"}
    assert topo.warnings == []


def test_load_accepts_str_path() -> None:
    topo = netlab.load(str(REPO / "topologies" / "two-hosts.toml"))
    assert topo.plan.source.endswith("two-hosts.toml")


def test_load_raises_with_every_problem() -> None:
    with pytest.raises(TopologyError) as info:
        netlab.load(REPO / "tests" / "invalid" / "gateway.toml")
    assert len(info.value.problems) == 4
    assert info.value.exit_code == 2


def test_warnings_are_returned() -> None:
    topo = netlab.load(REPO / "tests" / "invalid" / "disconnected.toml")
    assert [w.path for w in topo.warnings] == ["nodes.lonely", "switches.empty"]


def test_graph_edges_know_their_interfaces() -> None:
    topo = netlab.load(REPO / "topologies" / "natgw.toml")
    data = topo.graph.get_edge_data("gw", "web")
    (edge,) = data.values()
    ends = {e.name: e.ifname for e in edge["ends"]}
    assert ends == {"gw": "eth1", "web": "eth0"}
    assert edge["segment"] == "links[3]"
