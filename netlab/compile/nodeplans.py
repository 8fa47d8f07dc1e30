"""The node plans pass: each node's interfaces, routes, sysctls, NAT and firewall, DNS
files, and what its kind adds (files, processes); and the lab's one hosts file."""

from __future__ import annotations

from netlab.compile import addressing, firewall, graph, kinds, links, mtu
from netlab.compile.checks import split_hostport
from netlab.compile.context import Build
from netlab.compile.macs import link_mac
from netlab.plan.model import (
    FilePlan,
    Interface,
    NatPlan,
    NodePlan,
    Peer,
    PortForwardPlan,
    RoutePlan,
)
from netlab.plan.render import nft_ruleset
from netlab.topology.model import Node, TopologyFile

# (node, ifname) -> [(version, address, CIDR)]: each address as text once (str() is slow).
_Texts = dict[tuple[str, str], list[tuple[int, str, str]]]


def build(b: Build) -> None:
    """Every node's plan, and the lab's hosts file (one text for all nodes)."""
    tf = b.tf
    texts: _Texts = {key: [(x.version, str(x.ip), str(x)) for x in xs]
                     for key, xs in b.addr.addresses.items()}
    loopbacks: _Texts = {(name, "lo"): [(x.version, str(x.ip), str(x)) for x in xs]
                         for name, xs in b.addr.loopback.items()}
    primaries = {name: _primary(b, name, texts) for name in tf.nodes}
    hosts_on = {name: tf.lab.hosts_file if node.hosts_file is None else node.hosts_file
                for name, node in tf.nodes.items()}
    b.hosts = _hosts_file(tf, texts | loopbacks, primaries) if any(hosts_on.values()) else ""
    resolvs: dict[tuple[str, ...], str] = {}  # (dns..., "", search...) -> text
    plans = []
    for name, node in tf.nodes.items():
        ifaces = _interfaces(b, name, texts)
        kind = kinds.get(node.kind)
        view = kinds.NodeView(name, node, ifaces, primaries[name])
        # The kind's own files (e.g. a daemon's config); the machines pass adds the node's
        # `files` and its lab directory over them.
        kind_files = [FilePlan(path=path, text=text) for path, text in kind.files(view).items()]
        route_plans = [RoutePlan(to=r.to, via=r.via, dev=r.dev, origin=r.origin)  # type: ignore[arg-type]
                       for r in b.routes[name]]
        masq = list(node.nat.masquerade) if node.nat else []
        for link_kind in links.KINDS.values():
            link_kind.node_plan(b, name, route_plans, masq)
        nat = _nat(node, masq)
        dns = [str(a) for a in (tf.defaults.dns if node.dns is None else node.dns)]
        search = tf.defaults.search if node.search is None else node.search
        key = (*dns, "", *search)
        resolv = resolvs.get(key) or resolvs.setdefault(key, _resolv_conf(tf, dns, search))
        loopback = [cidr for _, _, cidr in loopbacks.get((name, "lo"), [])]
        plans.append(NodePlan(
            name=name, kind=node.kind, netns=b.netns(name), hostname=name,
            primary=primaries[name], interfaces=ifaces, routes=route_plans,
            sysctls=_sysctls(tf, name, node, ifaces, loopback), resolv_conf=resolv, nat=nat,
            nftables=_nftables(nat, node.firewall),
            exec=[*kind.processes(view), *node.exec], hosts_file=hosts_on[name],
            files=kind_files,
            loopback=loopback,
        ))
    b.nodes = plans


def _primary(b: Build, name: str, texts: _Texts) -> dict[str, str]:
    """The node's primary address per family: the first of the interface its default
    route leaves by, else of its first interface."""
    ifs = [i[0] for i in graph.interfaces(b.g, name)]
    default_devs = [r.dev for r in b.routes[name] if r.to in ("default", "default6")]
    prim: dict[str, str] = {}
    for ifname in [d for d in default_devs if d in ifs] + ifs:
        for version, ip, _ in texts.get((name, ifname), []):
            prim.setdefault(str(version), ip)
    return prim


def _interfaces(b: Build, name: str, texts: _Texts) -> list[Interface]:
    ifaces = []
    for ifname, i, _own, peer in graph.interfaces(b.g, name):
        peer_if = b.ports[i] if peer.is_switch else peer.ifname
        j = 0 if b.tf.links[i].endpoints[0].partition(":")[0] == name else 1
        ifaces.append(Interface(
            name=ifname, mac=link_mac(b.tf, i, j),
            peer=Peer(node=peer.name, netns=b.netns(peer.name), ifname=peer_if),  # type: ignore[arg-type]
            mtu=mtu.mtu(b.tf, i, name, None),
            addresses=[cidr for _, _, cidr in texts.get((name, ifname), [])],
            segment=graph.segment_of(b.g, i),
        ))
    return ifaces


def _sysctls(tf: TopologyFile, name: str, node: Node, ifaces: list[Interface],
             loopback: list[str]) -> dict[str, str]:
    has_v6 = addressing.node_v6(tf, name) or any(
        ":" in a for a in [*loopback, *(a for i in ifaces for a in i.addresses)])
    out: dict[str, str] = {}
    if has_v6:
        # Addresses are added without DAD; link-local ones must not wait for it either.
        out["net.ipv6.conf.all.accept_dad"] = "0"
        out["net.ipv6.conf.default.accept_dad"] = "0"
    else:
        out["net.ipv6.conf.all.disable_ipv6"] = "1"
        out["net.ipv6.conf.default.disable_ipv6"] = "1"
    # Forwarding is explicit either way: a new netns inherits IPv4 forwarding from the
    # host's, so on a machine that forwards, lab hosts would too.
    out.update(kinds.get(node.kind).kernel_sysctls(has_v6))
    out.update({k: str(v) for k, v in node.sysctl.items()})
    return out


def _nat(node: Node, masq: list[str]) -> NatPlan | None:
    if not masq and not (node.nat and node.nat.forward):
        return None
    forwards = []
    for f in node.nat.forward if node.nat else []:
        hp = split_hostport(f.to)
        if hp is not None:
            forwards.append(PortForwardPlan(proto=f.proto, port=f.port, to_addr=hp[0],
                                            to_port=hp[1], on=f.on))
    return NatPlan(masquerade=masq, forward=forwards)


def _nftables(nat: NatPlan | None, fw: str | None) -> str | None:
    # One text, one `nft -f`: NAT table and firewall table are loaded together, atomically.
    try:
        parts = ([nft_ruleset(nat)] if nat else []) + ([firewall.render(fw)] if fw else [])
    except firewall.UnsafeNftText:
        return None  # a name that is no interface of the node: already an error (checks)
    return "".join(parts) or None


def _hosts_file(tf: TopologyFile, texts: _Texts, primaries: dict[str, dict[str, str]]) -> str:
    """The lab's /etc/hosts, the same on every node (so it is in the plan once)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    domains = tf.defaults.search
    for (node, ifname), xs in texts.items():
        prim = primaries.get(node, {})
        for version, ip, _ in xs:
            names = [f"{node}-{ifname}"]
            if prim.get(str(version)) == ip:
                names = [f"{node}.{d}" for d in domains] + [node] + names
            lines.append(f"{ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


def _resolv_conf(tf: TopologyFile, dns: list[str], search: list[str]) -> str:
    # No per-node text here: nodes with the same settings share one file at deploy.
    resolv = f"# netlab lab {tf.lab.name}\n"
    resolv += "".join(f"nameserver {a}\n" for a in dns)
    if search:
        resolv += f"search {' '.join(search)}\n"
    return resolv
