"""Fixtures for probe tests: real labs (lab names start with "t4"), always destroyed."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netlab import state
from netlab.lab import Lab
from netlab.plan import Plan
from netlab.probes.sockets import open_in

TOPOLOGIES = Path(__file__).parent / "topologies"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state directory, so tests never see (or clash with) other labs."""
    d = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(state, "RUN_DIR", d)
        mp.setenv("NETLAB_RUN_DIR", str(d))
        yield d
    # The backend makes the state directory a shared bind mount (for the namespace
    # mounts under it); undo that so pytest can delete the temp directory later.
    # (os.path.ismount cannot see a bind mount of the same filesystem: just try.)
    subprocess.run(["umount", "--lazy", str(d)], capture_output=True)


@pytest.fixture(scope="module")
def deploy(run_dir: Path) -> Iterator[Callable[[Path], Plan]]:
    """deploy(topology path) -> plan, with the real backend; every lab deployed is
    destroyed at module end, also when tests fail."""
    labs: list[Lab] = []

    def _deploy(path: Path) -> Plan:
        lab = Lab.deploy(path, force=True)  # force: leftovers of an interrupted run
        labs.append(lab)
        return lab.plan

    try:
        yield _deploy
    finally:
        for lab in labs:
            lab.destroy()


@pytest.fixture(scope="module")
def t4a(deploy: Callable[[Path], Plan]) -> Plan:
    """pc1, pc2 on a LAN behind NAT router gw; web behind gw; far behind web (no route)."""
    return deploy(TOPOLOGIES / "t4a.toml")


class Listeners:
    """TCP listeners and UDP echo responders opened inside lab namespaces, in-process."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def tcp(self, netns: str, port: int) -> None:
        s = open_in(netns, socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(16)  # the kernel answers SYNs; nobody needs to accept()
        self.socks.append(s)

    def udp_echo(self, netns: str, port: int) -> None:
        s = open_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        s.settimeout(0.2)
        self.socks.append(s)

        def echo() -> None:
            while s.fileno() != -1:
                try:
                    data, peer = s.recvfrom(2048)
                    s.sendto(data, peer)
                except (TimeoutError, OSError):
                    continue

        threading.Thread(target=echo, daemon=True).start()

    def close(self) -> None:
        for s in self.socks:
            s.close()


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    ls = Listeners()
    try:
        yield ls
    finally:
        ls.close()


@pytest.fixture
def nft_rules() -> Iterator[Callable[[str, str], None]]:
    """add(netns, ruleset): load an nft ruleset (own table) for one test, then delete it."""
    added: list[tuple[str, str]] = []

    def add(netns: str, ruleset: str) -> None:
        netns_exec(netns, "nft", "-f", "-", input=ruleset, check=True)
        added.append((netns, ruleset.split("{", 1)[0].replace("table", "").strip()))

    try:
        yield add
    finally:
        for netns, table in added:
            netns_exec(netns, "nft", "delete", "table", *table.split())


def kernel_ping(netns: str, address: str) -> bool:
    """What the kernel's own ping says, from the same namespace."""
    return netns_exec(netns, "ping", "-c1", "-W1", address).returncode == 0


def netns_exec(netns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run argv inside netns (no shell)."""
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True,
                          text=True, **kw)  # type: ignore[call-overload]
