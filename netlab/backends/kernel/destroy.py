"""Destroy: undo exactly what a lab's journal says netlab created; idempotent.

Works from /run/netlab/<lab>/ alone (the topology file may be gone), and without it: a
namespace is netlab's only when proven so while held open (netlab.linux.namespaces:
`hold`), by the cookie journaled at its creation, or, when the journal has no entry for it
(deploy killed between mounting and journaling, or the state directory gone), by the
marker netlab wrote inside it before mounting it (the alias of its `lo`, naming the lab,
the namespace and the deploy). destroy_lab also scans /run/netns for namespaces whose
marker names the lab, so a lab whose plan and journal are lost is still removed, and
exactly it. Processes are ended only inside namespaces so proven (compared with the held
descriptors); a /run/netns file is removed only if it carries the placeholder mark; an
/etc/netns entry found without a journal only if it is what netlab writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
from dataclasses import dataclass, field

from netlab.backends.kernel import files, hostsettings, procs
from netlab.errors import NetlabError
from netlab.linux import namespaces, netlink, nft
from netlab.linux.namespaces import Held
from netlab.linux.netns import NETNS_RUN_DIR, netns_path
from netlab.state.store import (
    PLAN_FILE,
    UTS_DIR,
    Record,
    lab_dir,
    lab_lock,
    read_record,
    remove_lab_dir,
    run_dir,
)


@dataclass
class Report:
    lab: str
    namespaces: int = 0  # network namespaces unpinned
    processes: int = 0  # processes that were running and were ended
    etc: int = 0  # /etc/netns entries removed
    state: bool = False  # the lab had a state directory (now removed)
    skipped: list[str] = field(default_factory=list)  # things left alone, and why

    @property
    def empty(self) -> bool:
        return not (self.namespaces or self.processes or self.etc or self.state)


def undo(name: str, record: Record, planned: list[str] | None = None,
         scan: bool = False) -> Report:
    """Remove everything in the journal that is proven netlab's, then the lab's state
    directory. `planned`: the plan's namespace names, to report those that exist without
    a record. `scan`: also remove the namespaces whose marker names the lab (and their
    /etc/netns entries): among the planned names, or all of /run/netns without a plan."""
    rep = Report(name)
    rep.skipped += [str(d) for d in record.damaged]  # damaged journal lines: reported
    entries = record.entries
    namespaces.raise_nofile(len(entries) + 256)  # one descriptor per held namespace
    held: dict[str, Held] = {}  # path -> proven namespace, held open until it is removed
    try:
        journaled, unmounted = _prove_journaled(name, record, held, rep)
        found = _prove_by_marker(name, held, journaled, planned) if scan else []
        _end_processes(record, held, rep)
        for e in entries:
            if e.get("kind") == "hostnft":
                nft.delete_host_table(e["family"], e["table"])
        for e in entries:
            if e.get("kind") == "hostlink" and e.get("ifindex"):
                _delete_host_link(e["ifname"], int(e["ifindex"]), rep)
        # Host settings (ip_forward, neighbour limits): the host-wide record knows this lab's
        # holds ("hosthold" in the journal); the last holder to leave restores them.
        if name:
            try:
                hostsettings.release_lab(name)
            except (OSError, NetlabError) as e:  # never keeps the rest from being removed
                rep.skipped.append(f"host settings: {e}")
        _unpin_uts(name, record)
        for h in held.values():
            if namespaces.unpin_held(h):
                rep.namespaces += 1
    finally:
        for h in held.values():
            h.release()
    for path, token in unmounted.items():  # placeholders with no namespace on them
        mine = namespaces.remove_placeholder(
            path, lambda m, t=token: t is not None and m == namespaces.file_marker(name, t))
        if not mine and os.path.lexists(path):
            rep.skipped.append(f"{path}: a file netlab did not make; left alone")
    if planned is not None:
        seen = {os.path.basename(p) for p in held} | {os.path.basename(p) for p in journaled}
        for ns_name in planned:  # (journaled ones were reported above if left alone)
            if ns_name not in seen and os.path.lexists(netns_path(ns_name)):
                rep.skipped.append(f"netns {ns_name}: exists but is not one netlab created"
                                   " (no record, no marker); left alone")
    for e in entries:
        if e.get("kind") == "etc":
            there = os.path.lexists(files.etc_dir(e["netns"]))
            files.remove(e)
            rep.etc += there and not os.path.lexists(files.etc_dir(e["netns"]))
    store = files.store_dir(str(run_dir()), name)
    for ns_name in found:
        rep.etc += _remove_etc(ns_name, store)
    if name:
        d = str(lab_dir(name))
        rep.state = os.path.lexists(d)
        if os.path.ismount(d):  # the lab directory's tmpfs
            with contextlib.suppress(OSError):
                namespaces.umount2(d, namespaces.MNT_DETACH | namespaces.UMOUNT_NOFOLLOW)
        remove_lab_dir(name)
    return rep


def _prove_journaled(name: str, record: Record, held: dict[str, Held], rep: Report,
                     ) -> tuple[set[str], dict[str, str | None]]:
    """Hold each journaled namespace path that is proven the lab's: by the cookie of its
    `netns` entry, or, without one (deploy killed after the pin, before the journal line),
    by the marker of its `placeholder` entry's deploy. Returns every journaled path, and
    those with no namespace on them, with their deploy token (for the placeholder mark)."""
    cookies: dict[str, int | None] = {}
    tokens: dict[str, str | None] = {}
    for e in record.entries:
        if e.get("kind") in ("placeholder", "netns"):
            tokens[e["path"]] = e.get("token") or tokens.get(e["path"])
            if e["kind"] == "netns":
                cookies[e["path"]] = e.get("cookie")
    unmounted = {}
    for path, token in tokens.items():
        cookie = cookies.get(path)
        h = namespaces.hold(path, marker=cookie is None)
        if h is None:
            unmounted[path] = token
            continue
        if cookie is not None:
            ok = h.cookie == cookie
        else:
            ok = token is not None and h.marker == namespaces.marker(
                name, os.path.basename(path), token)
        if ok:
            held[path] = h
        else:
            h.release()
            rep.skipped.append(f"{path}: now holds a namespace netlab did not create;"
                               " left alone")
    return set(tokens), unmounted


def _prove_by_marker(name: str, held: dict[str, Held], journaled: set[str],
                     planned: list[str] | None) -> list[str]:
    """Hold every other namespace whose marker names this lab (its journal lost, or
    deploy killed before journaling it), and remove the lab's marked placeholder files
    that never got a namespace. Looks at the planned names, or, without a plan, at all of
    /run/netns (~75 us per namespace, mostly the two setns). Returns the names found."""
    if planned is not None:
        names = planned
    else:
        try:
            names = sorted(os.listdir(NETNS_RUN_DIR))
        except FileNotFoundError:
            return []
    found = []
    for ns_name in names:
        path = netns_path(ns_name)
        if path in held or path in journaled:
            continue
        h = namespaces.hold(path)
        if h is None:
            namespaces.remove_placeholder(
                path, lambda m: namespaces.file_marker_of_lab(m, name))
        elif namespaces.marker_of_lab(h.marker, name, ns_name):
            held[path] = h
            found.append(ns_name)
        else:
            h.release()  # another lab's, or not netlab's at all
    return found


def _end_processes(record: Record, held: dict[str, Held], rep: Report) -> None:
    """The journaled processes (by pid and start time), then any other process living in
    a proven namespace: journaled too late (deploy killed inside its start), one that
    left its session, a `netlab shell`: it would keep the namespace alive."""
    rep.processes += procs.stop(record.of("proc"))
    ids = {(h.dev, h.ino) for h in held.values()}  # held: no other namespace has these
    for pid in procs.in_namespaces(ids) if ids else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            rep.processes += 1


def _unpin_uts(name: str, record: Record) -> None:
    """UTS pins live in the lab's own tmpfs: unmounting it (in undo) detaches them all at
    once, ~0.15 ms per namespace cheaper than one umount2 each. Without that tmpfs, each
    is unpinned, only inside the lab's own uts directory and never through a symlink."""
    if not name:
        return
    d = lab_dir(name)
    if os.path.ismount(str(d)):
        return
    uts = d / UTS_DIR
    try:
        if not stat.S_ISDIR(os.lstat(uts).st_mode):
            return
    except OSError:
        return
    for e in record.of("uts"):
        if os.path.dirname(e["path"]) == str(uts):
            namespaces.unpin_file(e["path"])


