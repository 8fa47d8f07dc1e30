"""The compile pass "routing protocols": every router whose `routing` names a protocol
gets FRR's files and processes in its node plan.

Per router: /etc/frr/frr.conf (the integrated config: hostname, router id, interfaces,
the protocol's router block), /etc/frr/daemons (which daemons run, for FRR's own scripts)
and /etc/frr/vtysh.conf (`service integrated-vtysh-config`), each unless the node's
`files` give it; a startup command making FRR's run directory, and zebra and the
protocol's daemon as `exec` services in the foreground (so netlab tracks their pids),
reading frr.conf with FRR's default paths inside the node's private machine. Such a
router gets no automatic static routes: the protocol finds its routes.

The daemons run as root, in both modes (one plan whatever the backend): FRR's default,
switching to the user `frr`, cannot work in a user namespace (rootless), where `frr` is
not mapped (setuid fails). `-u root` keeps the uid the daemon has, and then FRR changes
neither groups nor gid; it only checks that the user's group list holds its vty group
(`frrvty`), and `-g frrvty` puts it there (as the list's base group). The node's own
root is a root of that node only (its machine, docs/machines.md); rootless, it is the
user. Each daemon logs that it cannot give its vty socket to group frrvty (root keeps
no CAP_CHOWN; rootless, frrvty is unmapped): harmless, vtysh runs as root. The node's
/etc/frr is root's for the same reason (backends/kernel/machine.py).
"""

from __future__ import annotations

import ipaddress
import posixpath

from netlab.compile import addressing, graph
from netlab.compile.context import Build
from netlab.compile.frr import PROTOCOLS, protocols
from netlab.compile.frr.base import Lab, Neighbour, Port, Router
from netlab.errors import Problems, toml_key
from netlab.plan.model import FilePlan, NodePlan
from netlab.topology.model import TopologyFile

FRR_DIR = "/usr/lib/frr"  # where Debian's frr package puts the daemons
CONF = "/etc/frr/frr.conf"
DAEMONS = "/etc/frr/daemons"
VTYSH_CONF = "/etc/frr/vtysh.conf"
RUN_DIR = "/run/frr"  # = /var/run/frr; fresh in every node, so made at startup
# Root's (the daemons run as root, module docstring): `-o frr` cannot work rootless.
RUN_DIR_COMMAND = f"install -d -m 0755 {RUN_DIR}"
VTY_GROUP = "frrvty"  # FRR's vty group (Debian's --enable-vty-group)
RUN_AS = f"-u root -g {VTY_GROUP}"  # see the module docstring
# Each daemon reads the integrated config itself (-f): lines of other daemons are logged
# as unknown and skipped. -A: the vty's TCP listener on the node's own loopback only.
DAEMON_ARGS = f"{RUN_AS} -f {CONF} -A 127.0.0.1"
ZEBRA_ARGS = f"{DAEMON_ARGS} -s 90000000"  # netlink buffer, as Debian's daemons file
# A protocol daemon that finds no zebra retries only after seconds: it waits for zebra's
# socket first, then replaces the waiting shell (exec), so its pid is the service's.
WAIT_ZEBRA = f"while [ ! -S {RUN_DIR}/zserv.api ]; do sleep 0.02; done; exec "


def build(b: Build) -> None:
    """Check every router's protocol settings; give each FRR router its files and
    processes (nothing is generated for a lab with errors: it gets no plan)."""
    tf = b.tf
    running = protocols(tf)
    # Paths each node's files already give (its `files`, its mirrored lab directory).
    given = {n.name: {posixpath.normpath(f.path) for f in n.files}
             | {posixpath.normpath(p) for p in tf.nodes[n.name].files} for n in b.nodes}
    _check_nodes(b, running, given)
    if not running:
        return
    lab = Lab(b, {name: _router(b, name, proto, running, given[name])
                  for name, proto in running.items()})
    for name, r in lab.routers.items():
        if r.router_id is None and not r.handwritten:
            b.problems.error(f"nodes.{toml_key(name)}", f"router {name!r} runs"
                             f" {r.protocol.upper()} but has no IPv4 address to take its"
                             " router id from", f"give nodes.{name} a loopback, e.g."
                             ' loopback = ["10.0.0.1/32"], or an IPv4 address on a link')
    for proto in sorted({r.protocol for r in lab.routers.values()}):
        PROTOCOLS[proto].check(lab)
    if b.problems.errors:
        return
    b.nodes = [_with_frr(lab.routers[n.name], n, given[n.name], lab)
               if n.name in lab.routers else n for n in b.nodes]


def _check_nodes(b: Build, running: dict[str, str], given: dict[str, set[str]]) -> None:
    tf, p = b.tf, b.problems
    for name, node in tf.nodes.items():
        base = f"nodes.{toml_key(name)}"
        if node.routing in PROTOCOLS and name not in running:
            p.error(f"{base}.routing", f"{name!r} is a {node.kind}: routing protocols run on"
                    " routers (hosts keep their static default route)",
                    f'set nodes.{name}.kind = "router", or remove routing')
        if CONF in given.get(name, set()) and name not in running:
            p.warning(f"{base}.files", f"{name!r} runs no routing protocol, so no FRR daemon"
                      f" reads its {CONF}", f'set nodes.{name}.routing to "ospf", "rip" or'
                      ' "bgp" (the daemons it starts read the file), or start FRR in exec')
    if "ospf" not in running.values():
        _unused_ospf_keys(tf, p)
    if tf.lab.routing in PROTOCOLS and not running:
        p.warning("lab.routing", f"routing = {tf.lab.routing!r}, but the lab has no router"
                  " that runs it", 'give the routers kind = "router"')
    if running and (tf.defaults.ipv6 or any(n.ipv6 for n in tf.nodes.values())):
        p.warning("lab.routing", "the generated FRR configs route IPv4 only: IPv6 subnets"
                  " are not advertised", "add IPv6 routes by hand (routes), or write the"
                  f" routers' {CONF} (files)")


