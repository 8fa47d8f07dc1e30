"""Fixtures for live-link tests: real labs (names start with "t7"), always destroyed.

Labs are built by the real backend (netlab.lab.Lab) when it is there, else by the probe
tests' stand-in deployer followed by the shaping step the backend runs after wiring.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netlab import state
from netlab.netns import entered
from netlab.plan import Plan


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where lab state goes: the real state directory when the real backend deploys (it
    mounts things there); a private one for the stand-in deployer."""
    if _real_backend() is not None:
        yield state.RUN_DIR
        return
    d = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(state, "RUN_DIR", d)
        mp.setenv("NETLAB_RUN_DIR", str(d))
        yield d


def _real_backend() -> type | None:
    try:
        from netlab.lab import Lab
    except ImportError:
        return None
    return Lab if hasattr(Lab, "deploy") else None


@pytest.fixture(scope="module")
def deploy(run_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Callable[[str], Plan]]:
    """deploy(topology text) -> plan; every lab deployed is destroyed at module end."""
    from netlab.api import load
    from netlab.backend import shaping
    from tests.probes import minilab

    made: list[tuple[Plan, object]] = []
    files = tmp_path_factory.mktemp("topo")

    def _deploy(text: str) -> Plan:
        path = files / f"lab{len(made)}.toml"
        path.write_text(text)
        plan = load(path).plan
        assert plan.lab.startswith("t7")
        lab_cls = _real_backend()
        if lab_cls is not None:
            lab_cls(plan).destroy()  # leftovers of an interrupted earlier run
            lab = lab_cls.deploy(path)  # type: ignore[attr-defined]
            made.append((plan, lab))
            return plan
        minilab.destroy(plan, run_dir)  # leftovers of an interrupted earlier run
        made.append((plan, None))
        minilab.deploy(plan, run_dir)
        shaping.apply_plan(plan)
        return plan

    try:
        yield _deploy
    finally:
        for plan, lab in made:
            if lab is not None:
                lab.destroy()  # type: ignore[attr-defined]
            else:
                minilab.destroy(plan, run_dir)


def open_in(netns: str, kind: int) -> socket.socket:
    with entered(netns):
        return socket.socket(socket.AF_INET, kind)


def udp_delivery(src_ns: str, dst_ns: str, dst_addr: str, count: int = 1000,
                 port: int = 40007) -> int:
    """Send `count` UDP datagrams src -> dst; return how many arrived."""
    rx = open_in(dst_ns, socket.SOCK_DGRAM)
    tx = open_in(src_ns, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", port))
    rx.settimeout(0.1)
    got: set[int] = set()
    done = threading.Event()

    def receive() -> None:
        # Until half a second after the last send: loss may also hit the first ARP
        # request, and the kernel asks again only a second later.
        quiet_since = None
        while True:
            try:
                got.add(int(rx.recv(64)))
            except TimeoutError:
                if done.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 0.5:
                        return
            except OSError:
                return

    t = threading.Thread(target=receive)
    t.start()
    try:
        for k in range(count):
            tx.sendto(str(k).encode(), (dst_addr, port))
            if k % 50 == 49:
                time.sleep(0.002)  # stay well inside every queue: only the rule may drop
    finally:
        done.set()
        t.join()
        tx.close()
        rx.close()
    return len(got)


def tcp_throughput(src_ns: str, dst_ns: str, dst_addr: str, nbytes: int,
                   port: int = 40008) -> float:
    """Send nbytes over TCP src -> dst; bits per second as the receiver saw them."""
    srv = open_in(dst_ns, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    result: list[float] = []

    def receive() -> None:
        conn, _ = srv.accept()
        conn.settimeout(30)
        total, first = 0, None
        while total < nbytes:
            chunk = conn.recv(65536)
            if not chunk:
                break
            if first is None:  # the clock starts after the first chunk: count after it
                first = time.monotonic()
            else:
                total += len(chunk)
        assert first is not None
        result.append(total * 8 / (time.monotonic() - first))
        conn.close()

    t = threading.Thread(target=receive)
    t.start()
    cli = open_in(src_ns, socket.SOCK_STREAM)
    try:
        cli.connect((dst_addr, port))
        cli.sendall(b"x" * nbytes)
        cli.close()
        t.join(60)
    finally:
        srv.close()
    assert result, "the transfer did not complete"
    return result[0]
