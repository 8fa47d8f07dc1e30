"""Traffic between a lab's namespaces, made with plain sockets opened inside them (the
kernel's stack, not netlab's probes): listeners, UDP delivery counts, TCP throughput, and
a busy CPU for timing tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from netlab.linux.netns import entered


def open_in(netns: str, kind: int, family: int = socket.AF_INET) -> socket.socket:
    """A socket created inside `netns` (it stays there after the thread steps back)."""
    with entered(netns):
        return socket.socket(family, kind)


class Listeners:
    """TCP listeners and UDP echo responders opened inside lab namespaces, in-process."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def tcp(self, netns: str, port: int) -> None:
        s = open_in(netns, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(16)  # the kernel answers SYNs; nobody needs to accept()
        self.socks.append(s)

    def udp_echo(self, netns: str, port: int) -> None:
        s = open_in(netns, socket.SOCK_DGRAM)
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
