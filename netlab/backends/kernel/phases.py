"""The phases of deploy: each builds one kind of kernel object of a Plan
(netlab.backends.kernel.apply runs them in order and rolls back on any failure).

No fork per object: namespaces are created by unshare(2) in this thread (and a second
one, for large labs) and pinned by bind mounts; every link (bridges, veths with both ends
placed straight into their namespaces) goes out in one netlink batch from the host's
namespace; each node then gets one batch (peer end up, addresses, routes) on a socket
opened inside it (which also gave the namespace's cookie and set lo up with netlab's
marker, before the namespace was pinned: netlab.linux.namespaces). Interfaces get
explicit ifindexes, so nothing is looked up (except the uplink's host end, and shaped ends
in the shaping phase). On this VM's ext4 a new inode costs ~0.4-1 ms of CPU: the
/run/netns placeholders are hard links to one file, and the per-node files live in the
lab's tmpfs (/etc/netns/<ns> entries are hard links to one symlink into it per distinct
content). Speed figures and what was tried: docs/performance.md.

PHASES is the ordered list of (name, step); a new kind of kernel object is a new entry
there (link shaping is one, from netlab.backends.kernel.shaping). A step gets the Context
(plan, journal, per-namespace sockets and ifindexes) and may raise; deploy then destroys
everything the journal lists. Steps call `ctx.interrupts.check()` where a deferred Ctrl-C may stop
them (never between creating an object and journaling it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from netlab.backends.kernel import entry, files, machine, preflight, procs, shaping, uplink
from netlab.errors import NetlabError
from netlab.linux import mounts, namespaces, netlink, nft, ownership, sysctl
from netlab.linux.netns import CLONE_NEWNET, NETNS_RUN_DIR, netns_path, setns
from netlab.plan.model import NodePlan, Plan
from netlab.state import layout
from netlab.state.journal import Record

# Switch namespaces carry only a bridge: no IPv6 on their ports spares the kernel an
# addrconf/MLD round per port (frames of every protocol are still bridged).
SWITCH_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": "1",
                  "net.ipv6.conf.default.disable_ipv6": "1"}


class DeployError(NetlabError):
    pass


@dataclass
class NsHandle:
    name: str
    fd: int  # the namespace itself, for IFLA_NET_NS_FD
    sock: socket.socket | None = None  # rtnetlink socket bound inside it (nodes only)
    next_index: int = 2  # 1 is lo
    ifindex: dict[str, int] = field(default_factory=dict)
    down: list[tuple[int, str]] = field(default_factory=list)  # veth peers to set up

    def new_index(self, ifname: str) -> int:
        self.ifindex[ifname] = self.next_index
        self.next_index += 1
        return self.ifindex[ifname]


@dataclass
class Context:
    plan: Plan
    record: Record
    origin: namespaces.Origin
    root: socket.socket  # rtnetlink socket in the host's namespace
    ns: dict[str, NsHandle] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # for steps added by other modules
    threads: dict[str, tuple[threading.Thread, list[BaseException]]] = field(
        default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)  # stop the threads
    # This deploy's token, in every namespace's marker and in the placeholders' mark.
    token: str = field(default_factory=lambda: f"{layout.run_tag()}.{secrets.token_hex(6)}")
    interrupts: Interrupts = field(default_factory=lambda: Interrupts())

    def ifindex(self, netns: str, ifname: str) -> int:
        return self.ns[netns].ifindex[ifname]

    def background(self, name: str, fn: Callable[[], object]) -> None:
        """Run fn in a thread (it must not change namespaces); `join` re-raises its error."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                fn()
            except BaseException as e:  # handed to join()
                errors.append(e)

        t = threading.Thread(target=run, name=f"netlab-{name}", daemon=True)
        self.threads[name] = (t, errors)
        t.start()

    def join(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.threads):
            if key not in self.threads:
                continue
            t, errors = self.threads.pop(key)
            t.join()
            if errors:
                raise errors[0]

    def close(self) -> None:
        builder = self.extra.pop("machines", None)
        if builder is not None:  # mount namespaces made but never pinned: let them go
            builder.close()
        for h in self.ns.values():
            if h.sock is not None:
                h.sock.close()
            os.close(h.fd)
        self.ns.clear()


Step = Callable[[Context], None]


# --- phases ---------------------------------------------------------------------------


