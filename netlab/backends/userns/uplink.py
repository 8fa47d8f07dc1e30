"""The uplink without root: slirp4netns, a user-mode network, gives the uplink node a tap
interface whose other side is a TCP/IP stack in an ordinary process of the user's, in the
host's network namespace. Connections the node makes through it are made again by that
process, as the user, from the host (10.0.2.2 is the host's own loopback): the lab gets
the host's internet access, and nothing of the host changes.

Who does what (docs/rootless.md, "Internet access"):

- The process that runs the verb is in the user's namespaces (join.py), where no socket
  of the host's network namespace can be made, so slirp4netns is started from outside:
  for `deploy`, join.py forks a *launcher* before joining (`start_launcher`), which stays
  in the host's namespaces and starts slirp4netns on request (`_serve`). The request
  carries descriptors of the node's network namespace and of the user namespace
  (SCM_RIGHTS); slirp4netns joins them (`--userns-path`, `--netns-type=path`) to make
  the tap, then serves it from the host's namespace. The launcher ends with the command.
- Its lifetime is tied to the lab by a pipe (`--exit-fd`: slirp4netns ends when the
  write end closes). The write end is held by a *keeper*, a small process in the user's
  PID namespace, journaled like an `exec` service of the uplink node: destroy ends it
  (and so slirp4netns), and when the holder dies the kernel ends it with every other
  process of the user's labs. The keeper also holds a pidfd of slirp4netns and ends when
  slirp4netns does, so `netlab status` shows a dead uplink as drift.
- Addresses are slirp4netns's: the node 10.0.2.100/24, the gateway 10.0.2.2 (the host's
  loopback), no DNS (`--disable-dns`: nothing is sent to the host's resolvers). The plan's
  uplink is rewritten to them (`rootless_plan`), the rest of the plan (default routes of
  the other routers towards the node, masquerade on the node's uplink) is as with root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.errors import Problem
    from netlab.plan.model import Plan
    from netlab.topology.model import TopologyFile

HELPER = "slirp4netns"
PACKAGE = "slirp4netns"  # Debian and Ubuntu, Fedora, Arch alike
TUN = "/dev/net/tun"
NETWORK = ipaddress.IPv4Network("10.0.2.0/24")  # slirp4netns's default network
GATEWAY = "10.0.2.2"  # slirp4netns's address: connections to it reach the host's 127.0.0.1
NODE_ADDRESS = "10.0.2.100/24"  # what slirp4netns --configure would give the tap
HOST_IFNAME = "slirp4netns"  # the plan's name for the "host end" (nothing in a namespace)
MTU = 65520  # slirp4netns's maximum: ~3x the throughput of 1500 (see docs/rootless.md)
READY_TIMEOUT = 10.0
KEEPER = "netlab-uplink"  # the keeper's argv[0]: what `ps` shows
COMMAND = "slirp4netns (uplink)"  # how the keeper is journaled and shown by status

# Set by join.py in the process that runs `deploy`: its end of the launcher's socket.
launcher_fd: int | None = None


def helper() -> str | None:
    """Where slirp4netns is, or None."""
    return shutil.which(HELPER)


def _fix(first: str) -> str:
    return f"{first}; or remove the [uplink] section; or deploy as root (sudo netlab deploy ...)"


def problems(model: TopologyFile, plan: Plan | None) -> list[Problem]:
    """Why this lab's [uplink] cannot be made without root: said before anything is
    built (validate and deploy)."""
    from netlab.errors import Problem

    up = model.uplink
    if up is None:
        return []
    out = []
    what = ("an uplink connects the lab to the host; without root netlab makes it with"
            f" {HELPER}, a user-mode network that gives the node the host's internet"
            " access")
    if helper() is None:
        out.append(Problem("uplink", f"{what}, and {HELPER} is not installed",
                           _fix(f"ask the administrator to install it (apt-get install"
                                f" {PACKAGE})")))
    elif not os.access(TUN, os.R_OK | os.W_OK):
        try:
            mode = f" (mode {os.stat(TUN).st_mode & 0o777:04o})"
        except OSError:
            mode = " (it does not exist)"
        out.append(Problem(
            "uplink", f"{what}; {HELPER} needs {TUN}, which you may not open{mode}",
            _fix(f"ask the administrator to let everyone open it, as most distributions"
                 f" do: chmod 0666 {TUN} (and a udev rule KERNEL==\"tun\", MODE=\"0666\""
                 " to keep it)")))
    if up.subnet is not None:
        out.append(Problem(
            "uplink.subnet", f"without root the uplink is {HELPER}'s own network {NETWORK}"
            f" (the node {NODE_ADDRESS}, the host {GATEWAY}), not {up.subnet}",
            "remove uplink.subnet (or deploy as root)"))
    if not up.isolated:
        out.append(Problem(
            "uplink.isolated", f"without root each lab's uplink is a {HELPER} network of"
            " its own: labs cannot reach each other through the host",
            "remove uplink.isolated (or deploy as root)"))
    if plan is not None:
        for node in plan.nodes:
            for i in node.interfaces:
                for a in i.addresses:
                    x = ipaddress.ip_interface(a)
                    if x.version == 4 and x.network.overlaps(NETWORK):
                        out.append(Problem(
                            f"nodes.{node.name}", f"{node.name}:{i.name} has {a}, inside"
                            f" {NETWORK}, the network of the uplink without root",
                            f"use addresses outside {NETWORK} (or deploy as root)"))
    return out


def rootless_plan(plan: Plan) -> Plan:
    """The plan with the uplink as slirp4netns makes it: node 10.0.2.100/24, gateway
    10.0.2.2 (the node's default route from the uplink goes there)."""
    up = plan.uplink
    if up is None or (up.host_ifname == HOST_IFNAME and up.node_address == NODE_ADDRESS):
        return plan
    gw = f"{GATEWAY}/{NETWORK.prefixlen}"
    new_up = up.model_copy(update={"host_ifname": HOST_IFNAME, "host_address": gw,
                                   "node_address": NODE_ADDRESS})
    nodes = [n if n.name != up.node else n.model_copy(update={"routes": [
        r.model_copy(update={"via": GATEWAY}) if r.origin == "uplink" else r
        for r in n.routes]}) for n in plan.nodes]
    return plan.model_copy(update={"uplink": new_up, "nodes": nodes})


def inner_plan(plan: Plan) -> Plan:
    """What the kernel backend builds: the plan without the uplink and without the
    routes over it (made once the tap exists: `attach`)."""
    up = plan.uplink
    assert up is not None
    nodes = [n if n.name != up.node else n.model_copy(update={"routes": [
        r for r in n.routes if r.origin != "uplink"]}) for n in plan.nodes]
    return plan.model_copy(update={"uplink": None, "nodes": nodes})


# --- in the user's namespaces: deploy's side ------------------------------------------

class UplinkError(Exception):
    """The uplink could not be made (deploy then removes the lab)."""


def attach(plan: Plan) -> None:
    """After the kernel backend built `inner_plan(plan)`: start slirp4netns on the
    uplink node (through the launcher), configure its tap, start and journal the keeper,
    and save the whole plan. UplinkError if anything fails (the caller destroys the lab)."""
    from netlab.linux import netns
    from netlab.state.journal import Record
    from netlab.state.locks import lab_lock
    from netlab.state.plans import write_plan

    up = plan.uplink
    assert up is not None
    if launcher_fd is None:
        raise UplinkError(f"{HELPER} must be started from outside your namespaces, which"
                          " only the netlab command does: run `netlab deploy`")
    node = next(n for n in plan.nodes if n.name == up.node)
    with lab_lock(plan.lab):
        ns_fd = netns.open_ns(netns.netns_path(up.netns), node=up.node)
        user_fd = os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        try:
            exit_w, pidfd, host_pid = _request(up.ifname, [user_fd, ns_fd])
        finally:
            os.close(user_fd)
            os.close(ns_fd)
        try:
            _configure(plan)
            entry = _start_keeper(plan.lab, node.name, exit_w, pidfd, host_pid,
                                  len(node.exec))
        finally:
            os.close(exit_w)  # the keeper has its copy: slirp4netns lives as long as it
            os.close(pidfd)
        record = Record(plan.lab).open()
        try:
            record.add(entry)  # type: ignore[arg-type]
        finally:
            record.close()
        write_plan(plan.lab, plan)


def _request(ifname: str, fds: list[int]) -> tuple[int, int, int]:
    """Ask the launcher for slirp4netns on a tap `ifname` in the namespace of fds[1]:
    (the exit pipe's write end, a pidfd of slirp4netns, its pid in the host's PID
    namespace)."""
    assert launcher_fd is not None
    sock = socket.socket(fileno=launcher_fd)
    try:
        socket.send_fds(sock, [f"slirp {ifname}".encode()], fds)
        msg, got, _, _ = socket.recv_fds(sock, 4096, 2)
    except OSError as e:
        raise UplinkError(f"the process starting {HELPER} did not answer ({e})") from None
    finally:
        sock.detach()  # the descriptor stays open: it is launcher_fd
    text = msg.decode(errors="replace")
    if not text.startswith("ok ") or len(got) != 2:
        for fd in got:
            os.close(fd)
        raise UplinkError(text.removeprefix("error ") or f"{HELPER} did not start")
    return got[0], got[1], int(text.split()[1])


def _configure(plan: Plan) -> None:
    """The tap in the node: MTU, up, the address, then the node's routes over it."""
    from netlab.linux import netlink, netns

    up = plan.uplink
    assert up is not None
    node = next(n for n in plan.nodes if n.name == up.node)
    with netns.entered(up.netns):
        sock = netlink.open_socket()
    with sock:
        index = netlink.link_index(sock, up.ifname)
        if index is None:
            raise UplinkError(f"{HELPER} made no interface {up.ifname!r} in {up.node}")
        b = netlink.Batch(sock, up.node)
        b.add(netlink.RTM_NEWLINK, 0, netlink.ifinfo(index)
              + netlink.attr_u32(netlink.IFLA_MTU, MTU), f"set {up.ifname} mtu {MTU}")
        netlink.link_up(b, index, up.ifname)
        netlink.add_address(b, index, up.ifname, up.node_address)
        for r in node.routes:
            if r.origin == "uplink":
                netlink.add_route(b, r.to, r.via, index, up.ifname)
        b.flush()


# The keeper's whole life: hold the exit pipe (fd 3) until SIGTERM, or until slirp4netns
# ends (its pidfd, fd 4, becomes readable).
_KEEP = """import select, sys
select.select([4], [], [])
sys.stderr.write("netlab: slirp4netns (the uplink) ended\\n")
"""


def _start_keeper(lab: str, node: str, exit_w: int, pidfd: int, host_pid: int,
                  index: int) -> dict[str, object]:
    from netlab.backends.kernel import procs

    log = procs.log_path(lab, node)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                  0o600)
    os.write(out, f"--- netlab: {HELPER} runs the uplink (pid {host_pid} on the host)\n"
             .encode())
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child execs)
        try:
            os.setsid()  # a session of its own: destroy ends it as it ends a service
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.dup2(exit_w, 3)
            os.dup2(pidfd, 4)
            os.closerange(5, os.sysconf("SC_OPEN_MAX"))
            os.execv(sys.executable, [KEEPER, "-I", "-S", "-c", _KEEP])
        finally:
            os._exit(127)
    os.close(out)
    started = procs.start_time(pid)
    # The keeper is what destroy ends; slirp4netns's own pid (outside the user's PID
    # namespace, so not signalled from here) is recorded for people and tests.
    return {"kind": "proc", "node": node, "index": index,
            "command": f"{COMMAND}: host pid {host_pid}", "pid": pid, "start": started,
            "log": str(log)}


