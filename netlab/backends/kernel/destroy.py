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
import time
from dataclasses import dataclass, field
from typing import Any, cast

from netlab.backends.kernel import files, hostsettings, procs
from netlab.errors import NetlabError
from netlab.linux import mounts, namespaces, netlink, nft, ownership
from netlab.linux.netns import NETNS_RUN_DIR, netns_path
from netlab.linux.ownership import Held
from netlab.state import layout
from netlab.state.journal import Record, read_record
from netlab.state.layout import MNT_DIR, PLAN_FILE, UTS_DIR, lab_dir, remove_lab_dir, run_dir
from netlab.state.locks import lab_lock


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
    namespaces.raise_nofile(len(record.entries) + 256)  # one descriptor per held namespace
    held: dict[str, Held] = {}  # path -> proven namespace, held open until it is removed
    try:
        journaled, unmounted = _prove_journaled(name, record, held, rep)
        found = _prove_by_marker(name, held, journaled, planned) if scan else []
        _end_processes(record, held, rep)
        _remove_host_objects(name, record, rep)
        _unpin_uts(name, record)
        for h in held.values():
            if namespaces.unpin_held(h):
                rep.namespaces += 1
    finally:
        for h in held.values():
            h.release()
    _remove_placeholders(name, unmounted, rep)
    if planned is not None:
        _report_unproven(planned, set(held) | journaled, rep)
    _remove_etc(name, record, found, rep)
    if name:
        _free_machines(name, record)
        _remove_state_dir(name, rep)
    return rep


# Threads unpinning the nodes' mount namespaces at once: freeing one waits on the kernel
# (an RCU grace period, ~1 ms) far more than it works, so the waits overlap (500 nodes:
# 0.56 s in one thread).
FREE_THREADS = 16


def _free_machines(name: str, record: Record) -> None:
    """Unpin the nodes' mount namespaces (only pins inside the lab's own mnt directory,
    never through a link); the state directory's unmount would do it, one at a time."""
    d = str(lab_dir(name) / MNT_DIR)
    pins = [e["path"] for e in record.of("mntns") if os.path.dirname(e["path"]) == d]
    if not pins or not os.path.ismount(str(lab_dir(name))):
        return

    def unpin(path: str) -> None:
        with contextlib.suppress(OSError):
            mounts.umount2(path, mounts.MNT_DETACH | mounts.UMOUNT_NOFOLLOW)

    if len(pins) < FREE_THREADS:
        for p in pins:
            unpin(p)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(FREE_THREADS) as pool:
        list(pool.map(unpin, pins))


def _remove_host_objects(name: str, record: Record, rep: Report) -> None:
    """What the lab has in the host's namespace: its nft table, its uplink's host end
    (only if the recorded ifindex still has the recorded name), and its holds on host
    settings (ip_forward, neighbour limits: the host-wide record knows them, "hosthold"
    in the journal; the last holder to leave restores them)."""
    for t in record.of("hostnft"):
        nft.delete_host_table(t["family"], t["table"])
    for link in record.of("hostlink"):
        if link["ifindex"]:
            _delete_host_link(link["ifname"], link["ifindex"])
    if name:
        try:
            hostsettings.release_lab(name)
        except (OSError, NetlabError) as e:  # never keeps the rest from being removed
            rep.skipped.append(f"host settings: {e}")


def _remove_placeholders(name: str, unmounted: dict[str, str | None], rep: Report) -> None:
    """Journaled /run/netns files with no namespace on them: removed if they carry the
    mark of the deploy that journaled them, else someone else's and left alone."""
    for path, token in unmounted.items():
        mine = ownership.remove_placeholder(
            path, lambda m, t=token: t is not None and m == ownership.file_marker(name, t))
        if not mine and os.path.lexists(path):
            rep.skipped.append(f"{path}: a file netlab did not make; left alone")


def _report_unproven(planned: list[str], seen_paths: set[str], rep: Report) -> None:
    """Planned namespaces that exist but were neither journaled nor marked: not netlab's
    (journaled ones left alone were reported when they failed their proof)."""
    seen = {os.path.basename(p) for p in seen_paths}
    for ns_name in planned:
        if ns_name not in seen and os.path.lexists(netns_path(ns_name)):
            rep.skipped.append(f"netns {ns_name}: exists but is not one netlab created"
                               " (no record, no marker); left alone")


