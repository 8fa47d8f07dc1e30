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
