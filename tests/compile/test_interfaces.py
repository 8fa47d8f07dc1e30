"""The interface features real labs need (issue 12.4), compiled: per-end MAC addresses,
loopback addresses, interfaces without an address, hosts without a default route, and
switch-to-switch links with spanning tree and ageing. Their errors are golden files
(tests/invalid/{mac,loopback,empty-addresses,switch-to-switch}.toml)."""

from __future__ import annotations

from netlab.compile.macs import mac_problem
from netlab.plan.lookup import Resolver
from netlab.plan.model import Interface, Plan, SwitchPlan
from tests.support.compile import addrs, compile_text, plan, problems, routes


def iface(p: Plan, node: str, ifname: str) -> Interface:
    return next(i for i in p.node(node).interfaces if i.name == ifname)


def switch(p: Plan, name: str) -> SwitchPlan:
    return next(s for s in p.switches if s.name == name)

MACS = """
[lab]
name = "tmac"
[nodes.a]
[nodes.b]
[switches.lan]
[[links]]
endpoints = ["a", "b"]
props = [{mac = "02:00:00:00:00:AA"}, {}]
[[links]]
endpoints = ["lan", "b"]
props = [{mac = "02:00:00:00:00:bb"}, {mac = "02:00:00:00:00:cc"}]
"""


def test_a_mac_is_planned_lowercase_on_its_own_end() -> None:
    p = plan(MACS)
    assert iface(p, "a", "eth0").mac == "02:00:00:00:00:aa"
    assert iface(p, "b", "eth0").mac is None  # the other end: random
    assert iface(p, "b", "eth1").mac == "02:00:00:00:00:cc"
    ends = {(e.netns, e.ifname): e.mac for v in p.veths for e in (v.a, v.b)}
    assert ends[("tmac-a", "eth0")] == "02:00:00:00:00:aa"
    assert ends[("tmac-lan", "b-eth1")] == "02:00:00:00:00:bb"  # the switch's port
    assert ends[("tmac-b", "eth1")] == "02:00:00:00:00:cc"


def test_mac_problems() -> None:
    assert mac_problem("02:00:00:00:00:01") is None
    assert mac_problem("02:00:00:00:00:AB") is None
    assert "not a MAC" in (mac_problem("02-00-00-00-00-01") or "")
    assert "multicast" in (mac_problem("03:00:00:00:00:01") or "")
    assert "all-zero" in (mac_problem("00:00:00:00:00:00") or "")
    found = problems(MACS.replace("02:00:00:00:00:cc", "02:00:00:00:00:aa"))
    assert [(x.path, x.severity) for x in found] == [("links[1].props[1].mac", "error")]
    assert "links[0].props[0].mac" in found[0].message


LOOPS = """
[lab]
name = "tlo"
[nodes.h]
[nodes.r1]
kind = "router"
loopback = ["10.0.0.1", "fd00:99::1"]
[nodes.r2]
kind = "router"
loopback = ["10.0.0.2/32"]
[nodes.r3]
kind = "router"
loopback = ["10.255.0.1"]
[switches.lan]
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["r1", "lan"]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "r3"]
"""


def test_loopbacks_are_planned_routed_named_and_resolved() -> None:
    c = compile_text(LOOPS)
    p = c.plan
    assert p.node("r1").loopback == ["10.0.0.1/32", "fd00:99::1/128"]
    assert p.node("r2").loopback == ["10.0.0.2/32"]
    assert p.node("h").loopback == []
    # A v6 loopback turns IPv6 on in the node (else disable_ipv6 would refuse it).
    assert "net.ipv6.conf.all.disable_ipv6" not in p.node("r1").sysctls
    # The pools skip a loopback: the p2p pool's first /30 holds r3's, so r1-r2 gets the next.
    assert addrs(p)["r1:eth1"] == ["10.255.0.5/30"]
    # Auto routing: every router reaches the other routers' loopbacks.
    r3 = routes(p, "r3")
    assert ("10.0.0.1/32", "10.255.0.9", "eth0", "auto") in r3
    assert ("10.0.0.2/32", "10.255.0.9", "eth0", "auto") in r3
    assert ("10.255.0.1/32", "10.255.0.10", "eth1", "auto") in routes(p, "r2")
    assert not any(r[0] == "10.0.0.1/32" for r in routes(p, "r1"))  # its own
    assert not any(r[0].startswith("10.0.0.") for r in routes(p, "h"))  # hosts: default
    # A host's loopback: via the host's own address from its router, hop by hop beyond.
    hp = plan(LOOPS.replace("[nodes.h]", '[nodes.h]\nloopback = ["10.0.0.9"]'))
    assert ("10.0.0.9/32", "10.10.0.2", "eth0", "auto") in routes(hp, "r1")
    assert ("10.0.0.9/32", "10.255.0.5", "eth0", "auto") in routes(hp, "r2")
    assert ("10.0.0.9/32", "10.255.0.9", "eth0", "auto") in routes(hp, "r3")
    # The hosts file names them <node>-lo; the one resolver takes node:lo and the address.
    assert "10.0.0.1\tr1-lo\n" in p.hosts and "fd00:99::1\tr1-lo\n" in p.hosts
    r = Resolver.from_plan(p)
    assert r.addresses(r.resolve("r1:lo")) == ["10.0.0.1", "fd00:99::1"]
    ref = r.resolve("10.0.0.2")
    assert (ref.name, ref.ifname) == ("r2", "lo")
    assert "lo" not in r.interfaces("h")


