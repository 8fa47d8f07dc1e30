"""Topology model -> networkx graph: who is wired to whom, on which interface.

Nodes of the graph are lab nodes (kind 'host', 'router', ...) and switches (kind 'switch').
Every [[links]] entry is one edge, keyed by its index in the file, so parallel links stay
distinct, and carries the name of its link kind (compile/links). Interface names are
resolved here (explicit first, then the next free ethN).
"""

from __future__ import annotations

import networkx as nx

from netlab.compile import addressing, links
from netlab.compile.links.base import End
from netlab.errors import Problems, no_such_node, one_of, toml_key
from netlab.names import ifname_problem, node_name_problem
from netlab.plan.model import NodePlan
from netlab.topology.endpoints import EndpointError, parse_endpoint
from netlab.topology.model import TopologyFile

# A Linux bridge numbers its ports 1..1023 (BR_MAX_PORTS is 1024; 0 is reserved): adding
# one more fails, after every namespace is built, with "Exchange full" (EXFULL).
BRIDGE_MAX_PORTS = 1023

__all__ = ["BRIDGE_MAX_PORTS", "End", "annotate", "build", "interfaces", "segment_id", "segment_of"]

# node -> ifname -> key path of the endpoint that took it
_Used = dict[str, dict[str, str]]


def segment_id(link_index: int, ends: tuple[End, End],
               joined: dict[str, str] | None = None) -> str:
    """The L2 segment a link belongs to: its switch (the first, in file order, of the
    switches joined to it by switch-to-switch links: `joined`), or the link itself."""
    for end in ends:
        if end.is_switch:
            return (joined or {}).get(end.name, end.name)
    return f"links[{link_index}]"


def segment_of(g: nx.MultiGraph, link_index: int) -> str:
    """The segment of links[link_index], as build() found it."""
    return str(g.graph["segments"][link_index])


def _joined(tf: TopologyFile, pending: list[tuple[int, list[End | None]]]) -> dict[str, str]:
    """switch -> the first switch (file order) of the switches it is joined to by
    switch-to-switch links: they bridge into one L2 segment, with one subnet."""
    order = {name: k for k, name in enumerate(tf.switches)}
    parent = {name: name for name in tf.switches}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, ends in pending:
        a, b = ends
        if a is not None and b is not None and a.is_switch and b.is_switch:
            ra, rb = sorted((root(a.name), root(b.name)), key=order.__getitem__)
            parent[rb] = ra
    return {name: root(name) for name in tf.switches if root(name) != name}


def build(tf: TopologyFile, problems: Problems) -> nx.MultiGraph:
    g: nx.MultiGraph = nx.MultiGraph(lab=tf.lab.name)
    # Names used by any link, even a broken one, or already reported as bad names: such a
    # node is not also warned about as "disconnected".
    g.graph["named"] = set()
    # name -> (ifname, link index, own end, peer end) in link order: see interfaces().
    g.graph["interfaces"] = {}
    # link kind -> (link index, ends) in link order: see links.base.edges().
    g.graph["links"] = {}
    # link index -> its segment id (segment_of); switch -> the switch whose segment it
    # shares (only switches joined to an earlier one by switch-to-switch links).
    g.graph["segments"] = {}
    _add_nodes(tf, g, problems)
    used: _Used = {n: {} for n in tf.nodes}
    pending = [(i, _ends(tf, g, i, problems, used)) for i in range(len(tf.links))]
    g.graph["joined"] = _joined(tf, pending)
    _add_links(g, pending, used, problems)
    _check_switches(tf, g, problems)
    return g


def _add_nodes(tf: TopologyFile, g: nx.MultiGraph, problems: Problems) -> None:
    named: set[str] = g.graph["named"]
    for name, node in tf.nodes.items():
        if (why := node_name_problem(name)) is not None:
            problems.error(f"nodes.{toml_key(name)}", why, "rename the node, e.g. 'pc1' or 'gw'")
            named.add(name)
        g.add_node(name, kind=node.kind)
    for name in tf.switches:
        if (why := node_name_problem(name)) is not None:
            problems.error(f"switches.{toml_key(name)}", why, "rename the switch, e.g. 'lan'")
            named.add(name)
        if name in tf.nodes:
            problems.error(
                f"switches.{toml_key(name)}",
                f"{name!r} is both a node and a switch; they share one name space",
                "rename one of them",
            )
            continue
        g.add_node(name, kind="switch")


