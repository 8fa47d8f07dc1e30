"""Running commands inside a node, like `ip netns exec` plus the node's UTS namespace.

`enter_node` moves the calling process into the node: network and UTS namespaces, then a
private mount namespace where /etc/netns/<ns>/* is bind-mounted over /etc/* and /sys is
remounted (so it shows the node's interfaces). The CLI calls it in its single-threaded
process right before it execs the command.

A node whose network or UTS namespace is missing is never entered "as far as possible":
that would run the command in the host's namespace. For a child (`run_in_node`, `start`),
both namespaces are opened in the parent before forking (NamespaceGone, the one message,
if either is missing: nothing is forked), and the child enters them through those
descriptors, which keep them alive; the child checks again that the pins still name them
(a lab destroyed in between), and fails before exec if not: the parent then raises the
same NamespaceGone, and the command has not run at all.

Long-running `exec` commands of the plan are started in their own session (so their
process group id is their pid), their pid and start time are recorded, and they are
stopped by that record only: never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from netlab.backends.kernel.files import ETC_NETNS
from netlab.errors import NamespaceGone, NetlabError, namespace_gone
from netlab.linux.mounts import MNT_DETACH, MS_BIND, MS_REC, MS_SLAVE, mount, umount2
from netlab.linux.netns import CLONE_NEWNET, CLONE_NEWUTS, netns_path, open_ns, setns, unshare
from netlab.state.layout import LOG_DIR, UTS_DIR, lab_dir

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
T = TypeVar("T")


def uts_path(lab: str, node: str) -> str:
    return str(lab_dir(lab) / UTS_DIR / node)


class NodeNs:
    """A node's network and UTS namespaces, held open (the caller closes them)."""

    def __init__(self, netns: str, uts: str, node: str | None = None):
        self.netns, self.uts, self.node = netns, uts, node
        self.net_fd = open_ns(netns_path(netns), CLONE_NEWNET, node)
        try:
            self.uts_fd = open_ns(uts, CLONE_NEWUTS, node)
        except BaseException:
            os.close(self.net_fd)
            raise

    def close(self) -> None:
        os.close(self.net_fd)
        os.close(self.uts_fd)

    def gone(self) -> NamespaceGone | None:
        """The error to raise if a pin no longer names the namespace held (the lab was
        destroyed, or the namespace removed, since it was opened), else None."""
        for path, fd, kind in ((netns_path(self.netns), self.net_fd, "network"),
                               (self.uts, self.uts_fd, "UTS")):
            try:
                same = os.path.samestat(os.lstat(path), os.fstat(fd))
            except OSError:
                same = False
            if not same:
                return namespace_gone(path, kind, self.node)
        return None

    def enter(self) -> None:
        """Put the calling (single-threaded) process into the node."""
        if err := self.gone():
            raise err
        setns(self.net_fd, CLONE_NEWNET)
        setns(self.uts_fd, CLONE_NEWUTS)
        unshare(CLONE_NEWNS)
        # Keep our mounts from propagating back to the host, as `ip netns exec` does.
        mount("", "/", None, MS_SLAVE | MS_REC)
        etc = os.path.join(ETC_NETNS, self.netns)
        with contextlib.suppress(FileNotFoundError):
            for name in sorted(os.listdir(etc)):
                target = os.path.join("/etc", name)
                if os.path.exists(target):
                    mount(os.path.join(etc, name), target, "none", MS_BIND)
        ro = os.statvfs("/sys").f_flag & os.ST_RDONLY
        with contextlib.suppress(OSError):
            umount2("/sys", MNT_DETACH)
            mount(self.netns, "/sys", "sysfs", MS_RDONLY if ro else 0)


def enter_node(netns: str, uts: str, node: str | None = None) -> None:
    """Put the calling (single-threaded) process into a node's namespaces; NamespaceGone,
    before anything is changed, if either is missing."""
    ns = NodeNs(netns, uts, node)
    try:
        ns.enter()
    finally:
        ns.close()


def _in_node(lab: str, node: NodePlan, spawn: Callable[[Callable[[], None]], T]) -> T:
    """spawn(preexec_fn) with the node's namespaces held open by this process, entered by
    the child. If the child cannot enter them, nothing was run: raise why."""
    ns = NodeNs(node.netns, uts_path(lab, node.name), node.name)
    try:
        return spawn(ns.enter)
    except subprocess.SubprocessError as e:  # the child failed before exec
        if err := ns.gone():
            raise err from None
        raise NetlabError(f"node {node.name}: could not enter its namespaces ({e});"
                          " nothing was run") from None
    finally:
        ns.close()


def run_in_node(
    lab: str, node: NodePlan, argv: list[str], **kw: Any
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """subprocess.run(argv) inside the node (same namespaces as `netlab exec`)."""
    return _in_node(lab, node, lambda pre: subprocess.run(argv, preexec_fn=pre, **kw))


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0]), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()


