"""Named network namespaces and per-node UTS namespaces, the `ip netns` way, without forking.

A namespace is created by unshare(2) in this thread, pinned by bind-mounting
/proc/thread-self/ns/<kind> onto an empty file (/run/netns/<name> for net namespaces, so
`ip netns` sees them; /run/netlab/<lab>/uts/<node> for UTS ones), and the thread then steps
back with setns(2). Deleting is umount2(MNT_DETACH) + unlink; the kernel frees the namespace
when its last user goes. Namespaces are identified by the (st_dev, st_ino) of the pinned
nsfs file, so netlab only ever removes the namespaces it created itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from netlab.netns import CLONE_NEWNET, CLONE_NEWUTS, NETNS_RUN_DIR, _libc, setns, unshare

MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2
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


@dataclass(frozen=True)
class NsId:
    """Identity of a pinned namespace: the nsfs inode behind its bind mount."""

    path: str
    dev: int
    ino: int


def identify(path: str) -> NsId | None:
    """The namespace pinned at `path`, or None if nothing (or no namespace) is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return NsId(path, st.st_dev, st.st_ino) if _is_nsfs(st) else None


_NSFS_DEV: int | None = None


def _is_nsfs(st: os.stat_result) -> bool:
    # Every nsfs inode lives on the one nsfs superblock; recognise it by its device.
    global _NSFS_DEV
    if _NSFS_DEV is None:
        _NSFS_DEV = os.stat("/proc/self/ns/net").st_dev
    return st.st_dev == _NSFS_DEV


def placeholder(path: str) -> None:
    """The empty file a namespace gets bind-mounted onto (O_EXCL: never someone else's)."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))


def pin(kind: str, path: str, made: bool = False) -> NsId:
    """Bind-mount this thread's namespace of `kind` ('net', 'uts') onto a new file at path
    (`made`: the placeholder file was already created by `placeholder`)."""
    if not made:
        placeholder(path)
    try:
        mount(f"/proc/thread-self/ns/{kind}", path, "none", MS_BIND)
    except BaseException:
        os.unlink(path)
        raise
    st = os.stat(path)
    return NsId(path, st.st_dev, st.st_ino)


def unpin(ns: NsId) -> bool:
    """Unmount and remove a namespace file, only if it still pins the same namespace."""
    cur = identify(ns.path)
    if cur is None:
        return False
    if (cur.dev, cur.ino) != (ns.dev, ns.ino):
        return False  # someone else's namespace now has this name: never touch it
    try:
        umount2(ns.path, MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(ns.path)
    return True


def remove_placeholder(path: str) -> None:
    """Remove an empty, unmounted placeholder file (one that never got its namespace)."""
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if identify(path) is None and st.st_size == 0 and not os.path.islink(path):
            os.unlink(path)


@dataclass
class Created:
    """A namespace created by `create`: its pin(s), plus a handle kept open for later steps."""

    netns: NsId
    uts: NsId | None
    fd: int  # O_RDONLY fd of the net namespace (for IFLA_NET_NS_FD); caller closes


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
    uts_path: str | None = None,
    hostname: str | None = None,
    inside: Callable[[], None] | None = None,
    made: bool = False,
) -> Created:
    """Create and pin a named netns (and a UTS ns with `hostname` if uts_path is given).

    `inside` runs while this thread is in the new namespaces, before returning: sysctls
    (their `default.*` keys must be set before any interface exists) and opening sockets.
    """
    path = os.path.join(NETNS_RUN_DIR, name)
    flags = CLONE_NEWNET | (CLONE_NEWUTS if uts_path else 0)
    unshare(flags)
    netns = uts = None
    try:
        netns = pin("net", path, made)
        if uts_path:
            socket.sethostname(hostname or name)
            uts = pin("uts", uts_path)
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if inside is not None:
                inside()
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        _back(origin, uts_path is not None)
        for ns in (uts, netns):
            if ns is not None:
                unpin(ns)
        if netns is None and made:
            remove_placeholder(path)
        raise
    _back(origin, uts_path is not None)
    return Created(netns, uts, fd)


def _back(origin: Origin, uts: bool) -> None:
    setns(origin.net, CLONE_NEWNET)
    if uts:
        setns(origin.uts, CLONE_NEWUTS)


def write_sysctl(key: str, value: str) -> None:
    """Set a sysctl of the namespace this thread is in (net.* files follow the thread)."""
    path = "/proc/sys/" + key.replace(".", "/")
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()