def _ends(tf: TopologyFile, g: nx.MultiGraph, i: int, problems: Problems,
          used: _Used) -> list[End | None]:
    """The ends of links[i] as written (None: reported as wrong)."""
    ends: list[End | None] = []
    for j, text in enumerate(tf.links[i].endpoints):
        path = f"links[{i}].endpoints[{j}]"
        try:
            name, ifname = (e := parse_endpoint(text)).name, e.ifname
        except EndpointError as e:
            g.graph["named"].add(text.partition(":")[0])
            problems.error(path, e.reason, e.fix)
            ends.append(None)
            continue
        g.graph["named"].add(name)
        if name in tf.switches and name not in tf.nodes:
            if ifname is not None:
                problems.error(
                    path,
                    f"{name!r} is a switch; a switch endpoint takes no interface name",
                    f'write "{name}"',
                )
            ends.append(End(name, None, True))
        elif name in tf.nodes:
            if ifname is not None:
                if (why := ifname_problem(ifname)) is not None:
                    problems.error(path, why, "use a name such as eth0 or wan")
                elif ifname in used[name]:
                    problems.error(
                        path,
                        f"node {name!r} already has interface {ifname!r}"
                        f" ({used[name][ifname]})",
                        "give each link of a node its own interface name, or omit it",
                    )
                else:
                    used[name][ifname] = path
            ends.append(End(name, ifname, False))
        else:
            known = sorted(set(tf.nodes) | set(tf.switches))
            problems.error(
                path, no_such_node(name, known, what="node or switch"),
                one_of(known) if known else "declare it under [nodes.NAME] or [switches.NAME]",
            )
            ends.append(None)
    return ends


def _add_links(g: nx.MultiGraph, pending: list[tuple[int, list[End | None]]], used: _Used,
               problems: Problems) -> None:
    """One edge per link whose ends are known and whose kind accepts them."""
    index: dict[str, list[tuple[str, int, End, End]]] = g.graph["interfaces"]
    by_kind: dict[str, list[tuple[int, tuple[End, End]]]] = g.graph["links"]
    next_eth: dict[str, int] = {}
    for i, ends in pending:
        if any(e is None for e in ends):
            continue
        a, b = ends  # type: ignore[misc]
        assert a is not None and b is not None
        kind = links.of(a, b)
        if not kind.check_ends(f"links[{i}].endpoints", a, b, problems):
            continue
        a, b = (_named(end, i, used, next_eth) for end in (a, b))
        seg = g.graph["segments"][i] = segment_id(i, (a, b), g.graph["joined"])
        g.add_edge(a.name, b.name, key=i, link=i, ends=(a, b), segment=seg, kind=kind.name)
        by_kind.setdefault(kind.name, []).append((i, (a, b)))
        index.setdefault(a.name, []).append((a.ifname, i, a, b))  # type: ignore[arg-type]
        index.setdefault(b.name, []).append((b.ifname, i, b, a))  # type: ignore[arg-type]


def _named(end: End, i: int, used: _Used, next_eth: dict[str, int]) -> End:
    """The end with its interface name: the one written, else the node's next free ethN."""
    if end.is_switch or end.ifname is not None:
        return end
    # Names only get taken, so the search resumes where it last stopped
    # (a hub with 1000 links would otherwise test eth0..ethN each time).
    n = next_eth.get(end.name, 0)
    while f"eth{n}" in used[end.name]:
        n += 1
    next_eth[end.name] = n + 1
    used[end.name][f"eth{n}"] = f"links[{i}].endpoints"
    return End(end.name, f"eth{n}", False)


def _check_switches(tf: TopologyFile, g: nx.MultiGraph, problems: Problems) -> None:
    for name in tf.switches:
        if g.nodes.get(name, {}).get("kind") != "switch":
            continue
        ports = g.degree(name)
        if ports == 0 and name not in g.graph["named"]:
            problems.warning(f"switches.{toml_key(name)}", f"switch {name!r} has no links",
                             f'link a node to it: endpoints = ["NODE", "{name}"], or remove it')
        elif ports > BRIDGE_MAX_PORTS:
            problems.error(
                f"switches.{toml_key(name)}",
                f"switch {name!r} has {ports} links, but a Linux bridge takes at most"
                f" {BRIDGE_MAX_PORTS} ports (deploy would fail with 'Exchange full')",
                f"split the hosts over several switches of at most {BRIDGE_MAX_PORTS} links"
                ' each, joined by a router (a node with kind = "router" linked to each)',
            )


def interfaces(g: nx.MultiGraph, node: str) -> list[tuple[str, int, End, End]]:
    """(ifname, link index, own end, peer end) of a node, in link order. Indexed by build:
    walking networkx's adjacency views and sorting, for each node, was slow at 1000s."""
    return list(g.graph["interfaces"].get(node, ()))


def annotate(g: nx.MultiGraph, addr: addressing.Addressing, nodes: list[NodePlan]) -> None:
    """Put addresses on graph edges and subnets on switches, for rendering (DOT, Mermaid)."""
    cidrs = {(n.name, i.name): i.addresses for n in nodes for i in n.interfaces}
    for _, _, data in g.edges(data=True):
        data["addresses"] = {e.name: list(cidrs.get((e.name, e.ifname), ()))
                             for e in data["ends"] if not e.is_switch}
    for seg in addr.segments.values():
        for sw in seg.switches:
            if sw in g:
                g.nodes[sw]["subnets"] = [str(n) for _, n in sorted(seg.subnet.items())]