def start_time(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot): with the pid, its identity."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def _session(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[3])


def start(lab: str, node: NodePlan, command: str, index: int) -> dict[str, Any]:
    """Start one plan `exec` command in the node; return its record entry."""
    log = log_path(lab, node.name)
    # 0600: a service's output may be private; never through a symlink put in its place.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    with open(fd, "ab") as out:
        out.write(f"--- netlab: starting [{index}] {command}\n".encode())
        out.flush()
        p = _in_node(lab, node, lambda pre: subprocess.Popen(
            ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            preexec_fn=pre,
        ))
    p.returncode = 0  # we never wait for it: keep Popen.__del__ quiet
    return {"kind": "proc", "node": node.name, "index": index, "command": command,
            "pid": p.pid, "start": start_time(p.pid), "log": str(log)}


# How long deploy gives its `exec` commands to fail: a shell that cannot find the program
# exits within a few milliseconds of its start (127); the margin is for a busy machine.
SETTLE = 0.1


def died_at_once(entries: list[dict[str, Any]], settle: float = SETTLE) -> list[str]:
    """Warnings for plan `exec` commands (their record entries, just started by this
    process) that already ended with a failure, each naming the node, the command, how
    it ended, its log's last line and the log. Waits `settle` seconds once, if any ran."""
    if not entries:
        return []
    time.sleep(settle)
    out = []
    for e in entries:
        how = _ended(int(e["pid"]))
        if how is None:
            continue  # still running, or ended well (exit status 0)
        last = _last_line(e.get("log", ""))
        out.append(f"node {e['node']}: exec command {e['command']!r} ended right after it"
                   f" started, {how}" + (f" ({last})" if last else "")
                   + f"; its output is in {e.get('log', '')}")
    return out


def _ended(pid: int) -> str | None:
    """How our child `pid` ended, if it ended with a failure; None if it runs or exited 0."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None  # not our child: nothing to learn here
    if done == 0:
        return None
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    if code == 0:
        return None
    why = {127: ": command not found", 126: ": not executable"}.get(code, "")
    return f"exit status {code}{why}"


def _last_line(log: str) -> str:
    """The last line of output in the log (not netlab's own "--- netlab:" lines)."""
    try:
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return ""
    with open(fd, "rb") as f:
        f.seek(max(0, os.fstat(fd).st_size - 4096))
        lines = f.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        if line.strip() and not line.startswith("--- netlab:"):
            # A command's output, printed to a terminal: no control characters.
            return "".join(c if c.isprintable() else "?" for c in line.strip()[:200])
    return ""


def alive(entry: dict[str, Any]) -> bool:
    """Whether the recorded process (same pid and start time) still runs."""
    st = start_time(int(entry["pid"]))
    return st is not None and st == entry.get("start") and not _zombie(int(entry["pid"]))


def _zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] == b"Z"


def _members(entry: dict[str, Any]) -> list[int]:
    """Pids of the recorded process's session, if that session is still ours."""
    pid = int(entry["pid"])
    st = start_time(pid)
    if st is not None and st != entry.get("start"):
        return []  # the pid now belongs to another process: not ours
    # While any process is in session `pid`, the kernel cannot hand that pid out again.
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _session(int(name)) == pid:
            out.append(int(name))
    return out


def stop(entries: list[dict[str, Any]], grace: float = 2.0) -> int:
    """SIGTERM every recorded process group, then SIGKILL what is left after `grace`;
    returns how many of them were still running."""
    targets = {int(e["pid"]): e for e in entries}
    pending: dict[int, list[int]] = {}
    for pid, e in targets.items():
        members = _members(e)
        if members:
            pending[pid] = members
            _signal(pid, members, signal.SIGTERM)
    running = len(pending)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        _reap(targets)
        pending = {pid: m for pid, m in pending.items()
                   if any(not _zombie(x) and _session(x) == pid for x in m)}
    for pid, members in pending.items():
        _signal(pid, members, signal.SIGKILL)
    if pending:
        time.sleep(0.05)
    _reap(targets)
    return running


def in_namespaces(ids: set[tuple[int, int]]) -> list[int]:
    """Processes (other than this one) whose network namespace is one of `ids`, the
    (st_dev, st_ino) of namespaces the caller holds open: only while a namespace is alive
    does no other have its inode number (never pass numbers read from a journal)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{name}/ns/net")
        except OSError:
            continue  # gone, or a kernel thread
        if (st.st_dev, st.st_ino) in ids:
            out.append(int(name))
    return out


def _reap(pids: dict[int, Any]) -> None:
    """Collect the exit status of those that are our own children (Lab API in-process)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, members: list[int], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for m in members:  # members that left the process group but not the session
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(m, sig)


def log_path(lab: str, node: str) -> Path:
    return lab_dir(lab) / LOG_DIR / f"{node}.log"
