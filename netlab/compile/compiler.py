"""Model -> graph -> addresses -> routes -> Plan, collecting every problem on the way."""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx

from netlab.compile import addressing, firewall, graph, kinds, linkprops, routing
from netlab.errors import Problem, Problems, TopologyError, did_you_mean, toml_key
from netlab.names import IFNAME_MAX, ifname_problem, lab_name_problem
from netlab.plan.model import (
    ExpectPlan,
    Interface,
    NatPlan,
    NodePlan,
    Peer,
    Plan,
    PortForwardPlan,
    RoutePlan,
    ShapingPlan,
    SwitchPlan,
    SwitchPort,
    UplinkPlan,
    VethEnd,
    VethPlan,
)
from netlab.plan.render import nft_ruleset
from netlab.topology.model import (
    UPLINK_DEFAULT_RANGE,
    UPLINK_PREFIX_MAX,
    UPLINK_PREFIX_MIN,
    UPLINK_PRIVATE,
    TopologyFile,
)

_SYSCTL_KEY = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")
_SYSCTL_VALUE = re.compile(r"^[A-Za-z0-9 _.:-]*$")
_DOMAIN = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(\.(?!-)[A-Za-z0-9-]{1,63})*\.?$")


@dataclass
class Compiled:
    model: TopologyFile
    graph: nx.MultiGraph
    plan: Plan
    warnings: list[Problem] = field(default_factory=list)


def netns_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}" if prefix else name


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Compiling allocates ~10 objects per node and frees almost none before the end; the
    cyclic collector would walk them all over and over (40% of a 4000-node compile)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_topology(tf: TopologyFile, source: str) -> Compiled:
    """Compile a validated model; raise TopologyError listing every problem found."""
    with _gc_paused():
        return _compile(tf, source)


def _compile(tf: TopologyFile, source: str) -> Compiled:
    p = Problems()
    _check_lab(tf, p)
    g = graph.build(tf, p)
    addr = addressing.assign(tf, g, p)
    routes = routing.compute(tf, g, addr, p)
    _check_nodes(tf, g, p)
    shaping = linkprops.link_shaping(tf, p)
    uplink = _uplink(tf, addr, p)
    prefix = tf.lab.name if tf.lab.prefix is None else tf.lab.prefix
    ports = _port_names(tf, g)
    nodes, hosts = _node_plans(tf, g, addr, routes, prefix, uplink, ports)
    expect = _expect_plans(tf, nodes, p)
    if p.errors:
        raise TopologyError(source, sorted(p.items))
    switches, veths = _wiring(tf, g, prefix, addr, shaping, ports)
    _annotate(g, addr, nodes)
    plan = Plan(
        lab=tf.lab.name, description=tf.lab.description, prefix=prefix, source=source,
        hosts=hosts, nodes=nodes, switches=switches, veths=veths, uplink=uplink, expect=expect,
    )
    return Compiled(tf, g, plan, sorted(p.warnings))


def _check_lab(tf: TopologyFile, p: Problems) -> None:
    if (why := lab_name_problem(tf.lab.name)) is not None:
        p.error("lab.name", why, 'use a short name such as "natgw"')
    if tf.lab.prefix and (why := lab_name_problem(tf.lab.prefix)) is not None:
        p.error("lab.prefix", why.replace("lab name", "prefix"), 'use a short prefix, or ""')
    for k, domain in enumerate(tf.defaults.search):
        if not _DOMAIN.fullmatch(domain):
            p.error(f"defaults.search[{k}]", f"{domain!r} is not a domain name",
                    'use a name such as "lab.test"')


