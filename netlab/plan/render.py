"""Text renderings of plans and graphs: nft rulesets, plan listings, DOT and Mermaid."""

from __future__ import annotations

import ipaddress

import networkx as nx

from netlab.compile.firewall import UnsafeNftText, ifname_literal
from netlab.errors import plural
from netlab.plan.model import NatPlan, Plan, PortForwardPlan

NFT_TABLE = "netlab"


def nft_ruleset(nat: NatPlan) -> str:
    """The node's NAT ruleset, loaded atomically into a table netlab owns. Every value is
    checked before it is written (names as interface names, numbers as numbers), so that
    a plan, wherever it came from, cannot write other nft text."""
    lines = [f"table ip {NFT_TABLE} {{"]
    if nat.forward:
        rules = [(f"iifname {ifname_literal(f.on)} " if f.on else "", _dnat(f))
                 for f in nat.forward]
        lines.append("\tchain prerouting {")
        lines.append("\t\ttype nat hook prerouting priority dstnat; policy accept;")
        lines += [f"\t\t{on}{dnat}" for on, dnat in rules]
        lines.append("\t}")
        # Hosts inside reach the forward through the router's own addresses too.
        lines.append("\tchain output {")
        lines.append("\t\ttype nat hook output priority -100; policy accept;")
        lines += [f"\t\tfib daddr type local {dnat}" for _, dnat in rules]
        lines.append("\t}")
    if nat.masquerade:
        lines.append("\tchain postrouting {")
        lines.append("\t\ttype nat hook postrouting priority srcnat; policy accept;")
        for ifname in nat.masquerade:
            lines.append(f"\t\toifname {ifname_literal(ifname)} masquerade")
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dnat(f: PortForwardPlan) -> str:
    """'tcp dport 80 dnat to 10.0.0.10:8080', each value checked."""
    ports = (f.port, f.to_port)
    if f.proto not in ("tcp", "udp") or not all(
            type(p) is int and 1 <= p <= 65535 for p in ports):
        raise UnsafeNftText(f"refused port forward {f.proto!r} {ports!r}: not tcp/udp ports")
    try:
        to = ipaddress.IPv4Address(f.to_addr)
    except ValueError:
        raise UnsafeNftText(f"refused port forward to {f.to_addr!r}: not an IPv4 address")\
            from None
    return f"{f.proto} dport {f.port} dnat to {to}:{f.to_port}"


def _shaping_notes(plan: Plan) -> dict[tuple[str, str], str]:
    """(netns, ifname) -> '  sends: rate 10mbit loss 1%' for shaped link ends."""
    from netlab.compile.linkprops import describe

    return {(e.netns, e.ifname): f"  sends: {describe(e.shaping)}"
            for v in plan.veths for e in (v.a, v.b) if e.shaping is not None}


def plan_text(plan: Plan) -> str:
    """A readable listing of everything deploy will create."""
    out = [f"lab {plan.lab}: {plan.description}".rstrip(": "),
           f"  {plural(len(plan.nodes), 'node')}, {plural(len(plan.switches), 'switch')}, "
           f"{plural(len(plan.veths), 'veth pair')}, "
           f"{plural(len(plan.namespaces), 'namespace')}", ""]
    sends = _shaping_notes(plan)
    for sw in plan.switches:
        subnets = ", ".join(s for s in (sw.subnet, sw.subnet6) if s)
        out.append(f"switch {sw.name}  netns {sw.netns}  bridge {sw.bridge}  mtu {sw.mtu}"
                   + (f"  subnet {subnets}" if subnets else "") + ("  stp" if sw.stp else "")
                   + (f"  ageing {sw.ageing}s" if sw.ageing is not None else ""))
        for port in sw.ports:
            out.append(f"  port {port.ifname:<15} -> {port.node}:{port.node_ifname}"
                       + sends.get((sw.netns, port.ifname), ""))
        out.append("")
    for n in plan.nodes:
        out.append(f"{n.kind} {n.name}  netns {n.netns}  hostname {n.hostname}")
        for i in n.interfaces:
            addrs = " ".join(i.addresses) or "(no address)"
            out.append(f"  {i.name:<8} {addrs:<36} mtu {i.mtu}  peer {i.peer.node}:{i.peer.ifname}"
                       + (f"  mac {i.mac}" if i.mac else "") + sends.get((n.netns, i.name), ""))
        if n.loopback:
            out.append(f"  {'lo':<8} {' '.join(n.loopback)}")
        for r in n.routes:
            via = f" via {r.via}" if r.via else ""
            dev = f" dev {r.dev}" if r.dev else ""
            out.append(f"  route {r.to}{via}{dev}  ({r.origin})")
        for k, v in n.sysctls.items():
            out.append(f"  sysctl {k} = {v}")
        for line in n.resolv_conf.splitlines():
            if not line.startswith("#"):
                out.append(f"  resolv.conf: {line}")
        if n.nftables:
            out.append("  nftables:")
            out.extend(f"    {line}" for line in n.nftables.rstrip().splitlines())
        for f in n.files:
            what = f"{len(f.text.encode())} bytes" if f.text is not None else f"from {f.source}"
            out.append(f"  file {f.path}  ({f.mode:04o}, {what})")
        for cmd in n.startup:
            out.append(f"  startup: {cmd}")
        for cmd in n.exec:
            out.append(f"  exec: {cmd}")
        if n.pid:
            out.append("  own PID namespace")
        out.append("")
    if plan.uplink:
        u = plan.uplink
        out.append(f"uplink {u.node}:{u.ifname} {u.node_address} <-> host {u.host_ifname}"
                   f" {u.host_address}" + ("  (masquerade)" if u.masquerade else ""))
        out.append("")
    if plan.nodes:
        out.append("hosts (every node's /etc/hosts):")
        out.extend(f"  {line}" for line in plan.hosts.rstrip().splitlines()[2:])
        out.append("")
    if plan.expect:
        out.append("expectations:")
        from netlab.probes.kinds import title  # the check table's wording

        for e in plan.expect:
            out.append(f"  {title(e)}" + (f" (within {e.within:g}s)" if e.within else ""))
    return "\n".join(out).rstrip() + "\n"


