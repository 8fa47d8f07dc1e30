"""Checks of the lab's and the nodes' own settings (names, domains, sysctls, firewall, NAT)
that need the graph (a node's interfaces) but no addresses."""

from __future__ import annotations

import ipaddress
import re

from netlab.compile import firewall, graph, kinds, links, sysctls
from netlab.compile.context import Build
from netlab.compile.macs import check_macs
from netlab.errors import Problems, no_such_interface, one_of, toml_key
from netlab.names import lab_name_problem
from netlab.topology.model import Node, TopologyFile

_DOMAIN = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(\.(?!-)[A-Za-z0-9-]{1,63})*\.?$")


def check_lab(b: Build) -> None:
    tf, p = b.tf, b.problems
    if (why := lab_name_problem(tf.lab.name)) is not None:
        p.error("lab.name", why, 'use a short name such as "natgw"')
    if tf.lab.prefix and (why := lab_name_problem(tf.lab.prefix)) is not None:
        p.error("lab.prefix", why.replace("lab name", "prefix"), 'use a short prefix, or ""')
    if not tf.nodes:
        p.error("nodes", "the lab has no nodes", "add one: a [nodes.NAME] table, e.g. [nodes.pc1]")
    _check_domains("defaults.search", tf.defaults.search, p)


def _check_domains(path: str, domains: list[str], p: Problems) -> None:
    for k, domain in enumerate(domains):
        if not _DOMAIN.fullmatch(domain):
            p.error(f"{path}[{k}]", f"{domain!r} is not a domain name",
                    'use a name such as "lab.test"')


def check_nodes(b: Build) -> None:
    tf, g, p = b.tf, b.g, b.problems
    for_nft: dict[str, str] = {}  # firewalls netlab's own checks passed: nft checks them next
    for name, node in tf.nodes.items():
        base = f"nodes.{toml_key(name)}"
        extra = links.node_ifnames(tf, name)  # the uplink's
        ifnames = {i[0] for i in graph.interfaces(g, name)} if name in g else set()
        ifnames.update(extra)
        if name in g and g.degree(name) == 0 and name not in g.graph.get("named", ()) \
                and not extra:
            p.warning(base, f"node {name!r} has no links; it is disconnected",
                      f'add a [[links]] entry with endpoints = ["{name}", ...]')
        sysctls.check(base, name, node.sysctl, ifnames, p)
        _check_domains(f"{base}.search", node.search or [], p)
        if node.firewall is not None and _check_firewall(base, node.firewall, ifnames, p):
            for_nft[name] = node.firewall
        _check_nat(tf, base, name, node, ifnames, p)
    check_macs(tf, p)
    # nftables' own parser, all nodes in one scratch namespace (one child process).
    for name, found in firewall.nft_problems(for_nft).items():
        for fp in found:
            add = p.error if fp.severity == "error" else p.warning
            add(f"nodes.{toml_key(name)}.firewall", fp.message, fp.fix)


def _check_firewall(base: str, text: str, ifnames: set[str], p: Problems) -> bool:
    """netlab's own checks of a firewall; True: nft's parser checks it next."""
    found = firewall.problems(text, ifnames)
    for fp in found:
        add = p.error if fp.severity == "error" else p.warning
        add(f"{base}.firewall", fp.message, fp.fix)
    return all(fp.severity == "warning" for fp in found)


def _check_nat(tf: TopologyFile, base: str, name: str, node: Node, ifnames: set[str],
               p: Problems) -> None:
    if node.nat is None:
        return
    if not (kind := kinds.get(node.kind)).forwards:
        p.warning(f"{base}.nat", f"{name!r} is a {kind.name}; NAT on a {kind.name} only"
                  " rewrites its own traffic", 'set kind = "router" to NAT traffic it forwards')
    known = sorted(ifnames)
    for k, ifname in enumerate(node.nat.masquerade):
        if ifname not in ifnames:
            p.error(f"{base}.nat.masquerade[{k}]", no_such_interface(name, ifname, known),
                    one_of(known, empty="(none: link it first)"))
    for k, fwd in enumerate(node.nat.forward):
        path = f"{base}.nat.forward[{k}]"
        if split_hostport(fwd.to) is None:
            p.error(path + ".to", f"{fwd.to!r} is not an IPv4 'address:port'",
                    'write it like "10.0.0.10:80"')
        if fwd.on is not None and fwd.on not in ifnames:
            p.error(path + ".on", no_such_interface(name, fwd.on, known),
                    one_of(known, empty="(none: link it first)"))


def split_hostport(text: str) -> tuple[str, int] | None:
    """'10.0.0.10:80' -> ('10.0.0.10', 80); None unless an IPv4 address and a port."""
    host, sep, port = text.rpartition(":")
    try:
        ip = ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        return None
    return (str(ip), number) if sep and 1 <= number <= 65535 else None


__all__ = ["check_lab", "check_nodes", "split_hostport"]
