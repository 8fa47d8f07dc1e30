"""Topology generators for the reliability suite: a tiny TOML writer, hypothesis
strategies for random and mutated topology files, and big regular labs for scale tests.

Kept free of netlab imports so that it describes inputs only, never expected results.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "topologies"

# --------------------------------------------------------------------------- TOML writer


# One writer for the whole suite (tests/support/names.py); re-exported here.
from tests.support.names import (  # noqa: E402,F401
    _string,
    renamed_text,
    run_prefix,
    toml_dumps,
    toml_value,
)

P = run_prefix("t5")  # this run's lab names (two runs at once never share one)


def _key(k: str) -> str:
    return _string(k)


# --------------------------------------------------------------------------- names

# Names an attacker or a careless user might write. MALFORMED ones must be rejected in
# every slot before anything touches the system; HOST_LIKE ones are well-formed but name
# things the host already has, so only deploy can refuse them (if they clash).
MALFORMED_NAMES = [
    "../../etc/x", "..", ".", "/", "a/b", "a;rm -rf /", "$(reboot)", "`id`", "a b", "a\nb",
    "a\x00b", "x" * 300, "n\u0430tgw",  # Cyrillic 'а'
    "ｐｃ１", "pc1\u200b", "", " ", "a:b", "a\\b", "\u202epc1", "café", "%s%n", "a\tb",
    "*", "?",
]
HOST_LIKE_NAMES = ["lo", "all", "default", "eth0", "nl-", "PC1", "-rf", "1abc", "pc1."]
HOSTILE_NAMES = MALFORMED_NAMES + HOST_LIKE_NAMES

PLAIN_NAMES = ["pc1", "pc2", "gw", "r1", "r2", "web", "lan", "wan", "sw", "h", "a", "b",
               "eth0", "eth1", "uplink"]

name_st = st.one_of(
    st.sampled_from(PLAIN_NAMES),
    st.sampled_from(HOSTILE_NAMES),
    st.from_regex(r"[a-z][a-z0-9-]{0,16}", fullmatch=True),
    st.text(max_size=20),
)

subnet_st = st.one_of(
    st.sampled_from(["10.0.0.0/24", "10.0.0.0/30", "10.0.0.0/31", "10.0.0.0/32",
                     "10.0.0.1/24", "0.0.0.0/0", "fd00::/64", "fd00::/127", "::/0",
                     "10.0.0.0/8", "192.168.1.0/29", "300.1.1.1/24", "10.0.0.0/33", "x", ""]),
    st.ip_addresses(v=4).map(lambda a: f"{a}/{int(a) % 33}"),
    st.ip_addresses(v=6).map(lambda a: f"{a}/{int(a) % 129}"),
)

address_st = st.one_of(
    st.sampled_from(["10.0.0.5/24", "10.0.0.5", "10.0.0.0/24", "10.0.0.255/24",
                     "fd00::5/64", "fd00::5", "10.1.0.5/24", "1.2.3.4/32", "bogus"]),
    st.ip_addresses().map(str),
)

scalar_st = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True), st.text(max_size=30), name_st, subnet_st,
)


def _no_none(v: Any) -> Any:
    # TOML has no null: drop None from tables and lists.
    if isinstance(v, dict):
        return {k: _no_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_no_none(x) for x in v if x is not None]
    return v


any_value_st = st.recursive(
    scalar_st,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(name_st, inner, max_size=4)),
    max_leaves=12,
).map(_no_none)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy, any_value_st)


# --------------------------------------------------------------------------- structured


@st.composite
def topology_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A topology-shaped document: right keys, plausible-to-hostile values."""
    nodes = draw(st.lists(name_st, max_size=6, unique=True))
    switches = draw(st.lists(name_st, max_size=3, unique=True))
    names = nodes + switches or ["pc1"]
    endpoint = st.one_of(
        st.sampled_from(names),
        st.tuples(st.sampled_from(names), name_st).map(lambda t: f"{t[0]}:{t[1]}"),
        name_st,
    )
    lab = {"name": draw(st.one_of(st.sampled_from([f"{P}fz", f"{P}fuzz"]), name_st)),
           "description": draw(_maybe(st.text(max_size=20))),
           "prefix": draw(_maybe(name_st)),
           "routing": draw(_maybe(st.sampled_from(["auto", "none", "ospf"])))}
    doc: dict[str, Any] = {"lab": lab}
    if draw(st.booleans()):
        doc["defaults"] = {"ipv6": draw(_maybe(st.booleans())),
                           "mtu": draw(_maybe(st.integers(0, 70000))),
                           "search": draw(_maybe(st.lists(name_st, max_size=2))),
                           "dns": draw(_maybe(st.lists(address_st, max_size=2)))}
    if draw(st.booleans()):
        doc["pools"] = {k: draw(_maybe(subnet_st)) for k in ("lan", "p2p", "lan6", "p2p6")}
    doc["nodes"] = {}
    for n in nodes:
        node: dict[str, Any] = {}
        if draw(st.booleans()):
            node["kind"] = draw(st.one_of(st.sampled_from(["host", "router"]), any_value_st))
        if draw(st.booleans()):
            node["gateway"] = draw(st.one_of(st.sampled_from(names), address_st))
        if draw(st.booleans()):
            node["nat"] = {"masquerade": draw(st.lists(name_st, max_size=2)),
                           "forward": draw(st.lists(st.fixed_dictionaries(
                               {"port": st.integers(-1, 70000),
                                "to": st.one_of(address_st, st.text(max_size=12),
                                                address_st.map(lambda a: f"{a}:80"))},
                               optional={"proto": st.sampled_from(["tcp", "udp", "x"]),
                                         "on": name_st}), max_size=2))}
        if draw(st.booleans()):
            node["routes"] = draw(st.lists(st.fixed_dictionaries(
                {"to": st.one_of(st.just("default"), subnet_st)},
                optional={"via": address_st, "dev": name_st}), max_size=2))
        if draw(st.booleans()):
            node["sysctl"] = draw(st.dictionaries(
                st.one_of(st.sampled_from(["net.ipv4.ip_forward", "net.x..y", "kernel.x",
                                           "net.ipv4/../../x"]), name_st),
                st.one_of(st.integers(), st.text(max_size=8)), max_size=2))
        for key in ("ipv6", "mtu", "dns", "search", "exec"):
            if draw(st.integers(0, 5)) == 0:
                node[key] = draw(any_value_st)
        doc["nodes"][n] = _no_none(node)
    doc["switches"] = {s: _no_none({"subnet": draw(_maybe(subnet_st)),
                                    "subnet6": draw(_maybe(subnet_st)),
                                    "mtu": draw(_maybe(st.integers(0, 70000)))})
                       for s in switches}
    doc["links"] = draw(st.lists(st.fixed_dictionaries(
        {"endpoints": st.lists(endpoint, min_size=1, max_size=3)},
        optional={"addresses": st.lists(st.one_of(address_st, st.lists(address_st, max_size=2)),
                                        max_size=3),
                  "subnet": subnet_st, "subnet6": subnet_st,
                  "mtu": st.integers(0, 70000)}), max_size=8))
    if draw(st.booleans()):
        doc["expect"] = draw(st.lists(st.fixed_dictionaries(
            {"from": endpoint},
            optional={"to": st.one_of(endpoint, address_st),
                      "proto": st.sampled_from(["icmp", "tcp", "udp", "sctp"]),
                      "port": st.integers(-1, 70000), "reach": st.booleans(),
                      "via": endpoint, "source_nat": address_st,
                      "dns": st.fixed_dictionaries({"name": name_st},
                                                   optional={"answer": address_st}),
                      "timeout": st.floats(allow_nan=True)}), max_size=3))
    if draw(st.booleans()):
        doc["uplink"] = {"node": draw(st.one_of(st.sampled_from(names), name_st)),
                         "ifname": draw(_maybe(name_st)),
                         "subnet": draw(_maybe(subnet_st)),
                         "masquerade": draw(_maybe(st.booleans()))}
    return _no_none(doc)


