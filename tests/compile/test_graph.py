"""The graph pass (netlab/compile/graph.py): endpoints read by the one endpoint parser
(netlab.topology.endpoints), unknown names worded by the one builder (netlab.errors)."""

from __future__ import annotations

import pytest

from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.topology.loader import parse

LAB = """
[lab]
name = "tgraph"
[nodes.pc1]
[nodes.pc2]
[switches.lan]
[[links]]
endpoints = ["pc1", "lan"]
[[links]]
endpoints = [{a}, {b}]
"""


def _problems(a: str, b: str) -> list[tuple[str, str, str]]:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(LAB.format(a=f'"{a}"', b=f'"{b}"'), "t.toml"), "t.toml")
    return [(p.path, p.message, p.fix) for p in e.value.problems if p.severity == "error"]


@pytest.mark.parametrize(("text", "message"), [
    ("pc2:", "endpoint 'pc2:' has an empty interface name after ':'"),
    (":eth0", "endpoint ':eth0' has no node name before ':'"),
    ("pc2:eth0:1", "endpoint 'pc2:eth0:1' has more than one ':'"),
    ("", "endpoint is empty"),
])
def test_malformed_endpoints_get_the_parsers_message(text: str, message: str) -> None:
    (problem,) = _problems("pc1", text)
    assert problem[:2] == ("links[1].endpoints[1]", message)


def test_an_unknown_name_is_worded_by_the_shared_builder() -> None:
    assert _problems("pc1", "pc3") == [
        ("links[1].endpoints[1]", "no node or switch named 'pc3' (did you mean \"pc2\"?)",
         "use one of: lan, pc1, pc2")]


def test_a_malformed_endpoint_does_not_also_make_its_node_disconnected() -> None:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(LAB.format(a='"pc2:"', b='"lan"'), "t.toml"), "t.toml")
    assert [p.path for p in e.value.problems] == ["links[1].endpoints[0]"]
