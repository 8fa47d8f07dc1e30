"""What this machine lacks for a lab, found before anything is built: sysctl values the
kernel would refuse, and FRR for labs whose routers run a routing protocol.

Compile checks the shape of a node's `sysctl` keys and values; only the kernel knows
which values it takes (`net.ipv4.ip_forward = 7`: EINVAL) and which keys exist. So the
plan's sysctls are written, exactly as deploy writes them, into scratch network
namespaces: a thread unshares CLONE_NEWNET (it affects that thread only), writes through
a private procfs instance (mounted nowhere: netlab.linux.sysctl.private_proc), and
steps back, so the namespaces vanish with their last reference and nothing anyone sees is
touched. Interface sysctls (`net.ipv6.conf.eth0.accept_ra`) need the interface: the
scratch namespace gets a veth pair of that name (this kernel has no dummy devices).

Deploy writes a node's namespace-wide sysctls when its namespace is made (`default.*`
must be set before any interface exists) and its interface sysctls once its interfaces
exist (`split`); the probe writes them in the same order. Nodes with the same sysctls
share one scratch namespace, so a 1000-host lab costs a handful of them.

Needs root (CAP_SYS_ADMIN for unshare): without it nothing is checked, and deploy (which
needs root anyway) still refuses the value, rolling back what it built.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netlab.errors import Problem, no_such_interface, one_of, toml_key
from netlab.names import SYSCTL_NOT_INTERFACES
from netlab.names import sysctl_interface as interface_of

if TYPE_CHECKING:
    from netlab.plan.model import Plan
    from netlab.topology.model import TopologyFile



def split(sysctls: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(namespace-wide, per-interface) sysctls, each in the plan's order: deploy writes
    the first when the namespace is made, the second once its interfaces exist."""
    early = {k: v for k, v in sysctls.items() if interface_of(k) is None}
    late = {k: v for k, v in sysctls.items() if interface_of(k) is not None}
    return early, late


@dataclass(frozen=True)
class Refused:
    """One sysctl write the kernel refused, in a scratch namespace."""

    key: str
    value: str
    errno: int


def sysctl_problems(model_or_plan: TopologyFile | Plan, source: str = "<topology>",
                    model: TopologyFile | None = None) -> list[Problem]:
    """Errors for every node sysctl the kernel would refuse at deploy, each naming its
    TOML key (nodes.<n>.sysctl."<key>") and the fix. A TopologyFile is compiled first
    (one that does not compile has no problems here: compile reports its own); with a
    Plan, `model` (its topology) tells the file's own keys from those netlab sets for a
    node's kind, which are named as such. Nothing is checked without root: [] then."""
    from netlab.plan.model import Plan

    if os.geteuid() != 0:
        return []
    if isinstance(model_or_plan, Plan):
        plan = model_or_plan
    else:
        from netlab.compile.compiler import compile_topology
        from netlab.errors import TopologyError

        model = model_or_plan
        try:
            plan = compile_topology(model, source).plan
        except TopologyError:
            return []
    own = None if model is None else {name: set(n.sysctl) for name, n in model.nodes.items()}
    # One scratch namespace per distinct set of sysctls (and interface names they need).
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    ifnames: dict[str, set[str]] = {}
    for node in plan.nodes:
        key = tuple(node.sysctls.items())
        groups.setdefault(key, []).append(node.name)
        names = {i.name for i in node.interfaces}
        if plan.uplink is not None and plan.uplink.node == node.name:
            names.add(plan.uplink.ifname)
        ifnames[node.name] = names
    problems: list[Problem] = []
    for key, nodes in groups.items():
        sysctls = dict(key)
        # Create only the interfaces the node has and its sysctls name: a key naming one
        # the node lacks fails in the scratch namespace as it would at deploy.
        wanted = {i for k in sysctls if (i := interface_of(k)) is not None}
        by_have: dict[frozenset[str], list[str]] = {}
        for n in nodes:
            have = frozenset(x for x in wanted if x in ifnames[n])
            by_have.setdefault(have, []).append(n)
        for have, members in by_have.items():
            try:
                refused = probe(sysctls, sorted(have))
            except OSError:  # no scratch namespace here (a confined root): deploy finds out
                return []
            for r in refused:
                for n in members:
                    problems.append(_problem(n, r, ifnames[n], own))
    return problems


def _problem(node: str, r: Refused, ifnames: set[str],
             own: dict[str, set[str]] | None) -> Problem:
    p = _explain(node, r, ifnames, own is None or r.key in own.get(node, set()))
    if own is not None and r.key not in own.get(node, set()):
        # Not the file's key: the node's kind or its addresses (IPv6) need it.
        return Problem(p.path, p.message, "this kernel lacks what netlab needs for such a"
                       " node (e.g. IPv6 turned off at boot): use a kernel that has it")
    return p