def _check_nodes(tf: TopologyFile, g: nx.MultiGraph, p: Problems) -> None:
    for_nft: dict[str, str] = {}  # firewalls netlab's own checks passed: nft checks them next
    for name, node in tf.nodes.items():
        base = f"nodes.{toml_key(name)}"
        ifnames = {i[0] for i in graph.interfaces(g, name)} if name in g else set()
        if tf.uplink is not None and tf.uplink.node == name:
            ifnames.add(tf.uplink.ifname)
        if name in g and g.degree(name) == 0 and name not in g.graph.get("named", ()) \
                and not (tf.uplink and tf.uplink.node == name):
            p.warning(base, f"node {name!r} has no links; it is disconnected",
                      f'add a [[links]] entry with endpoints = ["{name}", ...]')
        for key, value in node.sysctl.items():
            if not _SYSCTL_KEY.fullmatch(key) or ".." in key:
                p.error(f"{base}.sysctl", f"{key!r} is not a network sysctl name",
                        'use a net.* name such as "net.ipv4.conf.all.rp_filter"')
            elif not _SYSCTL_VALUE.fullmatch(str(value)):
                p.error(f"{base}.sysctl.{toml_key(key)}", f"value {value!r} has characters a sysctl"
                        " does not take", "use a number or a plain word")
        for k, domain in enumerate(node.search or []):
            if not _DOMAIN.fullmatch(domain):
                p.error(f"{base}.search[{k}]", f"{domain!r} is not a domain name",
                        'use a name such as "lab.test"')
        if node.firewall is not None:
            found = firewall.problems(node.firewall, ifnames)
            for fp in found:
                add = p.error if fp.severity == "error" else p.warning
                add(f"{base}.firewall", fp.message, fp.fix)
            if all(fp.severity == "warning" for fp in found):
                for_nft[name] = node.firewall
        if node.nat is None:
            continue
        if not (kind := kinds.get(node.kind)).forwards:
            p.warning(f"{base}.nat", f"{name!r} is a {kind.name}; NAT on a {kind.name} only"
                      " rewrites its own traffic", 'set kind = "router" to NAT traffic it forwards')
        for k, ifname in enumerate(node.nat.masquerade):
            if ifname not in ifnames:
                p.error(f"{base}.nat.masquerade[{k}]",
                        f"node {name!r} has no interface {ifname!r}"
                        f"{did_you_mean(ifname, ifnames)}",
                        "use one of: " + (", ".join(sorted(ifnames)) or "(none: link it first)"))
        for k, fwd in enumerate(node.nat.forward):
            path = f"{base}.nat.forward[{k}]"
            if _split_hostport(fwd.to) is None:
                p.error(path + ".to", f"{fwd.to!r} is not an IPv4 'address:port'",
                        'write it like "10.0.0.10:80"')
            if fwd.on is not None and fwd.on not in ifnames:
                p.error(path + ".on", f"node {name!r} has no interface {fwd.on!r}",
                        "use one of: " + ", ".join(sorted(ifnames)))
    # nftables' own parser, all nodes in one scratch namespace (one child process).
    for name, found in firewall.nft_problems(for_nft).items():
        for fp in found:
            add = p.error if fp.severity == "error" else p.warning
            add(f"nodes.{toml_key(name)}.firewall", fp.message, fp.fix)


