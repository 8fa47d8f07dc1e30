"""Fixtures for probe tests: real labs (named "t4..." by their files, in a private run
directory and with this run's namespace prefix; or a unique name by fresh_lab), always
destroyed."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netlab.lab import Lab
from netlab.plan.model import Plan
from netlab.probes.sockets import open_in
from tests.support.names import renamed_copy, run_prefix, unique_name

TOPOLOGIES = Path(__file__).parent / "topologies"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state directory, so tests never see (or clash with) other labs."""
    d = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETLAB_RUN_DIR", str(d))
        yield d
    # The backend makes the state directory a shared bind mount (for the namespace
    # mounts under it); undo that so pytest can delete the temp directory later.
    # (os.path.ismount cannot see a bind mount of the same filesystem: just try.)
    subprocess.run(["umount", "--lazy", str(d)], capture_output=True)


@pytest.fixture(scope="module")
def deploy(run_dir: Path, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Callable[[Path], Plan]]:
    """deploy(topology path) -> plan, with the real backend; every lab deployed is
    destroyed at module end, also when tests fail.

    The lab keeps its file's name (tests say `--lab t4a`; the state directory is private
    to this module), but its namespaces, which live in the global /run/netns, get this
    run's prefix ("t4a" -> "t4<token>a"), so two runs at once never meet."""
    labs: list[Lab] = []
    files = tmp_path_factory.mktemp("topo")

    def _deploy(path: Path) -> Plan:
        lab_name = tomllib.loads(path.read_text())["lab"]["name"]
        prefix = run_prefix("t4") + lab_name.removeprefix("t4")
        path = renamed_copy(path, lab_name, files, prefix=prefix)
        lab = Lab.deploy(path, force=True)  # force: leftovers of an interrupted run
        labs.append(lab)
        wait_links_up(lab.plan)
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


@pytest.fixture(scope="module")
def fresh_lab(run_dir: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[Callable[[str], Plan]]:
    """fresh_lab(topology text with a `{name}` placeholder) -> plan of that lab, deployed
    under a name of its own ("t" + 8 hex digits) so that it can clash with nobody's; every
    lab is destroyed at module end, also when tests (or the deploy itself) fail."""
    from netlab.api import load

    files = tmp_path_factory.mktemp("fresh")
    made: list[Plan] = []

    def _deploy(text: str) -> Plan:
        name = unique_name("t")
        path = files / f"{name}.toml"
        path.write_text(text.replace("{name}", name))
        plan = load(path).plan
        made.append(plan)
        Lab.deploy(path)
        wait_links_up(plan)
        return plan

    try:
        yield _deploy
    finally:
        for plan in made:
            Lab(plan).destroy()


def wait_links_up(plan: Plan, seconds: float = 10.0) -> None:
    """Until every interface of the lab is operationally up. The kernel turns a new veth's
    carrier on a few tens of milliseconds after deploy returns; until then it drops what is
    sent (so a first ARP request is lost, and the next one goes out a second later)."""
    deadline = time.monotonic() + seconds
    for netns in plan.namespaces:
        while time.monotonic() < deadline:
            out = subprocess.run(["ip", "-n", netns, "-j", "link", "show"],
                                 capture_output=True, text=True).stdout
            links = [x for x in json.loads(out or "[]") if x.get("ifname") != "lo"]
            if all(x.get("operstate") == "UP" for x in links):
                break
            time.sleep(0.01)


@contextlib.contextmanager
def busy_cpu(workers: int = 3, seconds: float = 120.0) -> Iterator[list[int]]:
    """Keep the CPUs busy: `workers` busy-loop processes, each ending by itself after
    `seconds` at the latest, and killed (by pid) when the block ends."""
    loop = ("import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n"
            "while time.monotonic() < end:\n    pass\n")
    procs = [subprocess.Popen([sys.executable, "-c", loop, str(seconds)])
             for _ in range(workers)]
    try:
        time.sleep(0.2)  # running before the measurement starts
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def pin_neighbours(plan: Plan, a: str, b: str) -> None:
    """Permanent ARP entries between two directly wired nodes (eth0 each): the kernel
    re-resolves a lossy link's neighbours now and then, and a request waiting for ARP
    takes a second or more, for netlab's ping and the kernel's alike."""
    ends = {n: (plan.node(n).netns, _mac(plan.node(n).netns, "eth0"),
                plan.node(n).primary["4"]) for n in (a, b)}
    for me, peer in ((a, b), (b, a)):
        netns = ends[me][0]
        subprocess.run(["ip", "-n", netns, "neigh", "replace", ends[peer][2], "lladdr",
                        ends[peer][1], "dev", "eth0", "nud", "permanent"], check=True)


def _mac(netns: str, ifname: str) -> str:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)[0]["address"])


def netlab_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real `netlab` command in a child process, as a person runs it."""
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=timeout)
