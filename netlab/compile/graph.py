"""Topology model -> networkx graph: who is wired to whom, on which interface.

Nodes of the graph are lab nodes (kind 'host' or 'router') and switches (kind 'switch').
Every [[links]] entry is one edge, keyed by its index in the file, so parallel links stay
distinct. Interface names are resolved here (explicit first, then the next free ethN).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from netlab.errors import Problems, did_you_mean, toml_key
from netlab.names import ifname_problem, node_name_problem
from netlab.topology.model import TopologyFile

# A Linux bridge numbers its ports 1..1023 (BR_MAX_PORTS is 1024; 0 is reserved): adding
# one more fails, after every namespace is built, with "Exchange full" (EXFULL).
BRIDGE_MAX_PORTS = 1023


@dataclass(frozen=True)
class End:
    name: str  # node or switch
    ifname: str | None  # None on the switch side
    is_switch: bool


def _parse_endpoint(text: str) -> tuple[str, str | None]:
    name, sep, ifname = text.partition(":")
    return name, (ifname if sep else None)


def segment_id(link_index: int, ends: tuple[End, End]) -> str:
    """The L2 segment a link belongs to: its switch, or the link itself."""
    for end in ends:
        if end.is_switch:
            return end.name
    return f"links[{link_index}]"


def build(tf: TopologyFile, problems: Problems) -> nx.MultiGraph:
    g: nx.MultiGraph = nx.MultiGraph(lab=tf.lab.name)
    # Names used by any link, even a broken one, or already reported as bad names: such a
    # node is not also warned about as "disconnected".
    named: set[str] = set()
    g.graph["named"] = named
    # name -> (ifname, link index, own end, peer end) in link order: see interfaces().
    index: dict[str, list[tuple[str, int, End, End]]] = {}
    g.graph["interfaces"] = index
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

    known = sorted(set(tf.nodes) | set(tf.switches))
    used: dict[str, dict[str, str]] = {n: {} for n in tf.nodes}  # node -> ifname -> key path
    pending: list[tuple[int, list[End | None]]] = []
    for i, link in enumerate(tf.links):
        ends: list[End | None] = []
        for j, text in enumerate(link.endpoints):
            path = f"links[{i}].endpoints[{j}]"
            name, ifname = _parse_endpoint(text)
            named.add(name)
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
                problems.error(
                    path,
                    f"no node or switch named {name!r}{did_you_mean(name, known)}",
                    _one_of(known) if known
                    else "declare it under [nodes.NAME] or [switches.NAME]",
                )
                ends.append(None)
        pending.append((i, ends))

    next_eth: dict[str, int] = {}
    for i, ends in pending:
        if any(e is None for e in ends):
            continue
        a, b = ends  # type: ignore[misc]
        assert a is not None and b is not None
        path = f"links[{i}].endpoints"
        if a.is_switch and b.is_switch:
            problems.error(
                path,
                f"link joins two switches ({a.name!r} and {b.name!r}) directly; "
                "netlab does not bridge bridges",
                "merge them into one switch, or put a router between them",
            )
            continue
        if a.name == b.name and not a.is_switch:
            problems.error(path, f"link joins node {a.name!r} to itself",
                           f"connect {a.name} to another node or to a switch")
            continue
        resolved = []
        for end in (a, b):
            if not end.is_switch and end.ifname is None:
                # Names only get taken, so the search resumes where it last stopped
                # (a hub with 1000 links would otherwise test eth0..ethN each time).
                n = next_eth.get(end.name, 0)
                while f"eth{n}" in used[end.name]:
                    n += 1
                next_eth[end.name] = n + 1
                end = End(end.name, f"eth{n}", False)
                used[end.name][end.ifname] = f"links[{i}].endpoints"  # type: ignore[index]
            resolved.append(end)
        a, b = resolved
        g.add_edge(
            a.name,
            b.name,
            key=i,
            link=i,
            ends=(a, b),
            segment=segment_id(i, (a, b)),
        )
        index.setdefault(a.name, []).append((a.ifname, i, a, b))  # type: ignore[arg-type]
        index.setdefault(b.name, []).append((b.ifname, i, b, a))  # type: ignore[arg-type]
    for name in tf.switches:
        if g.nodes.get(name, {}).get("kind") != "switch":
            continue
        ports = g.degree(name)
        if ports == 0 and name not in named:
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
    return g


def _one_of(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return "use one of: " + shown + (f" ... ({len(names) - limit} more)" if len(names) > limit
                                     else "")


def interfaces(g: nx.MultiGraph, node: str) -> list[tuple[str, int, End, End]]:
    """(ifname, link index, own end, peer end) of a node, in link order. Indexed by build:
    walking networkx's adjacency views and sorting, for each node, was slow at 1000s."""
    return list(g.graph["interfaces"].get(node, ()))