# --- outside: the launcher ----------------------------------------------------------

def start_launcher() -> None:
    """Called by join.py for `deploy`, before it joins the user's namespaces: fork the
    launcher, which stays outside, and keep our end of its socket in `launcher_fd`. The
    launcher ends when every copy of that end is closed (the command ended)."""
    global launcher_fd
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a child: never returns)
        code = 0
        try:
            ours.close()
            _serve(theirs)
        except BaseException:  # noqa: BLE001  (Ctrl-C, anything: just end)
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    launcher_fd = ours.detach()


def _serve(sock: socket.socket) -> None:
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
        except OSError:
            return
        if not msg:
            return  # the command ended
        out: list[int] = []
        try:
            reply, out = _spawn(msg.decode(errors="replace"), fds)
        except Exception as e:  # noqa: BLE001  (told to the deploy, which says it)
            reply = f"error {e}"
        finally:
            for fd in fds:
                os.close(fd)
        try:
            socket.send_fds(sock, [reply.encode()], out)
        finally:
            for fd in out:
                os.close(fd)


def _spawn(request: str, fds: list[int]) -> tuple[str, list[int]]:
    """Start slirp4netns for `slirp IFNAME` with fds [user namespace, network namespace];
    once its tap exists: ("ok PID", [exit pipe write end, pidfd])."""
    from netlab.names import ifname_problem

    parts = request.split()
    if len(parts) != 2 or parts[0] != "slirp" or ifname_problem(parts[1]) is not None \
            or len(fds) != 2:
        return f"error bad request {request!r}", []
    path = helper()
    if path is None:
        return f"error {HELPER} is not installed", []
    user_fd, ns_fd = fds
    # slirp4netns's messages go to an unlinked file (it keeps it open): a pipe would
    # kill it with SIGPIPE once this launcher ends.
    with tempfile.TemporaryFile() as err:
        p = _start(path, user_fd, ns_fd, err.fileno(), parts[1])
        if isinstance(p, str):
            return p, []
        exit_w, ok = p
        if not ok:
            os.close(exit_w)  # ends it, if it still runs
            err.seek(0)
            said = " ".join(err.read().decode(errors="replace").split())[-400:]
            return f"error {HELPER} failed" + (f": {said}" if said else ""), []
    return f"ok {ok}", [exit_w, os.pidfd_open(ok)]