def make_placeholders(ctx: Context) -> None:
    """The /run/netns files the namespaces are mounted onto. The first is created with
    netlab's mark (trusted.netlab, see namespaces.placeholder), the others are hard links
    to it, sharing the mark: on this VM's ext4 a new inode costs ~1 ms of CPU, a link
    ~0.01 ms (500 placeholders: 5 ms instead of 0.5 s). link() fails like O_EXCL when the
    name is taken. Each is journaled just before it is made: a deploy killed right after
    making one still leaves it journaled; one killed before leaves a journaled name that
    someone else may take, which destroy tells apart by the mark (files) or the marker
    (namespaces)."""
    first: str | None = None
    mark = ownership.file_marker(ctx.plan.lab, ctx.token)
    for name in _creation_order(ctx.plan):
        path = netns_path(name)
        ctx.record.add(kind="placeholder", path=path, token=ctx.token)
        if first is None:
            namespaces.placeholder(path, mark)
            first = path
        else:
            os.link(first, path)


def _creation_order(plan: Plan) -> list[str]:
    return [s.netns for s in plan.switches] + [n.netns for n in plan.nodes]


def write_files(ctx: Context) -> None:
    """The per-node DNS files (/etc/netns), journaled first.

    In this thread: a background thread overlapping them with the kernel work was tried
    (before, during and after namespace creation) and was slower on this 2-CPU VM, 1.4-1.9 s
    against 1.3-1.6 s at 500 nodes: the ext4 work slows namespace and veth creation down.
    """
    store_dir = files.store_dir(str(layout.run_dir()), ctx.plan.lab)
    entries = [(n, files.plan_entry(n, store_dir)) for n in ctx.plan.nodes]
    ctx.record.add_many([e for _, e in entries])
    files.write_all(entries, ctx.plan.hosts)


# Below this many nodes a second thread costs more than it saves.
PARALLEL_NODES = 64


def create_namespaces(ctx: Context) -> None:
    """Every namespace: switches first, then nodes, the second half of them in a second
    thread (setns/unshare act per thread). Namespace creation does not hold the RTNL lock
    throughout, so two threads overlap well on two CPUs (500-node star: 0.32 s -> 0.2 s);
    overlapping namespace with link creation was measured 2x slower (both need RTNL).
    """
    mounts.ensure_run_dirs(NETNS_RUN_DIR)
    make_placeholders(ctx)
    with sysctl.private_proc():  # sysctl writes in O(1), not O(namespaces alive)
        for sw in ctx.plan.switches:
            ctx.ns[sw.netns] = _create_switch_ns(ctx, sw.netns)
            ctx.interrupts.check()
        nodes = ctx.plan.nodes
        half = len(nodes) // 2 if len(nodes) >= PARALLEL_NODES else len(nodes)
        if half < len(nodes):
            ctx.background("namespaces", lambda: _create_nodes_in_thread(ctx, nodes[half:]))
        for node in nodes[:half]:
            ctx.ns[node.netns] = _create_node_ns(ctx, node, ctx.origin)
            ctx.interrupts.check()
        ctx.join("namespaces")


def _create_nodes_in_thread(ctx: Context, nodes: list[NodePlan]) -> None:
    origin = namespaces.Origin()  # this thread's own namespaces, to step back into
    try:
        with sysctl.private_proc():
            for node in nodes:
                if ctx.cancel.is_set():
                    return
                ctx.ns[node.netns] = _create_node_ns(ctx, node, origin)
    finally:
        origin.close()


def _create_switch_ns(ctx: Context, netns: str) -> NsHandle:
    c = namespaces.create(ctx.origin, netns, _marker(ctx, netns), made=True,
                          inside=lambda: _sysctls(SWITCH_SYSCTLS, ""))
    c.sock.close()  # a switch gets no batch of its own: its bridge comes from the host's
    ctx.record.add(**_netns_entry(ctx, c))
    return NsHandle(netns, c.fd)


def _create_node_ns(ctx: Context, node: NodePlan, origin: namespaces.Origin) -> NsHandle:
    def inside() -> None:
        # default.* keys must be set before any interface is created in here; those of
        # one interface wait for it (set_interface_sysctls).
        _sysctls(preflight.split(node.sysctls)[0], node.name)

    uts = procs.uts_path(ctx.plan.lab, node.name)
    c = namespaces.create(origin, node.netns, _marker(ctx, node.netns), uts, node.hostname,
                          inside, made=True, lo_up=True)
    assert c.uts is not None
    ctx.record.add_many([
        _netns_entry(ctx, c),
        {"kind": "uts", "path": c.uts.path, "dev": c.uts.dev, "ino": c.uts.ino},
    ])
    return NsHandle(node.netns, c.fd, c.sock)


def _marker(ctx: Context, netns: str) -> str:
    return ownership.marker(ctx.plan.lab, netns, ctx.token)


def _netns_entry(ctx: Context, c: namespaces.Created) -> dict[str, Any]:
    """The journal entry of a new namespace: its cookie proves it is this one."""
    return {"kind": "netns", "path": c.netns.path, "dev": c.netns.dev, "ino": c.netns.ino,
            "cookie": c.netns.cookie, "token": ctx.token}


