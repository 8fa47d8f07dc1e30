"""Running commands inside a node, like `ip netns exec` plus the node's UTS namespace.

`enter_node` moves the calling process into the node: network and UTS namespaces, then a
private mount namespace where /etc/netns/<ns>/* is bind-mounted over /etc/* and /sys is
remounted (so it shows the node's interfaces). It runs in a child just before exec
(preexec_fn), or in the single-threaded CLI right before it execs the command.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.backend.files import ETC_NETNS
from netlab.backend.namespaces import MNT_DETACH, MS_BIND, MS_REC, MS_SLAVE, mount, umount2
from netlab.netns import CLONE_NEWNET, CLONE_NEWUTS, netns_path, setns, unshare
from netlab.state import LOG_DIR, UTS_DIR, lab_dir

if TYPE_CHECKING:
    from netlab.plan import NodePlan

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1


def uts_path(lab: str, node: str) -> str:
    return str(lab_dir(lab) / UTS_DIR / node)


def enter_node(netns: str, uts: str | None) -> None:
    """Put the calling (single-threaded) process into a node's namespaces."""
    for path, kind in ((netns_path(netns), CLONE_NEWNET), (uts, CLONE_NEWUTS)):
        if path is None or not os.path.exists(path):
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, kind)
        finally:
            os.close(fd)
    unshare(CLONE_NEWNS)
    # Keep our mounts from propagating back to the host, as `ip netns exec` does.
    mount("", "/", None, MS_SLAVE | MS_REC)
    etc = os.path.join(ETC_NETNS, netns)
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(etc)):
            target = os.path.join("/etc", name)
            if os.path.exists(target):
                mount(os.path.join(etc, name), target, "none", MS_BIND)
    ro = os.statvfs("/sys").f_flag & os.ST_RDONLY
    with contextlib.suppress(OSError):
        umount2("/sys", MNT_DETACH)
        mount(netns, "/sys", "sysfs", MS_RDONLY if ro else 0)


def _preexec(netns: str, uts: str | None):  # type: ignore[no-untyped-def]
    def run() -> None:
        enter_node(netns, uts)
    return run


def run_in_node(
    lab: str, node: NodePlan, argv: list[str], **kw: Any
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """subprocess.run(argv) inside the node (same namespaces as `netlab exec`)."""
    return subprocess.run(argv, preexec_fn=_preexec(node.netns, uts_path(lab, node.name)), **kw)


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
    with open(log, "ab") as out:
        out.write(f"--- netlab: starting [{index}] {command}\n".encode())
        out.flush()
        p = subprocess.Popen(
            ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            preexec_fn=_preexec(node.netns, uts_path(lab, node.name)),
        )
    p.returncode = 0  # we never wait for it: keep Popen.__del__ quiet
    return {"kind": "proc", "node": node.name, "index": index, "command": command,
            "pid": p.pid, "start": start_time(p.pid), "log": str(log)}


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


def stop(entries: list[dict[str, Any]], grace: float = 2.0) -> None:
    """SIGTERM every recorded process group, then SIGKILL what is left after `grace`."""
    targets = {int(e["pid"]): e for e in entries}
    pending: dict[int, list[int]] = {}
    for pid, e in targets.items():
        members = _members(e)
        if members:
            pending[pid] = members
            _signal(pid, members, signal.SIGTERM)
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


def in_namespaces(ids: set[tuple[int, int]]) -> list[int]:
    """Processes (other than this one) whose network namespace is one of `ids`, given as
    the (st_dev, st_ino) of the nsfs file, as journaled."""
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
