"""TCP SYN and UDP probes: open / closed / filtered / unreachable, on a real lab."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import Plan
from netlab.probes import probe
from tests.support.traffic import Listeners

pytestmark = pytest.mark.root
runner = CliRunner()

DROP_TCP_9000 = """table inet t4filter {
    chain input { type filter hook input priority 0; tcp dport 9000 drop; udp dport 9001 drop; }
}
"""


def test_tcp_open_port(t4a: Plan, listeners: Listeners) -> None:
    listeners.tcp(t4a.node("web").netns, 8081)
    r = probe(t4a, "pc1", "web", "tcp", 8081)
    assert (r.state, r.ok, r.hop) == ("open", True, "203.0.113.2")
    assert r.rtt_ms is not None


def test_tcp_closed_port_is_rst(t4a: Plan) -> None:
    r = probe(t4a, "pc1", "web", "tcp", 8082, timeout=1.0)
    assert (r.state, r.ok) == ("closed", False)
    assert r.detail == "RST from web (203.0.113.2)"


def test_tcp_filtered_port(t4a: Plan, listeners: Listeners,
                           nft_rules: Callable[[str, str], None]) -> None:
    web = t4a.node("web").netns
    listeners.tcp(web, 9000)  # open, but dropped before it gets there
    nft_rules(web, DROP_TCP_9000)
    r = probe(t4a, "pc1", "web", "tcp", 9000, timeout=0.3)
    assert (r.state, r.ok) == ("filtered", False)
    assert "timeout" in r.detail


def test_tcp_unreachable_names_the_router(t4a: Plan) -> None:
    r = probe(t4a, "pc1", "far", "tcp", 80)
    assert r.state == "unreachable" and r.hop == "10.0.0.1"
    assert r.detail == "ICMP net unreachable from gw (10.0.0.1)"


def test_tcp_no_route_at_source(t4a: Plan) -> None:
    r = probe(t4a, "far", "pc1", "tcp", 80)
    assert r.state == "unreachable" and "no route" in r.detail


def test_udp_states(t4a: Plan, listeners: Listeners,
                    nft_rules: Callable[[str, str], None]) -> None:
    web = t4a.node("web").netns
    listeners.udp_echo(web, 5300)
    listeners.udp_echo(web, 9001)
    nft_rules(web, DROP_TCP_9000)
    assert probe(t4a, "pc1", "web", "udp", 5300).state == "reply"
    closed = probe(t4a, "pc1", "web", "udp", 5301)
    assert closed.state == "closed" and "port unreachable from web" in closed.detail
    assert probe(t4a, "pc1", "web", "udp", 9001, timeout=0.3).state == "no-answer"
    assert probe(t4a, "pc1", "far", "udp", 53).state == "unreachable"


def test_cli_probe(t4a: Plan, listeners: Listeners) -> None:
    listeners.tcp(t4a.node("pc2").netns, 2222)
    ok = runner.invoke(app, ["probe", "pc1", "pc2", "--tcp", "2222"])
    assert ok.exit_code == 0 and "open (SYN-ACK from pc2 (10.0.0.3)" in ok.output
    closed = runner.invoke(app, ["probe", "pc1", "pc2", "--tcp", "2223", "--json"])
    assert closed.exit_code == 1 and json.loads(closed.output)["state"] == "closed"
    assert runner.invoke(app, ["probe", "pc1", "pc2"]).exit_code == 2
    assert runner.invoke(app, ["probe", "pc1", "pc2", "--tcp", "1", "--udp", "2"]).exit_code == 2
    assert runner.invoke(app, ["probe", "pc1", "pc2", "--tcp", "0"]).exit_code == 2
