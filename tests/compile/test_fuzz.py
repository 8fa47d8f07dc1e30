"""Random topologies: the compiler either builds a consistent plan or reports problems;
it never crashes. Invariants are checked on every plan it builds."""

from __future__ import annotations

import ipaddress
import tomllib

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.topology.loader import parse_lenient
from tests.support.names import toml_dumps

NODES = ["a", "b", "c", "r1", "r2", "r3"]
SWITCHES = ["s1", "s2", "s3"]
ODD = ["Bad", "x y", "a"]  # rare: bad names, or a switch named like a node
IFNAMES = [None] * 12 + ["eth0", "eth1", "wan", "averyveryverylongname"]
ADDRS = ["10.0.0.1", "10.0.0.2/24", "10.0.0.0/30", "10.255.0.1", "192.168.1.1/24",
         "fd00:10::5", "fd00::1/64", "10.10.0.1"]
SUBNETS = ["10.0.0.0/24", "10.0.0.0/30", "10.10.0.0/24", "192.168.1.0/24", "10.0.0.0/16"]


@st.composite
def topologies(draw) -> dict:
    nodes = draw(st.lists(st.sampled_from(NODES), unique=True, min_size=2, max_size=6))
    switches = draw(st.lists(st.sampled_from(SWITCHES), unique=True, max_size=3))
    if draw(st.integers(0, 9)) == 0:
        switches.append(draw(st.sampled_from(ODD)))
    topo: dict = {"lab": {"name": "t2fuzz", "routing": draw(st.sampled_from(["auto", "none"]))},
                  "defaults": {"ipv6": draw(st.booleans())}}
    topo["nodes"] = {}
    for n in nodes:
        node: dict = {"kind": draw(st.sampled_from(["host", "router"]))}
        if draw(st.integers(0, 5)) == 0:
            node["gateway"] = draw(st.sampled_from(NODES + ["10.0.0.1"]))
        if draw(st.integers(0, 7)) == 0:
            node["nat"] = {"masquerade": [draw(st.sampled_from(["eth0", "eth1"]))]}
        if draw(st.integers(0, 9)) == 0:
            node["routes"] = [{"to": draw(st.sampled_from(SUBNETS + ["default"])),
                               "via": draw(st.sampled_from(ADDRS)).split("/")[0]}]
        topo["nodes"][n] = node
    topo["switches"] = {s: ({"subnet": draw(st.sampled_from(SUBNETS))}
                            if draw(st.booleans()) else {}) for s in switches}
    ends = nodes + switches or ["a"]
    links = []
    for _ in range(draw(st.integers(1, 8))):
        if nodes and draw(st.integers(0, 9)):  # mostly a node and another node or a switch
            first = draw(st.sampled_from(nodes))
            second = draw(st.sampled_from([e for e in ends if e != first] or ends))
            names = [first, second]
        else:  # anything at all: self links, switch to switch, unknown names
            names = [draw(st.sampled_from(ends + ["zz"])) for _ in range(2)]
        pair = []
        for name in names:
            ifname = draw(st.sampled_from(IFNAMES))
            pair.append(name if ifname is None else f"{name}:{ifname}")
        link: dict = {"endpoints": pair}
        if draw(st.integers(0, 9)) == 0:
            link["addresses"] = [draw(st.sampled_from(ADDRS))
                                 for _ in range(draw(st.integers(1, 2)))]
        if draw(st.integers(0, 9)) == 0:
            link["subnet"] = draw(st.sampled_from(SUBNETS))
        links.append(link)
    topo["links"] = links
    if nodes and draw(st.booleans()):
        topo["expect"] = [{"from": draw(st.sampled_from(nodes)),
                           "to": draw(st.sampled_from(nodes + ["10.0.0.1", "a:eth0"]))}]
    if nodes and draw(st.integers(0, 4)) == 0:
        topo["uplink"] = {"node": draw(st.sampled_from(nodes))}
    return topo


def _check_plan(plan) -> None:
    seen: set[str] = set()
    for n in plan.nodes:
        nets = []
        for i in n.interfaces:
            assert len(i.name) <= 15
            for a in i.addresses:
                ip = a.split("/")[0]
                assert ip not in seen, f"address {ip} twice"
                seen.add(ip)
                nets.append(ipaddress.ip_interface(a).network)
        for r in n.routes:
            if r.via is not None and r.origin in ("default", "auto"):
                via = ipaddress.ip_address(r.via)
                assert any(via in net for net in nets), (n.name, r)
    for s in plan.switches:
        names = [p.ifname for p in s.ports]
        assert len(names) == len(set(names))
        assert all(len(x) <= 15 for x in names)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(topologies())
def test_compiler_never_crashes(topo: dict) -> None:
    _roundtrip(topo)


@pytest.mark.parametrize("outcome", ["compiled", "rejected"])
def test_the_fuzzer_reaches_every_outcome(outcome: str) -> None:
    """The fuzz test above checks plans and problems only if the generator makes them:
    each outcome must be found (hypothesis.find fails if it never is), so a generator
    that drifts into making only unloadable files fails here instead of passing empty."""
    find(topologies(), lambda t: _roundtrip(t) == outcome,
         settings=settings(max_examples=500, deadline=None, database=None,
                           phases=[Phase.generate],  # found is enough: no shrinking
                           suppress_health_check=list(HealthCheck)))


def _roundtrip(topo: dict) -> str:
    text = toml_dumps(topo)
    assert tomllib.loads(text) == topo
    model, early = parse_lenient(text, "fuzz.toml")
    if model is None:
        assert early and all(p.message for p in early)
        return "rejected early"
    try:
        compiled = compile_topology(model, "fuzz.toml")
    except TopologyError as e:
        assert e.problems and all(p.message for p in e.problems)
        e.render()
        return "rejected"
    _check_plan(compiled.plan)
    return "compiled"