def _unused_ospf_keys(tf: TopologyFile, p: Problems) -> None:
    """OSPF's keys in a lab where no router runs OSPF: a warning each (a forgotten
    routing = "ospf" is the likely cause)."""
    keys = [(f"nodes.{toml_key(n)}", x) for n, x in tf.nodes.items()]
    keys += [(f"switches.{toml_key(n)}", x) for n, x in tf.switches.items()]
    keys += [(f"links[{i}]", x) for i, x in enumerate(tf.links)]
    for base, x in keys:
        for key in ("area", "cost"):
            if getattr(x, key, None) is not None:
                p.warning(f"{base}.{key}", f"no router runs OSPF, so {key} is not used",
                          'set routing = "ospf" (in [lab], or on the routers)')


def _router(b: Build, name: str, proto: str, running: dict[str, str], given: set[str]
            ) -> Router:
    tf = b.tf
    node = tf.nodes[name]
    ports = []
    for ifname, i, own, peer in graph.interfaces(b.g, name):
        v4 = [x for x in b.addr.addresses.get((name, ifname), [])
              if isinstance(x, ipaddress.IPv4Interface)]
        if not v4:
            continue
        seg_id = graph.segment_id(i, (own, peer))
        seg = b.addr.segments.get(seg_id)
        neighbours = []
        seen: set[str] = set()
        for m in seg.members if seg is not None else []:
            if m.node == name or running.get(m.node) != proto or m.node in seen:
                continue
            theirs = [x for x in b.addr.addresses.get((m.node, m.ifname), [])
                      if isinstance(x, ipaddress.IPv4Interface)]
            if theirs:
                seen.add(m.node)
                neighbours.append(Neighbour(m.node, str(theirs[0].ip)))
        ports.append(Port(ifname, i, seg_id, peer.name if peer.is_switch else None, v4,
                          peer.name, sorted(neighbours, key=lambda n: addressing.natural(
                              n.node))))
    loop4 = [x for x in node.loopback if isinstance(x, ipaddress.IPv4Interface)]
    if loop4:
        rid: str | None = str(loop4[0].ip)
    else:
        ips = [x.ip for port in ports for x in port.v4]
        rid = str(max(ips)) if ips else None
    default = b.uplink is not None and b.uplink.node == name
    return Router(name, node, proto, ports, loop4, rid, default_route=default,
                  handwritten=CONF in given)


def _with_frr(r: Router, plan: NodePlan, given: set[str], lab: Lab) -> NodePlan:
    proto = PROTOCOLS[r.protocol]
    files = list(plan.files)
    if not r.handwritten:
        files.append(FilePlan(path=CONF, text=frr_conf(lab, r)))
    if DAEMONS not in given:
        files.append(FilePlan(path=DAEMONS, text=daemons_file(r)))
    if VTYSH_CONF not in given:
        files.append(FilePlan(path=VTYSH_CONF, text="service integrated-vtysh-config\n"))
    daemons = [proto.daemon] + (["staticd"] if r.handwritten else [])
    # `exec`: the shell that runs a service becomes the daemon (its pid is the service's).
    services = [f"exec {FRR_DIR}/zebra {ZEBRA_ARGS}"] + [
        f"{WAIT_ZEBRA}{FRR_DIR}/{d} {DAEMON_ARGS}" for d in daemons]
    return plan.model_copy(update={
        "files": files,
        "startup": [RUN_DIR_COMMAND, *plan.startup],
        "exec": services + list(plan.exec),
        # The protocol finds the routes: automatic static ones would only compete.
        "routes": [x for x in plan.routes if x.origin != "auto"],
    })


def frr_conf(lab: Lab, r: Router) -> str:
    lines = [
        f"! FRR configuration of {r.name}, generated by netlab from lab {lab.b.tf.lab.name}"
        f" ({r.protocol}); see docs/routing.md",
        "frr defaults traditional",
        f"hostname {r.name}",
        "log stdout informational",
        "!",
        *PROTOCOLS[r.protocol].config(lab, r),
        "end",
    ]
    return "\n".join(lines) + "\n"


def daemons_file(r: Router) -> str:
    """FRR's daemons file: which daemons this node runs (read by frrinit.sh and watchfrr,
    should someone start FRR by hand; netlab starts the daemons itself)."""
    run = {PROTOCOLS[r.protocol].daemon} | ({"staticd"} if r.handwritten else set())
    names = ["bgpd", "ospfd", "ospf6d", "ripd", "ripngd", "isisd", "pimd", "ldpd", "nhrpd",
             "eigrpd", "babeld", "sharpd", "pbrd", "bfdd", "fabricd", "vrrpd", "pathd"]
    lines = [f"# FRR daemons of {r.name} (generated by netlab; zebra always runs)"]
    lines += [f"{d}={'yes' if d in run else 'no'}" for d in names]
    # FRR's own default user here (-u frr): this file is what `netlab export`'s FRR image
    # starts the daemons from, where `frr` exists.
    lines += ["vtysh_enable=yes", 'zebra_options="  -A 127.0.0.1 -s 90000000"']
    lines += [f'{d}_options="  -A 127.0.0.1"' for d in sorted(run)]
    return "\n".join(lines) + "\n"
