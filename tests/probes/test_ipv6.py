"""IPv6: echo, traceroute and TCP/UDP probes over a dual-stack lab."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import Plan
from netlab.probes import ping, probe, trace
from netlab.probes.sockets import open_in
from tests.probes.conftest import TOPOLOGIES
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root
runner = CliRunner()


@pytest.fixture(scope="module")
def t4v6(deploy: Callable[[Path], Plan]) -> Plan:
    return deploy(TOPOLOGIES / "t4v6.toml")


def test_ping6_agrees_with_kernel(t4v6: Plan) -> None:
    r = ping(t4v6, "h1", "h2", family=6, count=2, interval=0.05)
    assert r.address == "fd00:62::2" and r.ok and r.loss == 0
    assert {x.ttl for x in r.replies} == {63}  # hop limit, one router
    kernel = netns_exec(t4v6.node("h1").netns, "ping", "-6", "-c1", "-W1", "fd00:62::2")
    assert kernel.returncode == 0
    missing = ping(t4v6, "h1", "fd00:62::99", count=1, timeout=0.3)
    assert not missing.ok


def test_cli_ping6(t4v6: Plan) -> None:
    out = runner.invoke(app, ["ping", "h1", "h2", "-6", "-c", "1"])
    assert out.exit_code == 0 and "fd00:62::2" in out.output and "ttl=63" in out.output


def test_trace6(t4v6: Plan) -> None:
    r = trace(t4v6, "h1", "fd00:62::2")
    assert r.reached
    assert [(h.node, h.address) for h in r.hops] == [("r", "fd00:61::1"), ("h2", "fd00:62::2")]


def test_tcp6_states(t4v6: Plan) -> None:
    import socket

    s = open_in(t4v6.node("h2").netns, socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::", 8443))
        s.listen(4)
        assert probe(t4v6, "h1", "h2", "tcp", 8443, family=6).state == "open"
        assert probe(t4v6, "h1", "h2", "tcp", 8444, family=6).state == "closed"
        closed = probe(t4v6, "h1", "h2", "udp", 8444, family=6)
        assert closed.state == "closed" and "port unreachable from h2" in closed.detail
    finally:
        s.close()
