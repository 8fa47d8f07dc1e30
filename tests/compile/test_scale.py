"""Large generated topologies compile (no timing assertions: see docs/performance.md)."""

from __future__ import annotations

from netlab.compile.compiler import compile_topology
from netlab.topology.loader import parse
from tests.support.gen import chain, hub, multi, star


def test_star_of_1000_hosts() -> None:
    c = compile_topology(parse(star(1000), "star.toml"), "star.toml")
    p = c.plan
    assert len(p.nodes) == 1001 and len(p.veths) == 1001
    assert p.node("gw").interfaces[0].addresses == ["10.0.0.1/16"]
    assert p.node("h0").interfaces[0].addresses == ["10.0.0.2/16"]  # natural order: h0, h1,
    assert p.node("h10").interfaces[0].addresses == ["10.0.0.12/16"]  # ..., h9, h10, ...
    assert p.node("h999").interfaces[0].addresses == ["10.0.3.233/16"]  # the last: .1001
    assert {r.via for n in p.nodes if n.kind == "host" for r in n.routes} == {"10.0.0.1"}
    assert len({i.addresses[0] for n in p.nodes for i in n.interfaces}) == 1001


def test_chain_of_200_routers() -> None:
    c = compile_topology(parse(chain(200), "chain.toml"), "chain.toml")
    p = c.plan
    # 199 p2p links + 2 LANs = 201 subnets; each router routes to the ones not attached.
    for k in (0, 199):
        assert len(p.node(f"r{k}").routes) == 201 - 2
    assert len(p.node("r100").routes) == 201 - 2
    # r0 reaches the far LAN through r1.
    r0 = {r.to: r for r in p.node("r0").routes}
    lanb = next(s.subnet for s in p.switches if s.name == "lanb")
    r1_addr = p.node("r1").interfaces[0].addresses[0].split("/")[0]
    assert r0[lanb].via == r1_addr


def test_hub_with_1000_point_to_point_links() -> None:
    p = compile_topology(parse(hub(1000), "hub.toml"), "hub.toml").plan
    ifaces = p.node("hub").interfaces
    assert [i.name for i in ifaces] == [f"eth{k}" for k in range(1000)]
    assert ifaces[0].addresses == ["10.255.0.1/30"]
    assert ifaces[999].addresses == ["10.255.15.157/30"]  # the 1000th /30 of pools.p2p
    assert p.node("h999").routes[0].via == "10.255.15.157"


def test_eight_switches_of_500_hosts() -> None:
    # The shape of a big lab (a bridge takes at most 1023 ports): 4000 hosts, one router.
    p = compile_topology(parse(multi(8, 500), "multi.toml"), "multi.toml").plan
    assert len(p.nodes) == 4001 and len(p.switches) == 8 and len(p.veths) == 4008
    gw = [i.addresses[0] for i in p.node("gw").interfaces]
    assert gw == [f"10.{s}.0.1/16" for s in range(8)]
    assert p.node("h3999").interfaces[0].addresses == ["10.7.1.245/16"]  # the 501st of s7
    assert [(r.to, r.via) for r in p.node("h3999").routes] == [("default", "10.7.0.1")]
    # Format 1 took 487 MB here (every node carried the 4000-line hosts file).
    assert len(p.to_json()) < 8_000_000
    assert p.hosts.count("\n") == 2 + 4000 + 8