@st.composite
def plausible_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A mostly valid topology: declared names, real subnets, links between existing
    endpoints. Reaches addressing and routing, which random documents rarely do."""
    ident = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
    names = draw(st.lists(ident, min_size=1, max_size=9, unique=True))
    cut = draw(st.integers(1, len(names)))
    nodes, switches = names[:cut], names[cut:]
    small_subnet = st.sampled_from(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/30",
                                    "10.0.0.0/31", "10.0.0.0/16", "192.168.0.0/29"])
    doc: dict[str, Any] = {"lab": {"name": f"{P}pl",
                                   "routing": draw(st.sampled_from(["auto", "none"]))}}
    if draw(st.booleans()):
        doc["lab"]["prefix"] = draw(st.sampled_from(["", f"{P}p", "x"]))
    doc["defaults"] = {"ipv6": draw(st.booleans())}
    if draw(st.integers(0, 4)) == 0:
        doc["pools"] = {"lan": draw(st.sampled_from(["10.10.0.0/16", "10.0.0.0/23",
                                                     "10.10.0.0/24"])),
                        "p2p": draw(st.sampled_from(["10.255.0.0/16", "10.255.0.0/29",
                                                     "10.0.0.0/8"]))}
    doc["nodes"] = {}
    for n in nodes:
        node: dict[str, Any] = {"kind": draw(st.sampled_from(["host", "router"]))}
        if draw(st.integers(0, 6)) == 0:
            node["gateway"] = draw(st.sampled_from(nodes))
        if draw(st.integers(0, 8)) == 0:
            node["routes"] = [{"to": draw(st.sampled_from(["default", "10.9.0.0/16"])),
                               "via": draw(st.sampled_from(["10.0.0.1", "10.10.0.1"]))}]
        if draw(st.integers(0, 8)) == 0:
            node["nat"] = {"masquerade": [draw(st.sampled_from(["eth0", "eth1"]))]}
        doc["nodes"][n] = node
    doc["switches"] = {}
    for k, s in enumerate(switches):
        subnet = draw(st.sampled_from([f"10.{k}.0.0/24", f"10.{k}.0.0/16", "10.0.0.0/24"]))
        doc["switches"][s] = {"subnet": subnet} if draw(st.integers(0, 4)) == 0 else {}
    links = []
    for _ in range(draw(st.integers(0, 12))):
        a = draw(st.sampled_from(names))
        others = [x for x in (names if a in nodes else nodes) if x != a]
        if not others:
            continue
        b = draw(st.sampled_from(others))
        link: dict[str, Any] = {"endpoints": [a, b]}
        if draw(st.integers(0, 6)) == 0 and a in nodes and b in nodes:
            link["subnet"] = draw(small_subnet)
        if draw(st.integers(0, 8)) == 0:
            link["addresses"] = [draw(st.sampled_from(["10.0.0.5/24", "10.0.0.5",
                                                       "10.0.1.7"]))
                                 for e in (a, b) if e in nodes]
        links.append(link)
    doc["links"] = links
    doc["expect"] = [{"from": draw(st.sampled_from(nodes)),
                      "to": draw(st.sampled_from(nodes + ["10.0.0.5"]))}
                     for _ in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        doc["uplink"] = {"node": draw(st.sampled_from(nodes))}
    return doc


# --------------------------------------------------------------------------- mutations


def bundled_docs() -> list[dict[str, Any]]:
    """Every bundled topology, parsed; fuzz seeds for mutations."""
    return [tomllib.loads(p.read_text()) for p in sorted(TOPOLOGIES.rglob("*.toml"))]


def _paths(v: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, here + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, here + (i,))
    return out


def _get(v: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        v = v[p]
    return v


@st.composite
def mutated_docs(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """A bundled topology with a few random edits: delete, replace, duplicate, rename."""
    doc = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get(doc, path[:-1])
        last = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "hostile"]))
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(any_value_st)
        elif op == "hostile":
            parent[last] = draw(st.sampled_from(HOSTILE_NAMES))
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.append(json.loads(json.dumps(parent[last])))
            else:
                parent[draw(name_st)] = json.loads(json.dumps(parent[last]))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(name_st)] = parent.pop(last)
    return _no_none(doc) if isinstance(doc, dict) else {"lab": _no_none(doc)}


# --------------------------------------------------------------------------- big labs


def star_lab(name: str, hosts: int, switches: int = 1, uplink: bool = False) -> str:
    """A router 'gw' with `switches` LANs and `hosts` hosts spread over them."""
    lines = [f'[lab]\nname = "{name}"\n', '[nodes.gw]\nkind = "router"\n']
    for s in range(switches):
        lines.append(f'[switches.s{s}]\nsubnet = "10.{100 + s}.0.0/16"\n')
        lines.append(f'[[links]]\nendpoints = ["gw", "s{s}"]\n')
    for h in range(hosts):
        lines.append(f"[nodes.h{h}]\n")
        lines.append(f'[[links]]\nendpoints = ["h{h}", "s{h % switches}"]\n')
    if uplink:
        lines.append('[uplink]\nnode = "gw"\n')
    return "\n".join(lines)


def with_uplink(text: str, node: str = "gw") -> str | None:
    """The topology text with an [uplink] on `node`, or None if it has no such node or
    already has an uplink."""
    doc = tomllib.loads(text)
    if "uplink" in doc or node not in doc.get("nodes", {}):
        return None
    return text.rstrip("\n") + f'\n\n[uplink]\nnode = "{node}"\n'


def with_exec(text: str, node: str, command: str) -> str:
    """The topology text with one more `exec` command on `node`."""
    doc = tomllib.loads(text)
    doc["nodes"][node].setdefault("exec", []).append(command)
    return toml_dumps(doc)


def with_machine(text: str, node: str, startup: list[str], pid: bool = False) -> str:
    """The topology text with `startup` commands (and a PID namespace) on `node`."""
    doc = tomllib.loads(text)
    doc["nodes"][node].setdefault("startup", []).extend(startup)
    if pid:
        doc["nodes"][node]["pid"] = True
    return toml_dumps(doc)


def renamed(text: str, lab: str) -> str:
    """The topology text with its lab name and prefix set to `lab` (unique test names)."""
    return renamed_text(text, lab)
