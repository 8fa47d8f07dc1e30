"""The per-lab lock held by deploy and destroy: one netlab process at a time per lab."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from netlab.errors import NetlabError
from netlab.names import check_lab_name
from netlab.state.layout import ensure_run_dir


@contextlib.contextmanager
def lab_lock(name: str) -> Iterator[None]:
    """Exclusive per-lab lock held by deploy and destroy (a lock file beside the lab dir).

    A signal may land anywhere (in `netlab`, SIGTERM and SIGHUP raise KeyboardInterrupt
    like Ctrl-C): the try starts before the file is created, its descriptor is recorded
    the moment it exists, and the release is retried once if a signal cuts it short, so
    that no lock file outlives its lab whenever the signal comes."""
    path = ensure_run_dir() / f".{check_lab_name(name)}.lock"
    fds: list[int] = []  # the lock file's descriptor, once open
    try:
        _take_lock(path, name, fds)
        yield
    finally:
        try:
            _drop_lock(path, name, fds)
        except KeyboardInterrupt:
            _drop_lock(path, name, fds)  # a signal before or during the first go
            raise


def _take_lock(path: Path, name: str, fds: list[int]) -> None:
    while True:
        fds.append(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
        try:
            fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NetlabError(f"lab {name!r} is being deployed or destroyed by another netlab"
                              " process; try again when it has finished") from None
        if _same_file(fds[-1], path):
            return
        os.close(fds.pop())  # the holder before us removed this file: lock the new one


def _drop_lock(path: Path, name: str, fds: list[int]) -> None:
    """Unlock; with no lab left, remove the lock file first. Idempotent, so that it can be
    retried. The file is removed only under the lock (a locker that opened it before the
    removal sees that it is gone, in _take_lock, and locks the new one); when a signal
    came between creating the file and recording it, the file is opened again here."""
    if not fds:
        try:
            fds.append(os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW))
        except OSError:
            return  # no lock file
    fd = fds[-1]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already, or free: ours now
        if not os.path.lexists(path.parent / name) and _same_file(fd, path):
            os.unlink(path)
    except OSError:
        pass  # another process holds it (it removes the file), or it is gone already
    finally:
        fds.pop()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
