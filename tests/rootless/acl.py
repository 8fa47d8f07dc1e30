"""A POSIX ACL entry letting chosen users search a directory (setfacl is not installed
here): the test users must reach the interpreter, which pyenv keeps under /root (0700).

Several test modules (and several pytest processes) make users at once: each adds its
users' entries to what is there and removes only its own, under a lock, so that one
module's end never takes away another's access."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Iterator

XATTR = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF
_LOCK = "/tmp/.netlab-tests-acl.lock"
_mine: dict[str, set[int]] = {}  # path -> uids this process granted there


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    fd = os.open(_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: str) -> list[tuple[int, int, int]] | None:
    try:
        data = os.getxattr(path, XATTR)
    except OSError:
        return None
    return [struct.unpack_from("<HHI", data, off) for off in range(4, len(data), 8)]


def _write(path: str, entries: list[tuple[int, int, int]]) -> None:
    entries = sorted(entries, key=lambda e: (e[0], e[2]))
    os.setxattr(path, XATTR, struct.pack("<I", 2)
                + b"".join(struct.pack("<HHI", *e) for e in entries))


def grant_search(path: str, uids: list[int]) -> tuple[int, bytes | None]:
    """Give `uids` search (x) on `path`, keeping the owner's, group's and others' bits
    and every other user's entry; returns what `revoke` needs."""
    with _locked():
        mode = os.stat(path).st_mode & 0o7777
        try:
            old: bytes | None = os.getxattr(path, XATTR)
        except OSError:
            old = None
        have = _read(path)
        if have is None:
            have = [(_USER_OBJ, (mode >> 6) & 7, _UNDEFINED),
                    (_GROUP_OBJ, (mode >> 3) & 7, _UNDEFINED), (_OTHER, mode & 7, _UNDEFINED)]
        users = {e[2]: e[1] for e in have if e[0] == _USER}
        for uid in uids:
            users[uid] = users.get(uid, 0) | 1
        group = next(e[1] for e in have if e[0] == _GROUP_OBJ)
        rest = [e for e in have if e[0] not in (_USER, _MASK)]
        mask = group
        for perm in users.values():
            mask |= perm
        _write(path, rest + [(_USER, p, u) for u, p in users.items()]
               + [(_MASK, mask, _UNDEFINED)])
        _mine.setdefault(path, set()).update(uids)
        return mode, old


def revoke(path: str, saved: tuple[int, bytes | None]) -> None:
    """Take back the entries this process granted on `path`; when no user entry is left,
    the ACL goes and the group bits are the group's own again."""
    uids = _mine.pop(path, set())
    with _locked(), contextlib.suppress(OSError):
        have = _read(path)
        if have is None:
            return
        users = [e for e in have if e[0] == _USER and e[2] not in uids]
        group = next(e[1] for e in have if e[0] == _GROUP_OBJ)
        if users:
            rest = [e for e in have if e[0] not in (_USER, _MASK)]
            mask = group
            for e in users:
                mask |= e[1]
            _write(path, rest + users + [(_MASK, mask, _UNDEFINED)])
            return
        os.removexattr(path, XATTR)
        mode = os.stat(path).st_mode & 0o7777
        os.chmod(path, (mode & ~0o070) | (group << 3))
