"""The one leftover scanner: what a lab left on the host, found without netlab's help
(its namespaces, /etc/netns directories, state directory, mounts, uplink link, nft table
and processes), and the force-clean of one of this run's labs after a failed test.

Only labs this run made (tests/support/names.py `is_ours`) are ever cleaned by force, so
a second run of the suite at once is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tests.support.names import RUN, is_ours

if TYPE_CHECKING:
    from netlab.plan.model import Plan

NETNS_RUN_DIR = "/run/netns"  # iproute2's (netlab.linux.netns.NETNS_RUN_DIR): fixed
ETC_NETNS = Path("/etc/netns")
IFNAME_MAX = 15
T = TypeVar("T")


def run_dir() -> Path:
    """The state directory netlab uses now (NETLAB_RUN_DIR, as a fixture may set it)."""
    return Path(os.environ.get("NETLAB_RUN_DIR", "/run/netlab"))


def netns_names() -> set[str]:
    try:
        return set(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return set()


def host_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def uplink_link(lab: str) -> str:
    """The host end of lab `lab`'s uplink (netlab/compile/links/uplink.py)."""
    return f"nl-{lab}"[:IFNAME_MAX]


def nft_tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def unmount_all(path: str | Path) -> None:
    """Lazily unmount every mount stacked on path (bind mounts of a directory onto itself
    are invisible to os.path.ismount)."""
    for _ in range(10):
        if str(path) not in mount_points():
            return
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _matcher(prefix: str | None, lab: str, namespaces: Iterable[str] | None,
             ) -> Callable[[str], bool]:
    if namespaces is not None:
        exact = set(namespaces)
        return exact.__contains__
    start = f"{lab}-" if prefix is None else prefix
    return lambda n: n.startswith(start)


def leftovers(lab: str, prefix: str | None = None, *,
              namespaces: Iterable[str] | None = None) -> list[str]:
    """Everything on the host that looks like lab `lab`: its namespaces are those named
    in `namespaces`, else those whose names start with `prefix` (default "<lab>-")."""
    mine = _matcher(prefix, lab, namespaces)
    state = run_dir() / lab
    out = [f"netns {n}" for n in sorted(netns_names()) if mine(n)]
    out += [f"link {n}" for n in sorted(host_links()) if n == uplink_link(lab)]
    out += [f"nft {t}" for t in sorted(nft_tables()) if t.endswith(f" netlab-{lab}")]
    if state.exists():
        out.append(f"state {state}")
    if ETC_NETNS.is_dir():
        out += [f"etc {p}" for p in sorted(ETC_NETNS.iterdir()) if mine(p.name)]
    # Mounts not already named above: a lazily detached namespace pin whose file is gone,
    # a bind mount under a state directory that was removed beneath it.
    named = {f"{NETNS_RUN_DIR}/{n}" for n in netns_names() if mine(n)}
    top = str(state)
    for point in sorted(set(mount_points())):
        # Under this lab's own state directory only: a lab of the same name in another
        # run directory (another pytest-xdist worker's, another suite run's) is not ours.
        in_state = point == top or point.startswith(top + "/")
        pin = point.startswith(NETNS_RUN_DIR + "/") and mine(point.rsplit("/", 1)[1])
        if (in_state and not state.exists()) or (pin and point not in named):
            out.append(f"mount {point}")
    out += [f"pid {pid}" for pid in pids_in(mine)]
    out += [f"pid {pid} (marker)" for pid in marked_pids(lab)]
    return out


def plan_leftovers(plan: Plan) -> list[str]:
    """leftovers() of a compiled lab: exactly its namespaces, its uplink, its state."""
    return leftovers(plan.lab, namespaces=plan.namespaces)


def settled_leftovers(lab: str, prefix: str | None = None, timeout: float = 2.0, *,
                      namespaces: Iterable[str] | None = None) -> list[str]:
    """leftovers(), after giving the kernel's asynchronous namespace teardown (which takes
    a veth's far end with it) a moment to finish."""
    end = time.monotonic() + timeout
    while (left := leftovers(lab, prefix, namespaces=namespaces)) and time.monotonic() < end:
        time.sleep(0.01)
    return left


