"""Where a rootless user's netlab state lives, outside the user namespace.

    $XDG_RUNTIME_DIR/netlab/        (else /tmp/netlab-<uid>/), 0700, the user's own
        lock                        flock: exclusive while the holder is found or started,
                                    shared while a command runs (holder.py, join.py)
        holder.json                 the holder's pid and start time (clock ticks)
        labs/                       the run directory (NETLAB_RUN_DIR) inside: one
                                    directory per lab, each a tmpfs of the holder's mount
                                    namespace (so from the host it looks empty)

Everything here is checked before use: the directory and every one above it may be
changed by nobody but root and the user (layout.check_dir), the state directory itself is
the user's and closed to others, and the record is parsed, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from netlab.errors import NetlabError, who

STATE_NAME = "netlab"
LOCK_FILE = "lock"
RECORD_FILE = "holder.json"
RUN_SUBDIR = "labs"


class RootlessError(NetlabError):
    """Rootless mode cannot start or join (exit 1)."""


def state_dir() -> Path:
    """The user's state directory, made (0700) if missing, and checked."""
    from netlab.state.layout import StateError, check_dir

    uid = os.geteuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and _usable_runtime_dir(xdg, uid):
        path = Path(os.path.normpath(xdg)) / STATE_NAME
    else:
        # No runtime directory (no login session: cron, su without -l, a test's user):
        # /tmp is sticky, so others cannot remove or rename what is there; a name taken
        # by someone else is refused below, never used.
        path = Path(f"/tmp/netlab-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        st = os.lstat(path)
    except OSError as e:
        raise RootlessError(f"cannot use {path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else \
            f"owned by {who(st.st_uid)}, mode {stat.S_IMODE(st.st_mode):04o}"
        raise RootlessError(
            f"{path} ({what}) is not a private directory of yours; netlab keeps your labs'"
            f" state there and will not use it. Fix: remove it if it is not yours to keep"
            f" (rm -r {path}), or `chmod 0700 {path}`, or set XDG_RUNTIME_DIR to a"
            " directory of yours with mode 0700")
    try:
        check_dir(str(path))
        check_dir(str(path / RUN_SUBDIR), create=True)
    except StateError as e:
        raise RootlessError(str(e)) from None
    return path


def _usable_runtime_dir(xdg: str, uid: int) -> bool:
    # The XDG base directory spec: owned by the user, 0700. Anything else: the fallback.
    try:
        st = os.stat(xdg)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077


def run_dir(state: Path) -> Path:
    return state / RUN_SUBDIR


def open_lock(state: Path) -> int:
    """The lock file's descriptor (close-on-exec: commands run in nodes never hold it)."""
    try:
        return os.open(state / LOCK_FILE,
                       os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise RootlessError(f"cannot open {state / LOCK_FILE}: {e.strerror}") from None


def read_record(state: Path) -> tuple[int, int] | None:
    """(pid, start time) of the recorded holder, or None (no record, or not one)."""
    from netlab.state.layout import StateError, read_state_file

    try:
        text = read_state_file(state / RECORD_FILE)
        data = json.loads(text) if text else None
    except (StateError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, start = data.get("pid"), data.get("start")
    if type(pid) is not int or type(start) is not int or pid <= 1 or start < 0:
        return None
    return pid, start


def write_record(state: Path, pid: int, start: int) -> None:
    tmp = state / (RECORD_FILE + ".new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with open(fd, "w") as f:
        json.dump({"pid": pid, "start": start}, f)
    os.replace(tmp, state / RECORD_FILE)


def remove_record(state: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / RECORD_FILE)


def start_time(pid: int) -> int | None:
    """A live process's start time (clock ticks after boot, /proc/<pid>/stat field 22):
    with the pid, it names one process for good (pids are reused, this pair is not).
    None if there is no such process, or it has ended (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    try:
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return None  # ended: a zombie until its parent reaps it
        return int(fields[19])
    except (ValueError, IndexError):
        return None
