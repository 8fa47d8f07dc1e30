"""Sysctls of the namespace the calling thread is in."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator

from netlab.linux.netns import _libc

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