_ETC_FILES = {"hosts", "resolv.conf", "hostname"}


def _remove_etc(netns: str, store: str) -> int:
    """Remove /etc/netns/<netns> of a namespace found by its marker (no journal), only if
    it is what netlab writes: a link into the lab's store, or a directory holding only
    hosts / resolv.conf / hostname files (or links into the store). An empty directory,
    or one with anything else in it, is someone's own: left alone. Returns 1 if removed."""
    d = files.etc_dir(netns)
    try:
        st = os.lstat(d)
    except OSError:
        return 0
    if stat.S_ISLNK(st.st_mode):
        if not _into_store(d, store):
            return 0
        os.unlink(d)
        return 1
    if not stat.S_ISDIR(st.st_mode):
        return 0
    try:
        names = os.listdir(d)
        kinds = [os.lstat(os.path.join(d, n)).st_mode for n in names]
    except OSError:
        return 0
    if not names or not set(names) <= _ETC_FILES:
        return 0
    for n, mode in zip(names, kinds, strict=True):
        if not (stat.S_ISREG(mode) or (stat.S_ISLNK(mode) and
                                       _into_store(os.path.join(d, n), store))):
            return 0
    for n in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, n))
    with contextlib.suppress(OSError):
        os.rmdir(d)
    return 1


def _into_store(link: str, store: str) -> bool:
    """Whether a symlink points into the lab's store (where netlab keeps the DNS files)."""
    try:
        target = os.path.normpath(os.path.join(os.path.dirname(link), os.readlink(link)))
    except OSError:
        return False
    return os.path.commonpath([target, store]) == store


def _delete_host_link(ifname: str, ifindex: int, rep: Report) -> None:
    sock = netlink.open_socket()
    try:
        if netlink.link_index(sock, ifname) != ifindex:
            return  # gone already (or another interface took the name): leave it
        b = netlink.Batch(sock, "host")
        netlink.del_link(b, ifindex, ifname)
        with contextlib.suppress(netlink.NetlinkError):
            b.flush()
    finally:
        sock.close()


def _planned_namespaces(name: str) -> list[str] | None:
    """The saved plan's namespace names (read as plain JSON: no pydantic at destroy)."""
    try:
        raw = json.loads((lab_dir(name) / PLAN_FILE).read_text())
        return [n["netns"] for n in raw["nodes"]] + [s["netns"] for s in raw["switches"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def destroy_lab(name: str, locked: bool = False) -> Report | None:
    """Destroy a lab by name: what its journal lists, and every namespace in /run/netns
    whose marker names it (its state may be damaged or gone); None when nothing of it
    was found."""
    if not locked:
        with lab_lock(name):
            return destroy_lab(name, locked=True)
    rep = undo(name, read_record(name), _planned_namespaces(name), scan=True)
    return None if rep.empty else rep