def _remove_etc(name: str, record: Record, found: list[str], rep: Report) -> None:
    """/etc/netns entries: the journaled ones, and, for namespaces found by their marker,
    those that are what netlab writes."""
    for e in record.of("etc"):
        there = os.path.lexists(files.etc_dir(e["netns"]))
        files.remove(cast(dict[str, Any], e))
        rep.etc += there and not os.path.lexists(files.etc_dir(e["netns"]))
    store = files.store_dir(str(run_dir()), name)
    for ns_name in found:
        rep.etc += _remove_unjournaled_etc(ns_name, store)


def _remove_state_dir(name: str, rep: Report) -> None:
    """The lab's state directory: its tmpfs unmounted first (which detaches the UTS pins
    in it), then whatever is left, never through a link or into another mount."""
    d = str(lab_dir(name))
    rep.state = os.path.lexists(d)
    if os.path.ismount(d):
        with contextlib.suppress(OSError):
            mounts.umount2(d, mounts.MNT_DETACH | mounts.UMOUNT_NOFOLLOW)
    remove_lab_dir(name)


def _prove_journaled(name: str, record: Record, held: dict[str, Held], rep: Report,
                     ) -> tuple[set[str], dict[str, str | None]]:
    """Hold each journaled namespace path that is proven the lab's: by the cookie of its
    `netns` entry, or, without one (deploy killed after the pin, before the journal line),
    by the marker of its `placeholder` entry's deploy. Returns every journaled path, and
    those with no namespace on them, with their deploy token (for the placeholder mark)."""
    cookies: dict[str, int | None] = {}
    tokens: dict[str, str | None] = {}
    for e in record.entries:  # in journal order: a placeholder comes before its netns
        if e["kind"] == "placeholder" or e["kind"] == "netns":
            tokens[e["path"]] = e["token"] or tokens.get(e["path"])
        if e["kind"] == "netns":
            cookies[e["path"]] = e["cookie"]
    unmounted = {}
    for path, token in tokens.items():
        cookie = cookies.get(path)
        h = ownership.hold(path, marker=cookie is None)
        if h is None:
            unmounted[path] = token
            continue
        if cookie is not None:
            ok = h.cookie == cookie
        else:
            ok = token is not None and h.marker == ownership.marker(
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
    run = layout.run_tag()  # a lab of the same name deployed from another run directory
    for ns_name in names:
        path = netns_path(ns_name)
        if path in held or path in journaled:
            continue
        h = ownership.hold(path)
        if h is None:
            ownership.remove_placeholder(
                path, lambda m: ownership.file_marker_of_lab(m, name, run))
        elif ownership.marker_of_lab(h.marker, name, ns_name, run):
            held[path] = h
            found.append(ns_name)
        else:
            h.release()  # another lab's, or not netlab's at all
    return found


PROCESS_EXIT_WAIT = 3.0  # seconds destroy waits for the lab's killed processes to be gone


def _end_processes(record: Record, held: dict[str, Held], rep: Report) -> None:
    """The journaled processes (by pid and start time), then any other process living in
    a proven namespace: journaled too late (deploy killed inside its start), one that
    left its session, a `netlab shell`: it would keep the namespace alive."""
    rep.processes += procs.stop(cast(list[dict[str, Any]], record.of("proc")))
    # A node's init: ending it ends every process left in its PID namespace (the kernel
    # does it), daemons that left their session included.
    for init in record.of("init"):
        if procs.alive(cast(dict[str, Any], init)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(init["pid"], signal.SIGKILL)
                rep.processes += 1
    ids = {(h.dev, h.ino) for h in held.values()}  # held: no other namespace has these
    if not ids:
        return
    # Until none is left: a killed process is still in its namespace until its exit is
    # done (under load, after destroy would have returned), and a fork that raced the
    # scan (an init's loop starting its next `sleep`) is found by the next one.
    killed: set[int] = set()
    deadline = time.monotonic() + PROCESS_EXIT_WAIT
    while (left := procs.in_namespaces(ids)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.add(pid)
                    rep.processes += 1
        time.sleep(0.005)


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


def _remove_unjournaled_etc(netns: str, store: str) -> int:
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


def _delete_host_link(ifname: str, ifindex: int) -> None:
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
