"""The node kind registry (netlab/compile/kinds): the compile passes ask a node's kind,
so a kind registered in one place changes addressing, sysctls and routing (pure)."""

from __future__ import annotations

import json

import pytest

from netlab.compile import kinds
from netlab.compile.compiler import compile_topology
from netlab.compile.kinds import NodeKind
from netlab.errors import TopologyError
from netlab.topology.loader import parse
from netlab.topology.model import TopologyFile

# A throwaway kind: forwards nothing, takes a switch's first addresses, never a gateway.
SERVER = NodeKind(
    name="server", description="a service node", forwards=False, address_rank=-1,
    routes=False, takes_default_gateway=True, sysctls={"net.ipv4.tcp_syncookies": "1"},
)

LAB = """
[lab]
name = "tkind"
[nodes.h]
[nodes.r]
kind = "router"
[nodes.s]
kind = "server"
[switches.lan]
subnet = "10.9.0.0/24"
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["s", "lan"]
"""


def test_builtin_kinds_answer_as_before() -> None:
    host, router = kinds.get("host"), kinds.get("router")
    assert kinds.names() == ["host", "router"] and kinds.DEFAULT == "host"
    assert router.address_rank < host.address_rank
    assert router.kernel_sysctls(True) == {"net.ipv4.ip_forward": "1",
                                           "net.ipv6.conf.all.forwarding": "1"}
    assert host.kernel_sysctls(True) == {"net.ipv4.ip_forward": "0"}
    assert (router.routes, host.routes) == (True, False)


def test_a_registered_kind_shapes_the_plan() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, SERVER.name, SERVER)  # the one registration line
        plan = compile_topology(parse(LAB, "t.toml"), "t.toml").plan
        schema = TopologyFile.model_json_schema()
        gw_problems = _problems(LAB.replace("[nodes.h]", '[nodes.h]\ngateway = "s"'))
    s, r, h = plan.node("s"), plan.node("r"), plan.node("h")
    assert s.kind == "server"
    # address_rank -1: before the router on the switch, which is before the host.
    assert [n.interfaces[0].addresses[0] for n in (s, r, h)] == \
        ["10.9.0.1/24", "10.9.0.2/24", "10.9.0.3/24"]
    assert s.sysctls["net.ipv4.ip_forward"] == "0"
    assert s.sysctls["net.ipv4.tcp_syncookies"] == "1"
    assert "net.ipv4.tcp_syncookies" not in r.sysctls
    # Not a router: h's automatic gateway is still r alone (two routers: no default).
    assert [(x.to, x.via) for x in h.routes] == [("default", "10.9.0.2")]
    assert [(x.to, x.via) for x in s.routes] == [("default", "10.9.0.2")]
    assert schema["$defs"]["Node"]["properties"]["kind"]["enum"] == ["host", "router", "server"]
    assert ("nodes.h.gateway", "gateway 's' is a server, not a router") in gw_problems
    # The registration was undone: the kind is unknown again, with the usual error.
    assert "server" not in kinds.KINDS
    assert ("nodes.s.kind", '"server" is not one of: host, router') in _problems(LAB)
    assert json.dumps(TopologyFile.model_json_schema()).count('"server"') == 0


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(text, "t.toml"), "t.toml")
    return [(p.path, p.message) for p in e.value.problems]


# The worked example of docs/architecture.md: "a router with a loopback". Its module would
# be compile/kinds/lorouter.py holding LOROUTER, registered by one line in KINDS.
LOOPBACK_NET = "10.255.0."


def _loopback(view: kinds.NodeView) -> list[str]:
    # One /32 per node, numbered by the node's last digit (r1 -> .1): a daemon-less
    # "process" that puts the address on lo and then stays, as a routing daemon would.
    return [f"ip address add {LOOPBACK_NET}{view.name[-1]}/32 dev lo && exec sleep infinity"]


LOROUTER = NodeKind(
    name="lorouter", description="a router with a loopback address", forwards=True,
    address_rank=0, routes=True, takes_default_gateway=False,
    sysctls={"net.ipv4.conf.all.rp_filter": "0"}, processes=_loopback,
)

LO_LAB = """
[lab]
name = "tlo"
[nodes.h]
[nodes.r1]
kind = "lorouter"
exec = ["echo own"]
[switches.lan]
subnet = "10.9.0.0/24"
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["r1", "lan"]
"""


def test_a_router_with_a_loopback() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, LOROUTER.name, LOROUTER)
        plan = compile_topology(parse(LO_LAB, "t.toml"), "t.toml").plan
    r1, h = plan.node("r1"), plan.node("h")
    # The kind's process first, then the node's own exec commands; hosts start none.
    assert r1.exec == ["ip address add 10.255.0.1/32 dev lo && exec sleep infinity", "echo own"]
    assert h.exec == []
    # A router in every other respect: forwards, first address, the host's gateway.
    assert r1.sysctls["net.ipv4.ip_forward"] == "1"
    assert r1.sysctls["net.ipv4.conf.all.rp_filter"] == "0"
    assert r1.interfaces[0].addresses == ["10.9.0.1/24"]
    assert [(x.to, x.via) for x in h.routes] == [("default", "10.9.0.1")]


def test_the_hooks_see_the_node_as_planned() -> None:
    seen: list[kinds.NodeView] = []
    spy = NodeKind(name="spy", description="records what it sees", forwards=False,
                   address_rank=1, routes=False, takes_default_gateway=True,
                   files=lambda v: seen.append(v) or {})  # type: ignore[func-returns-value]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, spy.name, spy)
        compile_topology(parse(LO_LAB.replace("lorouter", "spy"), "t.toml"), "t.toml")
    (view,) = seen
    assert view.name == "r1" and view.node.exec == ["echo own"]
    assert [i.name for i in view.interfaces] == ["eth0"]
    # A host-like kind: the switch numbers h before r1.
    assert view.interfaces[0].addresses == ["10.9.0.2/24"] and view.primary == {"4": "10.9.0.2"}


def test_a_kinds_files_reach_the_plan_under_the_nodes_own() -> None:
    writer = NodeKind(name="writer", description="writes a file", forwards=True,
                      address_rank=0, routes=True, takes_default_gateway=False,
                      files=lambda v: {"/etc/frr/frr.conf": f"hostname {v.name}\n",
                                       "/etc/motd": "the kind's\n"})
    text = LO_LAB.replace("lorouter", "writer").replace(
        "[nodes.r1]", '[nodes.r1]\nfiles = { "/etc/motd" = "the node\'s own\\n" }', 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, writer.name, writer)
        plan = compile_topology(parse(text, "t.toml"), "t.toml").plan
    files = {f.path: f.text for f in plan.node("r1").files}
    assert files == {"/etc/frr/frr.conf": "hostname r1\n", "/etc/motd": "the node's own\n"}


def test_builtin_kinds_write_no_files_and_start_no_processes() -> None:
    plan = compile_topology(parse(LAB.replace('kind = "server"', ""), "t.toml"), "t.toml").plan
    assert all(n.exec == [] for n in plan.nodes)
