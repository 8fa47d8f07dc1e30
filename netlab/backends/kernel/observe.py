"""What a deployed lab looks like in the kernel, compared with its saved plan.

Everything is read from the kernel (netlink dumps from a socket opened inside each
namespace, sysctls read there), not from the state file; the plan and journal only say
what to expect. Every difference is drift (LabStatus.drift, one line each; `netlab status`
exits 1 when there is any):

- what is missing: a namespace (network, or a node's UTS namespace, without which `exec`
  refuses to run), an interface, an address (on lo too: `loopback`) or a route of the
  plan, or an interface that is down (links cut on purpose with `netlab link ... down` are
  not drift);
- what is no longer netlab's: a namespace whose cookie is not the journaled one;
- what was added or changed by hand or by a daemon: addresses and routes the plan does not
  have (kernel-made ones are not: link-local fe80::/64 addresses, routes the kernel derives
  from addresses, the local and multicast tables), interfaces that are up and not in the
  plan, a MAC address the plan sets that is now another, a switch's spanning tree turned
  on or off, and every sysctl the plan sets
  whose value is now different (`ip_forward` 1 -> 0);
- shaping that differs from the plan and its runtime changes (netlab.backends.kernel.linkctl).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from netlab.backends.kernel import procs as procs_mod
from netlab.backends.kernel import readback
from netlab.backends.kernel.readback import Kernel, read_namespace
from netlab.errors import NamespaceGone
from netlab.linux.netns import CLONE_NEWUTS, open_ns
from netlab.plan.model import NodePlan, Plan, SwitchPlan
from netlab.state.journal import read_record
from netlab.state.plans import read_plan


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
    sysctls: dict[str, str] = field(default_factory=dict)  # the plan's keys, as read


@dataclass
class LabStatus:
    """The lab as the kernel has it. `drift` lists every way it differs from its plan, one
    sentence each ("node r1: sysctl net.ipv4.ip_forward is 0, the plan sets 1"); empty
    means the lab is as planned (`healthy`). `netlab status` exits 1 when it is not."""

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


def _iface(name: str, k: Kernel | None, peer: str) -> IfaceStatus:
    info = k.links.get(name) if k else None
    if info is None:
        return IfaceStatus(name, "missing", None, [], peer)
    state = "up" if info["up"] and info["carrier"] else "lower-down" if info["up"] else "down"
    return IfaceStatus(name, state, info["mtu"],
                       [a.cidr for a in (k.addrs.get(name, []) if k else [])], peer,
                       info["master"])


def _same_addr(a: str, b: str) -> bool:
    return ipaddress.ip_interface(a) == ipaddress.ip_interface(b)


class _Observer:
    """One status reading: the plan, the journal, live-link facts and the drift found."""

    def __init__(self, name: str) -> None:
        from netlab.backends.kernel import linkctl

        self.lab = name
        self.plan = read_plan(name)
        self.record = read_record(name)
        # Live links: shaping read back from the kernel, and wires cut on purpose.
        self.shaped, self.held_down, self.drift = linkctl.status_extras(self.plan)
        self.cookies = {os.path.basename(e["path"]): e.get("cookie")
                        for e in self.record.of("netns")}

    def read(self, netns: str, what: str, sysctls: Sequence[str] = ()) -> Kernel | None:
        """The namespace as the kernel has it; None (and drift) if it is gone or foreign."""
        try:
            k = read_namespace(netns, sysctls)
        except NamespaceGone:
            self.drift.append(f"{what}: namespace {netns} is missing")
            return None
        if self.cookies.get(netns) not in (None, k.cookie):
            self.drift.append(f"{what}: namespace {netns} is not the one netlab created")
            return None
        return k

    def iface(self, netns: str, ifname: str, k: Kernel | None, peer: str) -> IfaceStatus:
        st = _iface(ifname, k, peer)
        st.shaping = self.shaped.get((netns, ifname), "")
        st.held_down = (netns, ifname) in self.held_down
        return st


def lab_status(name: str) -> LabStatus:
    """Read the lab from the kernel and compare it with its plan and journal."""
    obs = _Observer(name)
    plan = obs.plan
    out = [_switch_status(obs, sw) for sw in plan.switches]
    procs_by_node: dict[str, list[dict[str, Any]]] = {}
    for e in obs.record.of("proc"):
        procs_by_node.setdefault(e["node"], []).append(e)
    for node in plan.nodes:
        out.append(_node_status(obs, node, procs_by_node.get(node.name, [])))
    if plan.uplink is not None:
        out.append(_uplink_status(plan, obs.drift))
    return LabStatus(plan.lab, plan.description, plan.source, out, obs.drift)


def _switch_status(obs: _Observer, sw: SwitchPlan) -> NsStatus:
    what = f"switch {sw.name}"
    k = obs.read(sw.netns, what)
    s = NsStatus(sw.name, "switch", sw.netns, k is not None)
    s.interfaces.append(_iface(sw.bridge, k, ""))
    for port in sw.ports:
        st = obs.iface(sw.netns, port.ifname, k, f"{port.node}:{port.node_ifname}")
        s.interfaces.append(st)
        if k is not None and st.master != sw.bridge and st.state != "missing":
            obs.drift.append(f"{what}: port {port.ifname} is not in {sw.bridge}")
    if k is not None:
        planned: dict[str, list[str]] = {sw.bridge: []}
        planned.update({p.ifname: [] for p in sw.ports})
        obs.drift += _mac_drift(what, k, {e.ifname: e.mac for v in obs.plan.veths
                                          for e in (v.a, v.b) if e.netns == sw.netns})
        stp = (k.links.get(sw.bridge) or {}).get("stp")
        if stp is not None and stp != sw.stp:
            obs.drift.append(f"{what}: spanning tree is {'on' if stp else 'off'} on"
                             f" {sw.bridge}, the plan turns it {'on' if sw.stp else 'off'}")
        obs.drift += _added_interfaces(what, k, planned)
        obs.drift += _added_addresses(what, k, planned)
    return s


def _node_status(obs: _Observer, node: NodePlan, procs: list[dict[str, Any]]) -> NsStatus:
    plan, what = obs.plan, f"node {node.name}"
    k = obs.read(node.netns, what, list(node.sysctls))
    _check_uts(obs, node)
    s = NsStatus(node.name, node.kind, node.netns, k is not None)
    planned = [(i.name, f"{i.peer.node}:{i.peer.ifname}", i.addresses)
               for i in node.interfaces]
    if plan.uplink is not None and plan.uplink.node == node.name:
        planned.append((plan.uplink.ifname, "host:" + plan.uplink.host_ifname,
                        [plan.uplink.node_address]))
    cut = _interfaces(obs, node, k, planned, s)
    if k is not None:
        s.routes = [str(r) for r in k.routes]
        s.sysctls = {key: v for key, v in k.sysctls.items() if v is not None}
        addresses = {ifname: list(a) for ifname, _, a in planned}
        addresses["lo"] = list(node.loopback)
        obs.drift += [f"{what}: address {a} on lo is missing" for a in node.loopback
                      if not any(_same_addr(a, have.cidr) for have in k.addrs.get("lo", []))]
        obs.drift += _mac_drift(what, k, {i.name: i.mac for i in node.interfaces})
        obs.drift += _added_interfaces(what, k, addresses)
        obs.drift += _added_addresses(what, k, addresses, _takes_ra(node))
        obs.drift += _route_drift(what, node, k, cut)
        obs.drift += _sysctl_drift(what, node, k)
    for e in procs:
        # The service itself, not the `sh -c` that started it; a service that ended is
        # drift (the lab no longer runs what its plan says).
        alive = procs_mod.alive(e)
        pid = procs_mod.service_pid(e) if alive else e["pid"]
        s.processes.append(ProcStatus(e.get("index", 0), e["command"], pid, alive,
                                      e.get("log", "")))
        if not alive:
            obs.drift.append(f"node {node.name}: exec command [{e.get('index', 0)}]"
                             f" {e['command']!r} is not running (its output:"
                             f" {e.get('log', '')})")
    return s


def _check_uts(obs: _Observer, node: NodePlan) -> None:
    uts = procs_mod.uts_path(obs.lab, node.name)
    try:
        os.close(open_ns(uts, CLONE_NEWUTS))
    except NamespaceGone:
        obs.drift.append(f"node {node.name}: UTS namespace {uts} is missing"
                         " (exec refuses to run)")
    from netlab.backends.kernel import entry, machine

    # A lab deployed before nodes had machines has no pin directory: nothing to miss.
    try:
        fd = entry.open_mnt(obs.lab, node.name)
    except NamespaceGone:
        obs.drift.append(f"node {node.name}: its private machine (mount namespace"
                         f" {machine.pin_path(obs.lab, node.name)}) is missing (exec refuses"
                         " to run)")
        return
    if fd is not None:
        os.close(fd)


def _interfaces(obs: _Observer, node: NodePlan, k: Kernel | None,
                planned: list[tuple[str, str, list[str]]], s: NsStatus) -> set[str]:
    """The planned interfaces into `s`, with drift for missing/down ones and missing
    addresses; returns those cut on purpose (neither they nor their routes are drift)."""
    what = f"node {node.name}"
    cut = set()
    for ifname, peer, addresses in planned:
        st = obs.iface(node.netns, ifname, k, peer)
        s.interfaces.append(st)
        if k is None:
            continue
        if st.state == "missing":
            obs.drift.append(f"{what}: interface {ifname} is missing")
            continue
        if st.held_down or any((i.peer.netns, i.peer.ifname) in obs.held_down
                               for i in node.interfaces if i.name == ifname):
            cut.add(ifname)
            continue
        if st.state != "up":
            obs.drift.append(f"{what}: interface {ifname} is {st.state}")
        for a in addresses:
            if not any(_same_addr(a, have) for have in st.addresses):
                obs.drift.append(f"{what}: address {a} on {ifname} is missing")
    return cut


def _mac_drift(what: str, k: Kernel, macs: dict[str, str | None]) -> list[str]:
    """Interfaces whose MAC address the plan sets and that now have another one (a
    missing interface is drift of its own)."""
    out = []
    for ifname, want in macs.items():
        have = (k.links.get(ifname) or {}).get("mac")
        if want and have and have.lower() != want:
            out.append(f"{what}: interface {ifname} has MAC address {have}, the plan sets"
                       f" {want}")
    return out


def _added_interfaces(what: str, k: Kernel, planned: dict[str, list[str]]) -> list[str]:
    """Interfaces that are up and not in the plan (lo aside; the kernel's own fallback
    devices, sit0, tunl0 ..., stay down)."""
    return [f"{what}: interface {name} is not in the plan (added by hand or by a daemon)"
            for name, info in sorted(k.links.items())
            if name != "lo" and name not in planned and info["up"]]


def _added_addresses(what: str, k: Kernel, planned: dict[str, list[str]],
                     ra: bool = False) -> list[str]:
    """Addresses the plan does not have, on any interface (link-local ones and lo's own
    are the kernel's: not drift; with `ra`, neither are those autoconfigured)."""
    out = []
    for ifname, have in sorted(k.addrs.items()):
        want = planned.get(ifname, [])
        for a in have:
            # An address with a lifetime on an interface the plan leaves unaddressed is
            # a lease or an autoconfigured one: what such an interface is for (DHCP).
            if (ifname == "lo" and a.cidr in readback.LO_ADDRS) or (ra and not a.permanent) \
                    or (not want and not a.permanent and ifname != "lo") \
                    or any(_same_addr(a.cidr, w) for w in want):
                continue
            how = "added by hand or by a daemon" if a.permanent \
                else "autoconfigured from a router advertisement or a DHCP lease"
            out.append(f"{what}: address {a.cidr} on {ifname} is not in the plan ({how})")
    return out


# Route protocols of routing daemons (rtnetlink RTPROT_*): FRR's zebra 11, babel 42,
# bgp 186, isis 187, ospf 188, rip 189, ripng 190, nhrp 191, eigrp 192.
ROUTING_DAEMONS = frozenset({11, 42, 186, 187, 188, 189, 190, 191, 192})


def _route_drift(what: str, node: NodePlan, k: Kernel, cut: set[str]) -> list[str]:
    """Planned routes that are missing, and routes the plan does not have (not those the
    kernel derives from addresses, nor, where the plan asks for them, from router
    advertisements)."""
    ra = _takes_ra(node)
    # Interfaces the plan leaves unaddressed that hold a lease (DHCP): the routes the
    # client adds through them (its default route) are as intended.
    planned_ifs = {i.name for i in node.interfaces if i.addresses}
    leased = {ifname for ifname, addrs in k.addrs.items()
              if ifname not in planned_ifs and any(not a.permanent for a in addrs)}
    out = []
    for r in node.routes:
        if r.dev in cut:
            continue
        if not any(have.to == r.to and (r.via is None or r.via in have.vias)
                   for have in k.routes):
            out.append(f"{what}: route {r.to}" + (f" via {r.via}" if r.via else "")
                       + " is missing")
    for have in k.routes:
        if have.proto == readback.RTPROT_KERNEL or (ra and have.proto == readback.RTPROT_RA):
            continue
        if have.proto in ROUTING_DAEMONS:  # a routing protocol's (FRR): its job, not drift
            continue
        if have.dev in leased:
            continue
        if any(r.to == have.to and (r.via is None or r.via in have.vias or not have.vias)
               and have.type == readback.RTN_UNICAST for r in node.routes):
            continue
        how = "learned from a router advertisement" if have.proto == readback.RTPROT_RA \
            else "added by hand or by a daemon"
        out.append(f"{what}: route {have} is not in the plan ({how})")
    return out


def _takes_ra(node: NodePlan) -> bool:
    """Whether the plan itself turns router advertisements on (an accept_ra sysctl, e.g.
    for a lab with its own radvd): what they configure is then as planned."""
    return any(k.endswith(".accept_ra") and v.strip() != "0" for k, v in node.sysctls.items())


def _sysctl_drift(what: str, node: NodePlan, k: Kernel) -> list[str]:
    """Every sysctl the plan sets, as the kernel has it now (one of a missing interface
    is not read: the interface's own drift says it)."""
    from netlab.backends.kernel.preflight import interface_of

    out = []
    for key, want in node.sysctls.items():
        have = k.sysctls.get(key)
        if have is None:
            if (iface := interface_of(key)) is None or iface in k.links:
                out.append(f"{what}: sysctl {key} cannot be read (the plan sets {want})")
        elif have != " ".join(want.split()):
            out.append(f"{what}: sysctl {key} is {have}, the plan sets {want}")
    return out


def _uplink_status(plan: Plan, drift: list[str]) -> NsStatus:
    """The uplink's host end, read in the host's own namespace."""
    up = plan.uplink
    assert up is not None
    k = read_namespace("/proc/thread-self/ns/net")  # where deploy made it
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
