"""The class record: which student has which copy, of what lab, with what limits.

Kept in the run directory (netlab.state.layout, so a rootless run directory works alike)
as `.classes/<class>.json`: a name no lab can have, so `netlab list` and `destroy --all`
never take it for a lab. Written atomically, 0600 (it names students); read back only as
a regular file, never through a symlink. The record is written before any copy is built,
so that `class down` can always remove what an interrupted `class up` left.
Students' own rootless labs have no record: root finds them through their holders
(students.py, docs/classroom.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError, UsageError
from netlab.names import check_lab_name

CLASS_DIR = ".classes"
FORMAT = 1


@dataclass
class ClassRecord:
    name: str  # the class (a lab name: it prefixes the copies)
    source: str  # the topology file or bundled lab it came from
    topology: str  # the topology's text at `class up` (copies and grading use this)
    students: list[dict[str, str]] = field(default_factory=list)  # {"student", "lab"}
    limits: dict[str, Any] = field(default_factory=dict)  # cgroups.Limits as a dict
    groups: dict[str, list[str]] = field(default_factory=dict)  # lab -> its cgroups
    state: str = "building"  # "building" until every copy is up, then "up"
    format: int = FORMAT

    def labs(self) -> list[str]:
        return [s["lab"] for s in self.students]

    def student_of(self) -> dict[str, str]:
        return {s["lab"]: s["student"] for s in self.students}


def class_dir(create: bool = False) -> Path:
    from netlab.state.layout import ensure_run_dir, run_dir

    d = (ensure_run_dir() if create else run_dir()) / CLASS_DIR
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
    st = os.lstat(d) if d.exists() or d.is_symlink() else None
    if st is not None and (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()):
        raise NetlabError(f"{d} is not a directory of this user; netlab will not use it")
    return d


def _path(name: str) -> Path:
    return class_dir() / f"{check_lab_name(name, 'class name')}.json"


def exists(name: str) -> bool:
    try:
        return os.path.lexists(_path(name))
    except NetlabError:
        return False


def classes() -> list[str]:
    """Every class with a record, sorted."""
    try:
        entries = os.listdir(class_dir())
    except FileNotFoundError:
        return []
    return sorted(e[:-5] for e in entries if e.endswith(".json") and not e.startswith("."))


def read(name: str) -> ClassRecord:
    path = _path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        known = classes()
        raise UsageError(f"no class named {name!r}" + (
            f" (classes: {', '.join(known)})" if known else " (no class is up)")) from None
    except OSError as e:
        raise NetlabError(f"cannot read {path}: {e.strerror}") from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NetlabError(f"{path} is not a regular file; netlab will not read it")
        raw = f.read()
    try:
        data = json.loads(raw)
        rec = ClassRecord(**{k: data[k] for k in ClassRecord.__dataclass_fields__
                             if k in data})
        for s in rec.students:  # lab names become paths again: checked on every read
            check_lab_name(s["lab"], f"{path}: students")
    except (ValueError, TypeError, KeyError) as e:
        raise NetlabError(f"the class record {path} is damaged ({e}); remove the class's"
                          f" labs with `netlab destroy`, then the file") from None
    return rec


def write(rec: ClassRecord) -> None:
    d = class_dir(create=True)
    path = d / f"{check_lab_name(rec.name, 'class name')}.json"
    tmp = d / f".{rec.name}.json.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(rec), f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(name))


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One `class up/down` of a class at a time; with the class gone, its lock goes too."""
    path = class_dir(create=True) / f".{check_lab_name(name, 'class name')}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NetlabError(f"class {name!r} is being built or removed by another netlab"
                              " process; try again when it has finished") from None
        try:
            yield
        finally:
            if not os.path.lexists(path.with_name(f"{name}.json")):
                # Under the lock (a waiter fails at once: LOCK_NB): nothing of the class
                # stays behind.
                with contextlib.suppress(OSError):
                    os.unlink(path)
                with contextlib.suppress(OSError):
                    os.rmdir(path.parent)  # only when empty (other classes keep it)
    finally:
        os.close(fd)
