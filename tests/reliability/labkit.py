"""Helpers for the reliability suite's kernel tests: run the real `netlab` command, find
what a lab left behind, and clean up by force after a failed test.

Only names of this run's own labs (prefix "t5" + this run's token, tests/support/names.py)
are ever cleaned by force: a second run of the suite at once is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from netlab.linux.netns import NETNS_RUN_DIR
from tests.support.names import run_prefix

ETC_NETNS = Path("/etc/netns")
PREFIX = run_prefix("t5")


def run_dir() -> Path:
    return Path(os.environ.get("NETLAB_RUN_DIR", "/run/netlab"))


def cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """The real command line, in a child process (as a person would run it)."""
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def spawn(*args: str, env: dict[str, str] | None = None,
          group: bool = False) -> subprocess.Popen[str]:
    """`netlab ARGS` in the background; `group`: in a process group of its own, so that
    os.killpg reaches it and its children together, as Ctrl-C in a terminal does."""
    return subprocess.Popen([sys.executable, "-m", "netlab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=group)


def no_traceback(r: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in r.stderr + r.stdout


def netns_names() -> set[str]:
    try:
        return set(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return set()


def host_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def nft_tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def leftovers(lab: str, prefix: str | None = None) -> list[str]:
    """Everything on the host that looks like lab `lab` (whose namespace names start
    with `prefix`, by default "<lab>-")."""
    prefix = f"{lab}-" if prefix is None else prefix
    out = [f"netns {n}" for n in sorted(netns_names()) if n.startswith(prefix)]
    out += [f"link {n}" for n in sorted(host_links()) if n == f"nl-{lab}"[:15]]
    out += [f"nft {t}" for t in sorted(nft_tables()) if t.endswith(f" netlab-{lab}")]
    if (run_dir() / lab).exists():
        out.append(f"state {run_dir() / lab}")
    if ETC_NETNS.is_dir():
        out += [f"etc {p}" for p in sorted(ETC_NETNS.iterdir()) if p.name.startswith(prefix)]
    out += [f"pid {pid}" for pid in pids_in(prefix)]
    out += [f"pid {pid} (marker)" for pid in marked_pids(lab)]
    return out


def marker(lab: str) -> str:
    """An argument that tags the processes a test lab's `exec` starts, so that they can
    be found even after their namespace was unpinned (see with_marker_exec)."""
    return f"{PREFIX}marker-{lab}"


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


def settled_leftovers(lab: str, prefix: str | None = None, timeout: float = 2.0) -> list[str]:
    """leftovers(), after giving the kernel's asynchronous namespace teardown (which takes
    a veth's far end with it) a moment to finish."""
    end = time.monotonic() + timeout
    while (left := leftovers(lab, prefix)) and time.monotonic() < end:
        time.sleep(0.01)
    return left


def netns_inodes(prefix: str) -> set[int]:
    """Inodes of the namespaces pinned under /run/netns/<prefix>*."""
    inodes = set()
    for n in netns_names():
        if n.startswith(prefix):
            try:
                inodes.add(os.stat(os.path.join(NETNS_RUN_DIR, n)).st_ino)
            except OSError:
                continue
    return inodes


def pids_in(prefix: str, inodes: set[int] | None = None) -> list[int]:
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


def force_clean(lab: str, prefix: str | None = None) -> None:
    """Remove whatever a failed test left of one of this suite's labs."""
    prefix = f"{lab}-" if prefix is None else prefix
    assert lab.startswith(PREFIX) and prefix.startswith(PREFIX), (lab, prefix)
    cli("destroy", lab, timeout=120)
    for pid in pids_in(prefix) + marked_pids(lab):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for n in netns_names():
        if n.startswith(prefix):
            subprocess.run(["ip", "netns", "delete", n], capture_output=True)
    link = f"nl-{lab}"[:15]
    if link in host_links():
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
    if f"table ip netlab-{lab}" in nft_tables():
        subprocess.run(["nft", "delete", "table", "ip", f"netlab-{lab}"], capture_output=True)
    subprocess.run(["rm", "-rf", "--", str(run_dir() / lab)], capture_output=True)
    if ETC_NETNS.is_dir():
        for p in ETC_NETNS.iterdir():
            if p.name.startswith(prefix):
                subprocess.run(["rm", "-rf", "--", str(p)], capture_output=True)


def wait_for(cond, timeout: float, step: float = 0.001) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


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
