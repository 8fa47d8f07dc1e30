"""Reading a topology file safely: the one place netlab reads one, so that every verb
refuses the same things (a FIFO, a device, a huge file, text that is not UTF-8, and as
root a file or directory others could write)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from netlab.errors import Problem, TopologyError, who
from netlab.linux.userns import root_is_host_root

MAX_BYTES = 1 << 20  # 1 MiB: a 1000-node lab is ~60 KiB


def read_text(path: str | Path) -> str:
    """The text of a topology file: the one place netlab reads one, so that every verb
    refuses the same things (exit 2, the file named, the reason and the fix): anything
    but a regular file (a FIFO would hang, /dev/zero never ends), more than MAX_BYTES,
    text that is not UTF-8, and, when running as root, a file that a user other than
    root and the one who ran netlab (sudo's SUDO_UID) could have written or replaced.
    """
    file = str(path)
    try:
        # stat first, so that a device or FIFO is not even opened; then the opened file
        # is checked again (fstat): it may have been swapped in between.
        _check_kind(file, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise _unreadable(file, e) from None
    try:
        st = os.fstat(fd)
        _check_kind(file, st.st_mode)
        if os.geteuid() == 0 and root_is_host_root():  # rootless: uid 0 is the user
            _check_trusted(file, fd, st)
        data = b""
        if st.st_size <= MAX_BYTES:
            while len(data) <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - len(data))):
                data += chunk
        if st.st_size > MAX_BYTES or len(data) > MAX_BYTES:
            raise _refused(file, f"the file is larger than {MAX_BYTES >> 20} MiB, far more"
                           " than any topology needs",
                           "check that this is the topology file you meant")
    except OSError as e:
        raise _unreadable(file, e) from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refused(file, f"cannot read the file: {e}", "save it as UTF-8 text") from None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _check_kind(file: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _refused(file, f"cannot read the file: it is {kind}, not a regular file",
                       "give the path of a topology file (a .toml file)")


def _refused(file: str, message: str, fix: str) -> TopologyError:
    return TopologyError(file, [Problem("", message, fix)])


def _unreadable(file: str, e: OSError) -> TopologyError:
    return _refused(file, f"cannot read the file: {e.strerror or e}", "check the path")


def _invoker() -> tuple[int, int]:
    """The user (uid, gid) who ran netlab: sudo's SUDO_UID/SUDO_GID, else the real ids."""
    ids = []
    for var, real in (("SUDO_UID", os.getuid()), ("SUDO_GID", os.getgid())):
        text = os.environ.get(var, "")
        ids.append(int(text) if text.isdigit() else real)
    return ids[0], ids[1]


def _check_trusted(file: str, fd: int, st: os.stat_result) -> None:
    """As root, a topology's `exec` commands run as root: refuse a file that anyone but
    root and the invoking user could have written, or could swap for another file (its
    directory, or any directory above it, writable by others without the sticky bit
    /tmp has, or owned by someone else)."""
    uid, gid = _invoker()
    users, groups = {0, uid}, {0, gid}
    you = "root" if uid == 0 else f"root or you ({who(uid)})"
    mine = f"copy it into a directory of yours (cp {file} ~/) and use the copy"

    def others_can_write(s: os.stat_result) -> bool:
        return bool(s.st_mode & stat.S_IWOTH
                    or (s.st_mode & stat.S_IWGRP and s.st_gid not in groups))

    if st.st_uid not in users:
        raise _refused(file, f"not read as root: the file is owned by {who(st.st_uid)},"
                       f" not by {you}", "check what it does (its `exec` commands would run"
                       f" as root), then {mine}")
    if others_can_write(st):
        raise _refused(file, "not read as root: other users can write the file (mode"
                       f" {stat.S_IMODE(st.st_mode):04o})", f"chmod go-w {file}")
    # Every directory above the file, as opened (/proc/self/fd names the real file, after
    # any symbolic link) and as named (a link lives in the directory that holds it).
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc
        real = os.path.realpath(file)
    seen: set[str] = set()
    for start in (real, os.path.abspath(file)):
        d = os.path.dirname(start)
        while d not in seen:
            seen.add(d)
            ds = os.stat(d)
            if ds.st_uid not in users:
                raise _refused(file, f"not read as root: the directory {d} is owned by"
                               f" {who(ds.st_uid)}, who could replace the file", mine)
            if others_can_write(ds) and not ds.st_mode & stat.S_ISVTX:
                raise _refused(file, f"not read as root: other users can write the"
                               f" directory {d} (mode {stat.S_IMODE(ds.st_mode):04o}) and"
                               f" could replace the file", f"chmod go-w {d}, or {mine}")
            d = os.path.dirname(d)