def _edge_label(data: dict) -> str:
    parts = []
    for end in data["ends"]:
        if end.is_switch:
            continue
        addrs = data.get("addresses", {}).get(end.name, [])
        parts.append(f"{end.name}:{end.ifname}" + (f" {addrs[0]}" if addrs else ""))
    return "\\n".join(parts)


def _end_label(data: dict, node: str) -> str:  # type: ignore[type-arg]
    """'eth0 10.0.0.2/24': the end of a link at `node`."""
    for end in data["ends"]:
        if end.name == node and not end.is_switch:
            addrs = data.get("addresses", {}).get(end.name, [])
            return end.ifname + (f" {addrs[0]}" if addrs else "")
    return ""


_DOT_SHAPES = {"host": "box", "router": "ellipse", "switch": "box3d"}
_DOT_COLORS = {"host": "#dbeafe", "router": "#fde68a", "switch": "#d1fae5"}


STAR_MIN = 8  # neighbours from which a node is drawn as the centre of a star


def _layout(g: nx.MultiGraph) -> tuple[str, set[str]]:
    """Graph attributes choosing Graphviz's layout by the lab's shape, and the leaves of
    a star (nodes whose only link goes to its hub). `dot` ranks an undirected graph by
    distance from its first node, so a switch with 24 hosts became one rank 24 labels
    wide (a 3077x128 strip). A lab with a hub of STAR_MIN or more neighbours is drawn
    radially around it (twopi), each leaf's interface and address in its own box so that
    no label crowds the centre, near square; other labs stay with dot. The `layout`
    attribute holds in the .dot file too, whatever program renders it."""
    simple = nx.Graph(g)
    if simple.number_of_nodes() == 0:
        return "", set()
    hub, degree = max(simple.degree, key=lambda d: (d[1], str(d[0])))
    if degree < STAR_MIN:
        return "", set()  # dot: readable for chains and small LANs
    leaves = {n for n in simple.neighbors(hub) if simple.degree(n) == 1
              and g.number_of_edges(n, hub) == 1}
    # A circle whose circumference fits one box (~1.7 in) per neighbour.
    ranksep = max(1.5, round(degree * 1.7 / (2 * 3.1416), 2))
    return f'layout=twopi, root="{hub}", ranksep={ranksep}, ', leaves


def to_dot(g: nx.MultiGraph) -> str:
    layout, leaves = _layout(g)
    lines = [f'graph "{g.graph.get("lab", "lab")}" {{',
             f"  graph [{layout}overlap=false, splines=true];",
             '  node [style=filled, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=9];']
    in_box = {}  # a star's leaf -> the label of its one link, drawn in its box
    for u, v, data in g.edges(data=True):
        for leaf in {u, v} & leaves:
            in_box[leaf] = _end_label(data, leaf)
    for name, data in g.nodes(data=True):
        kind = data["kind"]
        label = name + ("\\n" + " ".join(data["subnets"]) if data.get("subnets") else "")
        if in_box.get(name):
            label += "\\n" + in_box[name]
        lines.append(f'  "{name}" [label="{label}", shape={_DOT_SHAPES.get(kind, "box")},'
                     f' fillcolor="{_DOT_COLORS.get(kind, "#e5e7eb")}"];')  # a kind added later
    for u, v, data in sorted(g.edges(data=True), key=lambda e: e[2]["link"]):
        label = "" if {u, v} & leaves else _edge_label(data)
        lines.append(f'  "{u}" -- "{v}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: nx.MultiGraph) -> str:
    shapes = {"host": ('["', '"]'), "router": ('(("', '"))'), "switch": ('[/"', '"/]')}
    lines = ["graph LR"]
    for name, data in g.nodes(data=True):
        o, c = shapes[data["kind"]]
        label = name + ("<br/>" + " ".join(data["subnets"]) if data.get("subnets") else "")
        lines.append(f"  {_mid(name)}{o}{label}{c}")
    for u, v, data in sorted(g.edges(data=True), key=lambda e: e[2]["link"]):
        label = _edge_label(data).replace("\\n", "<br/>")
        lines.append(f'  {_mid(u)} ---|"{label}"| {_mid(v)}')
    return "\n".join(lines) + "\n"


def _mid(name: str) -> str:
    # Mermaid ids may not contain '-'.
    return "n_" + name.replace("-", "_")
