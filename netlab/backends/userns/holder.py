"""The holder: one process per user that keeps the user's labs alive between commands.

`start` forks twice. The first child leaves the terminal's session, makes a user
namespace in which the user's own uid and gid are 0 (nothing else is mapped, so this
"root" is the user and can reach nothing the user could not), then new mount, network,
PID and UTS namespaces (on the CPU that gives the mount namespace the lowest id:
_oldest_cpu), and forks the holder: PID 1 of that PID namespace. The holder

- makes every mount it inherited a slave (the host's later mounts still show; nothing
  done here reaches the host);
- mounts a procfs of its PID namespace on /proc (pids in the journal are pids of this
  namespace, and /proc/<pid> must show the same processes);
- puts a tmpfs on /run, then binds every entry of the host's /run back into it except
  netns, netlab and netlab-host (root's labs): /run/netns is then the user's own, and
  /run/user/<uid>, /run/systemd/resolve and the rest stay as they were;
- gives /etc/netns a tmpfs of its own (hiding root's labs' entries); if the host has no
  /etc/netns, /etc becomes an overlay (its upper layer in /run) so that one can be made;
- brings up lo in its network namespace (the lab's "host" side);
- then execs a small fresh interpreter (`netlab-holder` in `ps`, ~10 MB) that says "ok"
  through a pipe and waits, reaping the processes the PID namespace gives it (a node's
  daemon whose `netlab deploy` ended), until SIGTERM or SIGKILL.

When the holder dies the kernel kills every process in its PID namespace, frees its mount
namespace (the pins of the labs' namespaces are mounts there) and so every lab namespace.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
import time
from pathlib import Path

from netlab.backends.userns import checks, state
from netlab.backends.userns.state import RootlessError

CLONE_NEWUSER = 0x10000000
O_PATH = getattr(os, "O_PATH", 0o10000000)
NS_GET_MNTNS_ID = 0x8008B705  # _IOR(0xb7, 0x5, __u64)
NAME = "netlab-holder"  # its argv[0]: what `ps` shows
HIDDEN_RUN = frozenset({"netns", "netlab", "netlab-host"})  # root's labs: never bound in
ETC_LAYERS = ".netlab-etc"  # in the private /run: the /etc overlay's upper and work dirs
START_TIMEOUT = 10.0


def start(state_path: Path) -> tuple[int, int]:
    """Start the holder (the caller holds the state lock); its (pid, start time)."""
    if why := checks.blocked():
        raise RootlessError(why)
    uid, gid = os.geteuid(), os.getegid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a child: never returns)
        _first_child(r, w, uid, gid)
    os.close(w)
    try:
        text = _read_all(r)
    finally:
        os.close(r)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    lines = text.splitlines()
    holder = next((int(x[4:]) for x in lines if x.startswith("pid ") and x[4:].isdigit()), 0)
    if "ok" not in lines or holder <= 1:
        why = next((x[6:] for x in lines if x.startswith("error ")),
                   "it ended without saying why")
        msg = f"cannot start the holder of your labs (a user namespace): {why}"
        if checks.apparmor_restricts():
            msg += "\n" + checks.apparmor_fix()
        if holder > 1:  # made but unusable: it must not linger
            with contextlib.suppress(OSError):
                os.kill(holder, signal.SIGKILL)
        raise RootlessError(msg)
    started = state.start_time(holder)
    if started is None:
        raise RootlessError("the holder of your labs ended at once")
    state.write_record(state_path, holder, started)
    return holder, started


def _read_all(fd: int) -> str:
    out = b""
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def _say(w: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(w, (text.replace("\n", " ") + "\n").encode())


def _detach(keep: int) -> int:
    """Own session (no terminal: Ctrl-C in it never reaches the holder), stdio on
    /dev/null, every other inherited descriptor closed: a holder that kept the caller's
    stdout would keep `netlab deploy | cat` waiting for ever. Returns `keep` (moved
    above 2 if it was stdio)."""
    import fcntl

    if keep < 3:
        keep = fcntl.fcntl(keep, fcntl.F_DUPFD_CLOEXEC, 3)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    os.chdir("/")
    return keep


def _first_child(r: int, w: int, uid: int, gid: int) -> None:  # pragma: no cover
    code = 1
    try:
        os.close(r)
        w = _detach(w)
        from netlab.linux.netns import (
            CLONE_NEWNET,
            CLONE_NEWNS,
            CLONE_NEWPID,
            CLONE_NEWUTS,
            unshare,
        )

        try:
            unshare(CLONE_NEWUSER)
        except OSError as e:
            _say(w, f"error no user namespace: {e.strerror}")
            os._exit(1)
        for name, value in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                            ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(value)
        cpus = os.sched_getaffinity(0)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {_oldest_cpu(cpus)})
        # UTS too: deploy steps back into its own UTS namespace after making a node's.
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUTS)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)
        pid = os.fork()
        if pid == 0:
            _holder(w)
        _say(w, f"pid {pid}")
        code = 0
    except BaseException as e:  # noqa: BLE001  (a child: report anything, never return)
        _say(w, f"error {getattr(e, 'strerror', None) or e}")
    finally:
        os._exit(code)


def _mntns_id() -> int | None:
    import fcntl
    import struct

    fd = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return int(struct.unpack("Q", fcntl.ioctl(fd, NS_GET_MNTNS_ID, b"\0" * 8))[0])
    except OSError:
        return None  # before Linux 6.8: ids were one global sequence, nothing to choose
    finally:
        os.close(fd)


def _oldest_cpu(cpus: set[int]) -> int:
    """The CPU whose namespace ids are the oldest. The kernel refuses to bind a mount
    namespace's file (the pin of a node's, backends/kernel/machine.py) from a mount
    namespace whose id is not lower (mnt_ns_loop). Since Linux 6.18 ids come from per-CPU
    batches, so a node namespace made later on another CPU may get a lower id than the
    holder's, and deploy failed about one time in two with EINVAL. Made on the CPU whose
    batch is oldest, the holder's id is below every id any CPU hands out next (a probe
    namespace per CPU, ~50 us each, tells which)."""
    best, best_id = min(cpus), None
    if len(cpus) < 2:
        return best
    for cpu in sorted(cpus):
        try:
            os.sched_setaffinity(0, {cpu})
            from netlab.linux.netns import CLONE_NEWNS, unshare

            unshare(CLONE_NEWNS)
        except OSError:
            continue
        got = _mntns_id()
        if got is None:
            return best
        if best_id is None or got < best_id:
            best, best_id = cpu, got
    return best


# PID 1's whole life after set-up, run by a fresh interpreter (exec'd: `ps` shows
# "netlab-holder", not the command that started it, and no copy of that command's memory
# stays): say "ok" on fd 3, then reap whatever the PID namespace hands it until SIGTERM.
# SIGCHLD and SIGTERM arrive blocked (the mask survives exec), so none is missed.
_SERVE = """import os, signal
s = {signal.SIGCHLD, signal.SIGTERM}
os.write(3, b"ok\\n"); os.close(3)
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0: pass
    except ChildProcessError: pass
    if signal.sigwait(s) == signal.SIGTERM: os._exit(0)