def test_an_expectation_may_target_a_loopback() -> None:
    p = plan(LOOPS + '[[expect]]\nfrom = "r3"\nto = "r1:lo"\n')
    assert p.expect[0].target_address == "10.0.0.1"


def test_loopback_problems() -> None:
    found = problems(LOOPS.replace('loopback = ["10.0.0.2/32"]',
                                   'loopback = ["10.0.0.1", "10.10.0.9"]')
                     .replace("[switches.lan]", '[switches.lan]\nsubnet = "10.10.0.0/24"'))
    assert [(x.path, x.severity) for x in found] == [
        ("nodes.r2.loopback[0]", "error"), ("nodes.r2.loopback[1]", "error")]
    assert "10.0.0.1 is already used (nodes.r1.loopback[0])" in found[0].message
    assert "overlaps 10.10.0.0/24 (switches.lan.subnet)" in found[1].message
    # A pool subnet never holds one: the pool skips it (r3's, above).


BARE = """
[lab]
name = "tbare"
[nodes.a]
[nodes.b]
[nodes.r]
kind = "router"
[switches.lan]
[switches.dark]
addresses = false
[[links]]
endpoints = ["a", "b"]
addresses = [[], []]
[[links]]
endpoints = ["a", "r"]
addresses = [[], "10.1.0.1/30"]
[[links]]
endpoints = ["r", "dark"]
[[links]]
endpoints = ["a", "dark"]
[[links]]
endpoints = ["b", "dark"]
addresses = ["10.2.0.5/24"]
[[links]]
endpoints = ["b", "lan"]
"""


def test_interfaces_without_an_address() -> None:
    p = plan(BARE)
    a = addrs(p)
    assert a["a:eth0"] == a["b:eth0"] == []  # addresses = [[], []]
    assert a["a:eth1"] == [] and a["r:eth0"] == ["10.1.0.1/30"]
    assert a["r:eth1"] == a["a:eth2"] == []  # the switch with addresses = false
    assert a["b:eth1"] == ["10.2.0.5/24"]  # ... except what a link names
    assert a["b:eth2"] == ["10.10.0.1/24"]
    # No subnet is taken for a segment where nobody gets an address from netlab.
    segments = {i.segment for n in p.nodes for i in n.interfaces}
    assert "links[0]" in segments
    assert switch(p, "dark").subnet == "10.2.0.0/24"  # inferred from the one given
    assert switch(p, "lan").subnet == "10.10.0.0/24"
    # Nothing routes over an address-less interface: r is a's only router, but a has no
    # address next to it, so no default route (and no problem).
    assert routes(p, "a") == set()
    # The hosts file names addressed interfaces only.
    assert "a-eth" not in p.hosts and "b-eth1" in p.hosts


def test_a_whole_switch_without_addresses_takes_no_subnet() -> None:
    p = plan(BARE.replace('addresses = ["10.2.0.5/24"]', ""))
    assert switch(p, "dark").subnet is None
    assert addrs(p)["b:eth1"] == []


def test_an_expectation_to_an_address_less_interface_is_an_error() -> None:
    found = problems(BARE + '[[expect]]\nfrom = "r"\nto = "a:eth1"\n')
    assert [x.path for x in found] == ["expect[0].to"]
    assert "interface a:eth1 has no address to probe" in found[0].message


