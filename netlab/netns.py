"""Entering network (and UTS) namespaces from this thread, without forking.

setns(2) changes only the calling thread, so a thread can step into a lab namespace,
open sockets or /proc/sys files there (they stay bound to that namespace), and step back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

from netlab.errors import NamespaceGone

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


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


@contextmanager
def entered(name_or_path: str, nstype: int = CLONE_NEWNET) -> Iterator[None]:
    """Run the body with this thread inside the named netns (or the ns file at a path)."""
    path = name_or_path if name_or_path.startswith("/") else netns_path(name_or_path)
    kind = "net" if nstype == CLONE_NEWNET else "uts"
    own = os.open(f"/proc/thread-self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NamespaceGone(f"namespace {path} does not exist (is the lab deployed?"
                                " see `netlab list` and `netlab status`)") from None
        try:
            setns(target, nstype)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(own, nstype)
    finally:
        os.close(own)
