"""Host-wide settings netlab changes in the host's namespace: saved once, shared by every
netlab process on the host (whatever its NETLAB_RUN_DIR), restored exactly by the last
one to leave.

Two groups of sysctls: "forwarding" for uplinks, "neigh" for pingall (hostrecord.py has
them, and the record's format and checks). Turning ip_forward on also switches LRO off on
every interface, which is not a sysctl and is not restored.

The record is /run/netlab-host/settings.json, a fixed path, in a root-owned 0700
directory that is also the lock (flock on the directory). It lists the holders: which lab,
in which run directory, needs which group, with a random token that the lab's own
journal also carries (kind "hosthold"). netlab's first change to a group saves the
group's values first (a group it never had to change is never saved or restored); when
a group has no holder left, its values are written back and the group is forgotten. A
holder whose lab is gone is dropped whenever the record is read: its journal is gone or
no longer carries its token (state removed by hand), its lab was released by destroy, or
its uplink interface is gone (namespace deleted by hand). The record is read back as
untrusted input: every field is checked, and what fails is dropped with a warning, never
used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import stat
import sys
from collections.abc import Iterator

from netlab.backends.kernel.hostrecord import FORWARDING as FORWARDING
from netlab.backends.kernel.hostrecord import (
    FORWARDING_FIXED,
    IFACE_KEY,
    IP_FORWARD,
    NEIGH_KEYS,
    VALUE,
    Group,
    Holder,
    HostRecord,
    dumps,
    ifname_ok,
    parse,
)
from netlab.backends.kernel.hostrecord import NEIGH as NEIGH
from netlab.errors import NetlabError
from netlab.linux.netns import in_host_netns
from netlab.state.journal import HostHoldEntry, Record
from netlab.state.layout import RECORD_FILE, lab_dir
from netlab.state.layout import run_dir as state_run_dir

HOST_DIR = "/run/netlab-host"
RECORD_NAME = "settings.json"
RELEASED = "host-released"  # in a lab's state directory: its holds are gone for good
JOURNAL_KIND = "hosthold"  # a lab's journal line for each of its holds: need, token
PROC_NET = "/proc/sys/net/"
_MAX_RECORD = 16 << 20  # bytes; a real record is a few KiB
_MAX_JOURNAL = 256 << 20


class HostSettingsError(NetlabError):
    pass


def new_token() -> str:
    return secrets.token_hex(16)


def run_dir() -> str:
    return str(state_run_dir())


# --- the lock and the record ----------------------------------------------------------


def _open_dir(create: bool) -> int | None:
    """The host directory, locked; None if it does not exist and create is False."""
    while True:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(HOST_DIR, 0o700)
        try:
            fd = os.open(HOST_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if create:
                continue  # removed by the last holder meanwhile
            return None
        except OSError as e:  # a symlink (ELOOP) or a file (ENOTDIR) put there by someone
            raise HostSettingsError(f"{HOST_DIR} is not a plain directory ({e.strerror});"
                                    " netlab keeps the host's settings there: remove it") from e
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            os.close(fd)
            raise HostSettingsError(
                f"{HOST_DIR} is not owned by uid {os.geteuid()} with mode 0700 (owner"
                f" {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); netlab will not trust"
                " the host settings it holds: remove it")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            now = os.stat(HOST_DIR, follow_symlinks=False)
            same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder before us removed it: lock the new one


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def _load(dfd: int) -> HostRecord:
    try:
        fd = os.open(RECORD_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dfd)
    except FileNotFoundError:
        return HostRecord()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_RECORD:
            raw: object = None
        else:
            with os.fdopen(os.dup(fd), "rb") as f:
                raw = json.loads(f.read(_MAX_RECORD + 1))
    except (ValueError, RecursionError):  # not JSON, or nested beyond the parser
        raw = None
    finally:
        os.close(fd)
    rec, problems = parse(raw)
    for p in problems:
        _warn(f"{HOST_DIR}/{RECORD_NAME}: {p}")
    return rec


def _store(dfd: int, rec: HostRecord) -> None:
    if not rec.groups and not rec.holders:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(RECORD_NAME, dir_fd=dfd)
        return
    data = dumps(rec)
    tmp = RECORD_NAME + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dfd)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.rename(tmp, RECORD_NAME, src_dir_fd=dfd, dst_dir_fd=dfd)


class Session:
    """The host record under the lock (see `session`)."""

    def __init__(self, dfd: int, rec: HostRecord):
        self.dfd, self.rec = dfd, rec

    def save(self) -> None:
        _store(self.dfd, self.rec)

    def holds(self, group: str) -> bool:
        return any(h.need == group for h in self.rec.holders)

    def add(self, holder: Holder) -> None:
        self.rec.holders.append(holder)
        self.save()

    def changing(self, group: str) -> None:
        """Call before writing a sysctl of the group: the first change saves the group's
        values as they are (on disk, before the write: a crash then still restores)."""
        if group not in self.rec.groups:
            self.rec.groups[group] = _current(group)
            self.save()

    def settle(self) -> None:
        """Drop holders whose lab is gone; restore and forget every group nobody holds."""
        live = [h for h in self.rec.holders if _alive(h)]
        changed = len(live) != len(self.rec.holders)
        self.rec.holders = live
        for name in sorted(self.rec.groups):
            if not self.holds(name):
                _restore(name, self.rec.groups.pop(name))
                changed = True
        if changed:
            self.save()


@contextlib.contextmanager
def session(create: bool = True) -> Iterator[Session | None]:
    """The host record, locked and settled; saved (settled again) on leaving. None when
    there is no record and create is False."""
    _require_host_netns()
    dfd = _open_dir(create)
    if dfd is None:
        yield None
        return
    try:
        s = Session(dfd, _load(dfd))
        s.settle()
        try:
            yield s
        except BaseException:
            with contextlib.suppress(Exception):  # the caller's error is the one to show
                _close(s)
            raise
        _close(s)
    finally:
        os.close(dfd)  # releases the lock


def _close(s: Session) -> None:
    s.settle()
    s.save()
    if not s.rec.groups and not s.rec.holders:
        with contextlib.suppress(OSError):
            os.rmdir(HOST_DIR)  # nothing held: leave nothing (lockers re-check the inode)


# --- liveness ---------------------------------------------------------------------------


def _alive(h: Holder) -> bool:
    lab = os.path.join(h.run_dir, h.lab)
    try:
        os.lstat(os.path.join(lab, RELEASED))
        return False
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            return False
    if not _journal_has(os.path.join(lab, RECORD_FILE), h.token):
        return False
    if h.ifname is not None and in_host_netns():
        try:
            return socket.if_nametoindex(h.ifname) == h.ifindex
        except OSError:
            return False
    return True


def _journal_has(path: str, token: str) -> bool:
    """Whether the journal carries the token; True on errors that do not prove it gone
    (better to keep a setting a little longer than to undo it under a running lab)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        with os.fdopen(os.dup(fd), "rb") as f:
            return token.encode() in f.read(_MAX_JOURNAL)
    except OSError:
        return True
    finally:
        os.close(fd)


