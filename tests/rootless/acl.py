"""A POSIX ACL entry letting chosen users search a directory (setfacl is not installed
here): the test users must reach the interpreter, which pyenv keeps under /root (0700)."""

from __future__ import annotations

import os
import struct

XATTR = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF


def grant_search(path: str, uids: list[int]) -> tuple[int, bytes | None]:
    """Give `uids` search (x) on `path`, keeping the owner's, group's and others' bits;
    returns what `revoke` restores: the mode (an ACL mask changes the group bits) and the
    ACL there was (None: none)."""
    mode = os.stat(path).st_mode & 0o7777
    try:
        old: bytes | None = os.getxattr(path, XATTR)
    except OSError:
        old = None
    entries = [(_USER_OBJ, (mode >> 6) & 7, _UNDEFINED)]
    entries += [(_USER, 1, uid) for uid in sorted(uids)]
    entries += [(_GROUP_OBJ, (mode >> 3) & 7, _UNDEFINED),
                (_MASK, ((mode >> 3) & 7) | 1, _UNDEFINED),
                (_OTHER, mode & 7, _UNDEFINED)]
    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    os.setxattr(path, XATTR, data)
    return mode, old


def revoke(path: str, saved: tuple[int, bytes | None]) -> None:
    mode, old = saved
    try:
        if old is None:
            os.removexattr(path, XATTR)
        else:
            os.setxattr(path, XATTR, old)
    except OSError:
        pass
    os.chmod(path, mode)