"""


def _holder(w: int) -> None:  # pragma: no cover (PID 1 of the new PID namespace)
    try:
        _mounts()
        _loopback_up()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM})
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)
        if w != 3:  # _detach left nothing else open above 2
            os.dup2(w, 3)
            os.close(w)
            w = 3
        os.set_inheritable(3, True)
        os.execv(sys.executable, [NAME, "-I", "-S", "-c", _SERVE])
    except BaseException as e:  # noqa: BLE001
        _say(w, f"error {e}")
        os._exit(1)


def _loopback_up() -> None:
    """lo up in the holder's network namespace: it stands for the host's (deploy makes
    links from there, probes time-stamp on a loopback socket there)."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        got = fcntl.ioctl(s, siocgifflags, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack_from("16sH", got)[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def _mounts() -> None:
    from netlab.linux.mounts import (
        MS_BIND,
        MS_NODEV,
        MS_NOEXEC,
        MS_NOSUID,
        MS_REC,
        MS_SLAVE,
        mount,
    )

    mount(None, "/", None, MS_REC | MS_SLAVE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # What the host has in /run, opened before the tmpfs hides it.
    kept: list[tuple[str, int, int | str]] = []
    for e in os.scandir("/run"):
        if e.name in HIDDEN_RUN:
            continue
        try:
            st = os.lstat(e.path)
            if stat.S_ISLNK(st.st_mode):
                kept.append((e.name, st.st_mode, os.readlink(e.path)))
            else:
                kept.append((e.name, st.st_mode,
                             os.open(e.path, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)))
        except OSError:
            continue  # not ours to see: it stays hidden
    mount("netlab", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for name, mode, what in kept:
        dst = f"/run/{name}"
        with contextlib.suppress(OSError):
            if isinstance(what, str):
                os.symlink(what, dst)
                continue
            if stat.S_ISDIR(mode):
                os.mkdir(dst, 0o755)
            else:
                os.close(os.open(dst, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            mount(f"/proc/self/fd/{what}", dst, None, MS_BIND | MS_REC)
        os.close(what)
    try:
        st = os.lstat("/etc/netns")
        has_netns = stat.S_ISDIR(st.st_mode)
    except FileNotFoundError:
        has_netns = False
    if not has_netns:
        layers = f"/run/{ETC_LAYERS}"
        os.makedirs(f"{layers}/upper", 0o755)
        os.makedirs(f"{layers}/work", 0o755)
        mount("overlay", "/etc", "overlay", 0,
              f"lowerdir=/etc,upperdir={layers}/upper,workdir={layers}/work,userxattr")
        with contextlib.suppress(FileExistsError):
            os.mkdir("/etc/netns", 0o755)
    mount("netlab", "/etc/netns", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755")
