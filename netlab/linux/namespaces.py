"""Named network namespaces and per-node UTS namespaces, the `ip netns` way, without forking.

A namespace is created by unshare(2) in this thread, pinned by bind-mounting
/proc/thread-self/ns/<kind> onto an empty file (/run/netns/<name> for net namespaces, so
`ip netns` sees them; /run/netlab/<lab>/uts/<node> for UTS ones), and the thread then steps
back with setns(2). Deleting is umount2(MNT_DETACH) + unlink; the kernel frees the namespace
when its last user goes.

Which namespaces are netlab's (the identity scheme; docs/backend.md, "Ownership"):

- cookie: every network namespace has a 64-bit cookie (getsockopt SO_NETNS_COOKIE on any
  socket opened inside it) from a counter the kernel never rewinds: unlike the nsfs inode
  number, which is reused soon after a namespace is freed, no other namespace ever has it.
  Deploy reads it from the netlink socket it opens inside each new namespace and journals it.
- marker: before a namespace is pinned (so before anyone can see it), its `lo` gets the
  alias (IFLA_IFALIAS) "netlab <lab> <netns name> <deploy token>". It proves ownership when
  the journal has no entry for the namespace (deploy killed between pin and journal, or the
  state directory lost); a namespace made by hand has no such alias.
- placeholder files: the first /run/netns file of a deploy is created with the extended
  attribute trusted.netlab = "netlab <lab> <deploy token>" already set (O_TMPFILE, fsetxattr,
  then linkat: the name appears with its mark, or fails like O_EXCL); the others are hard
  links to it, so they share it. A file someone else made at a journaled name, or a new
  file that happens to reuse a freed inode number, carries no such mark.

Destroy acts on a namespace only through `hold`: the pinned file is opened (the descriptor
keeps the namespace alive, so its nsfs (st_dev, st_ino) cannot pass to another namespace
while held), entered in this thread, and its cookie and marker read from inside. Only then
are the processes in it ended (compared with the held descriptor's (st_dev, st_ino)) and
its pin removed (if the path still shows that same namespace).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from netlab.errors import NamespaceGone
from netlab.linux import netlink
from netlab.linux.netns import (
    CLONE_NEWNET,
    CLONE_NEWUTS,
    NETNS_RUN_DIR,
    _libc,
    entered_fd,
    is_nsfs,
    open_ns,
    setns,
    unshare,
)

MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    src = None if source is None else source.encode()
    fs = None if fstype is None else fstype.encode()
    opts = None if data is None else data.encode()
    if _libc.mount(src, target.encode(), fs, flags, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}", target)


def umount2(target: str, flags: int = MNT_DETACH) -> None:
    if _libc.umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}", target)


def make_shared_dir(path: str) -> None:
    """Make `path` a shared mount point (once), as iproute2 does for /run/netns.

    Then namespaces pinned or unpinned here are seen by mount namespaces created later
    (e.g. `ip netns exec`), and an unmount here does not leave copies alive elsewhere.
    """
    os.makedirs(path, mode=0o755, exist_ok=True)
    try:
        mount("", path, "none", MS_SHARED | MS_REC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        mount(path, path, "none", MS_BIND | MS_REC)  # not yet a mount point: make it one
        mount("", path, "none", MS_SHARED | MS_REC)


def is_mount_shared(path: str) -> bool:
    """Whether `path` is already a shared mount point (skip remounting on every deploy)."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == path:
                    return any(x.startswith("shared:") for x in fields[6:fields.index("-")])
    except OSError:
        pass
    return False


def mount_tmpfs(path: str) -> None:
    """A tmpfs at path (it takes memory only for what is written to it)."""
    mount("netlab", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755")


def ensure_run_dirs(*dirs: str) -> None:
    for d in dirs:
        if not is_mount_shared(d):
            make_shared_dir(d)


# --- identity: cookie, marker, placeholder mark ----------------------------------------

SO_NETNS_COOKIE = 71  # asm-generic/socket.h, Linux >= 5.14
IFLA_IFALIAS = 20
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
NLM_F_ACK = 0x4
LO_INDEX = 1
XATTR = "trusted.netlab"  # trusted.*: only root can set it (CAP_SYS_ADMIN)
AT_EMPTY_PATH = 0x1000
_COOKIE = struct.Struct("=Q")

_libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_int]


def cookie(sock: socket.socket) -> int:
    """The cookie of the network namespace a socket was opened in (never reused)."""
    return int(_COOKIE.unpack(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0])


