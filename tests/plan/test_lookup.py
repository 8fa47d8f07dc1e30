"""One endpoint parser, one target resolver, one wording for "no such node/interface" (pure)."""

from __future__ import annotations

import gc

import pytest

from netlab.compile.compiler import compile_topology
from netlab.errors import UsageError, no_such_interface, no_such_node
from netlab.plan import lookup as lookup_mod
from netlab.plan import wires
from netlab.plan.lookup import NotFound, Resolver, lookup
from netlab.plan.model import Plan
from netlab.probes import targets
from netlab.topology.endpoints import Endpoint, EndpointError, parse_endpoint
from netlab.topology.loader import parse

TOPO = """
[lab]
name = "tlk"
[defaults]
ipv6 = true
[nodes.pc]
[nodes.srv]
[nodes.r1]
kind = "router"
[switches.lan]
subnet = "10.1.0.0/24"
subnet6 = "fd00:1::/64"
[[links]]
endpoints = ["pc", "lan"]
[[links]]
endpoints = ["r1:inside", "lan"]
[[links]]
endpoints = ["r1:wan", "srv"]
subnet = "203.0.113.0/30"
[uplink]
node = "r1"
subnet = "100.64.9.0/30"
"""


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_topology(parse(TOPO, "lk.toml"), "lk.toml").plan


# --- the parser ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "want"), [
    ("pc1", Endpoint("pc1", None)),
    ("pc1:eth0", Endpoint("pc1", "eth0")),
    ("lan:pc1-eth0", Endpoint("lan", "pc1-eth0")),
    ("Bad Name:x", Endpoint("Bad Name", "x")),  # syntax only: names are checked elsewhere
])
def test_parser_accepts(text: str, want: Endpoint) -> None:
    assert parse_endpoint(text) == want
    assert str(want) == text


@pytest.mark.parametrize(("text", "why"), [
    ("", "endpoint is empty"),
    (":eth0", "no node name before ':'"),
    ("pc1:", "empty interface name after ':'"),
    ("pc1:eth0:1", "more than one ':'"),
    ("fd00::1", "more than one ':'"),  # an address is not an endpoint
])
def test_parser_refuses_with_a_reason_and_a_fix(text: str, why: str) -> None:
    with pytest.raises(EndpointError) as caught:
        parse_endpoint(text)
    e = caught.value
    assert why in e.reason and e.fix and str(e) == f"{e.reason}; {e.fix}"
    assert (e.text, e.name) == (text, text.partition(":")[0])
    # For the CLI (exit 2, no traceback) and for code that catches ValueError alike.
    assert isinstance(e, UsageError) and isinstance(e, ValueError) and e.exit_code == 2


# --- the builders --------------------------------------------------------------------

def test_builders_word_each_message_once() -> None:
    # The compile-side texts the golden files pin (tests/golden/invalid/*).
    assert no_such_node("pc3", ["pc1", "pc2"]) == "no node named 'pc3' (did you mean \"pc2\"?)"
    assert no_such_node("lna", ["lan", "pc1"], what="node or switch") == \
        "no node or switch named 'lna' (did you mean \"lan\"?)"
    assert no_such_interface("gw", "eth1", ["eth0"]) == \
        "node 'gw' has no interface 'eth1' (did you mean \"eth0\"?)"
    # Runtime: one line, with what exists.
    assert no_such_node("x", ["a", "b"], lab="demo", listed=True) == \
        "lab 'demo' has no node named 'x'; it has: a, b"
    assert no_such_interface("lan", "p9", [], what="switch", listed=True) == \
        "switch 'lan' has no interface 'p9'; it has none"
    many = no_such_node("x", [f"h{i}" for i in range(1000)], lab="big", listed=True)
    assert many.endswith("h11 ... (988 more)")  # a 1000-host lab's message stays short


# --- the resolver --------------------------------------------------------------------

