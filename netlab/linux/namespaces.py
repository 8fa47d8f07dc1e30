"""Named network namespaces and per-node UTS namespaces, the `ip netns` way, without forking.

A namespace is created by unshare(2) in this thread, pinned by bind-mounting
/proc/thread-self/ns/<kind> onto an empty file (/run/netns/<name> for net namespaces, so
`ip netns` sees them; /run/netlab/<lab>/uts/<node> for UTS ones), and the thread then steps
back with setns(2). Deleting is umount2(MNT_DETACH) + unlink; the kernel frees the namespace
when its last user goes.

Which of them are netlab's (cookie, marker, placeholder mark) is ownership.py; a pin is
removed only by location (UTS pins in the lab's own directory) or once proven and held
(`unpin_held`). Mounts are mounts.py, sysctls sysctl.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass

from netlab.linux import netlink
from netlab.linux.mounts import MNT_DETACH, MS_BIND, UMOUNT_NOFOLLOW, mount, umount2
from netlab.linux.netns import (
    CLONE_NEWNET,
    CLONE_NEWUTS,
    NETNS_RUN_DIR,
    _libc,
    is_nsfs,
    setns,
    unshare,
)
from netlab.linux.ownership import XATTR, Held, cookie, set_marker

AT_EMPTY_PATH = 0x1000
_libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_int]


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