def _start(path: str, user_fd: int, ns_fd: int, err: int, ifname: str
           ) -> str | tuple[int, int]:
    """Start slirp4netns and wait until its tap exists: (exit pipe write end, its pid, 0
    if it failed), or an error text."""
    exit_r, exit_w = os.pipe()
    ready_r, ready_w = os.pipe()
    try:
        p = subprocess.Popen(
            [path, f"--userns-path=/proc/self/fd/{user_fd}", "--netns-type=path",
             "--disable-dns", f"--mtu={MTU}", f"--exit-fd={exit_r}",
             f"--ready-fd={ready_w}", f"/proc/self/fd/{ns_fd}", ifname],
            pass_fds=(user_fd, ns_fd, exit_r, ready_w), stdin=subprocess.DEVNULL,
            stdout=err, stderr=err, start_new_session=True)
    except OSError as e:
        for fd in (exit_r, exit_w, ready_r, ready_w):
            os.close(fd)
        return f"error cannot start {path}: {e.strerror or e}"
    p.returncode = 0  # never waited for here: it outlives the launcher
    os.close(exit_r)
    os.close(ready_w)
    ok = False
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            if select.select([ready_r], [], [], min(left, 0.05))[0]:
                ok = os.read(ready_r, 1) == b"1"
                break
            if _ended(p.pid):
                break
    finally:
        os.close(ready_r)
    return exit_w, p.pid if ok else 0


def _ended(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return True
