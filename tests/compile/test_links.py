"""The link kind registry (netlab/compile/links): each [[links]] entry is of the first kind
that claims it, that kind checks its ends and makes its wires; the uplink is a kind too."""

from __future__ import annotations

import pytest

from netlab.compile import links
from netlab.compile.compiler import compile_topology
from netlab.compile.links.base import End, LinkKind
from netlab.errors import Problems, TopologyError
from netlab.topology.loader import parse

LAB = """
[lab]
name = "tlinks"
[nodes.r]
kind = "router"
[nodes.a]
[nodes.b]
[switches.lan]
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["r", "a"]
[[links]]
endpoints = ["b", "lan"]
[uplink]
node = "r"
"""


def test_registered_kinds() -> None:
    assert list(links.KINDS) == ["veth", "switch-port", "switch-link", "uplink"]
    node, sw = End("a", None, False), End("lan", None, True)
    assert links.of(node, node).name == "veth"
    assert links.of(node, sw).name == links.of(sw, node).name == "switch-port"
    assert links.of(sw, sw).name == "switch-link"


def test_each_link_is_wired_by_its_kind_in_file_order() -> None:
    c = compile_topology(parse(LAB, "t.toml"), "t.toml")
    kinds = {d["link"]: d["kind"] for _, _, d in c.graph.edges(data=True)}
    assert kinds == {0: "switch-port", 1: "veth", 2: "switch-port"}
    plan = c.plan
    assert [(v.a.netns, v.a.ifname, v.b.netns, v.b.ifname) for v in plan.veths] == [
        ("tlinks-r", "eth0", "tlinks-lan", "r-eth0"),
        ("tlinks-r", "eth1", "tlinks-a", "eth0"),
        ("tlinks-b", "eth0", "tlinks-lan", "b-eth0"),
    ]
    assert [(p.ifname, p.node) for p in plan.switches[0].ports] == [("r-eth0", "r"),
                                                                    ("b-eth0", "b")]
    # The uplink kind: its plan, and what it adds to its node (no [[links]] entry).
    assert plan.uplink is not None and plan.uplink.node == "r"
    r = plan.node("r")
    assert [(x.to, x.dev, x.origin) for x in r.routes if x.to == "default"] == [
        ("default", "uplink", "uplink")]
    assert r.nat is not None and r.nat.masquerade == ["uplink"]
    assert links.node_ifnames(c.model, "r") == ["uplink"]
    assert links.node_ifnames(c.model, "a") == []


class _NoX(LinkKind):
    """A throwaway kind: links between nodes named 'x...' are refused."""

    name = "no-x"

    def claims(self, a: End, b: End) -> bool:
        return a.name.startswith("x") and b.name.startswith("x")

    def check_ends(self, path: str, a: End, b: End, problems: Problems) -> bool:
        problems.error(path, "x nodes cannot be linked", "link them to a switch")
        return False


def test_a_registered_kind_is_asked_first_claim_wins() -> None:
    text = LAB.replace("[nodes.a]", "[nodes.a]\n[nodes.x1]\n[nodes.x2]") + \
        '[[links]]\nendpoints = ["x1", "x2"]\n'
    compile_topology(parse(text, "t.toml"), "t.toml")  # a veth link without the kind
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(links, "KINDS", {"no-x": _NoX(), **links.KINDS})
        with pytest.raises(TopologyError) as e:
            compile_topology(parse(text, "t.toml"), "t.toml")
    assert [(p.path, p.message) for p in e.value.problems] == [
        ("links[3].endpoints", "x nodes cannot be linked")]


def test_an_expectation_may_target_the_uplink_interface() -> None:
    # Compile resolves targets with the plan's resolver (netlab.plan.lookup), which knows
    # the uplink's interface as probes do; before, compile alone called it unknown.
    text = LAB + '[[expect]]\nfrom = "a"\nto = "r:uplink"\n'
    plan = compile_topology(parse(text, "t.toml"), "t.toml").plan
    assert plan.uplink is not None
    assert plan.expect[0].target_address == plan.uplink.node_address.split("/")[0]