def marker(lab: str) -> str:
    """An argument that tags the processes a test lab's `exec` starts, so that they can
    be found even after their namespace was unpinned (see with_marker_exec)."""
    return f"t{RUN}marker-{lab}"


def marked_pids(lab: str) -> list[int]:
    tag = marker(lab).encode()
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if tag in f.read().split(b"\0"):
                        out.append(int(pid))
            except OSError:
                continue
    return out


def netns_inodes(prefix: str | Callable[[str], bool]) -> set[int]:
    """Inodes of the namespaces pinned under /run/netns/<prefix>* (or matching)."""
    mine = prefix if callable(prefix) else (lambda n: n.startswith(prefix))
    inodes = set()
    for n in netns_names():
        if mine(n):
            try:
                inodes.add(os.stat(os.path.join(NETNS_RUN_DIR, n)).st_ino)
            except OSError:
                continue
    return inodes


def pids_in(prefix: str | Callable[[str], bool], inodes: set[int] | None = None) -> list[int]:
    """Processes living in a namespace pinned under /run/netns/<prefix>*, or in one of
    `inodes` (namespaces that were pinned once: a process keeps them alive unpinned)."""
    inodes = netns_inodes(prefix) | (inodes or set())
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                    out.append(int(pid))
            except OSError:
                continue
    return out


def force_clean(lab: str, prefix: str | None = None, *,
                namespaces: Iterable[str] | None = None) -> None:
    """Remove whatever a failed test left of one of this run's labs. A lab whose name is
    not this run's (a lab file's own name, deployed in a private NETLAB_RUN_DIR with this
    run's namespaces) loses only its namespaces and state: its uplink link and nft table
    would be global, and could be another run's."""
    names = list(namespaces) if namespaces is not None else None
    own_name = is_ours(lab)
    if names is not None:
        assert own_name or all(is_ours(n) for n in names), (lab, names)
    else:
        assert own_name and (prefix is None or is_ours(prefix)), (lab, prefix)
    mine = _matcher(prefix, lab, names)
    subprocess.run([sys.executable, "-m", "netlab", "destroy", lab], capture_output=True,
                   text=True, timeout=120)
    for pid in pids_in(mine) + marked_pids(lab):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for n in netns_names():
        if mine(n):
            subprocess.run(["ip", "netns", "delete", n], capture_output=True)
    if own_name:
        link = uplink_link(lab)
        if link in host_links():
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        for table in nft_tables():
            if table.endswith(f" netlab-{lab}"):
                subprocess.run(["nft", "delete", *table.split()], capture_output=True)
    unmount_all(run_dir() / lab)
    subprocess.run(["rm", "-rf", "--", str(run_dir() / lab)], capture_output=True)
    if ETC_NETNS.is_dir():
        for p in ETC_NETNS.iterdir():
            if mine(p.name):
                subprocess.run(["rm", "-rf", "--", str(p)], capture_output=True)


def wait_for(cond: Callable[[], object], timeout: float, step: float = 0.001) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


HOST_DIR = Path("/run/netlab-host")  # netlab's host-settings record and its lock


def host_settings(read: Callable[[], T]) -> tuple[T, list[dict[str, Any]]]:
    """read()'s result and the holders of host settings at that moment
    (netlab/backends/kernel/hostsettings.py: which labs of any run on this machine keep
    ip_forward or the neighbour limits changed). Read with netlab's own machine-wide lock
    held, so that no netlab process changes a host setting meanwhile; with no record (no
    directory, no lock), read again until no record appeared meanwhile."""
    while True:
        try:
            fd = os.open(HOST_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            value = read()
            if not HOST_DIR.exists():
                return value, []
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(HOST_DIR).st_ino == os.fstat(fd).st_ino:
                    try:
                        raw = json.loads((HOST_DIR / "settings.json").read_text())
                    except (OSError, ValueError):
                        raw = {}
                    holders = raw.get("holders", []) if isinstance(raw, dict) else []
                    return read(), [h for h in holders if isinstance(h, dict)]
        finally:
            os.close(fd)  # the lock goes with it


def host_holders() -> list[dict[str, Any]]:
    """The holders of host settings now (see host_settings)."""
    return host_settings(lambda: None)[1]