GATEWAY = """
[lab]
name = "tgw"
[nodes.h]
gateway = false
[nodes.h2]
[nodes.r]
kind = "router"
gateway = false
[nodes.r2]
kind = "router"
[switches.lan]
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["h2", "lan"]
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["r", "r2"]
[uplink]
node = "r2"
"""


def test_gateway_false_means_no_default_route() -> None:
    p = plan(GATEWAY)
    assert routes(p, "h") == set()
    assert {r[0] for r in routes(p, "h2")} == {"default"}  # the single router, as before
    assert "default" not in {r[0] for r in routes(p, "r")}  # no default towards the uplink
    p2 = plan(GATEWAY.replace("[nodes.r]\nkind = \"router\"\ngateway = false",
                              "[nodes.r]\nkind = \"router\""))
    assert "default" in {r[0] for r in routes(p2, "r")}  # the test can fail
    p3 = plan(GATEWAY.replace('[nodes.r2]\nkind = "router"',
                              '[nodes.r2]\nkind = "router"\ngateway = false'))
    assert "default" not in {r[0] for r in routes(p3, "r2")}  # not even via the uplink


SWITCHES = """
[lab]
name = "tsw"
[nodes.h1]
[nodes.h2]
[nodes.h3]
[switches.s1]
stp = true
ageing = 0
[switches.s2]
stp = true
[switches.s3]
stp = true
subnet = "10.5.0.0/24"
[[links]]
endpoints = ["h1", "s1"]
[[links]]
endpoints = ["s1", "s2"]
[[links]]
endpoints = ["s2", "s3"]
[[links]]
endpoints = ["s3", "s1"]
[[links]]
endpoints = ["h2", "s2"]
[[links]]
endpoints = ["h3", "s3"]
"""


def test_switches_joined_by_links_are_one_segment() -> None:
    c = compile_text(SWITCHES)
    p = c.plan
    # One subnet for the three (given on s3), addresses in it, one segment id.
    assert {switch(p, s).subnet for s in ("s1", "s2", "s3")} == {"10.5.0.0/24"}
    assert addrs(p) == {"h1:eth0": ["10.5.0.1/24"], "h2:eth0": ["10.5.0.2/24"],
                        "h3:eth0": ["10.5.0.3/24"]}
    assert {n.interfaces[0].segment for n in p.nodes} == {"s1"}
    # Each switch link is a veth pair between two bridge ports, named after the peer.
    s1 = switch(p, "s1")
    assert [(x.ifname, x.node, x.node_ifname) for x in s1.ports] == [
        ("h1-eth0", "h1", "eth0"), ("s2", "s2", "s1"), ("s3", "s3", "s1")]
    pairs = {(v.a.netns, v.a.ifname, v.b.netns, v.b.ifname) for v in p.veths}
    assert ("tsw-s1", "s2", "tsw-s2", "s1") in pairs
    assert ("tsw-s3", "s1", "tsw-s1", "s3") in pairs
    assert (s1.stp, s1.ageing) == (True, 0)
    assert (switch(p, "s2").stp, switch(p, "s2").ageing) == (True, None)
    assert c.warnings == []  # every switch of the loop runs STP


def test_a_loop_without_stp_is_warned_about() -> None:
    c = compile_text(SWITCHES.replace("[switches.s2]\nstp = true", "[switches.s2]"))
    assert [(w.path, w.severity) for w in c.warnings] == [("switches.s2", "warning")]
    assert "s1, s2, s3 form a loop" in c.warnings[0].message
    assert "stp = true on switches.s2" in c.warnings[0].fix
    # A tree of switches is no loop.
    tree = compile_text(SWITCHES.replace('endpoints = ["s3", "s1"]', 'endpoints = ["h1", "s3"]')
                        .replace("stp = true", "stp = false"))
    assert tree.warnings == []


def test_port_names_avoid_each_other() -> None:
    # A switch named like a port name already taken ("h1-eth0") gets portN instead.
    p = plan(SWITCHES.replace("s2", "h1-eth0"))
    assert [x.ifname for x in switch(p, "s1").ports] == ["h1-eth0", "port1", "s3"]


def test_an_uplink_subnet_holding_a_loopback_is_an_error() -> None:
    found = problems(LOOPS.replace("10.0.0.2/32", "100.64.9.1")
                     + '[uplink]\nnode = "r1"\nsubnet = "100.64.9.0/30"\n')
    assert [(x.path, x.severity) for x in found] == [("uplink.subnet", "error")]
    assert "holds 100.64.9.1, a loopback address of 'r2'" in found[0].message
