"""rate = {min, max, time}: a real TCP stream from A to B for `time` (at most 2 s); the
bits B receives in that time, per second, reach `min` / stay under `max`.

Both sockets are opened in the nodes' namespaces through the lab's backend (a listening
socket on B's target address, an ephemeral port; a client in A); the stream runs between
two threads of this process, so nothing is started in the nodes."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

CHUNK = bytes(64 * 1024)
# check runs expectations concurrently: two streams over one shaped link would each see
# part of its rate (and the second one the first one's queue), so streams take turns.
_ONE_AT_A_TIME = threading.Lock()


def run(a: Attempt) -> Outcome:
    from netlab import backends
    from netlab.probes import targets

    e, plan = a.expect, a.plan
    r = e.rate
    assert r is not None and e.target_address is not None
    owner = targets.owner(plan, e.target_address)
    if owner is None or owner == "host":
        return Outcome(False, f"{e.target_address} is no lab node's: nothing to receive")
    backend = backends.for_plan(plan)
    family = socket.AF_INET6 if ":" in e.target_address else socket.AF_INET
    server = backend.open_socket(plan.node(owner).netns, family, socket.SOCK_STREAM)
    client = backend.open_socket(plan.node(e.from_node).netns, family, socket.SOCK_STREAM)
    try:
        server.bind((e.target_address, 0))
        server.listen(1)
        port = server.getsockname()[1]
        client.settimeout(e.timeout)
        try:
            client.connect((e.target_address, port))
        except OSError as ex:
            return Outcome(False, f"cannot open a TCP stream to {e.target_address} port "
                           f"{port}: {ex.strerror or 'timed out'}")
        conn, _ = server.accept()
        with conn, _ONE_AT_A_TIME:
            received = _stream(client, conn, r.seconds)
    finally:
        client.close()
        server.close()
    bits = received * 8 / r.seconds
    ok = (r.min_bit is None or bits >= r.min_bit) and (r.max_bit is None or bits <= r.max_bit)
    return Outcome(ok, f"{bits / 1e6:.2f} mbit/s ({received} bytes in {r.seconds:g} s)")


def _stream(client: socket.socket, conn: socket.socket, seconds: float) -> int:
    """Send from `client` for `seconds`; the bytes `conn` received in that time."""
    end = time.monotonic() + seconds
    client.settimeout(0.05)  # the sender looks at the clock while the window is full

    def send() -> None:
        while time.monotonic() < end:
            try:
                client.send(CHUNK)
            except TimeoutError:
                continue
            except OSError:
                return

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = 0
    conn.settimeout(0.05)
    while (left := end - time.monotonic()) > 0:
        try:
            data = conn.recv(1 << 20)
        except TimeoutError:
            continue
        if not data:
            break
        if left > 0:
            received += len(data)
    sender.join(1.0)
    return received


def label(e: ExpectPlan) -> str:
    from netlab.compile.linkprops import format_rate

    r = e.rate
    assert r is not None
    return "rate " + " ".join(f"{k} {format_rate(v)}" for k, v in (
        ("min", r.min_bit), ("max", r.max_bit)) if v is not None) + f" for {r.seconds:g}s"


KIND = ExpectKind(
    name="rate",
    description="a TCP stream from A to B for up to 2 s: its rate, within bounds",
    port=False,
    target=True,
    run=run,
    selects=lambda e: e.rate is not None and e.target_address is not None,
    names=label,
    verdicts=("within", "not within"),
)
