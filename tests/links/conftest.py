"""Fixtures for live-link tests: real labs (names start with this run's "t7" prefix,
tests/support/names.py), always destroyed.

Labs are built by the real backend (netlab.lab.Lab).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from netlab.linux.netns import entered
from netlab.plan.model import Plan
from tests.support.names import run_prefix


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Plan]]:
    """deploy(topology text) -> plan; every lab deployed is destroyed at module end."""
    from netlab.api import load
    from netlab.lab import Lab

    made: list[Lab] = []
    files = tmp_path_factory.mktemp("topo")

    def _deploy(text: str) -> Plan:
        path = files / f"lab{len(made)}.toml"
        path.write_text(text)
        plan = load(path).plan
        assert plan.lab.startswith(run_prefix("t7")), "a fixed name collides with another run"
        Lab(plan).destroy()  # leftovers of an interrupted earlier run
        lab = Lab.deploy(path)
        made.append(lab)
        return plan

    try:
        yield _deploy
    finally:
        for lab in made:
            lab.destroy()


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
