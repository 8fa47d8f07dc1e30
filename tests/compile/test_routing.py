"""Default gateways, static routes and auto routing; expectations written by hand."""

from __future__ import annotations

from tests.support.compile import compile_text, plan, problems, routes

CHAIN = """
[lab]
name = "t2chain"
routing = "auto"
[nodes.left]
[nodes.right]
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.r3]
kind = "router"
[switches.lan-l]
subnet = "10.1.0.0/24"
[switches.lan-r]
subnet = "10.3.0.0/24"
[[links]]
endpoints = ["left", "lan-l"]
[[links]]
endpoints = ["r1", "lan-l"]
[[links]]
endpoints = ["r1", "r2"]
subnet = "10.0.12.0/30"
[[links]]
endpoints = ["r2", "r3"]
subnet = "10.0.23.0/30"
[[links]]
endpoints = ["r3", "lan-r"]
[[links]]
endpoints = ["right", "lan-r"]
"""


def test_chain_of_three_routers_gets_correct_next_hops() -> None:
    p = plan(CHAIN)
    assert routes(p, "r1") == {
        ("10.0.23.0/30", "10.0.12.2", "eth1", "auto"),
        ("10.3.0.0/24", "10.0.12.2", "eth1", "auto"),
    }
    assert routes(p, "r2") == {
        ("10.1.0.0/24", "10.0.12.1", "eth0", "auto"),
        ("10.3.0.0/24", "10.0.23.2", "eth1", "auto"),
    }
    assert routes(p, "r3") == {
        ("10.1.0.0/24", "10.0.23.1", "eth0", "auto"),
        ("10.0.12.0/30", "10.0.23.1", "eth0", "auto"),
    }


def test_hosts_use_their_default_gateway() -> None:
    p = plan(CHAIN)
    assert routes(p, "left") == {("default", "10.1.0.1", "eth0", "default")}
    assert routes(p, "right") == {("default", "10.3.0.1", "eth0", "default")}


def test_routing_none_keeps_only_connected_default_and_static() -> None:
    text = CHAIN.replace('routing = "auto"', 'routing = "none"').replace(
        '[nodes.r1]\nkind = "router"',
        '[nodes.r1]\nkind = "router"\nroutes = [{ to = "10.3.0.0/24", via = "10.0.12.2" }]')
    p = plan(text)
    assert routes(p, "r1") == {("10.3.0.0/24", "10.0.12.2", "eth1", "static")}
    assert routes(p, "r2") == set()
    assert routes(p, "r3") == set()
    assert routes(p, "left") == {("default", "10.1.0.1", "eth0", "default")}


def test_static_route_wins_over_auto() -> None:
    text = CHAIN.replace(
        '[nodes.r1]\nkind = "router"',
        '[nodes.r1]\nkind = "router"\nroutes = [{ to = "10.3.0.0/24", via = "10.1.0.2" }]')
    assert routes(plan(text), "r1") == {
        ("10.0.23.0/30", "10.0.12.2", "eth1", "auto"),
        ("10.3.0.0/24", "10.1.0.2", "eth0", "static"),
    }


def test_static_default_wins_over_gateway() -> None:
    text = CHAIN.replace("[nodes.left]",
                         '[nodes.left]\nroutes = [{ to = "default", via = "10.1.0.99" }]')
    assert routes(plan(text), "left") == {("default", "10.1.0.99", "eth0", "static")}


def test_gateway_by_address() -> None:
    text = CHAIN.replace("[nodes.left]", '[nodes.left]\ngateway = "10.1.0.7"')
    assert routes(plan(text), "left") == {("default", "10.1.0.7", "eth0", "default")}


def test_several_routers_on_a_segment_warn_and_give_no_default() -> None:
    text = CHAIN + '[[links]]\nendpoints = ["r2", "lan-l"]\n'
    c = compile_text(text)
    assert routes(c.plan, "left") == set()
    assert [(w.path, w.severity) for w in c.warnings] == [("nodes.left", "warning")]
    assert "r1, r2" in c.warnings[0].message
    # ...and naming one of them is enough.
    p = plan(text.replace("[nodes.left]", '[nodes.left]\ngateway = "r2"'))
    assert routes(p, "left") == {("default", "10.1.0.2", "eth0", "default")}  # routers first


def test_hosts_never_forward() -> None:
    # r1 and r2 are joined only through a host: no route may go through it.
    p = plan("""
        [lab]
        name = "t2nofwd"
        [nodes.r1]
        kind = "router"
        [nodes.r2]
        kind = "router"
        [nodes.h]
        gateway = "r1"
        [nodes.x]
        [[links]]
        endpoints = ["r1", "h"]
        subnet = "10.0.1.0/30"
        [[links]]
        endpoints = ["h", "r2"]
        subnet = "10.0.2.0/30"
        [[links]]
        endpoints = ["r2", "x"]
        subnet = "10.0.3.0/30"
    """)
    assert routes(p, "r1") == set()
    assert routes(p, "r2") == set()
    assert routes(p, "h") == {("default", "10.0.1.1", "eth0", "default")}


def test_uplink_gives_routers_a_default_towards_it() -> None:
    text = CHAIN + '[uplink]\nnode = "r3"\nsubnet = "100.64.9.0/30"\n'
    p = plan(text)
    assert ("default", "10.0.12.2", "eth1", "auto") in routes(p, "r1")
    assert ("default", "10.0.23.2", "eth1", "auto") in routes(p, "r2")
    assert ("default", "100.64.9.1", "uplink", "uplink") in routes(p, "r3")
    assert p.uplink is not None and p.uplink.node_address == "100.64.9.2/30"


def test_v6_auto_routes() -> None:
    p = plan(CHAIN.replace("[nodes.left]", "[defaults]\nipv6 = true\n[nodes.left]"))
    r1 = routes(p, "r1")
    assert ("10.3.0.0/24", "10.0.12.2", "eth1", "auto") in r1
    assert ("fd00:10:0:1::/64", "fd00:255::2", "eth1", "auto") in r1
    assert ("default6", "fd00:10::1", "eth0", "default") in routes(p, "left")


def test_gateway_problems() -> None:
    ps = problems(CHAIN.replace("[nodes.left]", '[nodes.left]\ngateway = "r3"')
                  .replace("[nodes.right]", '[nodes.right]\ngateway = "left"'))
    assert [(p.path, p.message) for p in ps] == [
        ("nodes.left.gateway", "gateway 'r3' shares no segment with 'left'"),
        ("nodes.right.gateway", "gateway 'left' is a host, not a router"),
    ]


def test_gateway_may_not_be_the_hosts_own_address() -> None:
    ps = problems(CHAIN.replace("[nodes.left]", '[nodes.left]\ngateway = "10.1.0.2"'))
    assert [(p.path, p.message) for p in ps] == [
        ("nodes.left.gateway", "gateway 10.1.0.2 is an address of 'left' itself")]
