"""proto = "http": a GET from the node (a TCP socket opened in it through the backend);
passes on the status and body asked for; followed by via/source_nat like a tcp probe."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations
from tests.support.traffic import open_in

pytestmark = pytest.mark.root


@pytest.fixture
def web_server(t4a: Plan) -> Iterator[None]:
    """A tiny HTTP server in web: / answers 200 "hello netlab", anything else 404."""
    srv = open_in(t4a.node("web").netns, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 8088))
    srv.listen(16)
    srv.settimeout(0.2)

    def serve() -> None:
        while srv.fileno() != -1:
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                request = conn.recv(4096).decode(errors="replace")
                ok = request.startswith("GET / ")
                body = b"hello netlab\n" if ok else b"nothing here\n"
                conn.sendall((b"HTTP/1.0 200 OK" if ok else b"HTTP/1.0 404 Not Found")
                             + b"\r\nContent-Type: text/plain\r\n\r\n" + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        srv.close()
        thread.join(2)


HTTP = """
[[expect]]
from = "pc1"
to = "web"
proto = "http"
port = 8088
source_nat = "203.0.113.1"
via = "gw"
[[expect]]
from = "pc1"
to = "web"
proto = "http"
port = 8088
http = { path = "/missing", status = 404, body = 'nothing' }
[[expect]]
from = "pc1"
to = "web"
proto = "http"
port = 8088
http = { body = 'goodbye' }
[[expect]]
from = "pc1"
to = "web"
proto = "http"
port = 8088
http = { path = "/missing" }
[[expect]]
from = "pc1"
to = "web"
proto = "http"
port = 8089
"""


def test_http_status_and_body(t4a: Plan, web_server: None) -> None:
    report = check(t4a, expectations(HTTP))
    assert [r.passed for r in report] == [True, True, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0].startswith("HTTP/1.0 200 OK, 13 bytes [")  # then what via/NAT saw
    assert "arrived at web from 203.0.113.1" in seen[0] and "path crossed gw" in seen[0]
    assert seen[1] == "HTTP/1.0 404 Not Found, 13 bytes, body matches /nothing/"
    assert seen[2] == "HTTP/1.0 200 OK, 13 bytes, body does not match /goodbye/: " \
        "'hello netlab'"
    assert seen[3] == "HTTP/1.0 404 Not Found, 13 bytes"
    assert seen[4] == "Connection refused"
    assert report[1].title == "[5] pc1 -> web (203.0.113.2) http/8088 GET /missing 404 " \
        "/nothing/: reach"