def marker(lab: str, netns: str, token: str) -> str:
    """The alias netlab gives `lo` in each namespace it creates."""
    return f"netlab {lab} {netns} {token}"


def marker_of_lab(text: str | None, lab: str, netns: str) -> bool:
    """Whether a `lo` alias is netlab's marker for namespace `netns` of lab `lab`, whatever
    the deploy (names contain no spaces, so the fields cannot run into each other)."""
    parts = (text or "").split(" ")
    return len(parts) == 4 and parts[:3] == ["netlab", lab, netns] and bool(parts[3])


def file_marker(lab: str, token: str) -> str:
    """The trusted.netlab attribute of a deploy's /run/netns placeholder files."""
    return f"netlab {lab} {token}"


def file_marker_of_lab(text: str | None, lab: str) -> bool:
    parts = (text or "").split(" ")
    return len(parts) == 3 and parts[:2] == ["netlab", lab] and bool(parts[2])


def set_marker(sock: socket.socket, text: str, lo_up: bool = False) -> None:
    """Set `lo`'s alias to `text` (and bring it up, with lo_up) in the socket's
    namespace, in one request, acknowledged before returning."""
    flags = netlink.IFF_UP if lo_up else 0
    body = netlink.ifinfo(LO_INDEX, flags, flags) + netlink.attr_str(IFLA_IFALIAS, text)
    sock.send(netlink._HDR.pack(netlink._HDR.size + len(body), netlink.RTM_NEWLINK,
                                netlink.NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body)
    for mtype, _seq, payload in netlink._messages(sock.recv(1 << 16)):
        if mtype == netlink.NLMSG_ERROR:
            code = struct.unpack_from("=i", payload)[0]
            if code:
                raise OSError(-code, f"cannot mark the new namespace (alias of lo):"
                              f" {os.strerror(-code)}")
            return
    raise OSError(errno.EPROTO, "cannot mark the new namespace: no answer from the kernel")


def read_marker(sock: socket.socket) -> str | None:
    """`lo`'s alias in the socket's namespace (None if it has none)."""
    body = netlink.ifinfo(LO_INDEX) + netlink.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    sock.send(netlink._HDR.pack(netlink._HDR.size + len(body), netlink.RTM_GETLINK,
                                netlink.NLM_F_REQUEST, 1, 0) + body)
    for mtype, _seq, payload in netlink._messages(sock.recv(1 << 16)):
        if mtype == netlink.RTM_NEWLINK:
            for kind, value in netlink._attrs(payload, netlink._IFINFO.size):
                if kind == IFLA_IFALIAS:
                    return value.rstrip(b"\0").decode(errors="replace")
            return None
    return None


def placeholder(path: str, mark: str | None = None) -> None:
    """The empty file a namespace gets bind-mounted onto; never someone else's (it fails
    if the name exists). With `mark`, the file carries it (trusted.netlab) from the moment
    its name appears: made unnamed (O_TMPFILE), marked, then linked in."""
    if mark is None:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
        return
    d = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o444, dir_fd=d)
        try:
            os.setxattr(fd, XATTR, mark.encode())
            # AT_EMPTY_PATH links the descriptor itself (root: CAP_DAC_READ_SEARCH); the
            # dirfd keeps both ends on one mount (/run/netns is a bind mount of itself).
            if _libc.linkat(fd, b"", d, os.path.basename(path).encode(), AT_EMPTY_PATH):
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), path)
        finally:
            os.close(fd)
    finally:
        os.close(d)


def file_mark(path: str) -> str | None:
    """The trusted.netlab mark of the file at path (not through a symlink), or None."""
    try:
        return os.getxattr(path, XATTR, follow_symlinks=False).decode(errors="replace")
    except OSError:
        return None


@dataclass(frozen=True)
class NsId:
    """A namespace netlab pinned. `cookie` is its identity (0 for UTS namespaces, which
    live in the lab's own directory); the (st_dev, st_ino) of its nsfs file names it only
    while it is alive: journaled for people, never compared with a later namespace."""

    path: str
    dev: int
    ino: int
    cookie: int = 0


def pin(kind: str, path: str, made: bool = False) -> NsId:
    """Bind-mount this thread's namespace of `kind` ('net', 'uts') onto a new file at path
    (`made`: the placeholder file was already created by `placeholder`, and stays if the
    mount fails: destroy removes it by its mark)."""
    if not made:
        placeholder(path)
    try:
        mount(f"/proc/thread-self/ns/{kind}", path, "none", MS_BIND)
    except BaseException:
        if not made:
            os.unlink(path)
        raise
    st = os.lstat(path)
    return NsId(path, st.st_dev, st.st_ino)


