"""Running commands inside a node: its network, UTS and mount namespaces (its private
machine, netlab.backends.kernel.machine), and its PID namespace when it has one.

For a child (`run_in_node`, `start`), the node's namespaces are opened from their pins
first (NamespaceGone, the one message, if any is missing: nothing is spawned), then a
thread of this process joins them and spawns the command, which so starts inside the node
with /root as its working directory; the thread checks just before that the network pin
still names the namespace held (a lab destroyed in between: the same NamespaceGone, and
the command has not run at all). `enter_node` moves the CLI's own process into the node
right before it execs the command (`netlab exec`, `netlab shell`).

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

from netlab.backends.kernel import entry
from netlab.backends.kernel.files import ETC_NETNS
from netlab.errors import NetlabError, namespace_gone
from netlab.linux.mounts import MNT_DETACH, MS_BIND, MS_RDONLY, MS_REC, MS_SLAVE, mount, umount2
from netlab.linux.netns import CLONE_NEWNET, CLONE_NEWNS, netns_path, unshare
from netlab.state.layout import LOG_DIR, UTS_DIR, lab_dir

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan
    from netlab.state.journal import Record

T = TypeVar("T")
# How long one `startup` command may run before deploy gives up on it.
STARTUP_TIMEOUT = 60.0


def uts_path(lab: str, node: str) -> str:
    return str(lab_dir(lab) / UTS_DIR / node)


def handles(lab: str, node: NodePlan, record: Record | None = None) -> entry.Handles:
    """The node's namespaces, held open (the caller closes them); NamespaceGone if one
    is missing. `record`: the lab's journal, if the caller has it (for the init's pid)."""
    init = None
    if node.pid:
        if record is None:
            from netlab.state.journal import read_record

            record = read_record(lab)
        init = next((dict(e) for e in record.of("init") if e["node"] == node.name), None)
    return entry.open_handles(lab, node, uts_path(lab, node.name), init)


def _still_pinned(h: entry.Handles, node: NodePlan) -> None:
    """NamespaceGone if the node's network pin no longer names the namespace held (the
    lab was destroyed, or the namespace removed, since it was opened)."""
    path = netns_path(node.netns)
    try:
        same = os.path.samestat(os.lstat(path), os.fstat(h.net))
    except OSError:
        same = False
    if not same:
        raise namespace_gone(path, "network", node.name)


def enter_node(lab: str, node: NodePlan) -> None:
    """Put the calling (single-threaded) process into a node (`netlab exec`, `shell`);
    NamespaceGone, before anything is changed, if a namespace of it is missing."""
    h = handles(lab, node)
    try:
        if h.mnt is None:
            _enter_legacy(h, node)
        else:
            entry.enter_process(h)
    finally:
        h.close()


def _enter_legacy(h: entry.Handles, node: NodePlan) -> None:
    """A lab deployed before nodes had machines: network and UTS namespaces, and a mount
    namespace of this process's own where /etc/netns/<ns>/* covers /etc/* (as `ip netns
    exec` does) and /sys shows the node's interfaces."""
    from netlab.linux.netns import CLONE_NEWUTS, setns

    setns(h.net, CLONE_NEWNET)
    setns(h.uts, CLONE_NEWUTS)
    unshare(CLONE_NEWNS)
    # Keep our mounts from propagating back to the host, as `ip netns exec` does.
    mount("", "/", None, MS_SLAVE | MS_REC)
    etc = os.path.join(ETC_NETNS, node.netns)
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(etc)):
            target = os.path.join("/etc", name)
            if os.path.exists(target):
                mount(os.path.join(etc, name), target, "none", MS_BIND)
    ro = os.statvfs("/sys").f_flag & os.ST_RDONLY
    with contextlib.suppress(OSError):
        umount2("/sys", MNT_DETACH)
        mount(node.netns, "/sys", "sysfs", MS_RDONLY if ro else 0)


def _in_node(lab: str, node: NodePlan, spawn: Callable[[], T],
             record: Record | None = None) -> T:
    """spawn() in a thread inside the node (see the module docstring)."""
    h = handles(lab, node, record)
    try:
        return entry.in_thread(h, spawn, lambda: _still_pinned(h, node))
    finally:
        h.close()


def run_in_node(
    lab: str, node: NodePlan, argv: list[str], **kw: Any
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """subprocess.run(argv) inside the node (same namespaces as `netlab exec`)."""
    return _in_node(lab, node, lambda: subprocess.run(argv, **kw))


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


def start(lab: str, node: NodePlan, command: str, index: int,
          record: Record | None = None) -> dict[str, Any]:
    """Start one plan `exec` command in the node; return its record entry."""
    log = log_path(lab, node.name)
    # 0600: a service's output may be private; never through a symlink put in its place.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    with open(fd, "ab") as out:
        out.write(f"--- netlab: starting [{index}] {command}\n".encode())
        out.flush()
        p = _in_node(lab, node, lambda: subprocess.Popen(
            ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        ), record)
    p.returncode = 0  # we never wait for it: keep Popen.__del__ quiet
    return {"kind": "proc", "node": node.name, "index": index, "command": command,
            "pid": p.pid, "start": start_time(p.pid), "log": str(log)}


class StartupError(NetlabError):
    """A `startup` command failed (deploy rolls back)."""


def run_startup(lab: str, node: NodePlan, record: Record | None = None,
                timeout: float | None = None) -> None:
    """Run the node's `startup` commands once, in order, each to its end (output to the
    node's log); the first that fails (or outlives `timeout`) raises StartupError with its
    output. A daemon a command starts may keep running: it is waited for no longer than
    its command (its output goes to the log, never to a pipe we would wait on)."""
    log = log_path(lab, node.name)
    timeout = STARTUP_TIMEOUT if timeout is None else timeout
    for i, command in enumerate(node.startup):
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                     | os.O_NOFOLLOW, 0o600)
        with open(fd, "ab") as out:
            out.write(f"--- netlab: startup [{i}] {command}\n".encode())
            out.flush()
            begin = out.tell()
            p = _in_node(lab, node, lambda c=command, o=out: subprocess.Popen(
                ["/bin/sh", "-c", c], stdin=subprocess.DEVNULL, stdout=o,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True), record)
        try:
            code = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise StartupError(f"node {node.name}: startup command {i + 1} {command!r} did not"
                               f" end within {timeout:g} s (a command that keeps running"
                               f" belongs in `exec`){_output(log, begin)}") from None
        if code != 0:
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise StartupError(f"node {node.name}: startup command {i + 1} {command!r}"
                               f" failed ({how}){_output(log, begin)}")


def _output(log: Path, begin: int) -> str:
    """What a command wrote to the log since `begin` (its last lines), for an error."""
    try:
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return ""
    with open(fd, "rb") as f:
        f.seek(begin)
        lines = f.read(65536).decode(errors="replace").splitlines()
    shown = ["".join(c if c.isprintable() else "?" for c in x)[:200] for x in lines[-10:]]
    return ("; its output:\n    " + "\n    ".join(shown)) if shown else "; it printed nothing"


# How long deploy watches its `exec` commands: a service that ends with a failure within
# its first second (a misspelt program, a bad option, a port in use) is reported at
# deploy. NETLAB_SERVICE_SETTLE overrides it (seconds; the test suite uses 0.1).
def settle_time() -> float:
    try:
        return min(max(float(os.environ.get("NETLAB_SERVICE_SETTLE", "1")), 0.0), 60.0)
    except ValueError:
        return 1.0


def died_at_once(entries: list[dict[str, Any]], settle: float | None = None) -> list[str]:
    """Warnings for plan `exec` commands (their record entries, just started by this
    process) that already ended with a failure, each naming the node, the command, how
    it ended, its log's last line and the log. Waits `settle` seconds once, if any ran."""
    if not entries:
        return []
    time.sleep(settle_time() if settle is None else settle)
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


def service_pid(entry: dict[str, Any]) -> int:
    """The pid of the service a recorded `exec` command runs: the recorded process is the
    `/bin/sh -c` netlab started; while it is a shell with exactly one child, that child
    (then its own, for `sh -c 'cd x && exec y'`-like chains) is the service."""
    pid = int(entry["pid"])
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
        except OSError:
            break
        if comm not in ("sh", "dash", "bash") or len(kids) != 1:
            break
        pid = int(kids[0])
    return pid


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