def _require_host_netns() -> None:
    if not in_host_netns():
        raise HostSettingsError("host settings can only be changed from the host's own"
                                " network namespace")


# --- sysctls ----------------------------------------------------------------------------


def read(key: str) -> str:
    with open(PROC_NET + key) as f:
        return f.read().strip()


def write(key: str, value: str) -> None:
    fd = os.open(PROC_NET + key, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # as `echo >` does
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _interfaces() -> dict[str, int]:
    out = {}
    for name in os.listdir(PROC_NET + "ipv4/conf"):
        if name not in ("all", "default") and ifname_ok(name):
            with contextlib.suppress(OSError):
                out[name] = socket.if_nametoindex(name)
    return out


def _current(group: str) -> Group:
    if group == NEIGH:
        keys = list(NEIGH_KEYS)
        ifindex: dict[str, int] = {}
    else:
        ifindex = _interfaces()
        keys = list(FORWARDING_FIXED) + [f"ipv4/conf/{n}/forwarding" for n in ifindex]
    values = {}
    for k in keys:
        with contextlib.suppress(OSError):
            v = read(k)
            if VALUE.fullmatch(v):
                values[k] = v
    return Group(values, {n: i for n, i in ifindex.items()
                          if f"ipv4/conf/{n}/forwarding" in values})


def _restore(name: str, g: Group) -> None:
    """Write the saved values back. ip_forward first: writing it resets the others."""
    order = sorted(g.values, key=lambda k: (k != IP_FORWARD, k))
    for key in order:
        m = IFACE_KEY.fullmatch(key)
        if m is not None and key not in FORWARDING_FIXED:
            try:  # an interface that went away, or a new one under the old name
                if socket.if_nametoindex(m.group(1)) != g.ifindex.get(m.group(1)):
                    continue
            except OSError:
                continue
        try:
            if read(key) != g.values[key]:
                write(key, g.values[key])
        except OSError as e:
            _warn(f"could not restore net.{key.replace('/', '.')} to {g.values[key]}:"
                  f" {e.strerror}")


# --- what the rest of netlab calls ------------------------------------------------------


def hold_forwarding(s: Session, lab: str, token: str, ifname: str, ifindex: int) -> None:
    """Hold IPv4 forwarding on for a lab's uplink (whose journal carries `token`)."""
    s.add(Holder(FORWARDING, run_dir(), lab, token, ifname, ifindex))
    if read(IP_FORWARD) != "1":
        s.changing(FORWARDING)
        write(IP_FORWARD, "1")


def raise_neighbour_limits(lab: str, entries: int, target: dict[str, int]) -> list[str]:
    """Raise the neighbour-table thresholds to `target` (gc_thresh name -> value) for as
    long as the lab is deployed, if `entries` new entries may not fit the host's own
    limits. Returns the sysctls changed."""
    with session() as s:
        assert s is not None
        saved = s.rec.groups.get(NEIGH)
        base = saved.values if saved is not None else _current(NEIGH).values
        fams = [fam for fam in ("ipv4", "ipv6")
                if (v := base.get(f"{fam}/neigh/default/gc_thresh2")) is not None
                and entries >= int(v) // 2]
        if not fams:
            return []
        d = lab_dir(lab)
        if os.path.lexists(d / RELEASED) or not (d / RECORD_FILE).is_file():
            return []  # being destroyed, or not deployed: nothing would give it back
        token = new_token()
        journal = Record(lab).open()
        try:
            journal.add(HostHoldEntry(kind="hosthold", need=NEIGH, token=token))
        finally:
            journal.close()
        s.add(Holder(NEIGH, run_dir(), lab, token))
        changed = []
        for fam in fams:
            for name, value in target.items():
                key = f"{fam}/neigh/default/{name}"
                with contextlib.suppress(OSError, ValueError):
                    if int(read(key)) < value:
                        s.changing(NEIGH)
                        write(key, str(value))
                        changed.append(f"net.{fam}.neigh.default.{name}={value}")
        return changed


def release_lab(lab: str) -> None:
    """Drop every hold of the lab (in this run directory); a group nobody holds any more
    gets its saved values back. Called by destroy, before the state directory goes."""
    # Marked before the lock is taken: a pingall that holds the lock now has its hold
    # removed below; one that gets the lock later sees the mark and takes none.
    with contextlib.suppress(OSError, NetlabError):  # no (safe) state directory: no mark
        os.close(os.open(lab_dir(lab) / RELEASED, os.O_WRONLY | os.O_CREAT
                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    with session(create=False) as s:
        if s is None:
            return
        rd = run_dir()
        s.rec.holders = [h for h in s.rec.holders if (h.run_dir, h.lab) != (rd, lab)]
