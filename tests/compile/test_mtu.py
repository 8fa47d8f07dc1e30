"""Interface MTUs (netlab/compile/mtu.py): the key that sets each, and IPv6's 1280 minimum
(the kernel turns IPv6 off on a smaller device, so deploy failed after validate passed)."""

from __future__ import annotations

import pytest

from netlab.compile import mtu
from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.topology.loader import parse

LAB = """
[lab]
name = "tmtu"
[defaults]
ipv6 = {v6}
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
mtu = {mtu}
"""


@pytest.mark.parametrize(("v6", "value"), [("true", 1280), ("false", 68), ("false", 1279)])
def test_small_mtus_are_fine_without_ipv6_and_1280_is_enough(v6: str, value: int) -> None:
    plan = compile_topology(parse(LAB.format(v6=v6, mtu=value), "t.toml"), "t.toml").plan
    assert [i.mtu for n in plan.nodes for i in n.interfaces] == [value, value]


def test_ipv6_below_1280_is_a_validate_error_naming_the_key() -> None:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(LAB.format(v6="true", mtu=68), "t.toml"), "t.toml")
    (p,) = e.value.problems
    assert p.path == "links[0].mtu"
    assert "mtu 68 is too small for the IPv6 addresses of a:eth0, b:eth0" in p.message
    assert p.fix.startswith("set links[0].mtu = 1280 or more")


def test_an_explicit_ipv6_address_counts_too() -> None:
    text = LAB.format(v6="false", mtu=1000) + 'addresses = ["fd00::1/64", "10.0.0.2/30"]\n'
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(text, "t.toml"), "t.toml")
    assert [(p.path, "of a:eth0:" in p.message) for p in e.value.problems] == [
        ("links[0].mtu", True)]


def test_the_key_that_sets_an_mtu() -> None:
    text = """
[lab]
name = "tmtu"
[defaults]
mtu = 1400
[nodes.a]
mtu = 1300
[nodes.b]
[switches.lan]
mtu = 9000
[[links]]
endpoints = ["a", "b"]
props = [{}, {mtu = 1200}]
[[links]]
endpoints = ["b", "lan"]
"""
    tf = parse(text, "t.toml")
    assert mtu.source(tf, 0, "a", None) == (1300, "nodes.a.mtu")
    assert mtu.source(tf, 0, "b", None) == (1200, "links[0].props[1].mtu")
    assert mtu.source(tf, 1, "b", None) == (1400, "defaults.mtu")
    assert mtu.source(tf, 1, None, "lan") == (9000, "switches.lan.mtu")