def _sysctls(values: dict[str, str], node: str) -> None:
    for key, value in values.items():
        try:
            sysctl.write_sysctl(key, value)
        except OSError as e:
            where = f" of node {node}" if node else ""
            iface = preflight.interface_of(key)
            why = f"no interface {iface} (the key names it)" if iface and e.errno == errno.ENOENT \
                else e.strerror
            raise DeployError(f"cannot set sysctl {key} = {value}{where}: {why}") from None


def create_links(ctx: Context) -> None:
    """Bridges, then every veth pair, in one batch sent from the host's namespace."""
    b = netlink.Batch(ctx.root, "host")
    switch_ns = {}
    for sw in ctx.plan.switches:
        h = ctx.ns[sw.netns]
        index = h.new_index(sw.bridge)
        netlink.new_bridge_in(b, index, sw.bridge, sw.mtu, h.fd, sw.stp, sw.ageing)
        switch_ns[sw.netns] = index
    # Ends of switch-to-switch links in their second switch: enslaved from inside it
    # (the kernel sets no master on a veth peer at creation): netns -> (index, ifname)
    ports: dict[str, list[tuple[int, str]]] = {}
    for v in ctx.plan.veths:
        main, peer = (v.b, v.a) if v.b.netns in switch_ns and v.a.netns not in switch_ns \
            else (v.a, v.b)
        hm, hp = ctx.ns[main.netns], ctx.ns[peer.netns]
        peer_index = hp.new_index(peer.ifname)
        if peer.netns in switch_ns:
            ports.setdefault(peer.netns, []).append((peer_index, peer.ifname))
        else:
            hp.down.append((peer_index, peer.ifname))
        netlink.new_veth(
            b, name=main.ifname, index=hm.new_index(main.ifname), fd=hm.fd, mtu=main.mtu,
            master=switch_ns.get(main.netns, 0), peer=peer.ifname,
            peer_index=peer_index, peer_fd=hp.fd, peer_mtu=peer.mtu,
            mac=main.mac, peer_mac=peer.mac)
    up = ctx.plan.uplink
    if up is not None:
        node = ctx.ns[up.netns]
        ctx.record.add(kind="hostlink", ifname=up.host_ifname, ifindex=None)
        peer_index = node.new_index(up.ifname)
        node.down.append((peer_index, up.ifname))
        netlink.new_veth(
            b, name=up.host_ifname, index=0, fd=ctx.origin.net, mtu=1500, peer=up.ifname,
            peer_index=peer_index, peer_fd=node.fd, peer_mtu=1500)
    b.flush()
    for netns, ends in ports.items():
        setns(ctx.ns[netns].fd, CLONE_NEWNET)
        try:
            sock = netlink.open_socket()
        finally:
            setns(ctx.origin.net, CLONE_NEWNET)
        with sock:
            sb = netlink.Batch(sock, netns)
            for index, ifname in ends:
                netlink.enslave_up(sb, index, ifname, switch_ns[netns])
            sb.flush()
    if up is not None:
        # Journal the host end by ifindex at once: destroy deletes it only by that index.
        index = netlink.link_index(ctx.root, up.host_ifname)
        if index is None:
            raise DeployError(f"uplink interface {up.host_ifname} vanished")
        ctx.record.add(kind="hostlink", ifname=up.host_ifname, ifindex=index)
        ctx.extra["uplink_ifindex"] = index


def set_interface_sysctls(ctx: Context) -> None:
    """Sysctls of one interface (net.ipv6.conf.eth0.accept_ra), now that it exists and
    before it is up or has addresses; this thread steps into each node that has any."""
    todo = [(node, late) for node in ctx.plan.nodes
            if (late := preflight.split(node.sysctls)[1])]
    if not todo:
        return
    with sysctl.private_proc():
        for node, values in todo:
            setns(ctx.ns[node.netns].fd, CLONE_NEWNET)
            try:
                _sysctls(values, node.name)
            finally:
                setns(ctx.origin.net, CLONE_NEWNET)
    ctx.interrupts.check()


def configure_addresses(ctx: Context) -> None:
    """Per node: peer ends up, addresses, then routes (whose gateways need the
    addresses). lo was brought up with its marker, when the namespace was made."""
    up = ctx.plan.uplink
    for node in ctx.plan.nodes:
        h = ctx.ns[node.netns]
        assert h.sock is not None
        b = netlink.Batch(h.sock, node.netns)
        for index, ifname in h.down:
            netlink.link_up(b, index, ifname)
        for iface in node.interfaces:
            for cidr in iface.addresses:
                netlink.add_address(b, h.ifindex[iface.name], iface.name, cidr)
        for cidr in node.loopback:
            netlink.add_address(b, 1, "lo", cidr)  # lo is ifindex 1 in every namespace
        if up is not None and up.node == node.name:
            netlink.add_address(b, h.ifindex[up.ifname], up.ifname, up.node_address)
        for r in node.routes:
            oif = h.ifindex.get(r.dev, 0) if r.dev else 0
            netlink.add_route(b, r.to, r.via, oif, r.dev)
        b.flush()
    ctx.interrupts.check()