def test_resolves_nodes_interfaces_and_addresses(plan: Plan) -> None:
    r = lookup(plan)
    pc = r.resolve("pc")
    assert (pc.name, pc.ifname, pc.netns, pc.is_switch) == ("pc", None, "tlk-pc", False)
    assert r.addresses(pc) == [plan.node("pc").primary["4"], plan.node("pc").primary["6"]]
    assert r.addresses(pc, 6) == [plan.node("pc").primary["6"]]
    wan = r.resolve("r1:wan")
    assert (wan.name, wan.ifname) == ("r1", "wan")
    assert r.addresses(wan, 4) == ["203.0.113.1"]
    v4 = r.resolve("203.0.113.2")
    assert (v4.name, v4.ifname, v4.address) == ("srv", "eth0", "203.0.113.2")
    v6_of_pc = plan.node("pc").primary["6"]
    v6 = r.resolve(v6_of_pc.replace("fd00:1::", "fd00:0001:0::"))  # normalised
    assert (v6.name, v6.address) == ("pc", v6_of_pc)
    outside = r.resolve("192.0.2.9")
    assert (outside.name, outside.address) == (None, "192.0.2.9")
    # The uplink is an interface of its node, its address the node's.
    up = r.resolve("r1:" + plan.uplink.ifname)  # type: ignore[union-attr]
    assert r.addresses(up) == ["100.64.9.2"] and r.owner("100.64.9.2") == "r1"
    assert r.owner("100.64.9.1") == "host"


def test_switches_only_when_asked(plan: Plan) -> None:
    r = lookup(plan)
    lan = r.resolve("lan", switches=True, addresses=False)
    assert (lan.is_switch, lan.netns, lan.node) == (True, "tlk-lan", None)
    port = r.resolve("lan:br0", switches=True, addresses=False)
    assert port.ifname == "br0"
    with pytest.raises(NotFound, match="neither a node of lab 'tlk' nor an IP address"):
        r.resolve("lan")  # a probe target is never a switch


def test_unknown_node_suggests_and_lists(plan: Plan) -> None:
    with pytest.raises(NotFound) as caught:
        lookup(plan).node("pcc")
    e = caught.value
    assert str(e) == "lab 'tlk' has no node named 'pcc' (did you mean \"pc\"?); it has: pc, srv, r1"
    assert (e.reason, e.fix) == ("no node named 'pcc' (did you mean \"pc\"?)",
                                 "use one of: pc, srv, r1")
    with pytest.raises(NotFound, match="has no node or switch named 'lna' .*\"lan\""):
        lookup(plan).resolve("lna:x", switches=True, addresses=False)


def test_unknown_interface_lists_what_exists(plan: Plan) -> None:
    with pytest.raises(NotFound) as caught:
        lookup(plan).resolve("r1:wna")
    assert str(caught.value) == ("node 'r1' has no interface 'wna' (did you mean \"wan\"?);"
                                 f" it has: inside, wan, {plan.uplink.ifname}")  # type: ignore[union-attr]
    with pytest.raises(NotFound, match="switch 'lan' has no interface 'br1' .*; it has: br0, pc-"):
        lookup(plan).resolve("lan:br1", switches=True, addresses=False)


def test_no_address_of_a_family(plan: Plan) -> None:
    up = "r1:" + plan.uplink.ifname  # type: ignore[union-attr]
    with pytest.raises(NotFound, match=f"interface {up} has no IPv6 address to probe"):
        lookup(plan).addresses(lookup(plan).resolve(up), 6)
    with pytest.raises(NotFound, match=f"interface {up} has no IPv6 address to probe"):
        targets.resolve(plan, up, 6)


def test_built_once_per_plan_and_not_kept_after_it() -> None:
    p = compile_topology(parse(TOPO, "lk.toml"), "lk.toml").plan
    assert lookup(p) is lookup(p)
    assert isinstance(lookup(p), Resolver)
    key = id(p)
    del p
    gc.collect()
    assert key not in lookup_mod._cache  # the cache does not keep a plan (or its indexes) alive


def test_wires_and_targets_share_the_resolver(plan: Plan) -> None:
    """The same mistake gets the same words from link control, capture and probes: they all
    go through lookup(plan), none parses or resolves on its own."""
    said = []
    for call in (lambda: wires.interface(plan, "r1:wna"), lambda: wires.find(plan, "r1:wna", "srv"),
                 lambda: targets.resolve(plan, "r1:wna")):
        with pytest.raises(NotFound) as caught:
            call()
        said.append(str(caught.value))
    assert len(set(said)) == 1 and said[0].startswith("node 'r1' has no interface 'wna'")
    for call in (lambda: wires.interface(plan, "r1:"), lambda: targets.resolve(plan, "r1:")):
        with pytest.raises(EndpointError, match="empty interface name"):
            call()
    assert targets.address_map(plan) == lookup(plan).address_map
    with pytest.raises(NotFound) as caught:
        targets.source_node(plan, "pcc")
    assert str(caught.value) == no_such_node("pcc", ["pc", "srv", "r1"], "tlk", listed=True)