def _explain(node: str, r: Refused, ifnames: set[str], mine: bool) -> Problem:
    path = f"nodes.{toml_key(node)}" + (f".sysctl.{toml_key(r.key)}" if mine else "")
    what = f"sysctl {r.key} = {r.value}" if mine \
        else f"sysctl {r.key} = {r.value} (netlab sets it for this node)"
    iface = interface_of(r.key)
    if r.errno == errno.ENOENT and iface is not None and iface not in ifnames:
        return Problem(path, f"{what} is a setting of interface {iface!r}, but "
                       + no_such_interface(node, iface, sorted(ifnames)),
                       one_of([*sorted(ifnames), *sorted(SYSCTL_NOT_INTERFACES)]))
    if r.errno in (errno.ENOENT, errno.EISDIR):
        return Problem(path, f"{what}: this kernel has no such sysctl in a network"
                       " namespace", "check the name (`sysctl -a | grep ...` on this"
                       " machine lists them), or remove the key")
    if r.errno in (errno.EPERM, errno.EACCES):
        return Problem(path, f"{what}: the kernel does not let a network namespace set it"
                       f" ({os.strerror(r.errno)})", "remove the key: only the host's own"
                       " namespace can change it")
    return Problem(path, f"{what}: the kernel refuses this value ({os.strerror(r.errno)})",
                   "use a value the kernel takes (see the kernel's ip-sysctl documentation"
                   " for the key's range)")


def probe(sysctls: dict[str, str], interfaces: list[str]) -> list[Refused]:
    """Write `sysctls` as deploy would (namespace-wide ones, then veth `interfaces`, then
    the per-interface ones) in a scratch namespace; the writes the kernel refused."""
    out: list[Refused] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out.extend(_probe_here(sysctls, interfaces))
        except BaseException as e:  # re-raised in the caller's thread
            failure.append(e)

    t = threading.Thread(target=run, name="probe-sysctl")
    t.start()
    t.join()
    if failure:
        raise failure[0]
    return out


def _probe_here(sysctls: dict[str, str], interfaces: list[str]) -> list[Refused]:
    from netlab.linux import sysctl
    from netlab.linux.netns import CLONE_NEWNET, setns, unshare

    early, late = split(sysctls)
    refused: list[Refused] = []
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            with sysctl.private_proc():
                _write(early, refused)
                if late and interfaces:
                    _veths(interfaces)
                _write(late, refused)
        finally:
            setns(own, CLONE_NEWNET)  # the scratch namespace goes with its last reference
    finally:
        os.close(own)
    return refused


def _write(values: dict[str, str], refused: list[Refused]) -> None:
    from netlab.linux import sysctl

    for key, value in values.items():
        try:
            sysctl.write_sysctl(key, value)
        except OSError as e:
            refused.append(Refused(key, value, e.errno or errno.EINVAL))


def _veths(names: list[str]) -> None:
    """A veth pair per name, in this thread's (scratch) namespace; peers get names no
    node interface can have here (they are not in `names`)."""
    from netlab.linux import netlink as nl

    sock = nl.open_socket()
    try:
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            b = nl.Batch(sock, "scratch")
            taken = set(names)
            k = 0
            for name in names:
                while f"nlpf{k}" in taken:
                    k += 1
                peer = f"nlpf{k}"
                taken.add(peer)
                nl.new_veth(b, name=name, index=0, fd=fd, mtu=1500, peer=peer,
                            peer_index=0, peer_fd=fd, peer_mtu=1500)
            b.flush()
        finally:
            os.close(fd)
    finally:
        sock.close()


# -- FRR -----------------------------------------------------------------------------------

FRR_PACKAGE = "frr"  # the Debian package with the daemons and vtysh
FRR_DAEMONS = Path("/usr/lib/frr")  # where that package puts zebra, ospfd, ripd, bgpd...
VTYSH = Path("/usr/bin/vtysh")


def frr_problems(model: TopologyFile) -> list[Problem]:
    """An error when routers of the lab run a protocol whose FRR programs this machine
    lacks (zebra, the protocol's daemon, vtysh), naming the package to install; [] if the
    lab runs none, or FRR is there. Where the protocol is chosen is the key named."""
    from netlab.compile.frr import PROTOCOLS, protocols

    running = protocols(model)
    if not running:
        return []
    needed: dict[Path, None] = {FRR_DAEMONS / "zebra": None}
    for proto in sorted(set(running.values())):
        needed[FRR_DAEMONS / PROTOCOLS[proto].daemon] = None
    needed[VTYSH] = None
    missing = [p for p in needed if not os.access(p, os.X_OK)]
    lab_wide = model.lab.routing in running.values()
    where = "lab.routing" if lab_wide else "nodes." + toml_key(
        next(n for n in running if model.nodes[n].routing is not None))
    names = sorted(set(running.values()))
    if not missing:
        return _frr_group_problems(where, names)
    return [Problem(where, f"routers run {' and '.join(names)}, but FRR is not installed on"
                    f" this machine (no {', '.join(map(str, missing))})",
                    f"install the Debian package {FRR_PACKAGE!r}: apt-get install"
                    f" {FRR_PACKAGE} (scripts/install.sh does)")]


def _frr_group_problems(where: str, names: list[str]) -> list[Problem]:
    """The daemons run with `-g frrvty` (compile/frr/plans.py): without that group FRR
    exits at start ("could not lookup group"). The Debian package makes it."""
    import grp

    from netlab.compile.frr.plans import VTY_GROUP

    try:
        grp.getgrnam(VTY_GROUP)
        return []
    except KeyError:
        return [Problem(where, f"routers run {' and '.join(names)}, but this machine has no"
                        f" group {VTY_GROUP!r} (FRR's vty group, which netlab starts FRR's"
                        " daemons with)", f"add it: groupadd --system {VTY_GROUP} (the"
                        f" Debian package {FRR_PACKAGE!r} makes it)")]
