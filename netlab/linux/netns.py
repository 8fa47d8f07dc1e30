"""Entering network (and UTS) namespaces from this thread, without forking.

setns(2) changes only the calling thread, so a thread can step into a lab namespace,
open sockets or /proc/sys files there (they stay bound to that namespace), and step back.

A namespace is entered through a file descriptor: `open_ns` opens the pinned file (never
through a symlink) and checks that a namespace of the wanted kind is mounted there, else
raises the one NamespaceGone message (netlab.errors.namespace_gone). Once open, the
descriptor holds the namespace: it cannot be freed, so it cannot be swapped for another
between the check and setns. A missing namespace is never skipped, so nothing ever runs in
the host's namespace in its place.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from netlab.errors import namespace_gone

NETNS_RUN_DIR = "/run/netns"
CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3): the CLONE_NEW* kind of an nsfs file
_KINDS = {CLONE_NEWNET: ("net", "network"), CLONE_NEWUTS: ("uts", "UTS")}


def _load_libc() -> ctypes.CDLL:
    # The C library as the running Python already links it: ctypes.util.find_library
    # costs every command ~20-40 ms of start-up (its imports, and ldconfig run in a child).
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "setns"):
        return libc
    from ctypes.util import find_library

    return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


_libc = _load_libc()


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


_NSFS_DEV: int | None = None


def is_nsfs(st: os.stat_result) -> bool:
    """Whether a stat result is a namespace file (every nsfs inode lives on the one nsfs
    superblock: recognised by its device)."""
    global _NSFS_DEV
    if _NSFS_DEV is None:
        _NSFS_DEV = os.stat("/proc/self/ns/net").st_dev
    return st.st_dev == _NSFS_DEV


def ns_type(fd: int) -> int | None:
    """The CLONE_NEW* kind of the namespace open as `fd`, or None if it is not one."""
    try:
        if not is_nsfs(os.fstat(fd)):
            return None
        return fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        return None


def open_ns(path: str, nstype: int = CLONE_NEWNET, node: str | None = None) -> int:
    """An O_CLOEXEC descriptor of the namespace of kind `nstype` pinned at `path`, or
    NamespaceGone. A symlink is never followed (except /proc/<...>/ns/* links, which are
    the kernel's own): a pin is a file netlab made, not a link someone put in its place."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (0 if path.startswith("/proc/") else os.O_NOFOLLOW)
    kind = _KINDS[nstype][1]
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise namespace_gone(path, kind, node) from None
        raise
    if ns_type(fd) != nstype:  # e.g. an empty placeholder file with nothing mounted on it
        os.close(fd)
        raise namespace_gone(path, kind, node)
    return fd


@contextmanager
def entered_fd(fd: int, nstype: int = CLONE_NEWNET) -> Iterator[None]:
    """Run the body with this thread inside the namespace open as `fd`."""
    own = os.open(f"/proc/thread-self/ns/{_KINDS[nstype][0]}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype)
        try:
            yield
        finally:
            setns(own, nstype)
    finally:
        os.close(own)


@contextmanager
def entered(name_or_path: str, nstype: int = CLONE_NEWNET) -> Iterator[None]:
    """Run the body with this thread inside the named netns (or the ns file at a path);
    NamespaceGone if there is none."""
    path = name_or_path if name_or_path.startswith("/") else netns_path(name_or_path)
    target = open_ns(path, nstype)
    try:
        with entered_fd(target, nstype):
            yield
    finally:
        os.close(target)


def in_host_netns() -> bool:
    """Whether this thread is in the host's network namespace: that of PID 1, or, where
    PID 1 cannot be inspected (a sandbox), that of this process's main thread (netlab
    steps into lab namespaces only for moments, never while it acts on the host)."""
    try:
        mine = os.stat("/proc/thread-self/ns/net")
    except OSError:
        return False
    for ref in ("/proc/1/ns/net", "/proc/self/ns/net"):
        try:
            host = os.stat(ref)
        except OSError:
            continue
        return (mine.st_dev, mine.st_ino) == (host.st_dev, host.st_ino)
    return False
