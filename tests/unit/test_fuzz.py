"""Random topologies: the compiler either builds a consistent plan or reports problems;
it never crashes. Invariants are checked on every plan it builds."""

from __future__ import annotations

import ipaddress
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.topology.loader import parse_lenient

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


def _roundtrip(topo: dict) -> None:
    model, early = parse_lenient(_to_toml(topo), "fuzz.toml")
    if model is None:
        return
    try:
        compiled = compile_topology(model, "fuzz.toml")
    except TopologyError as e:
        assert e.problems and all(p.message for p in e.problems)
        e.render()
        return
    _check_plan(compiled.plan)


def _to_toml(topo: dict) -> str:
    # A tiny TOML writer for this shape (inline tables everywhere); parsed back by tomllib.
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        raise TypeError(v)

    text = "\n".join(f'"{k}" = {value(v)}' for k, v in topo.items()) + "\n"
    assert tomllib.loads(text) == topo
    return text


# --- the loader: any value at any key gives problems, never a crash ---------------------

NATGW = tomllib.loads((__import__("pathlib").Path(__file__).resolve().parents[2]
                       / "topologies" / "natgw.toml").read_text())
VALUES = st.recursive(
    st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["10.0.0.0/24", "fd00::1", "router", "eth0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


ALL_PATHS = [p for p in _paths(NATGW) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(st.sampled_from(ALL_PATHS), st.none() | VALUES)
def test_loader_never_crashes(path: tuple, value) -> None:
    import copy

    data = copy.deepcopy(NATGW)
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    model, problems = parse_lenient(_to_toml_any(data), "fuzz.toml")
    for p in problems:
        assert p.message and p.fix
        assert "Input should" not in p.message and "after validation" not in p.message
    if model is not None:
        try:
            compile_topology(model, "fuzz.toml")
        except TopologyError as e:
            assert all(p.message for p in e.problems)


def _to_toml_any(data: dict) -> str:
    import json

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return repr(v) if v == v and v not in (float("inf"), float("-inf")) else "0.5"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"

    return "\n".join(f"{json.dumps(k)} = {value(v)}" for k, v in data.items()) + "\n"