def _split_hostport(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    try:
        ip = ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        return None
    return (str(ip), number) if sep and 1 <= number <= 65535 else None


def _uplink(tf: TopologyFile, addr: addressing.Addressing, p: Problems) -> UplinkPlan | None:
    up = tf.uplink
    if up is None:
        return None
    ok = True
    if up.node not in tf.nodes:
        p.error("uplink.node", f"no node named {up.node!r}{did_you_mean(up.node, tf.nodes)}",
                "name one of the lab's nodes")
        ok = False
    if (why := ifname_problem(up.ifname)) is not None:
        p.error("uplink.ifname", why, 'use a name such as "uplink"')
        ok = False
    elif (up.node, up.ifname) in addr.addresses:
        p.error("uplink.ifname", f"node {up.node!r} already has interface {up.ifname!r}",
                "pick another name for the uplink interface")
        ok = False
    subnet = up.subnet
    if subnet is None:
        # Stable per lab name, so two labs' uplinks rarely collide; checked again at deploy.
        index = zlib.crc32(tf.lab.name.encode()) % (1 << (30 - UPLINK_DEFAULT_RANGE.prefixlen))
        subnet = ipaddress.IPv4Network(
            (int(UPLINK_DEFAULT_RANGE.network_address) + 4 * index, 30))
    elif (why := uplink_subnet_problem(subnet)) is not None:
        p.error("uplink.subnet", why, f'use a /{UPLINK_PREFIX_MAX} such as "100.64.7.0/30"'
                " inside " + _ranges() + ", or leave uplink.subnet out")
        ok = False
        subnet = None  # no overlap to report: a fix replaces it anyway
    for seg in addr.segments.values() if subnet is not None else ():
        net = seg.subnet.get(4)
        if net is not None and net.overlaps(subnet):
            p.error("uplink.subnet", f"uplink subnet {subnet} overlaps {net} ({seg.path})",
                    "set uplink.subnet to a /30 the lab does not use")
            ok = False
    if not ok or subnet is None:
        return None
    # Arithmetic, not subnet.hosts(): a subnet is never enumerated.
    base, plen = int(subnet.network_address), subnet.prefixlen
    prefix = tf.lab.name if tf.lab.prefix is None else tf.lab.prefix
    return UplinkPlan(
        node=up.node, netns=netns_name(prefix, up.node), ifname=up.ifname,
        host_ifname=f"nl-{tf.lab.name}"[:IFNAME_MAX],
        host_address=f"{ipaddress.IPv4Address(base + 1)}/{plen}",
        node_address=f"{ipaddress.IPv4Address(base + 2)}/{plen}", masquerade=up.masquerade,
        isolated=up.isolated,
    )


def _ranges() -> str:
    *first, last = [str(n) for n in UPLINK_PRIVATE]
    return ", ".join(first) + " or " + last


def uplink_subnet_problem(subnet: ipaddress.IPv4Network) -> str | None:
    """Why `subnet` cannot be an uplink subnet (too large, too small, or not private)."""
    why = []
    if subnet.prefixlen < UPLINK_PREFIX_MIN:
        why.append(f"too large for an uplink (a /{subnet.prefixlen}; the host routes it to the"
                   f" lab, so at most a /{UPLINK_PREFIX_MIN})")
    elif subnet.prefixlen > UPLINK_PREFIX_MAX:
        why.append(f"too small for the host's and the node's address (a /{subnet.prefixlen})")
    if not any(subnet.subnet_of(n) for n in UPLINK_PRIVATE):
        why.append("not private address space: the host would route it into the lab instead"
                   " of to its real owners")
    return f"{subnet} is " + " and ".join(why) if why else None


def _mtu(tf: TopologyFile, link_index: int, node: str | None, switch: str | None) -> int:
    link = tf.links[link_index]
    if link.props is not None:
        end = _end_index(link.endpoints, node or switch or "")
        if end is not None and link.props[end].mtu is not None:
            return link.props[end].mtu  # type: ignore[return-value]
    if link.mtu is not None:
        return link.mtu
    if node is not None and tf.nodes[node].mtu is not None:
        return tf.nodes[node].mtu  # type: ignore[return-value]
    if switch is not None and tf.switches[switch].mtu is not None:
        return tf.switches[switch].mtu  # type: ignore[return-value]
    return tf.defaults.mtu


def _port_names(tf: TopologyFile, g: nx.MultiGraph) -> dict[int, str]:
    """Switch-side port name per link index: '<node>-<ifname>' when it fits, else 'portN'."""
    names: dict[int, str] = {}
    for sw in tf.switches:
        if sw not in g:
            continue
        taken: set[str] = set()
        edges = sorted(g.edges(sw, data=True), key=lambda e: e[2]["link"])
        for k, (_, _, data) in enumerate(edges):
            node_end = next(e for e in data["ends"] if not e.is_switch)
            name = f"{node_end.name}-{node_end.ifname}"
            if len(name) > IFNAME_MAX or name in taken:
                name = f"port{k}"
            taken.add(name)
            names[data["link"]] = name
    return names


def _end_index(endpoints: list[str], name: str) -> int | None:
    """Which endpoint of a link names this node or switch (a link never joins one to itself)."""
    for j, text in enumerate(endpoints):
        if text.partition(":")[0] == name:
            return j
    return None


def _wiring(
    tf: TopologyFile, g: nx.MultiGraph, prefix: str, addr: addressing.Addressing,
    shaping: dict[tuple[int, int], ShapingPlan | None], ports: dict[int, str],
) -> tuple[list[SwitchPlan], list[VethPlan]]:
    switches = []
    for sw, model in tf.switches.items():
        sw_ports = []
        for _, _, data in sorted(g.edges(sw, data=True), key=lambda e: e[2]["link"]):
            node_end = next(e for e in data["ends"] if not e.is_switch)
            sw_ports.append(SwitchPort(ifname=ports[data["link"]], node=node_end.name,
                                       node_ifname=node_end.ifname))
        switches.append(SwitchPlan(
            name=sw, netns=netns_name(prefix, sw), bridge="br0",
            mtu=model.mtu or tf.defaults.mtu,
            subnet=_str_or_none(addr.segments[sw].subnet.get(4)),
            subnet6=_str_or_none(addr.segments[sw].subnet.get(6)), ports=sw_ports,
        ))
    veths = []
    for _, _, data in sorted(g.edges(data=True), key=lambda e: e[2]["link"]):
        i = data["link"]
        ends = []
        for end in data["ends"]:
            j = _end_index(tf.links[i].endpoints, end.name)
            shaped = shaping.get((i, j if j is not None else -1))
            if end.is_switch:
                ends.append(VethEnd(netns=netns_name(prefix, end.name), ifname=ports[i],
                                    mtu=_mtu(tf, i, None, end.name), shaping=shaped))
            else:
                ends.append(VethEnd(netns=netns_name(prefix, end.name), ifname=end.ifname,
                                    mtu=_mtu(tf, i, end.name, None), shaping=shaped))
        veths.append(VethPlan(a=ends[0], b=ends[1]))
    return switches, veths


def _str_or_none(x: object) -> str | None:
    return None if x is None else str(x)


def _hosts_file(tf: TopologyFile, texts: dict[tuple[str, str], list[tuple[int, str, str]]],
                primaries: dict[str, dict[str, str]]) -> str:
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


def _node_plans(
    tf: TopologyFile, g: nx.MultiGraph, addr: addressing.Addressing,
    routes: dict[str, list[routing.RouteEntry]], prefix: str, uplink: UplinkPlan | None,
    ports: dict[int, str],
) -> tuple[list[NodePlan], str]:
    """Every node's plan, and the lab's hosts file (one text for all nodes)."""
    # Each address as text once: (version, address, CIDR); str() of an address is slow.
    texts = {key: [(x.version, str(x.ip), str(x)) for x in xs]
             for key, xs in addr.addresses.items()}
    links = {name: graph.interfaces(g, name) if name in g else [] for name in tf.nodes}
    primaries: dict[str, dict[str, str]] = {}
    for name in tf.nodes:
        ifs = [i[0] for i in links[name]]
        default_devs = [r.dev for r in routes[name] if r.to in ("default", "default6")]
        order = [d for d in default_devs if d in ifs] + ifs
        prim: dict[str, str] = {}
        for ifname in order:
            for version, ip, _ in texts.get((name, ifname), []):
                prim.setdefault(str(version), ip)
        primaries[name] = prim
    hosts = _hosts_file(tf, texts, primaries)
    resolvs: dict[tuple[str, ...], str] = {}  # (dns..., "", search...) -> text

    plans = []
    for name, node in tf.nodes.items():
        v6 = addressing.node_v6(tf, name)
        ifaces = []
        for ifname, i, own, peer in links[name]:
            peer_if = ports[i] if peer.is_switch else peer.ifname
            ifaces.append(Interface(
                name=ifname,
                peer=Peer(node=peer.name, netns=netns_name(prefix, peer.name), ifname=peer_if),
                mtu=_mtu(tf, i, name, None),
                addresses=[cidr for _, _, cidr in texts.get((name, ifname), [])],
                segment=graph.segment_id(i, (own, peer)),
            ))
        has_v6 = v6 or any(":" in a for i in ifaces for a in i.addresses)
        sysctls: dict[str, str] = {}
        if has_v6:
            # Addresses are added without DAD; link-local ones must not wait for it either.
            sysctls["net.ipv6.conf.all.accept_dad"] = "0"
            sysctls["net.ipv6.conf.default.accept_dad"] = "0"
        else:
            sysctls["net.ipv6.conf.all.disable_ipv6"] = "1"
            sysctls["net.ipv6.conf.default.disable_ipv6"] = "1"
        # Forwarding is explicit either way: a new netns inherits IPv4 forwarding from the
        # host's, so on a machine that forwards, lab hosts would too.
        sysctls.update(kinds.get(node.kind).kernel_sysctls(has_v6))
        sysctls.update({k: str(v) for k, v in node.sysctl.items()})

        route_plans = [RoutePlan(to=r.to, via=r.via, dev=r.dev, origin=r.origin)  # type: ignore[arg-type]
                       for r in routes[name]]
        masq = list(node.nat.masquerade) if node.nat else []
        if uplink is not None and uplink.node == name:
            if not any(r.to == "default" for r in route_plans):
                route_plans.append(RoutePlan(to="default", via=uplink.host_address.split("/")[0],
                                             dev=uplink.ifname, origin="uplink"))
            if uplink.masquerade and uplink.ifname not in masq:
                masq.append(uplink.ifname)
        nat = None
        if masq or (node.nat and node.nat.forward):
            forwards = []
            for f in node.nat.forward if node.nat else []:
                hp = _split_hostport(f.to)
                if hp is not None:
                    forwards.append(PortForwardPlan(proto=f.proto, port=f.port, to_addr=hp[0],
                                                    to_port=hp[1], on=f.on))
            nat = NatPlan(masquerade=masq, forward=forwards)
        dns = [str(a) for a in (tf.defaults.dns if node.dns is None else node.dns)]
        search = tf.defaults.search if node.search is None else node.search
        key = (*dns, "", *search)
        resolv = resolvs.get(key) or resolvs.setdefault(key, _resolv_conf(tf, dns, search))
        plans.append(NodePlan(
            name=name, kind=node.kind, netns=netns_name(prefix, name), hostname=name,
            primary=primaries[name], interfaces=ifaces, routes=route_plans, sysctls=sysctls,
            resolv_conf=resolv, nat=nat,
            nftables=_nftables(nat, node.firewall), exec=list(node.exec),
        ))
    return plans, hosts


def _nftables(nat: NatPlan | None, fw: str | None) -> str | None:
    # One text, one `nft -f`: NAT table and firewall table are loaded together, atomically.
    try:
        parts = ([nft_ruleset(nat)] if nat else []) + ([firewall.render(fw)] if fw else [])
    except firewall.UnsafeNftText:
        return None  # a name that is no interface of the node: already an error (_check_nodes)
    return "".join(parts) or None


def _expect_plans(tf: TopologyFile, nodes: list[NodePlan], p: Problems) -> list[ExpectPlan]:
    by_name = {n.name: n for n in nodes}
    out = []
    for k, e in enumerate(tf.expect):
        base = f"expect[{k}]"
        ok = True
        if e.from_ not in tf.nodes:
            p.error(f"{base}.from", f"no node named {e.from_!r}{did_you_mean(e.from_, tf.nodes)}",
                    "name one of the lab's nodes")
            ok = False
        if e.via is not None and e.via not in tf.nodes:
            p.error(f"{base}.via", f"no node named {e.via!r}{did_you_mean(e.via, tf.nodes)}",
                    "name one of the lab's nodes")
        if e.proto in ("tcp", "udp") and e.port is None:
            p.error(f"{base}.port", f"a {e.proto} expectation needs a port", "add port = 80")
        if e.proto == "icmp" and e.port is not None:
            p.error(f"{base}.port", "icmp has no ports", 'remove port, or set proto = "tcp"')
        if e.to is None and e.dns is None:
            p.error(base, "an expectation needs a target", 'add to = "NODE" (or dns = {...})')
        target = None
        if e.to is not None:
            target = _resolve_target(e.to, by_name, f"{base}.to", p)
            ok = ok and target is not None
        if not ok:
            continue
        out.append(ExpectPlan(
            index=k, from_node=e.from_, to=e.to, target_address=target, proto=e.proto,
            port=e.port, reach=e.reach, via=e.via,
            source_nat=None if e.source_nat is None else str(e.source_nat),
            dns_name=e.dns.name if e.dns else None,
            dns_answer=str(e.dns.answer) if e.dns and e.dns.answer else None,
            timeout=e.timeout,
        ))
    return out


def _resolve_target(text: str, nodes: dict[str, NodePlan], path: str, p: Problems) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name, sep, ifname = text.partition(":")
    node = nodes.get(name)
    if node is None:
        p.error(path, f"{text!r} is neither a node nor an IP address"
                f"{did_you_mean(name, nodes)}", "name a node, node:ifname, or an address")
        return None
    if sep:
        iface = next((i for i in node.interfaces if i.name == ifname), None)
        if iface is None:
            p.error(path, f"node {name!r} has no interface {ifname!r}",
                    "use one of: " + ", ".join(i.name for i in node.interfaces))
            return None
        if not iface.addresses:
            p.error(path, f"{text} has no address", "pick an interface with an address")
            return None
        return iface.addresses[0].split("/")[0]
    address = node.primary.get("4") or node.primary.get("6")
    if address is None:
        p.error(path, f"node {name!r} has no address to probe", "link it to a segment")
    return address


def _annotate(g: nx.MultiGraph, addr: addressing.Addressing, nodes: list[NodePlan]) -> None:
    """Put addresses on graph edges, for rendering."""
    cidrs = {(n.name, i.name): i.addresses for n in nodes for i in n.interfaces}
    for _, _, data in g.edges(data=True):
        data["addresses"] = {e.name: list(cidrs.get((e.name, e.ifname), ()))
                             for e in data["ends"] if not e.is_switch}
    for seg in addr.segments.values():
        if seg.switch is not None and seg.switch in g:
            g.nodes[seg.switch]["subnets"] = [str(n) for _, n in sorted(seg.subnet.items())]
