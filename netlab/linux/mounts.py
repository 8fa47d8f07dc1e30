"""Mounts, through libc (no `mount` command): bind mounts that pin namespaces, the
shared /run/netns, a lab's tmpfs."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os

from netlab.linux.netns import _libc

MS_RDONLY = 1
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
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


# --- mount API (open_tree, move_mount) -------------------------------------------------

_SYS_OPEN_TREE = 428  # the same number on every architecture (new syscalls are unified)
_SYS_MOVE_MOUNT = 429
OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
_libc.syscall.restype = ctypes.c_long


def open_tree(path: str) -> int:
    """A detached copy of the mount at `path`, attachable anywhere (even after `path`
    itself is detached from this namespace)."""
    fd = _libc.syscall(_SYS_OPEN_TREE, AT_FDCWD, path.encode(),
                       ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}", path)
    return int(fd)


def move_mount(fd: int, target: str) -> None:
    ret = _libc.syscall(_SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(),
                        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"move_mount {target}: {os.strerror(err)}", target)


def detach_under(prefixes: list[str]) -> None:
    """Detach (lazily, with their submounts) the mounts of this thread's namespace at or
    under any of `prefixes`, outermost first."""
    points = []
    with open("/proc/thread-self/mountinfo") as f:
        for line in f:
            mp = unescape(line.split()[4])
            if any(mp == p or mp.startswith(p.rstrip("/") + "/") for p in prefixes):
                points.append(mp)
    for mp in sorted(points, key=lambda p: p.count("/")):
        with contextlib.suppress(OSError):  # gone with its parent already
            umount2(mp, MNT_DETACH)


def unescape(field_: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field_ = field_.replace(esc, ch)
    return field_