def enable_uplink(ctx: Context) -> None:
    if ctx.plan.uplink is not None:
        uplink.enable_host(ctx.plan, ctx.record, ctx.root, ctx.extra["uplink_ifindex"])


def load_nftables(ctx: Context) -> None:
    for node in ctx.plan.nodes:
        if node.nftables:
            nft.load(node.nftables, node.netns, f"node {node.name}")
            ctx.interrupts.check()


def start_machines(ctx: Context) -> None:
    """Start making every node's private machine (backends/kernel/machine.py: its
    directories, mount namespace and files) in the background: mounting overlaps the
    netlink work of the link and address phases (different kernel locks, two CPUs).
    build_machines waits for it and pins what it made."""
    lab, nodes = ctx.plan.lab, ctx.plan.nodes
    if not nodes:
        return
    machine.prepare(lab)
    builder = machine.Builder(lab, nodes, {n.netns: ctx.ns[n.netns].fd for n in nodes},
                              ctx.plan.hosts, cancel=ctx.cancel)
    ctx.extra["machines"] = builder  # Context.close closes what was not pinned
    ctx.background("machines", builder.run)


def build_machines(ctx: Context) -> None:
    """The nodes' mount namespaces, made in the background since start_machines, each
    journaled and pinned here; then the init of each node's PID namespace."""
    lab, nodes = ctx.plan.lab, ctx.plan.nodes
    builder: machine.Builder | None = ctx.extra.get("machines")
    if builder is None:
        return
    ctx.join("machines")
    try:
        for made in builder.made:
            st = os.fstat(made.fd)
            ctx.record.add(kind="mntns", node=made.node, path=machine.pin_path(lab, made.node),
                           dev=st.st_dev, ino=st.st_ino)
            machine.pin(lab, made)
    finally:
        builder.close()
    ctx.interrupts.check()
    inits = {}
    for node in nodes:
        if node.pid:
            h = entry.open_handles(lab, node, procs.uts_path(lab, node.name), None, pid=False)
            try:
                pid = entry.start_init(h)
            finally:
                h.close()
            ctx.record.add(kind="init", node=node.name, pid=pid, start=procs.start_time(pid))
            inits[node.name] = pid
            ctx.interrupts.check()
    entry.wait_inits(inits)


# Nodes whose startup commands run at the same time (each waits on its own commands).
STARTUP_WORKERS = 8


def run_startup(ctx: Context) -> None:
    """Every node's `startup` commands, in order within a node, nodes side by side."""
    todo = [n for n in ctx.plan.nodes if n.startup]
    if not todo:
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(STARTUP_WORKERS, len(todo))) as pool:
        futures = [pool.submit(procs.run_startup, ctx.plan.lab, n, ctx.record) for n in todo]
        for f in futures:
            f.result()  # the first failure, in node order; the rest still finish
    ctx.interrupts.check()


def start_processes(ctx: Context) -> None:
    for node in ctx.plan.nodes:
        for k, command in enumerate(node.exec):
            ctx.record.add(**procs.start(ctx.plan.lab, node, command, k, ctx.record))
            ctx.interrupts.check()


PHASES: list[tuple[str, Step]] = [
    ("namespaces", create_namespaces),
    ("machines start", start_machines),  # in the background until "machines"
    ("links", create_links),
    ("ifsysctls", set_interface_sysctls),
    ("addresses", configure_addresses),
    ("uplink", enable_uplink),
    ("files", write_files),
    ("machines", build_machines),  # each node's mount namespace pinned; PID namespaces
    ("nftables", load_nftables),
    ("shaping", shaping.deploy_step),  # rate/delay/jitter/loss of link ends (issue 7)
    ("startup", run_startup),  # each node's startup commands, once
    ("processes", start_processes),
]


# --- interrupts -------------------------------------------------------------------------

class Interrupts:
    """Ctrl-C (and SIGTERM) during one deploy, held back to the next `check()` so that a
    namespace is never created without being journaled; there they raise
    KeyboardInterrupt. One per deploy, on its Context (not module state)."""

    def __init__(self) -> None:
        self.pending: list[int] = []

    def check(self) -> None:
        if self.pending:
            self.pending.clear()
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold the signals back for the body (main thread only: signal handlers are)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in saved:
            signal.signal(s, lambda signum, frame: self.pending.append(signum))
        try:
            yield
            self.check()
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
            self.pending.clear()