def unpin_file(path: str) -> bool:
    """Unmount whatever namespace is pinned at path and remove the file (never through a
    symlink). Only for pins that are netlab's by location (UTS pins, inside the lab's own
    directory) or by a proof made while holding them (`unpin_held`)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return False
    if is_nsfs(st):
        try:
            umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and not is_nsfs(st):  # not a second pin stacked below
            os.unlink(path)
    return True


def remove_placeholder(path: str, mark: Callable[[str | None], bool]) -> bool:
    """Remove an empty placeholder file with nothing mounted on it, only if its
    trusted.netlab mark passes `mark` (a file made by someone else has none)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size or is_nsfs(st) or not mark(file_mark(path)):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


@dataclass
class Held:
    """A network namespace held open (`fd`) and read from inside: while held, the kernel
    cannot free it, so (dev, ino) of its nsfs file belong to it alone."""

    path: str
    fd: int
    dev: int
    ino: int
    cookie: int
    marker: str | None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def socket_in(fd: int, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket opened inside the namespace open as `fd`, from a short-lived thread.

    /proc/<pid>/ns/net shows the main thread's namespace: a process whose main thread
    stepped into another lab's namespace, even for microseconds, looks like a process of
    that lab, and a destroy of that lab running at the same moment would end it (seen:
    a destroy scanning /run/netns was SIGKILLed by another lab's destroy). Other threads'
    namespaces are invisible there, and a socket stays bound to the namespace it was
    opened in."""
    out: list[socket.socket] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            with entered_fd(fd):
                out.append(socket.socket(family, kind, proto))
        except BaseException as e:  # handed back below
            err.append(e)

    t = threading.Thread(target=run, name="netlab-socket-in")
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


def hold(path: str, marker: bool = True) -> Held | None:
    """The network namespace pinned at `path` (never through a symlink), held and entered
    in this thread to read its cookie and (with `marker`) its marker; None if no network
    namespace is there. ~30 us for the cookie alone (a UNIX socket), ~75 us with the
    marker (a netlink request), mostly the two setns."""
    try:
        fd = open_ns(path, CLONE_NEWNET)
    except NamespaceGone:
        return None
    try:
        st = os.fstat(fd)
        family, proto = (socket.AF_NETLINK, netlink.NETLINK_ROUTE) if marker else \
            (socket.AF_UNIX, 0)
        sock = socket_in(fd, family, socket.SOCK_RAW if marker else socket.SOCK_DGRAM, proto)
        try:
            return Held(path, fd, st.st_dev, st.st_ino, cookie(sock),
                        read_marker(sock) if marker else None)
        finally:
            sock.close()
    except BaseException:
        os.close(fd)
        raise


def unpin_held(h: Held) -> bool:
    """Unmount and remove the pin of a held (and proven) namespace, if `h.path` still
    pins that very namespace; the file under it is the placeholder netlab mounted it on."""
    try:
        st = os.lstat(h.path)
    except FileNotFoundError:
        return False
    if (st.st_dev, st.st_ino) != (h.dev, h.ino):
        return False  # unpinned and replaced meanwhile: not this namespace any more
    return unpin_file(h.path)


@dataclass
class Created:
    """A namespace created by `create`: its pin(s), plus a handle and a netlink socket
    opened inside it, kept open for later steps (the caller closes both)."""

    netns: NsId
    uts: NsId | None
    fd: int  # O_RDONLY fd of the net namespace (for IFLA_NET_NS_FD)
    sock: socket.socket  # rtnetlink socket bound inside it


class Origin:
    """This thread's own namespaces, to step back into after creating each new one."""

    def __init__(self) -> None:
        self.net = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.uts = os.open("/proc/thread-self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.net)
        os.close(self.uts)


def create(
    origin: Origin,
    name: str,
    mark: str,
    uts_path: str | None = None,
    hostname: str | None = None,
    inside: Callable[[], None] | None = None,
    made: bool = False,
    lo_up: bool = False,
) -> Created:
    """Create and pin a named netns (and a UTS ns with `hostname` if uts_path is given).

    `inside` runs first while this thread is in the new namespaces: sysctls (their
    `default.*` keys must be set before any interface exists). Then a netlink socket is
    opened inside, the cookie read and `lo` marked (and brought up, with lo_up), all
    before the pin: a namespace at a netlab path always carries its marker.
    """
    path = os.path.join(NETNS_RUN_DIR, name)
    flags = CLONE_NEWNET | (CLONE_NEWUTS if uts_path else 0)
    unshare(flags)
    fd = -1
    sock: socket.socket | None = None
    pins: list[NsId] = []
    try:
        if uts_path:
            socket.sethostname(hostname or name)
        if inside is not None:
            inside()
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        sock = netlink.open_socket()
        ck = cookie(sock)
        set_marker(sock, mark, lo_up)
        pins.append(pin("net", path, made))
        if uts_path:
            pins.append(pin("uts", uts_path))
    except BaseException:
        _back(origin, uts_path is not None)
        for p in reversed(pins):  # still mounted, so still alive: (dev, ino) are its own
            with contextlib.suppress(OSError):
                st = os.lstat(p.path)
                if (st.st_dev, st.st_ino) == (p.dev, p.ino):
                    unpin_file(p.path)
        if sock is not None:
            sock.close()
        if fd >= 0:
            os.close(fd)
        raise
    _back(origin, uts_path is not None)
    netns = pins[0]
    return Created(NsId(netns.path, netns.dev, netns.ino, ck),
                   pins[1] if uts_path else None, fd, sock)


def _back(origin: Origin, uts: bool) -> None:
    setns(origin.net, CLONE_NEWNET)
    if uts:
        setns(origin.uts, CLONE_NEWUTS)


def raise_nofile(need: int) -> None:
    """Allow this process `need` open files (deploy and destroy hold one per namespace)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# Sysctls of new namespaces are not written through /proc/sys: the kernel keeps the
# /proc/sys/net/... dentries of every namespace in one hash chain per name and walks it on
# each lookup, so a write there costs O(namespaces alive); writing 3 sysctls in each of
# 4000 new namespaces took ~40 s. A private procfs instance (fsopen + fsmount: detached,
# mounted nowhere) has dentries of its own, and replaced every PROC_WRITES writes its
# chains stay short. The net.* files resolve to the writing thread's namespace either way.
PROC_WRITES = 256
_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 430, 431, 432  # the same on every architecture
_FSCONFIG_CMD_CREATE = 6
_MOUNT_ATTR_NOSUID_NODEV_NOEXEC = 0x2 | 0x4 | 0x8
_libc.syscall.restype = ctypes.c_long
_proc = threading.local()


@contextlib.contextmanager
def private_proc() -> Iterator[None]:
    """Within this, write_sysctl in this thread uses private procfs instances (closed at
    the end); without it, or on a kernel without fsopen (before 5.2), /proc/sys."""
    _proc.fd, _proc.writes, _proc.on = -1, 0, True
    try:
        yield
    finally:
        if _proc.fd >= 0:
            os.close(_proc.fd)
        _proc.fd, _proc.on = -1, False


def _proc_dir() -> int | None:
    """This thread's private procfs (a new one every PROC_WRITES writes), or None."""
    if not getattr(_proc, "on", False):
        return None
    if _proc.fd < 0 or _proc.writes >= PROC_WRITES:
        if _proc.fd >= 0:
            os.close(_proc.fd)
        _proc.fd, _proc.writes = _new_proc(), 0
        if _proc.fd < 0:
            _proc.on = False
            return None
    _proc.writes += 1
    return int(_proc.fd)


def _new_proc() -> int:
    """A detached procfs mount's descriptor, or -1 if the kernel will not make one."""
    call, c_int, c_uint = _libc.syscall, ctypes.c_int, ctypes.c_uint
    fs = call(ctypes.c_long(_SYS_FSOPEN), b"proc", c_uint(1))  # FSOPEN_CLOEXEC
    if fs < 0:
        return -1
    try:
        if call(ctypes.c_long(_SYS_FSCONFIG), c_int(fs), c_uint(_FSCONFIG_CMD_CREATE), None,
                None, c_int(0)) < 0:
            return -1
        return int(call(ctypes.c_long(_SYS_FSMOUNT), c_int(fs), c_uint(1),  # FSMOUNT_CLOEXEC
                        c_uint(_MOUNT_ATTR_NOSUID_NODEV_NOEXEC)))
    finally:
        os.close(fs)


def write_sysctl(key: str, value: str) -> None:
    """Set a sysctl of the namespace this thread is in (net.* files follow the thread)."""
    rel = key.replace(".", "/")
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    d = _proc_dir()
    fd = os.open("sys/" + rel, flags, dir_fd=d) if d is not None \
        else os.open("/proc/sys/" + rel, flags)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()
