"""Entering a node (docs/machines.md): its namespaces held open (`Handles`), a thread or
this process put into them, and the init that makes and holds its PID namespace.

Every command netlab runs in a node goes through here: plan `exec` and `startup`, the
probes that run commands (`in_thread`: a thread of this process joins the node and
spawns, so subprocess can vfork), and `netlab exec`/`shell` (`enter_process`: the CLI
process itself joins). How a node's machine is made is machine.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from netlab.backends.kernel.machine import HOME, MachineError, pin_path
from netlab.errors import NamespaceGone, namespace_gone
from netlab.linux.netns import (
    CLONE_FS,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    netns_path,
    setns,
    unshare,
)

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan

# PID 1 of a node with its own PID namespace: mounts the node's /proc (only a process
# inside the namespace can mount the procfs that shows it), then reaps orphans (dash's
# `wait` collects any child) and ignores Ctrl-C; ended by SIGKILL from outside, which
# ends the whole namespace. Its `sleep` child says the mount is done.
INIT = ('mount -t proc -o nosuid,nodev,noexec proc /proc || exit 1;'
        ' trap "" INT TERM HUP; while :; do sleep 2147483647 & wait; done')

T = TypeVar("T")


@dataclass
class Handles:
    """A node's namespaces, held open: network, UTS, mount, and its init (PID namespace)
    when it has one. While held, none can be freed or replaced."""

    node: str
    net: int
    uts: int
    mnt: int | None  # None: a lab deployed before nodes had machines
    pid: int | None = None  # a pidfd of the node's init

    def close(self) -> None:
        for fd in (self.net, self.uts, self.mnt, self.pid):
            if fd is not None:
                os.close(fd)

    def enter(self) -> None:
        """Put this thread (with its own fs_struct) into the node: its network, UTS and
        mount namespaces, working directory /root; children it spawns land in the node's
        PID namespace."""
        setns(self.net, CLONE_NEWNET)
        setns(self.uts, CLONE_NEWUTS)
        if self.mnt is not None:
            setns(self.mnt, CLONE_NEWNS)
            with contextlib.suppress(OSError):
                os.chdir(HOME)
        if self.pid is not None:
            setns(self.pid, CLONE_NEWPID)


def open_handles(lab: str, node: NodePlan, uts_path: str, init: dict[str, Any] | None,
                 pid: bool = True) -> Handles:
    """The node's namespaces, each opened from its pin (NamespaceGone if one is missing:
    a command never runs half outside its node). pid=False: without its PID namespace
    (to start the init that makes it)."""
    from netlab.linux.netns import open_ns

    fds: list[int] = []
    try:
        fds.append(open_ns(netns_path(node.netns), CLONE_NEWNET, node.name))
        fds.append(open_ns(uts_path, CLONE_NEWUTS, node.name))
        mnt = open_mnt(lab, node.name)
        if mnt is not None:
            fds.append(mnt)
        pidfd = None
        if node.pid and pid:
            pidfd = _open_init(init, node.name)
            fds.append(pidfd)
        return Handles(node.name, fds[0], fds[1], mnt, pidfd)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def open_mnt(lab: str, node: str) -> int | None:
    """The node's mount namespace; None for a lab deployed before machines existed (its
    pin directory is missing), NamespaceGone if the lab has them and this one is gone."""
    path = pin_path(lab, node)
    if not os.path.isdir(os.path.dirname(path)):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise namespace_gone(path, "mount", node) from None
    from netlab.linux.netns import ns_type

    if ns_type(fd) != CLONE_NEWNS:
        os.close(fd)
        raise namespace_gone(path, "mount", node)
    return fd


def _open_init(init: dict[str, Any] | None, node: str) -> int:
    """A pidfd of the node's init, checked to be the recorded process (pid and start)."""
    from netlab.backends.kernel.procs import start_time

    if init is None:
        raise NamespaceGone(f"node {node}: its PID namespace's init is not recorded; destroy"
                            " and deploy the lab again")
    pid = int(init["pid"])
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        fd = None
    if fd is None or start_time(pid) != init.get("start"):
        if fd is not None:
            os.close(fd)
        raise NamespaceGone(f"node {node}: its init (pid {pid}) has ended, and with it every"
                            " process of the node; destroy and deploy the lab again")
    return fd


def in_thread(handles: Handles, fn: Callable[[], T],
              check: Callable[[], None] | None = None) -> T:
    """fn() in a new thread that first enters the node (it leaves the namespaces with
    it): subprocess started there runs in the node. `check` runs in that thread just
    before it enters (still seeing the host's files)."""
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            unshare(CLONE_FS)  # setns into a mount namespace needs a private fs_struct
            if check is not None:
                check()
            handles.enter()
            result.append(fn())
        except BaseException as e:  # handed to the caller
            error.append(e)

    t = threading.Thread(target=work, name=f"netlab-in-{handles.node}", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def enter_process(handles: Handles) -> None:
    """Put this single-threaded process into the node, for `netlab exec`/`shell`. With a
    PID namespace this forks: the child returns (and execs the command, as PID n of the
    node), the parent waits and exits with the child's status."""
    handles.enter()
    if handles.pid is None:
        return
    child = os.fork()
    if child == 0:
        return
    from netlab.linux.children import wait_passing_signals

    # The terminal sends Ctrl-C, Ctrl-\ and Ctrl-Z to the command too; `kill` and a closed
    # terminal are passed on.
    os._exit(wait_passing_signals(child, (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP),
                                  (signal.SIGTERM, signal.SIGHUP)))


def start_init(handles: Handles) -> int:
    """Start the node's init as PID 1 of a new PID namespace; returns its pid (in the
    host's PID namespace). `wait_inits` then waits for it to have mounted /proc."""
    import subprocess

    def spawn() -> int:
        unshare(CLONE_NEWPID)
        # No preexec function: subprocess can then vfork, ~20x cheaper than forking
        # this whole Python process per node.
        p = subprocess.Popen(["/bin/sh", "-c", INIT], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, close_fds=True)
        p.returncode = 0  # never waited for here: keep Popen.__del__ quiet
        return p.pid

    return in_thread(handles, spawn)


def wait_inits(pids: dict[str, int], timeout: float = 10.0) -> None:
    """Wait until each node's init (node -> pid) has its `sleep` child, i.e. has mounted
    the node's /proc; MachineError naming the node if one ended or took too long."""
    import time

    deadline = time.monotonic() + timeout
    todo = dict(pids)
    while todo:
        for node, pid in list(todo.items()):
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    kids = f.read().split()
                with open(f"/proc/{pid}/stat") as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                kids, zombie = [], True
            if zombie:
                raise MachineError(f"node {node}: the init of its PID namespace ended at once"
                                   " (it could not mount the node's /proc)")
            for kid in kids:
                with contextlib.suppress(OSError), open(f"/proc/{kid}/comm") as f:
                    if f.read().strip() == "sleep":
                        del todo[node]
                        break
        if todo:
            if time.monotonic() > deadline:
                raise MachineError(f"nodes {', '.join(sorted(todo))}: the init of their PID"
                                   f" namespace did not start within {timeout:g} s")
            time.sleep(0.005)
