"""proto = "http": a GET from the node to the target's port (`http = {path, status, body}`,
default GET / answered 200); reached when the answer has that status and its body
matches. A plain TCP socket in the node (through the backend), bound to the attempt's
key as source port, so `via` and `source_nat` follow it like a tcp probe."""

from __future__ import annotations

import re
import socket
import time
from typing import TYPE_CHECKING

from netlab.probes.kinds import ports
from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

LIMIT = 1 << 20  # bytes of an answer read at most
SHOWN = 120  # characters of a body quoted in a failure


def run(a: Attempt) -> Outcome:
    from netlab import backends

    e, plan = a.expect, a.plan
    assert e.target_address is not None and e.port is not None and e.http is not None
    v6 = ":" in e.target_address
    deadline = time.monotonic() + e.timeout
    s = backends.for_plan(plan).open_socket(plan.node(e.from_node).netns,
                                            socket.AF_INET6 if v6 else socket.AF_INET,
                                            socket.SOCK_STREAM)
    data = b""
    with s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::" if v6 else "0.0.0.0", a.key))
            s.settimeout(e.timeout)
            s.connect((e.target_address, e.port))
            host = f"[{e.target_address}]" if v6 else e.target_address
            s.sendall(f"GET {e.http.path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: netlab\r\n"
                      "Connection: close\r\n\r\n".encode())
            while len(data) < LIMIT:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            return Outcome(False, "timeout (answer incomplete)" if data
                           else "timeout (no answer)")
        except OSError as ex:
            return Outcome(False, ex.strerror or str(ex))
    return _verdict(e, data)


def _verdict(e: ExpectPlan, data: bytes) -> Outcome:
    assert e.http is not None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    m = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", status_line)
    if m is None:
        return Outcome(False, f"not an HTTP answer: {status_line[:SHOWN]!r}")
    status = int(m.group(1))
    text = body.decode(errors="replace")
    seen = f"{status_line.strip()}, {len(body)} bytes"
    ok = status == e.http.status
    if e.http.body is not None:
        found = re.search(e.http.body, text, re.MULTILINE)
        ok &= found is not None
        short = " ".join(text.split())[:SHOWN]
        seen += f", body matches /{e.http.body}/" if found else \
            f", body does not match /{e.http.body}/: {short!r}"
    return Outcome(ok, seen)


def label(e: ExpectPlan) -> str:
    h = e.http
    path = h.path if h else "/"
    more = ""
    if h is not None and (h.status != 200 or h.body is not None):
        more = f" {h.status}" + (f" /{h.body}/" if h.body is not None else "")
    return f"http/{e.port} GET {path}{more}"


KIND = ExpectKind(
    name="http",
    description="HTTP GET: the answer's status and body",
    port=True,
    target=True,
    run=run,
    matches=ports.matcher("tcp"),
    names=label,
)
