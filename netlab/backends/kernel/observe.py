"""What a deployed lab looks like in the kernel, compared with its saved plan.

Everything is read from the kernel (netlink dumps from a socket opened inside each
namespace), not from the state file; the plan and journal only say what to expect. Any
difference is reported as drift: a missing namespace (network, or a node's UTS namespace,
without which `exec` refuses to run), interface, address or route, an interface that is
down, or a namespace that is no longer the one netlab created (its cookie, read from the
same socket, is not the journaled one: see netlab.linux.namespaces).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from netlab.errors import NamespaceGone
from netlab.linux.netns import CLONE_NEWUTS, entered, open_ns
from netlab.plan.model import Plan
from netlab.state.store import read_plan, read_record


@dataclass
class IfaceStatus:
    name: str
    state: str  # "up", "down", "lower-down" (up, no carrier) or "missing"
    mtu: int | None
    addresses: list[str]
    peer: str  # "node:ifname" from the plan ("" for interfaces the plan does not list)
    master: str | None = None
    shaping: str = ""  # what the kernel applies to what this end sends ("rate 10mbit ...")
    held_down: bool = False  # taken down on purpose with `netlab link ... down`


@dataclass
class ProcStatus:
    index: int
    command: str
    pid: int
    alive: bool
    log: str


@dataclass
class NsStatus:
    name: str  # node or switch name
    kind: str  # host / router / switch
    netns: str
    present: bool
    interfaces: list[IfaceStatus] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    processes: list[ProcStatus] = field(default_factory=list)


@dataclass
class LabStatus:
    lab: str
    description: str
    source: str
    nodes: list[NsStatus]
    drift: list[str]

    @property
    def healthy(self) -> bool:
        return not self.drift

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["healthy"] = self.healthy
        return d


@dataclass
class _Kernel:
    links: dict[str, dict[str, Any]]  # ifname -> {index, up, carrier, mtu, master}
    addrs: dict[str, list[str]]  # ifname -> CIDRs
    routes: list[tuple[str, str | None, str | None]]  # (to, via, dev)
    cookie: int  # the namespace's cookie (its identity)


def _read_kernel(netns: str) -> _Kernel:
    from netlab.linux import namespaces, netlink

    with entered(netns):
        sock = netlink.open_socket()
    try:
        cookie = namespaces.cookie(sock)
        links_raw = netlink.dump(sock, "links")
        addrs_raw = netlink.dump(sock, "addrs")
        routes_raw = netlink.dump(sock, "routes")
    finally:
        sock.close()
    by_index: dict[int, str] = {}
    links: dict[str, dict[str, Any]] = {}
    for m in links_raw:
        name = m.get_attr("IFLA_IFNAME")
        by_index[m["index"]] = name
        links[name] = {"index": m["index"], "up": bool(m["flags"] & 1),
                       "carrier": bool(m["flags"] & 0x10000), "mtu": m.get_attr("IFLA_MTU"),
                       "master": m.get_attr("IFLA_MASTER")}
    for info in links.values():
        info["master"] = by_index.get(info["master"]) if info["master"] else None
    addrs: dict[str, list[str]] = {}
    for m in addrs_raw:
        ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
        name = by_index.get(m["index"], str(m["index"]))
        if ip and not ip.startswith("fe80:"):
            addrs.setdefault(name, []).append(f"{ip}/{m['prefixlen']}")
    routes = []
    for m in routes_raw:
        if m["table"] != 254 or m["type"] != 1:  # main table, unicast
            continue
        dst = m.get_attr("RTA_DST")
        fam6 = m["family"] == socket.AF_INET6
        if dst is None:
            to = "default6" if fam6 else "default"
        else:
            to = str(ipaddress.ip_network(f"{dst}/{m['dst_len']}", strict=False))
        if fam6 and to.startswith("fe80:"):
            continue
        oif = m.get_attr("RTA_OIF")
        routes.append((to, m.get_attr("RTA_GATEWAY"), by_index.get(oif) if oif else None))
    return _Kernel(links, addrs, routes, cookie)


def _iface(name: str, k: _Kernel | None, peer: str) -> IfaceStatus:
    info = k.links.get(name) if k else None
    if info is None:
        return IfaceStatus(name, "missing", None, [], peer)
    state = "up" if info["up"] and info["carrier"] else "lower-down" if info["up"] else "down"
    return IfaceStatus(name, state, info["mtu"], (k.addrs.get(name, []) if k else []), peer,
                       info["master"])


def _same_addr(a: str, b: str) -> bool:
    return ipaddress.ip_interface(a) == ipaddress.ip_interface(b)


def lab_status(name: str) -> LabStatus:
    """Read the lab from the kernel and compare it with its plan and journal."""
    from netlab.backends.kernel import linkctl, procs

    plan = read_plan(name)
    record = read_record(name)
    # Live links: shaping read back from the kernel, and wires cut on purpose.
    shaped, held_down, drift = linkctl.status_extras(plan)
    recorded = {os.path.basename(e["path"]): e.get("cookie") for e in record.of("netns")}
    out: list[NsStatus] = []

    def iface(netns: str, ifname: str, k: _Kernel | None, peer: str) -> IfaceStatus:
        st = _iface(ifname, k, peer)
        st.shaping = shaped.get((netns, ifname), "")
        st.held_down = (netns, ifname) in held_down
        return st

    def read(netns: str, what: str) -> _Kernel | None:
        try:
            k = _read_kernel(netns)
        except NamespaceGone:
            drift.append(f"{what}: namespace {netns} is missing")
            return None
        if recorded.get(netns) not in (None, k.cookie):
            drift.append(f"{what}: namespace {netns} is not the one netlab created")
            return None
        return k

    for sw in plan.switches:
        k = read(sw.netns, f"switch {sw.name}")
        s = NsStatus(sw.name, "switch", sw.netns, k is not None)
        s.interfaces.append(_iface(sw.bridge, k, ""))
        for port in sw.ports:
            st = iface(sw.netns, port.ifname, k, f"{port.node}:{port.node_ifname}")
            s.interfaces.append(st)
            if k is not None and st.master != sw.bridge and st.state != "missing":
                drift.append(f"switch {sw.name}: port {port.ifname} is not in {sw.bridge}")
        out.append(s)
    procs_by_node: dict[str, list[dict[str, Any]]] = {}
    for e in record.of("proc"):
        procs_by_node.setdefault(e["node"], []).append(e)
    for node in plan.nodes:
        what = f"node {node.name}"
        k = read(node.netns, what)
        uts = procs.uts_path(name, node.name)
        try:
            os.close(open_ns(uts, CLONE_NEWUTS))
        except NamespaceGone:
            drift.append(f"{what}: UTS namespace {uts} is missing (exec refuses to run)")
        s = NsStatus(node.name, node.kind, node.netns, k is not None)
        planned = [(i.name, f"{i.peer.node}:{i.peer.ifname}", i.addresses)
                   for i in node.interfaces]
        if plan.uplink is not None and plan.uplink.node == node.name:
            planned.append((plan.uplink.ifname, "host:" + plan.uplink.host_ifname,
                            [plan.uplink.node_address]))
        cut = set()
        for ifname, peer, addresses in planned:
            st = iface(node.netns, ifname, k, peer)
            s.interfaces.append(st)
            if k is None:
                continue
            if st.state == "missing":
                drift.append(f"{what}: interface {ifname} is missing")
                continue
            if st.held_down or any((i.peer.netns, i.peer.ifname) in held_down
                                   for i in node.interfaces if i.name == ifname):
                cut.add(ifname)  # down on purpose: neither it nor its routes are drift
                continue
            if st.state != "up":
                drift.append(f"{what}: interface {ifname} is {st.state}")
            for a in addresses:
                if not any(_same_addr(a, have) for have in st.addresses):
                    drift.append(f"{what}: address {a} on {ifname} is missing")
        if k is not None:
            s.routes = [f"{to}" + (f" via {via}" if via else "") + (f" dev {dev}" if dev else "")
                        for to, via, dev in k.routes]
            for r in node.routes:
                if r.dev in cut:
                    continue
                if not any(to == r.to and (r.via is None or via == r.via)
                           for to, via, _ in k.routes):
                    drift.append(f"{what}: route {r.to}"
                                 + (f" via {r.via}" if r.via else "") + " is missing")
        for e in procs_by_node.get(node.name, []):
            ok = procs.alive(e)
            # A command may end on its own: shown as dead, not counted as drift.
            s.processes.append(ProcStatus(e.get("index", 0), e["command"], e["pid"], ok,
                                          e.get("log", "")))
        out.append(s)
    if plan.uplink is not None:
        out.append(_uplink_status(plan, drift))
    return LabStatus(plan.lab, plan.description, plan.source, out, drift)


def _uplink_status(plan: Plan, drift: list[str]) -> NsStatus:
    """The uplink's host end, read in the host's own namespace."""
    up = plan.uplink
    assert up is not None
    k = _read_kernel("/proc/thread-self/ns/net")  # where deploy made it
    s = NsStatus("host", "uplink", "(host)", True)
    st = _iface(up.host_ifname, k, f"{up.node}:{up.ifname}")
    s.interfaces.append(st)
    if st.state == "missing":
        drift.append(f"host: uplink interface {up.host_ifname} is missing")
    elif not any(_same_addr(up.host_address, a) for a in st.addresses):
        drift.append(f"host: address {up.host_address} on {up.host_ifname} is missing")
    return s


def summary(plan: Plan) -> str:
    from netlab.errors import plural

    return ", ".join([plural(len(plan.nodes), "node"), plural(len(plan.switches), "switch"),
                      plural(len(plan.veths), "link"), plural(len(plan.namespaces), "namespace")])
